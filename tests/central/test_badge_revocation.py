"""Every badge can be revoked, and `central badges` says which ones still work: a badge whose key is
past its grace period is listed as such (and reprinted by badge-sheet), a badge printed without a
badge id is revoked by its holder's staff id, and `staff badge` always gives a badge an id. On
SQLite and PostgreSQL, through the commands and the real forwarder."""
from __future__ import annotations

from datetime import date, timedelta

from kiosk import codes
from kiosk.decode import make_decoder
from kiosk.pipeline import Kiosk
from kiosk.staff import badge_code
from samplepoint import config as config_module
from samplepoint.clock import system_clock
from samplepoint.store import Store
from tests.central.served import samplepoint, served  # noqa: F401  (fixture)
from tests.central.test_staff_credentials import Sink
from tests.conftest import write_config

EXPIRES = date.today() + timedelta(days=30)


def listing(db, site="S-1"):
    run = samplepoint("central", "badges", "--db", str(db.path), "--site", site)
    assert run.returncode == 0, run.stderr
    return {line.split("\t")[0]: line.split("\t")[-1] for line in run.stdout.splitlines()}


def test_a_badge_whose_key_is_past_its_grace_is_not_listed_valid(tmp_path, served):
    db, _ = served
    target = str(db.path)
    assert samplepoint("central", "badge", "--db", target, "--site", "S-1", "--staff-id", "NV01",
                       "--name", "Hoa", "--expires", EXPIRES.isoformat()).returncode == 0
    assert listing(db) == {"1": "valid"}
    assert samplepoint("central", "rotate-key", "--db", target, "--site", "S-1",
                       "--grace-hours", "24").returncode == 0
    assert listing(db) == {"1": "valid"}, "still in its grace period"
    assert samplepoint("central", "badge", "--db", target, "--site", "S-1", "--staff-id", "NV02",
                       "--name", "Lan", "--expires", EXPIRES.isoformat()).returncode == 0
    assert samplepoint("central", "rotate-key", "--db", target, "--site", "S-1",
                       "--grace-hours", "0").returncode == 0
    assert listing(db) == {"1": "valid", "2": "key retired"}
    assert samplepoint("central", "badge-sheet", "--db", target, "--site", "S-1",
                       "--pdf", str(tmp_path / "sheet.pdf")).returncode == 0
    assert listing(db) == {"1": "valid", "2": "valid"}, "reprinted with the current key"
    assert samplepoint("central", "revoke-badge", "--db", target, "--badge-id", "2").returncode == 0
    assert listing(db)["2"].startswith("revoked ")


def test_a_badge_without_an_id_is_revoked_by_staff_id(tmp_path, served):
    db, url = served
    token = db.add_device("DEV-1", "S-1")
    key = db.site_key("S-1")
    old_badge = badge_code("NV01", "Hoa", key, expires=EXPIRES)            # printed without an id
    other = badge_code("NV02", "Lan", key, expires=EXPIRES)
    config_path = write_config(tmp_path, url, token, site={"id": "S-1"}, device={"id": "DEV-1"},
                               workflow={"require_sign_in": True},
                               scan={"code_key_file": str(tmp_path / "no-key")})
    run = samplepoint("central", "revoke-badge", "--db", str(db.path), "--staff-id", "NV01")
    assert run.returncode == 2 and "--site and --staff-id" in run.stderr
    assert samplepoint("central", "revoke-badge", "--db", str(db.path), "--site", "S-1",
                       "--staff-id", "NV01").returncode == 0
    assert samplepoint("forwarder", "--config", str(config_path), "--until-drained").returncode == 0
    config = config_module.load(config_path)
    feedback = Sink()
    kiosk = Kiosk(config, Store(config.db_path), make_decoder(), feedback, system_clock())
    kiosk.on_code(old_badge)
    assert kiosk.state.staff_id is None
    assert feedback.events[-1] == ("refused", codes.MSG_REVOKED, "badge-revoked")
    kiosk.on_code(other)
    assert kiosk.state.staff_id == "NV02"
    assert [r["action"] for r in db.audit_log()] == ["revoke-badge"]


def test_staff_badge_always_gives_the_badge_an_id(tmp_path):
    from samplepoint.signed_codes import load_key, verify_code
    config = write_config(tmp_path, scan={"code_key_file": str(tmp_path / "key")})
    assert samplepoint("staff", "key", "--config", str(config)).returncode == 0
    run = samplepoint("staff", "badge", "NV01", "--name", "Hoa", "--config", str(config))
    assert run.returncode == 0, run.stderr
    badge_id = run.stderr.split("badge id ")[1].split()[0]
    data = verify_code(run.stdout.strip(), load_key(tmp_path / "key"))
    assert data["badge_id"] == badge_id and len(badge_id) == 12
