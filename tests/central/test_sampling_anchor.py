"""Which time a sample counts from when its device clock could not be corrected, and which sample a
result belongs to when a tube code was used more than once; against the real central server."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone

import requests

from central.results import LabResult
from samplepoint.cli import main
from tests.central.conftest import full_status

UTC = timezone.utc
HEADER = "tube_code,test_type,result,result_time,lab\n"


def status(central, moment: datetime, **params) -> dict:
    central.app.extensions["central_clock"] = lambda: moment
    return full_status(central, **params)


def received_at(central, record) -> datetime:
    text = central.db.db.execute("SELECT received_at FROM samples WHERE record_id = ?",
                                 (record.record_id,)).fetchone()[0]
    return datetime.fromisoformat(text)


# --- 1. retention of records whose device clock could not be corrected ---------------------------

def test_retention_keeps_a_flagged_stale_clock_record_until_its_receipt_is_old(central, poster, people):
    stale = poster(people[:2], "DT00000101", "1970-01-01T00:00:07+00:00")      # fake-hwclock at boot
    months = poster(people[2:3], "DT00000102", "2021-03-01T09:00:00+07:00")    # months-old clock
    assert {r["record_id"] for r in central.db.flagged_times()} == {stale.record_id, months.record_id}
    now = datetime.now(UTC)
    assert central.db.erase_personal_data(now - timedelta(days=60), now) == (0, 0)
    names = [r[0] for r in central.db.db.execute("SELECT full_name FROM persons ORDER BY record_id")]
    assert "" not in names
    later = received_at(central, stale) + timedelta(days=61)
    assert central.db.erase_personal_data(later - timedelta(days=60), later) == (2, 3)


def test_retention_of_a_record_without_a_clock_row_counts_from_its_receipt(central, poster, people):
    record = poster(people[:1], "DT00000103", "2020-01-01T09:00:00+07:00", clock_synchronised=True)
    with central.db.transaction() as db:        # a sample stored before clock evidence existed
        db.execute("DELETE FROM sample_clock WHERE record_id = ?", (record.record_id,))
    now = datetime.now(UTC)
    assert central.db.erase_personal_data(now - timedelta(days=60), now) == (0, 0)
    later = received_at(central, record) + timedelta(days=61)
    assert central.db.erase_personal_data(later - timedelta(days=60), later) == (1, 1)


def test_retention_still_uses_a_corrected_collection_time(central, poster, people):
    poster(people[:1], "DT00000104", "2021-08-01T09:00:00+07:00", clock_synchronised=True)
    now = datetime.now(UTC)
    assert central.db.erase_personal_data(now - timedelta(days=60), now) == (1, 1)


# --- 2. person status with an uncorrected future device time ------------------------------------

def test_an_uncorrected_future_device_time_never_stretches_validity(central, poster, people):
    person = people[0]
    record = poster([person], "DT00000201", "2099-01-01T09:00:00+07:00")      # flagged: no evidence
    arrived = received_at(central, record)
    central.db.add_results([LabResult("DT00000201", "rt-pcr", "negative",
                                      arrived + timedelta(hours=5), "LAB-1")])
    answer = status(central, arrived + timedelta(hours=6), qid=person.qid)
    assert answer["state"] == "valid" and answer["result"] == "negative"
    assert datetime.fromisoformat(answer["collected_at"]) <= arrived
    assert datetime.fromisoformat(answer["valid_until"]) <= arrived + timedelta(hours=72)
    assert status(central, arrived + timedelta(hours=73), qid=person.qid)["state"] == "expired"


def test_an_uncorrected_past_device_time_is_kept_when_it_is_before_receipt(central, poster, people):
    person = people[1]
    poster([person], "DT00000202", "2021-08-20T09:00:00+07:00")               # flagged, plausible
    central.db.add_results([LabResult("DT00000202", "rt-pcr", "negative",
                                      datetime(2021, 8, 20, 8, tzinfo=UTC), "LAB-1")])
    answer = status(central, datetime(2021, 8, 21, tzinfo=UTC), qid=person.qid)
    assert answer["collected_at"] == "2021-08-20T02:00:00+00:00"
    assert answer["valid_until"] == "2021-08-23T02:00:00+00:00"


# --- 3. a result belongs to the latest sample of its tube collected before it --------------------

def test_a_reused_tube_code_does_not_give_the_old_result_to_the_new_sample(central, poster, people):
    first, second = people[0], people[1]
    poster([first], "DT00000301", "2021-08-01T09:00:00+07:00", clock_synchronised=True)
    assert central.db.add_results([LabResult("DT00000301", "rt-pcr", "negative",
                                             datetime(2021, 8, 1, 8, tzinfo=UTC), "LAB-1")]) == ["created"]
    poster([second], "DT00000301", "2021-08-20T09:00:00+07:00", clock_synchronised=True)
    answer = status(central, datetime(2021, 8, 20, 3, tzinfo=UTC), qid=second.qid)
    assert answer["state"] == "no-result" and answer["awaiting_result"] is True
    assert status(central, datetime(2021, 8, 2, tzinfo=UTC), qid=first.qid)["state"] == "valid"

    central.db.add_results([LabResult("DT00000301", "rt-pcr", "positive",
                                      datetime(2021, 8, 20, 8, tzinfo=UTC), "LAB-1")])
    answer = status(central, datetime(2021, 8, 20, 9, tzinfo=UTC), qid=second.qid)
    assert answer["result"] == "positive" and answer["collected_at"] == "2021-08-20T02:00:00+00:00"
    assert status(central, datetime(2021, 8, 2, tzinfo=UTC), qid=first.qid)["result"] == "negative"


def test_needs_retest_follows_the_sample_each_result_belongs_to(central, poster, people, capsys):
    early, late = people[:2], people[2:4]
    poster(early, "DT00000302", "2021-08-01T09:00:00+07:00", clock_synchronised=True)
    poster(late, "DT00000302", "2021-08-20T09:00:00+07:00", clock_synchronised=True)
    central.db.add_results([
        LabResult("DT00000302", "rt-pcr", "positive", datetime(2021, 8, 1, 8, tzinfo=UTC), "LAB-1"),
        LabResult("DT00000302", "rt-pcr", "negative", datetime(2021, 8, 20, 8, tzinfo=UTC), "LAB-1")])
    assert main(["central", "needs-retest", "--db", str(central.db.path)]) == 0
    listed = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert sorted(r["qid"] for r in listed) == sorted(p.qid for p in early)


def test_a_result_older_than_every_sample_of_its_tube_is_an_error_row(central, poster, people,
                                                                      tmp_path, capsys):
    poster(people[:1], "DT00000303", "2021-08-20T09:00:00+07:00", clock_synchronised=True)
    poster(people[1:2], "DT00000304", "2021-08-20T09:00:00+07:00", clock_synchronised=True)
    path = tmp_path / "results.csv"
    path.write_text(HEADER + "DT00000303,rt-pcr,negative,2021-08-19T15:00:00+07:00,LAB-1\n"
                    + "DT00000304,rt-pcr,negative,2021-08-20T15:00:00+07:00,LAB-1\n", encoding="utf-8")
    report = tmp_path / "problems.csv"
    code = main(["central", "import-results", "--db", str(central.db.path), "--problems", str(report),
                 str(path)])
    out = capsys.readouterr()
    assert code == 1 and '"created": 1' in out.out
    assert "line 2: " in out.err and "before" in out.err
    rows = list(csv.reader(io.StringIO(report.read_text(encoding="utf-8"))))
    assert rows[1][0] == "2" and rows[1][2] == "DT00000303"
    assert central.db.count_results() == 1
    assert status(central, datetime(2021, 8, 20, 3, tzinfo=UTC), qid=people[0].qid)["state"] == \
        "no-result"

    lab_token = central.db.add_lab("LAB-API")
    answer = requests.post(central.url + "/api/v1/results", timeout=5, json={"results": [
        {"tube_code": "DT00000303", "test_type": "rt-pcr", "result": "negative",
         "result_time": "2021-08-19T15:00:00+07:00"}]}, headers={"Authorization": f"Bearer {lab_token}"})
    item = answer.json()["results"][0]
    assert item["status"] == "result-before-sample" and "before" in item["message"]


def test_the_test_type_is_checked_against_the_sample_the_result_belongs_to(central, poster, people):
    poster(people[:1], "DT00000305", "2021-08-01T09:00:00+07:00", clock_synchronised=True)
    poster(people[1:2], "DT00000305", "2021-08-20T09:00:00+07:00", clock_synchronised=True,
           test_type="rapid-antigen")
    late = datetime(2021, 8, 20, 8, tzinfo=UTC)
    assert central.db.add_results([LabResult("DT00000305", "rt-pcr", "negative", late, "LAB-1")]) == \
        ["wrong-test-type"]
    assert central.db.add_results([LabResult("DT00000305", "rapid-antigen", "negative", late,
                                             "LAB-1")]) == ["created"]
