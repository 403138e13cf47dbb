"""Site credentials from central: the site key, PIN entries and revoked badges reach the device with
enrolment and every heartbeat; the kiosk and portal verify with them; rotation keeps old codes
valid through the grace period; revoked badges are refused (docs/staff-credentials.md)."""
from __future__ import annotations

import json
import os
import stat
import subprocess
from datetime import date, datetime, timedelta, timezone

import pytest
import requests

from central.enrol import issue_code
from kiosk import codes
from kiosk.decode import make_decoder
from kiosk.feedback import FeedbackSink
from kiosk.pipeline import Kiosk
from kiosk.staff import badge_code
from kiosk.workflow import PinEntered, SignOut
from provisioning.enrol import enrol
from samplepoint import cli, heartbeat, site_credentials
from samplepoint import config as config_module
from samplepoint.clock import system_clock
from samplepoint.signed_codes import make_code, new_key, verify_code
from samplepoint.store import Store
from tests.conftest import write_config

EXPIRES = date.today() + timedelta(days=90)


def beat_once(config, token):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    session.headers["Content-Type"] = "application/json"
    store = Store(config.db_path)
    beat = heartbeat.Heartbeat(session, config.central.url,
                               lambda: heartbeat.build(store, config.device.data_dir, system_clock()),
                               every_s=0, on_answer=heartbeat.credentials_keeper(config))
    assert beat.maybe_send()
    return site_credentials.path_for(config.device.data_dir)


def stored(path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_enrolment_brings_the_site_key_stored_0600(tmp_path, central):
    code, _ = issue_code(central.db, "test", 1, 1.0, sites=["SITE-NEW"])
    path = write_config(tmp_path, central.url, site={"id": "SITE-NEW", "pool_size": 3},
                        device={"id": "DEV-NEW", "data_dir": str(tmp_path / "device")})
    config = config_module.load(path)
    code_file = tmp_path / "device" / "enrol-code"
    code_file.write_text(code + "\n")
    assert enrol(config, code_file) == "enrolled"
    creds = site_credentials.path_for(config.device.data_dir)
    assert stat.S_IMODE(os.stat(creds).st_mode) == 0o600
    assert stored(creds)["keys"][0]["key"] == central.db.site_key("SITE-NEW").hex()


def test_heartbeat_brings_key_pins_and_revocations_and_rotation_keeps_grace(tmp_path, central,
                                                                            monkeypatch):
    path = write_config(tmp_path, central.url, central.token)
    config = config_module.load(path)
    creds = beat_once(config, central.token)
    first = stored(creds)
    assert stat.S_IMODE(os.stat(creds).st_mode) == 0o600
    assert first["site_id"] == "SITE-TEST" and len(first["keys"]) == 1
    assert first["pins"] == [] and first["revoked_badges"] == []
    old_key = bytes.fromhex(first["keys"][0]["key"])
    old_badge = badge_code("NV01", "Hoa", old_key, expires=EXPIRES, badge_id="7")

    # Rotation, a PIN and a revocation on central, all through the commands.
    db = str(central.db.path)       # a file, or the PostgreSQL URL
    assert cli.main(["central", "rotate-key", "--db", db, "--site", "SITE-TEST",
                     "--grace-hours", "24"]) == 0
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("432198\n"))
    assert cli.main(["central", "pin", "--db", db, "--site", "SITE-TEST", "--staff-id", "NV02",
                     "--pin-stdin"]) == 0
    assert cli.main(["central", "badge", "--db", db, "--site", "SITE-TEST", "--staff-id", "NV03",
                     "--name", "Trần Văn Đức", "--expires", EXPIRES.isoformat()]) == 0
    (badge,) = central.db.badges("SITE-TEST")
    assert cli.main(["central", "revoke-badge", "--db", db, "--badge-id",
                     str(badge["badge_id"])]) == 0

    second = stored(beat_once(config, central.token))
    assert len(second["keys"]) == 2 and second["keys"][1]["key"] == old_key.hex()
    assert second["keys"][0]["key"] != old_key.hex()
    assert [e.split(":$argon2id$")[0] for e in second["pins"]] == ["NV02"]
    assert second["revoked_badges"] == [str(badge["badge_id"])]

    source = site_credentials.CredentialSource(config.device.data_dir, None)
    assert verify_code(old_badge, source.verify_keys(), date.today())      # in its grace period
    later = datetime.now(timezone.utc) + timedelta(hours=25)
    assert not verify_code(old_badge, source.verify_keys(later), date.today())
    assert source.is_revoked(str(badge["badge_id"])) and not source.is_revoked("7")


class Sink(FeedbackSink):
    def __init__(self):
        self.events = []

    def signal(self, kind, message, detail=""):
        self.events.append((kind, message, detail))


