"""Safe by default: a mistyped --db is refused, an existing device is re-keyed only on request, and
the same advice for a refused token comes from the server, `doctor` and the docs."""
from __future__ import annotations

from pathlib import Path

import pytest
import requests

from central.db import CentralDB
from samplepoint import wire
from samplepoint.cli import main

DOCS = Path(__file__).resolve().parents[2] / "docs"
COMMANDS = [
    ["serve"], ["add-device", "--device-id", "D", "--site-id", "S"], ["devices"], ["export"],
    ["enrol-code", "--campaign", "c", "--site", "S"], ["add-lab", "--lab-id", "L"], ["purge"], ["needs-retest"],
    ["import-results", "x.csv"], ["add-user", "--username", "u", "--role", "admin",
                                  "--password-stdin"], ["backup", "copy.db"],
]

pytestmark = pytest.mark.sqlite_only   # about SQLite files; see test_postgres.py


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_database_that_does_not_exist_is_refused_and_not_created(command, tmp_path, capsys):
    missing = tmp_path / "typo.db"
    assert main(["central", command[0], "--db", str(missing), *command[1:]]) == 2
    assert "central init" in capsys.readouterr().err
    assert not missing.exists()


def test_init_creates_the_database(tmp_path):
    path = tmp_path / "new" / "central.db"
    assert main(["central", "init", "--db", str(path)]) == 0
    assert CentralDB(path).count_samples() == 0 and oct(path.stat().st_mode & 0o777) == "0o600"


def test_add_device_refuses_an_existing_id_without_rekey(tmp_path, capsys):
    db = CentralDB(tmp_path / "c.db")
    token = db.add_device("DEV-1", "SITE-1")
    assert main(["central", "add-device", "--db", str(db.path), "--device-id", "DEV-1",
                 "--site-id", "SITE-1"]) == 2
    assert "--rekey" in capsys.readouterr().err
    assert db.device_for_token(token)["device_id"] == "DEV-1"           # still valid
    assert main(["central", "add-device", "--db", str(db.path), "--device-id", "DEV-1",
                 "--site-id", "SITE-1", "--rekey"]) == 0
    new_token = capsys.readouterr().out.strip()
    assert db.device_for_token(token) is None
    assert db.device_for_token(new_token)["device_id"] == "DEV-1"


def test_one_advice_for_a_refused_or_already_enrolled_device(central):
    from central.enrol import issue_code
    code, _ = issue_code(central.db, "c", 1, 1, sites=["SITE-TEST"])
    answer = requests.post(central.url + "/api/v1/enrol", json={
        "code": code, "device_id": "DEV-TEST-01", "site_id": "SITE-TEST"}, timeout=5)
    assert answer.status_code == 409
    advice = wire.rekey_advice("DEV-TEST-01", "SITE-TEST")
    assert advice in answer.json()["message"]
    assert "central add-device --rekey" in (DOCS / "central.md").read_text(encoding="utf-8")
    assert "central add-device --rekey" in (DOCS / "recovery.md").read_text(encoding="utf-8")
