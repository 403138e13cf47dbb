"""Staff PINs set at central: 6-12 ASCII digits only (`central pin` says so), stored as argon2id;
an old PBKDF2 entry is never sent to a device (only that the PIN must be issued again, which the
kiosk then says). Through `central serve` and the real forwarder, on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest

from kiosk import messages
from kiosk.decode import make_decoder
from kiosk.pipeline import Kiosk
from kiosk.workflow import PinEntered
from samplepoint import config as config_module
from samplepoint import site_credentials
from samplepoint.clock import system_clock
from samplepoint.store import Store
from tests.central.served import samplepoint, served  # noqa: F401  (fixture)
from tests.central.test_staff_credentials import Sink
from tests.conftest import write_config
from tests.samplepoint.test_pin_entries import legacy_entry


@pytest.mark.parametrize("pin", ["4321", "١٢٣٤٥٦", "１２３４５６", "12345a"])
def test_central_pin_refuses_what_a_keypad_cannot_type_or_is_short(served, pin):
    db, _ = served
    run = samplepoint("central", "pin", "--db", str(db.path), "--site", "S-1", "--staff-id", "NV01",
                      "--pin-stdin", stdin=pin + "\n")
    assert run.returncode == 2 and "6 to 12 digits 0-9" in run.stderr
    assert db.site_credentials("S-1")["pin_entries"] == []


def test_old_entries_stay_at_central_and_the_kiosk_asks_for_a_new_pin(tmp_path, served):
    db, url = served
    token = db.add_device("DEV-1", "S-1")
    db.set_pin("S-1", "NV-OLD", legacy_entry("NV-OLD", "4321"))
    assert samplepoint("central", "pin", "--db", str(db.path), "--site", "S-1", "--staff-id", "NV-NEW",
                       "--pin-stdin", stdin="482913\n").returncode == 0
    config_path = write_config(tmp_path, url, token, site={"id": "S-1"}, device={"id": "DEV-1"},
                               workflow={"require_sign_in": True},
                               scan={"code_key_file": str(tmp_path / "no-key")})
    assert samplepoint("forwarder", "--config", str(config_path), "--until-drained").returncode == 0

    held = site_credentials.path_for(tmp_path / "device").read_text(encoding="utf-8")
    assert legacy_entry("NV-OLD", "4321").split(":", 1)[1] not in held, "no PBKDF2 hash on the device"
    credentials = site_credentials.load(site_credentials.path_for(tmp_path / "device"))
    assert credentials.reissue_pins == ("NV-OLD",)
    assert [p.split(":")[0] for p in credentials.pins] == ["NV-NEW"]

    config = config_module.load(config_path)
    feedback = Sink()
    kiosk = Kiosk(config, Store(config.db_path), make_decoder(), feedback, system_clock())
    kiosk.dispatch(PinEntered("NV-OLD", "4321", system_clock()()))
    assert kiosk.state.staff_id is None and feedback.events[-1][1] == messages.PIN_REISSUE
    kiosk.dispatch(PinEntered("NV-NEW", "482913", system_clock()()))
    assert kiosk.state.staff_id == "NV-NEW"