def kiosk_for(tmp_path, central, **sections):
    sections.setdefault("workflow", {}).update(require_sign_in=True)
    path = write_config(tmp_path, central.url, central.token,
                        scan={"code_key_file": str(tmp_path / "no-key")}, **sections)
    config = config_module.load(path)
    feedback = Sink()
    return config, Kiosk(config, Store(config.db_path), make_decoder(), feedback, system_clock()), \
        feedback


def test_kiosk_signs_in_with_a_central_badge_and_refuses_it_once_revoked(tmp_path, central):
    config, kiosk, feedback = kiosk_for(tmp_path, central)
    key = central.db.site_key("SITE-TEST")
    badge_id, _ = central.db.add_badge("SITE-TEST", "NV01", "Nguyễn Thị Hoa", EXPIRES.isoformat())
    badge = badge_code("NV01", "Nguyễn Thị Hoa", key, expires=EXPIRES, badge_id=str(badge_id))
    kiosk.on_code(badge)                      # no credentials yet, no key file: refused
    assert feedback.events[-1][0] == "refused" and kiosk.state.staff_id is None
    beat_once(config, central.token)
    kiosk.on_code(badge)
    assert kiosk.state.staff_id == "NV01"
    kiosk.dispatch(SignOut(system_clock()()))
    central.db.revoke_badge(badge_id)
    beat_once(config, central.token)
    kiosk.on_code(badge)
    assert kiosk.state.staff_id is None
    assert feedback.events[-1] == ("refused", codes.MSG_REVOKED, "badge-revoked")
    assert "thu hồi" in codes.MSG_REVOKED


def test_a_signed_in_holder_of_a_badge_revoked_on_central_is_signed_out_at_once(tmp_path, central):
    """Revoking takes effect within a heartbeat even for the staff member signed in with it: signed
    out at the next tick, the display told why; a PIN sign-in is not touched by badge revocations."""
    import numpy as np

    from kiosk import messages
    from kiosk.workflow import PinEntered
    from samplepoint.pins import pin_entry
    config, kiosk, feedback = kiosk_for(tmp_path, central)
    key = central.db.site_key("SITE-TEST")
    badge_id, _ = central.db.add_badge("SITE-TEST", "NV01", "Nguyễn Thị Hoa", EXPIRES.isoformat())
    central.db.set_pin("SITE-TEST", "NV05", pin_entry("NV05", "246813"))
    beat_once(config, central.token)
    kiosk.on_code(badge_code("NV01", "Nguyễn Thị Hoa", key, expires=EXPIRES, badge_id=str(badge_id)))
    assert (kiosk.state.staff_id, kiosk.state.staff_badge) == ("NV01", str(badge_id))
    blank = np.full((480, 640), 200, np.uint8)
    for _ in range(30):
        kiosk.on_frame(blank)                  # ticks: nothing revoked yet
    assert kiosk.state.staff_id == "NV01"
    central.db.revoke_badge(badge_id)
    beat_once(config, central.token)
    for _ in range(15):
        kiosk.on_frame(blank)                  # one tick
    assert kiosk.state.staff_id is None and kiosk.state.staff_badge is None
    assert feedback.events[-1] == ("signed-out", messages.SIGNED_OUT_REVOKED, "NV01")
    kiosk.dispatch(PinEntered("NV05", "246813", system_clock()()))
    for _ in range(15):
        kiosk.on_frame(blank)
    assert kiosk.state.staff_id == "NV05", "a PIN sign-in has no badge to revoke"


def test_a_restarted_kiosk_still_knows_which_badge_signed_in(tmp_path, central):
    """The sign-in is restored with the open tube after a restart; the badge it came from is
    remembered too (staff and badge ids only), so a later revocation still signs its holder out.
    A damaged note of it is ignored."""
    import numpy as np

    from kiosk import messages
    config, kiosk, _ = kiosk_for(tmp_path, central)
    key = central.db.site_key("SITE-TEST")
    badge_id, _ = central.db.add_badge("SITE-TEST", "NV01", "Nguyễn Thị Hoa", EXPIRES.isoformat())
    beat_once(config, central.token)
    kiosk.on_code(badge_code("NV01", "Nguyễn Thị Hoa", key, expires=EXPIRES, badge_id=str(badge_id)))
    kiosk.on_code(b"DT00000001")
    assert kiosk.state.tube is not None
    from pathlib import Path
    note = Path(config.device.data_dir) / "signed-in.json"
    assert note.exists() and str(badge_id) in note.read_text()
    feedback = Sink()
    again = Kiosk(config, Store(config.db_path), make_decoder(), feedback, system_clock())
    assert (again.state.staff_id, again.state.staff_badge) == ("NV01", str(badge_id))
    central.db.revoke_badge(badge_id)
    beat_once(config, central.token)
    for _ in range(15):
        again.on_frame(np.full((480, 640), 200, np.uint8))
    assert again.state.staff_id is None and again.state.tube is not None
    assert feedback.events[-1] == ("signed-out", messages.SIGNED_OUT_REVOKED, "NV01")
    assert not note.exists(), "signed out: nothing left to remember"
    for damaged in (b"", b"[]", b'{"staff_id": "NV01", "badge": 7}', b"\xff\xfe", b"{" * 5000,
                    b'{"staff_id": "NV01", "badge": "' + b"9" * 100 + b'"}'):
        note.write_bytes(damaged)
        assert Kiosk(config, Store(config.db_path), make_decoder(), Sink(),
                     system_clock()).state.staff_badge is None


