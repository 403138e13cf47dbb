"""Central retention: personal fields go after central_server.retention_days; results and idempotency stay."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import requests

from central.results import LabResult
from samplepoint.cli import main

UTC = timezone.utc


def test_old_samples_lose_personal_fields_and_keep_results(central, poster, people):
    old = poster(people[:2], "DT00000001", "2021-08-01T09:00:00+07:00", clock_synchronised=True)
    recent = poster(people[2:3], "DT00000002", "2021-08-19T09:00:00+07:00", clock_synchronised=True)
    central.db.add_results([LabResult("DT00000001", "rt-pcr", "negative",
                                      datetime(2021, 8, 1, 12, tzinfo=UTC), "LAB-1")])
    now = datetime(2021, 8, 20, tzinfo=UTC)
    assert central.db.erase_personal_data(now - timedelta(days=14), now) == (1, 2)
    rows = central.db.db.execute("SELECT * FROM persons WHERE record_id = ?", (old.record_id,)).fetchall()
    assert all(r["full_name"] == "" and r["id_number"] == "" and r["qid"] is None and r["phone"] is None
               for r in rows)
    body = central.db.db.execute("SELECT body FROM samples WHERE record_id = ?",
                                 (old.record_id,)).fetchone()[0]
    assert all(p.full_name not in body and p.id_number not in body for p in people[:2])
    assert central.db.count_results() == 1
    kept = central.db.db.execute("SELECT full_name FROM persons WHERE record_id = ?",
                                 (recent.record_id,)).fetchone()[0]
    assert kept == people[2].full_name
    # A device resending the erased record (it never saw the answer) still gets "duplicate".
    again = requests.post(central.url + "/api/v1/samples", json=old.to_json(), timeout=5,
                          headers={"Authorization": f"Bearer {central.token}"})
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert central.db.erase_personal_data(now, now) == (1, 1)
    assert central.db.personal_data_summary()["samples_with_personal_data"] == 0


def test_purge_command_reads_retention_from_config(central, poster, people, tmp_path, capsys):
    poster(people[:1], "DT00000003", "2021-08-01T09:00:00+07:00", clock_synchronised=True)
    config = tmp_path / "central.toml"
    config.write_text("[central_server]\nretention_days = 100000\n", encoding="utf-8")
    assert main(["central", "purge", "--db", str(central.db.path), "--config", str(config)]) == 0
    assert json.loads(capsys.readouterr().out)["samples"] == 0
    assert main(["central", "purge", "--db", str(central.db.path)]) == 0     # default 60 days
    assert json.loads(capsys.readouterr().out)["samples"] == 1
