"""`samplepoint central add-device` and `export`: tokens stored hashed, CSV per person, JSON lines."""
from __future__ import annotations

import csv
import io
import json
import sqlite3

import pytest
import subprocess
import sys

from central.db import CentralDB
from central.export import csv_safe
from samplepoint import wire
from tests.samplepoint.test_wire import record

pytestmark = pytest.mark.sqlite_only   # about SQLite files; see test_postgres.py


def cli(*args):
    return subprocess.run([sys.executable, "-m", "samplepoint.cli", *args], capture_output=True,
                          text=True, timeout=60)


def test_add_device_prints_a_token_stored_only_hashed(tmp_path):
    db = tmp_path / "c.db"
    assert cli("central", "init", "--db", str(db)).returncode == 0
    result = cli("central", "add-device", "--db", str(db), "--device-id", "DEV-1", "--site-id", "S-1")
    token = result.stdout.strip()
    assert result.returncode == 0 and len(token) >= 40
    stored = sqlite3.connect(db).execute("SELECT token_hash FROM devices").fetchone()[0]
    assert token not in stored and CentralDB(db).device_for_token(token)["device_id"] == "DEV-1"


def test_add_device_refuses_bad_ids(tmp_path):
    CentralDB(tmp_path / "c.db")
    result = cli("central", "add-device", "--db", str(tmp_path / "c.db"), "--device-id", "a b;",
                 "--site-id", "S")
    assert result.returncode == 2 and "--device-id" in result.stderr


def test_export_csv_and_jsonl(tmp_path):
    db = CentralDB(tmp_path / "c.db")
    db.add_device("DEV-1", "SITE-1")
    body = record()
    body["persons"].append({**body["persons"][0], "full_name": "=HYPERLINK(\"x\")", "qid": "9"})
    body["pool_size"] = 5
    db.ingest("DEV-1", [(wire.parse_record(body), wire.canonical(body))])
    out = cli("central", "export", "--db", str(db.path), "--format", "csv")
    assert out.stdout.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(out.stdout[1:])))
    assert [r["Position"] for r in rows] == ["1", "2"]
    assert rows[1]["Full name"].startswith("'=")
    lines = cli("central", "export", "--db", str(db.path), "--format", "jsonl").stdout.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["record_id"] == body["record_id"]
    later = cli("central", "export", "--db", str(db.path), "--since", "2999-01-01T00:00:00+07:00",
                "--format", "machine-csv")
    assert later.stdout.strip() == ",".join(__import__("central.export").export.CSV_COLUMNS)
    bad = cli("central", "export", "--db", str(db.path), "--since", "2021-01-01")
    assert bad.returncode == 2 and "UTC offset" in bad.stderr


def test_csv_safe():
    assert [csv_safe(v) for v in ["=1+1", "+84", "-x", "@SUM", "\tx", "ok", None, 5]] == \
        ["'=1+1", "'+84", "'-x", "'@SUM", "'\tx", "ok", "", "5"]


def test_person_fields_never_overwrite_sample_columns(tmp_path):
    from central.export import write_csv
    sample = record()
    sample["persons"][0].update({"site_id": "FORGED", "status": "cancelled", "record_id": "x"})
    out = io.BytesIO()
    write_csv([{"body": sample}], out, lang="en")
    (row,) = csv.DictReader(io.StringIO(out.getvalue().decode("utf-8-sig")))
    assert (row["Site ID"], row["Tube status"], row["Record ID"]) == (
        sample["site_id"], "closed", sample["record_id"])


def test_newer_central_schema_is_refused(tmp_path):
    import pytest
    from central.db import MIGRATIONS
    db = sqlite3.connect(tmp_path / "c.db")
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(RuntimeError, match="newer than this software"):
        CentralDB(tmp_path / "c.db")