def test_kiosk_takes_pins_from_central_without_restart(tmp_path, central):
    from samplepoint.pins import pin_entry
    config, kiosk, _ = kiosk_for(tmp_path, central)
    kiosk.dispatch(PinEntered("NV05", "246813", system_clock()()))
    assert kiosk.state.staff_id is None
    central.db.set_pin("SITE-TEST", "NV05", pin_entry("NV05", "246813"))
    beat_once(config, central.token)
    kiosk.dispatch(PinEntered("NV05", "246813", system_clock()()))
    assert kiosk.state.staff_id == "NV05"


def test_without_credentials_the_key_file_still_works(tmp_path, central):
    key_file = tmp_path / "code-key"
    key_file.write_text(new_key() + "\n")
    source = site_credentials.CredentialSource(tmp_path, key_file)
    key = bytes.fromhex(key_file.read_text().strip())
    assert source.verify_keys() == [key]
    assert not source.is_revoked("1")


def test_portal_signs_with_the_site_key_from_central(tmp_path, central):
    from hotspot.portal.app import create_app
    from hotspot.portal.site import EXTENSION, portal
    path = write_config(tmp_path, central.url, central.token,
                        scan={"code_key_file": str(tmp_path / "portal-key")})
    config = config_module.load(path)
    app = create_app(config)
    own = app.extensions[EXTENSION].key
    assert (tmp_path / "portal-key").exists()           # no credentials yet: its own key, as before
    beat_once(config, central.token)
    with app.test_request_context("/"):
        assert portal().key == central.db.site_key("SITE-TEST") != own
        code = make_code("decl", {"id_number": "001190000001", "full_name": "Lê Thị Lan"},
                         portal().key)
    assert verify_code(code, site_credentials.CredentialSource(
        config.device.data_dir, None).verify_keys())


def test_a_hostile_heartbeat_answer_keeps_the_last_good_credentials(tmp_path, central):
    path = write_config(tmp_path, central.url, central.token)
    config = config_module.load(path)
    creds = beat_once(config, central.token)
    before = creds.read_bytes()
    keep = heartbeat.credentials_keeper(config)
    for answer in ({"credentials": None}, {"credentials": {"site_id": "OTHER-SITE",
                                                            "keys": [{"key": "ab" * 32}]}},
                   {"credentials": {"site_id": "SITE-TEST", "keys": []}},
                   {"credentials": {"site_id": "SITE-TEST", "keys": [{"key": "zz" * 32}]}},
                   {"credentials": {"site_id": "SITE-TEST", "keys": [{"key": "ab" * 32}],
                                    "pins": ["NV1:1234"]}}):
        keep(answer)
        assert creds.read_bytes() == before


def test_badge_sheet_pdf_prints_vietnamese_names(tmp_path, central):
    db = str(central.db.path)       # a file, or the PostgreSQL URL
    staff = tmp_path / "staff.csv"
    staff.write_text("staff_id,name\n" + "".join(
        f"NV-{i:03},Nguyễn Thị Hồng Nhung {i}\n" for i in range(9)), encoding="utf-8")
    central.db.name_site("SITE-TEST", "Trạm Y tế Phường Điện Biên")
    pdf = tmp_path / "badges.pdf"
    assert cli.main(["central", "badge", "--db", db, "--site", "SITE-TEST", "--csv", str(staff),
                     "--expires", EXPIRES.isoformat(), "--pdf", str(pdf)]) == 0
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "Nguyễn Thị Hồng Nhung 0" in text and "Trạm Y tế Phường Điện Biên" in text
    assert f"Hết hạn: {EXPIRES.isoformat()}" in text and "NV-008" in text
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "Pages:           2" in info and "(A4)" in info     # 8 + 1 badges
    subprocess.run(["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", str(pdf),
                    str(tmp_path / "page")], check=True)
    assert (tmp_path / "page-1.png").stat().st_size > 10_000
    # The QR on the sheet is the badge: it decodes and verifies with the site key.
    from PIL import Image
    import numpy as np
    subprocess.run(["pdftoppm", "-png", "-r", "150", "-f", "1", "-l", "1", str(pdf),
                    str(tmp_path / "sharp")], check=True)
    grey = np.asarray(Image.open(tmp_path / "sharp-1.png").convert("L"))
    found = [s.payload for s in make_decoder().decode(grey)]
    key = central.db.site_key("SITE-TEST")
    assert found and all(verify_code(p if isinstance(p, str) else p.decode(), key) for p in found)
