"""PIN entries: a PIN is 6-12 ASCII digits wherever it is set or checked; its entry is argon2id
(64 MiB, slow), so a stolen entry costs days of one core; old PBKDF2 entries and weak argon2id ones
never sign anyone in and say to issue a new PIN (kiosk, portal volunteers, config)."""
from __future__ import annotations

import hashlib
import time
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk import messages
from kiosk import workflow as wf
from samplepoint import config as config_module
from samplepoint import pins
from tests.conftest import write_config
from tests.hotspot.portal_helpers import BASE, csrf_of, make_portal

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)


def legacy_entry(person: str, pin: str) -> str:
    """An entry as the previous software wrote it (PBKDF2-SHA256, 100,000 rounds)."""
    salt = b"s" * 16
    return f"{person}:{salt.hex()}:{hashlib.pbkdf2_hmac('sha256', pin.encode(), salt, 100_000).hex()}"


@pytest.mark.parametrize("pin", ["12345", "1234", "1" * 13, "12345a", "123 456", "",
                                 "١٢٣٤٥٦", "１２３４５６", "۱۲۳۴۵۶", "१२३४५६", "12345６", "123456\n"])
def test_only_six_to_twelve_ascii_digits_make_a_pin(pin):
    with pytest.raises(ValueError, match="6 to 12 digits 0-9"):
        pins.pin_entry("NV01", pin)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=16).filter(lambda t: pins.pin_problem(t) is not None))
def test_nothing_but_ascii_digits_is_ever_checked(text):
    table = {"NV01": "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + "A" * 43}
    started = time.process_time()
    assert pins.check_pin(table, "NV01", text) is False
    assert time.process_time() - started < 0.05, "refused before any hashing"


def test_an_entry_is_argon2id_64_mib_and_a_check_is_slow():
    entry = pins.pin_entry("NV01", "482913")
    assert entry.startswith("NV01:$argon2id$v=19$m=65536,t=2,p=1$")
    table = pins.parse_pin_entries([entry])
    started = time.process_time()
    assert pins.check_pin(table, "NV01", "482913")
    assert time.process_time() - started > 0.05
    assert not pins.check_pin(table, "NV01", "482914") and not pins.check_pin(table, "NV02", "482913")


def test_old_and_weak_entries_never_sign_in_and_say_to_reissue():
    weak = "NV03:$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + "A" * 43
    table = pins.parse_pin_entries([legacy_entry("NV02", "4321"), legacy_entry("NV04", "482913"), weak])
    assert table == {"NV02": pins.REISSUE, "NV04": pins.REISSUE, "NV03": pins.REISSUE}
    assert not pins.check_pin(table, "NV04", "482913")
    settings_ = wf.Settings(pool_size=1, test_type="rt-pcr", pins=table)
    state, effects = wf.handle(wf.State(), wf.PinEntered("NV04", "482913", T0), settings_)
    assert state.staff_id is None
    assert (effects[0].message, effects[0].detail) == (messages.PIN_REISSUE, "pin-reissue")


@pytest.mark.parametrize("entry", ["NV1:$argon2id$v=19$m=9999999,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + "A" * 43,
                                   "NV1:$argon2id$v=19$m=65536,t=99,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + "A" * 43,
                                   "NV1:$argon2i$v=19$m=65536,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + "A" * 43,
                                   "NV1:1234", "NV1:" + "0" * 32 + ":" + "1" * 63])
def test_the_config_refuses_what_is_no_entry_and_keeps_old_ones_readable(tmp_path, entry):
    with pytest.raises(config_module.ConfigError, match="argon2id"):
        config_module.load(write_config(tmp_path, workflow={"staff_pins": [entry]}))
    old = legacy_entry("NV1", "4321")
    config = config_module.load(write_config(tmp_path, workflow={"staff_pins": [old]},
                                             portal={"volunteer_pins": [old]}))
    assert config.workflow.staff_pins == [old], "a device with old entries still starts"


def test_a_volunteer_with_an_old_pin_is_told_to_get_a_new_one(tmp_path):
    app, _, _ = make_portal(tmp_path, volunteer_pins=[legacy_entry("TNV01", "482913"),
                                                       pins.pin_entry("TNV02", "482913")])
    client = app.test_client()

    def sign_in(volunteer, pin):
        page = client.get("/volunteer", base_url=BASE)
        return client.post("/volunteer", base_url=BASE, data={
            "csrf": csrf_of(page.data), "volunteer": volunteer, "pin": pin})

    old = sign_in("TNV01", "482913")
    assert old.status_code == 403
    assert "kiểu cũ" in old.get_data(as_text=True) or "old kind" in old.get_data(as_text=True)
    assert sign_in("TNV02", "４８２９１３").status_code == 403
    assert sign_in("TNV02", "482913").status_code == 303
