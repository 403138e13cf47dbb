"""An enrolment code enrols devices only for the site(s) it was issued for, or only the one device
it names: with province A's code a device asking for province B's site gets nothing of B. Through
`central serve` and the real `samplepoint enrol`, on SQLite and PostgreSQL; codes from before
codes named sites are refused after the schema migration."""
from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from central import db as central_db
from central import db_postgres
from central.enrol import hash_code, issue_code, normalise_code
from samplepoint import site_credentials
from tests.central.served import CentralDB, samplepoint, served  # noqa: F401  (fixture)
from tests.conftest import write_config


OLD_CODE = "SP-AAAA-BBBB-CCCC"


def device(tmp_path, url, device_id, site_id):
    folder = Path(tempfile.mkdtemp(dir=tmp_path, prefix=device_id + "."))
    return folder, write_config(folder, url, device={"id": device_id}, site={"id": site_id})


def enrol(tmp_path, url, code, device_id, site_id):
    folder, config = device(tmp_path, url, device_id, site_id)
    return folder, samplepoint("enrol", "--config", str(config), "--code", code)


def test_a_code_for_province_a_gets_nothing_of_province_b(tmp_path, served):
    db, url = served
    b_key = db.site_key("B-SITE-1")                  # province B's site already has its key
    db.set_pin("B-SITE-1", "NV-B", "NV-B:" + "0" * 32 + ":" + "1" * 64)
    code, _ = issue_code(db, "province A", uses=5, valid_hours=24, sites=["A-SITE-1", "A-SITE-2"])

    folder, run = enrol(tmp_path, url, code, "DEV-ATTACK", "B-SITE-1")
    assert run.returncode == 1, run.stderr
    assert "not issued for site B-SITE-1" in run.stderr and "enrol-code --site B-SITE-1" in run.stderr
    assert not (folder / "device" / "device-token").exists()
    assert not site_credentials.path_for(folder / "device").exists()
    assert b_key.hex() not in run.stdout + run.stderr
    # The raw API answer carries nothing of B either, and the refusal spent no use of the code.
    answer = requests.post(url + "/api/v1/enrol", timeout=10, json={
        "code": code, "device_id": "DEV-ATTACK-2", "site_id": "B-SITE-1"})
    assert answer.status_code == 403 and answer.json()["error"] == "other-site"
    assert b_key.hex() not in answer.text and "NV-B" not in answer.text and "token" not in answer.json()
    assert {r["device_id"] for r in db.devices()} == set()

    for n, site in enumerate(["A-SITE-1", "A-SITE-2"]):
        folder, run = enrol(tmp_path, url, code, f"DEV-A-{n}", site)
        assert run.returncode == 0 and run.stdout.strip() == "enrolled", run.stderr
        held = site_credentials.load(site_credentials.path_for(folder / "device"))
        assert held.site_id == site and b_key not in [k for k, _ in held.keys]
    assert {(r["device_id"], r["site_id"]) for r in db.devices()} == {
        ("DEV-A-0", "A-SITE-1"), ("DEV-A-1", "A-SITE-2")}


def test_a_per_device_code_enrols_that_device_once(tmp_path, served):
    db, url = served
    code, _ = issue_code(db, "c", uses=1, valid_hours=24, sites=["S-1"], device_id="DEV-7")
    _, run = enrol(tmp_path, url, code, "DEV-8", "S-1")
    assert run.returncode == 1 and "issued for another device" in run.stderr
    assert "enrol-code --site S-1 --device DEV-8" in run.stderr
    _, run = enrol(tmp_path, url, code, "DEV-7", "S-1")
    assert run.returncode == 0, run.stderr
    _, run = enrol(tmp_path, url, code, "DEV-7b", "S-1")
    assert run.returncode == 1 and "used up" in run.stderr


def test_enrol_code_command_options_and_refusals(tmp_path, served):
    db, url = served
    target = str(db.path)
    run = samplepoint("central", "enrol-code", "--db", target, "--campaign", "c")
    assert run.returncode == 2 and "--site is required" in run.stderr
    run = samplepoint("central", "enrol-code", "--db", target, "--campaign", "c", "--site", "S-1",
                      "--site", "S-2", "--device", "D-1")
    assert run.returncode == 2 and "one device of one site" in run.stderr
    run = samplepoint("central", "enrol-code", "--db", target, "--campaign", "c", "--site", "S 1")
    assert run.returncode == 2 and "site id 'S 1'" in run.stderr
    sheet = tmp_path / "devices.csv"
    sheet.write_text("device_id,site_id\nDEV-1,S-1\nDEV-2,S-2\n", encoding="utf-8")
    run = samplepoint("central", "enrol-code", "--db", target, "--campaign", "c", "--csv", str(sheet))
    assert run.returncode == 0, run.stderr
    lines = [line.split("\t") for line in run.stdout.splitlines()]
    assert [(d, s) for d, s, _ in lines] == [("DEV-1", "S-1"), ("DEV-2", "S-2")]
    codes = {d: c for d, _, c in lines}
    _, swapped = enrol(tmp_path, url, codes["DEV-1"], "DEV-2", "S-2")
    assert swapped.returncode == 1 and "another device" in swapped.stderr
    _, good = enrol(tmp_path, url, codes["DEV-2"], "DEV-2", "S-2")
    assert good.returncode == 0, good.stderr


