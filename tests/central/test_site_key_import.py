"""A site keyed by hand (`samplepoint staff key`) keeps its key when central comes in: central never
replaces a key a device holds that it does not know (the device is flagged instead), and
`central import-site-key` brings the key in, audited. Through `central serve`, the real forwarder
(one heartbeat), `samplepoint enrol` and the commands, on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import date, timedelta

from central.enrol import issue_code
from hotspot.portal.app import _code_key
from samplepoint import signed_codes, site_credentials
from samplepoint.signed_codes import load_key, verify_code
from tests.central.served import samplepoint, served  # noqa: F401  (fixture)
from tests.conftest import write_config

EXPIRES = (date.today() + timedelta(days=30)).isoformat()


def hand_keyed_device(tmp_path, url, db, site="HAND-1", device_id="DEV-H"):
    """A device keyed with `staff key`, registered with `central add-device`: (config path,
    key file, a badge made with `staff badge`, its badge id)."""
    token = samplepoint("central", "add-device", "--db", str(db.path), "--device-id", device_id,
                        "--site-id", site)
    assert token.returncode == 0, token.stderr
    key_file = tmp_path / "code-key"
    config = write_config(tmp_path, url, token.stdout.strip(), site={"id": site},
                          device={"id": device_id}, scan={"code_key_file": str(key_file)})
    made = samplepoint("staff", "key", "--config", str(config))
    assert made.returncode == 0 and "import-site-key" in made.stdout, made.stderr
    badge = samplepoint("staff", "badge", "NV01", "--name", "Hoa", "--expires", EXPIRES,
                        "--config", str(config))
    assert badge.returncode == 0, badge.stderr
    badge_id = badge.stderr.split("badge id ")[1].split()[0]
    return config, key_file, badge.stdout.strip(), badge_id


def heartbeat(config):
    """The real forwarder: with nothing queued it sends one heartbeat and stops."""
    run = samplepoint("forwarder", "--config", str(config), "--until-drained")
    assert run.returncode == 0, run.stderr
    return run


def verifies(tmp_path, key_file, badge) -> bool:
    source = site_credentials.CredentialSource(tmp_path / "device", key_file)
    return bool(verify_code(badge, source.verify_keys(), date.today()))


def test_a_hand_keyed_site_keeps_its_key_until_it_is_imported(tmp_path, served):
    db, url = served
    config, key_file, badge, badge_id = hand_keyed_device(tmp_path, url, db)
    key = load_key(key_file)

    run = heartbeat(config)
    assert "does not know the code key" in run.stderr
    assert load_key(key_file) == key and verifies(tmp_path, key_file, badge)
    assert not site_credentials.path_for(tmp_path / "device").exists()
    assert db.key_mismatches() == {"DEV-H": signed_codes.key_id(key)}
    assert db.db.execute("SELECT COUNT(*) FROM site_keys").fetchone()[0] == 0, \
        "central made no key of its own for the site"
    listing = samplepoint("central", "devices", "--db", str(db.path))
    assert "KEY UNKNOWN" in listing.stdout

    imported = samplepoint("central", "import-site-key", "--db", str(db.path), "--site", "HAND-1",
                           "--key-file", str(key_file))
    assert imported.returncode == 0, imported.stderr
    assert [r["action"] for r in db.audit_log()] == ["import-site-key"]
    heartbeat(config)
    held = site_credentials.load(site_credentials.path_for(tmp_path / "device"))
    assert held.signing_key == key and verifies(tmp_path, key_file, badge)
    assert db.key_mismatches() == {}
    assert "KEY UNKNOWN" not in samplepoint("central", "devices", "--db", str(db.path)).stdout

    # The hand-made badge is revocable at central by its id, once the site is named.
    refused = samplepoint("central", "revoke-badge", "--db", str(db.path), "--badge-id", badge_id)
    assert refused.returncode == 2 and "add --site" in refused.stderr
    assert samplepoint("central", "revoke-badge", "--db", str(db.path), "--badge-id", badge_id,
                       "--site", "HAND-1").returncode == 0
    heartbeat(config)
    source = site_credentials.CredentialSource(tmp_path / "device", key_file)
    assert source.is_revoked(badge_id, "NV01")


def test_central_never_swaps_a_key_it_does_not_know_and_import_refuses_to_clobber(tmp_path, served):
    db, url = served
    central_key = db.site_key("HAND-1")               # a badge was issued at central meanwhile
    config, key_file, badge, _ = hand_keyed_device(tmp_path, url, db)
    heartbeat(config)
    assert not site_credentials.path_for(tmp_path / "device").exists()
    assert verifies(tmp_path, key_file, badge)
    target = ("central", "import-site-key", "--db", str(db.path), "--site", "HAND-1")
    clobber = samplepoint(*target, "--key-file", str(key_file))
    assert clobber.returncode == 2 and "already has another code key" in clobber.stderr
    assert db.site_key("HAND-1") == central_key
    replaced = samplepoint(*target, "--key-file", str(key_file), "--replace", "--grace-hours", "24")
    assert replaced.returncode == 0, replaced.stderr
    heartbeat(config)
    held = site_credentials.load(site_credentials.path_for(tmp_path / "device"))
    assert [k for k, _ in held.keys] == [load_key(key_file), central_key]
    assert samplepoint(*target, "--key-file", str(key_file)).returncode == 0      # already current
    old = tmp_path / "old-key"
    old.write_text(central_key.hex() + "\n")
    back = samplepoint(*target, "--key-file", str(old))
    assert back.returncode == 2 and "retired" in back.stderr


def test_enrolment_keeps_a_hand_key_and_replaces_only_the_portals_placeholder(tmp_path, served):
    db, url = served
    central_key = db.site_key("S-1")
    code, _ = issue_code(db, "c", uses=2, valid_hours=1, sites=["S-1"])
    results = {}
    for name, make in (("placeholder", _code_key),
                       ("hand", lambda p: p.write_text(signed_codes.new_key() + "\n"))):
        folder = tmp_path / name
        folder.mkdir()
        key_file = folder / "code-key"
        make(key_file)
        config = write_config(folder, url, site={"id": "S-1"}, device={"id": f"DEV-{name}"},
                              scan={"code_key_file": str(key_file)})
        run = samplepoint("enrol", "--config", str(config), "--code", code)
        assert run.returncode == 0 and run.stdout.strip() == "enrolled", run.stderr
        path = site_credentials.path_for(folder / "device")
        results[name] = site_credentials.load(path).signing_key if path.exists() else None
    assert results["placeholder"] == central_key, "a made-up key gives way to the site's"
    assert results["hand"] is None, "a hand key stays: central withheld its credentials"
    assert set(db.key_mismatches()) == {"DEV-hand"}


def test_a_hostile_key_id_is_refused_and_flags_nothing(served):
    import requests
    db, url = served
    token = db.add_device("DEV-X", "S-1")
    body = {"queue_depth": 0, "quarantined": 0, "last_scan_at": None, "version": "x",
            "disk_free_bytes": 1, "disk_total_bytes": 2, "sent_at": "2026-12-01T00:00:00Z"}
    for bad in ["../../etc", "A" * 16, "0" * 17, "é" * 16, 7, ["0" * 16]]:
        answer = requests.post(url + "/api/v1/heartbeat", json={**body, "key_id": bad}, timeout=10,
                               headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 400 and "credentials" not in answer.json()
    assert db.key_mismatches() == {}
    answer = requests.post(url + "/api/v1/heartbeat", json={**body, "key_id": None}, timeout=10,
                           headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and answer.json()["credentials"]["site_id"] == "S-1"