def _old_database(request, central_backend, tmp_path):
    """A database made by the previous software (schema 7) holding one unbound campaign code;
    its path or URL."""
    target = str(tmp_path / "old.db")
    if central_backend == "postgresql":
        cluster = request.getfixturevalue("pg_cluster")
        name = "sp_old_" + tmp_path.name[-20:].replace("-", "_").lower()
        cluster.admin(f"DROP DATABASE IF EXISTS {name}")
        cluster.admin(f"CREATE DATABASE {name}")
        request.addfinalizer(lambda: cluster.drop(cluster.url(name)))
        target = cluster.url(name)
    with pytest.MonkeyPatch.context() as old_software:
        old_software.setattr(central_db, "MIGRATIONS", central_db.MIGRATIONS[:7])
        old_software.setattr(db_postgres, "MIGRATIONS", central_db.MIGRATIONS[:7])
        old = CentralDB(target)
        with old.transaction() as tx:
            tx.execute("INSERT INTO enrol_codes (code_hash, campaign, max_uses, expires_at,"
                       " created_at) VALUES (?,?,?,?,?)", (hash_code(normalise_code(OLD_CODE)), "old",
                                                          10, "2999-01-01T00:00:00.000+00:00", "x"))
        if central_backend == "postgresql":
            old.close()
    return target


def test_a_code_from_before_the_migration_is_refused_with_what_to_do(request, central_backend,
                                                                     tmp_path):
    from central.app import create_app
    target = _old_database(request, central_backend, tmp_path)
    db = CentralDB(target)                       # the new software migrates it
    if central_backend == "postgresql":
        version = db.db.execute("SELECT version FROM samplepoint_schema").fetchone()[0]
    else:
        version = sqlite3.connect(target).execute("PRAGMA user_version").fetchone()[0]
    assert version == len(central_db.MIGRATIONS)
    answer = create_app(db).test_client().post("/api/v1/enrol", json={
        "code": OLD_CODE, "device_id": "D-1", "site_id": "ANY-SITE"})
    assert answer.status_code == 410 and answer.get_json()["error"] == "unbound"
    assert "enrol-code --site ANY-SITE" in answer.get_json()["message"]
    assert db.devices() == []


def test_no_site_id_but_the_codes_own_enrols(tmp_path):
    from central.app import create_app
    from central.rate_limits import SharedRateLimiter
    db = CentralDB(tmp_path / "c.db")
    app = create_app(db)
    app.extensions["enrol_limiter"] = SharedRateLimiter(db, "enrol", per_client=10**6, overall=10**6)
    code, _ = issue_code(db, "c", uses=1000, valid_hours=1, sites=["A-1"])
    count = iter(range(10**6))

    @settings(max_examples=60, deadline=None)
    @given(site=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._a", min_size=1,
                        max_size=64) | st.sampled_from(["A-1", "a-1", "A-1 ", "A-1\x00"]))
    def check(site):
        answer = app.test_client().post("/api/v1/enrol", data=json.dumps(
            {"code": code, "device_id": f"D-{next(count)}", "site_id": site}),
            content_type="application/json")
        if site == "A-1":
            assert answer.status_code == 201
        else:
            assert answer.status_code in (400, 403) and "credentials" not in answer.get_json()
    check()
    assert {r["site_id"] for r in db.devices()} <= {"A-1"}


def test_a_wrong_site_guess_still_counts_toward_the_rate_limit(tmp_path, served):
    db, url = served
    code, _ = issue_code(db, "c", uses=1, valid_hours=24, sites=["A-1"])
    statuses = [requests.post(url + "/api/v1/enrol", timeout=10, json={
        "code": code, "device_id": f"D-{n}", "site_id": f"B-{n}"}).status_code for n in range(12)]
    assert statuses[:10] == [403] * 10 and set(statuses[10:]) == {429}

