"""One result rule everywhere: two results for one tube at one time, through the real import (CLI and
lab API) into a real `central serve`, give the same answer in the status API, the kiosk's check mode,
the exports, needs-retest and FHIR; and for any set of results every consumer agrees, never negative
beside a positive."""
from __future__ import annotations

import csv
import io
import json
import random
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
import requests
from hypothesis import HealthCheck, given, settings, strategies as st

from central import results_api, verdict as rule
from central.app import create_app
from central.db import CentralDB
from central.export import person_rows
from central.fhir import VERDICT_CODES, bundle
from central.results import LabResult
from kiosk import check
from kiosk.framegen import fictional_person
from samplepoint import config as config_module
from samplepoint import wire
from samplepoint.cli import main
from tests.central.conftest import post_sample
from tests.central.fhir_receiver import FhirReceiver
from tests.central.test_postgres import Workers
from tests.conftest import write_config
from tests.kiosk.test_check import VN, run_check, write_frames

NOW = datetime.now(timezone.utc).replace(microsecond=0)
SAMPLED = (NOW - timedelta(hours=3)).isoformat()
AT = NOW - timedelta(hours=1)
HEADER = "tube_code,test_type,result,result_time,lab\n"


@pytest.fixture
def served(tmp_path, central_backend):
    """A database with a device and two lab names of one lab, behind a real `central serve`
    (3 worker processes on PostgreSQL)."""
    db = CentralDB(tmp_path / "central.db")
    device = db.add_device("DEV-TEST-01", "SITE-TEST")
    labs = {name: db.add_lab(name) for name in ("LAB-DT", "LAB-DT-2")}
    server = Workers(str(db.path), workers=3 if central_backend == "postgresql" else 1)
    yield SimpleNamespace(db=db, url=server.base, token=device, labs=labs, path=str(db.path))
    server.stop()


def pool(served, tube: str, seed: int) -> list[wire.Person]:
    rng = random.Random(seed)
    people = [fictional_person(rng) for _ in range(3)]
    post_sample(served, people, tube, SAMPLED, clock_synchronised=True)
    return people


def post_results(served, lab: str, *items) -> list[str]:
    answer = requests.post(served.url + "/api/v1/results", timeout=10, json={"results": [
        {"tube_code": t, "test_type": "rt-pcr", "result": r, "result_time": AT.isoformat()}
        for t, r in items]}, headers={"Authorization": f"Bearer {served.labs[lab]}"})
    assert answer.status_code == 200, answer.text
    return [item["status"] for item in answer.json()["results"]]


def status_of(served, person) -> dict:
    answer = requests.get(served.url + "/api/v1/persons/status", params={"qid": person.qid},
                          headers={"Authorization": f"Bearer {served.token}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def cli_out(capsys, *args) -> str:
    code = main(list(args))
    out = capsys.readouterr().out
    assert code == 0, out
    return out


def test_two_results_at_one_time_are_a_conflict_for_every_consumer(served, tmp_path, capsys):
    by_csv, by_api, one_lab = pool(served, "DT00000501", 1), pool(served, "DT00000502", 2), \
        pool(served, "DT00000503", 3)
    # The lab's CSV, uploaded under two names: negative under one, positive under the other.
    path = tmp_path / "results.csv"
    path.write_text(HEADER + f"DT00000501,rt-pcr,negative,{AT.isoformat()},LAB-DT\n"
                    f"DT00000501,rt-pcr,positive,{AT.isoformat()},LAB-DT-2\n", encoding="utf-8")
    assert main(["central", "import-results", "--db", served.path, str(path)]) == 0
    assert json.loads(capsys.readouterr().out) == {"created": 2}
    # The lab API: the same, and one name sending negative then positive for one key.
    assert post_results(served, "LAB-DT", ("DT00000502", "negative"), ("DT00000503", "negative")) \
        == ["created", "created"]
    assert post_results(served, "LAB-DT-2", ("DT00000502", "positive")) == ["created"]
    assert post_results(served, "LAB-DT", ("DT00000503", "positive")) == ["conflict"]
    everyone = by_csv + by_api + one_lab

    for person in everyone:                                   # the status API
        answer = status_of(served, person)
        assert answer["state"] == "conflict" and answer["conflict"] is True, answer
        assert answer["result"] == "conflict" and answer["needs_individual_test"] is True
        assert answer["valid_until"] is None

    config = config_module.load(write_config(tmp_path, served.url, served.token))
    for person in (by_csv[0], by_api[1], one_lab[2]):       # the real kiosk in check mode
        write_frames(tmp_path / "frames", [person])
        for staff in (None, "staff-7"):
            signals = run_check(tmp_path, config, served.url, served.token, staff=staff)
            kinds = [(k, m) for k, m in signals if k in check.COLOURS]
            assert kinds == [(check.CHECK_CONFLICT, "CẦN XÉT NGHIỆM LẠI\n"
                                                    "Kết quả mâu thuẫn — cần xét nghiệm lại")]

    exported = list(csv.DictReader(io.StringIO(cli_out(
        capsys, "central", "export", "--db", served.path, "--format", "machine-csv"))))
    assert len(exported) == 9 and {r["result"] for r in exported} == {"conflict"}
    vietnamese = cli_out(capsys, "central", "export", "--db", served.path, "--columns", "vi")
    assert vietnamese.count("Mâu thuẫn — cần xét nghiệm lại") == 9

    retest = list(csv.DictReader(io.StringIO(cli_out(
        capsys, "central", "needs-retest", "--db", served.path).removeprefix("\ufeff"))))
    assert sorted(r["qid"] for r in retest) == sorted(p.qid for p in everyone)
    assert {r["reason"] for r in retest} == {"conflict"}

    bundles = [json.loads(line) for line in cli_out(
        capsys, "central", "export", "--db", served.path, "--format", "fhir").splitlines()]
    assert [verdict_codes(b) for b in bundles] == [["419984006"] * 4] * 3   # 3 people + the tube


def verdict_codes(bundle_json: dict) -> list[str]:
    """The codes of the tube's verdict entries (Observations and DiagnosticReport)."""
    codes = []
    for entry in bundle_json["entry"]:
        resource = entry["resource"]
        if resource["identifier"][0]["system"].endswith("verdict"):
            concept = resource.get("valueCodeableConcept") or (resource.get("conclusionCode") or [{}])[0]
            codes.append(concept.get("coding", [{}])[0].get("code", "absent"))
    return codes


def test_the_fhir_push_sends_the_conflict_a_dispute_makes(served, tmp_path):
    people = pool(served, "DT00000511", 11)
    assert post_results(served, "LAB-DT", ("DT00000511", "negative")) == ["created"]
    receiver = FhirReceiver()
    server = receiver.serve()
    config = tmp_path / "central.toml"
    config.write_text("[central_server]\n", encoding="utf-8")
    try:
        push = ["central", "push-fhir", "--db", served.path, "--url", server.fhir_url,
                "--config", str(config)]
        assert main(push) == 0
        assert stored_verdicts(receiver) == ["260415000"] * 4
        # The same lab name then says positive for the same key: stored beside, pushed again.
        assert post_results(served, "LAB-DT", ("DT00000511", "positive")) == ["conflict"]
        assert main(push) == 0
        assert stored_verdicts(receiver) == ["419984006"] * 4      # replaced, not added
        assert main(push) == 0 and len(receiver.received) == 2     # nothing new: nothing sent
    finally:
        server.stop()
    assert status_of(served, people[0])["state"] == "conflict"


def stored_verdicts(receiver: FhirReceiver) -> list[str]:
    return sorted(verdict_codes({"entry": [{"resource": r} for r in receiver.resources.values()]}))


# --- for any set of results, every consumer gives the same answer ------------------------------

LABS = ("LAB-A", "LAB-B")
readings = st.lists(st.tuples(st.sampled_from(LABS), st.integers(0, 2),
                              st.sampled_from(["negative", "positive", "invalid"])),
                    min_size=0, max_size=5)
FHIR_WORDS = {code: word for word, (code, _) in VERDICT_CODES.items()}
CHECK_WORDS = {check.CHECK_CONFLICT: "conflict", check.CHECK_NO_RESULT: None}


@pytest.fixture
def store(tmp_path):
    db = CentralDB(tmp_path / "central.db")
    db.add_device("DEV-TEST-01", "SITE-TEST")
    app = create_app(db)
    app.extensions["central_clock"] = lambda: NOW
    yield SimpleNamespace(db=db, app=app, tubes=iter(range(10 ** 6)))


def answers(store, tube: str, people: list[wire.Person]) -> dict[str, object]:
    """What each consumer says of the pool's first person, in one vocabulary."""
    with store.app.app_context():
        status = results_api.lookup({"qid": people[0].qid})
    shown = check.outcome({k: status[k] for k in results_api.CHECK_MODE_FIELDS},
                          staff_signed_in=True, tz=VN)
    kiosk = CHECK_WORDS.get(shown.kind, {"pool-positive": "positive"}.get(shown.result, shown.result))
    item, = list(store.db.find_samples(tube))
    exported = next(iter(person_rows([item], timezone.utc)))["result"]
    listed = {r["reason"] for r in store.db.needing_individual_test() if r["tube_code"] == tube}
    data = next(d for d in store.db.fhir_samples() if not isinstance(d, str)
                and d.body["tube_code"] == tube)
    fhir = verdict_codes(bundle([data])) if data.results else []
    return {"status": status["result"] if status["state"] != "no-result" else None,
            "kiosk": kiosk,
            "export": None if exported == "invalid" else exported,
            "needs-retest": listed.pop() if listed else None,
            "fhir": FHIR_WORDS.get(fhir[0]) if fhir else None}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(readings)
def test_every_consumer_gives_the_same_answer_for_any_results(store, given_results):
    tube = f"DT{next(store.tubes):08d}"
    people = [fictional_person(random.Random(hash(tube))) for _ in range(2)]
    record = wire.SampleRecord(
        record_id=wire.new_record_id(), tube_code=tube, pool_size=2, test_type="rt-pcr",
        sample_type="swab", collected_at=SAMPLED, site_id="SITE-TEST", device_id="DEV-TEST-01",
        staff_id="s", persons=tuple(people), clock_synchronised=True)
    store.db.ingest("DEV-TEST-01", [(record, wire.canonical(record.to_json()))])
    store.db.add_results([LabResult(tube, "rt-pcr", result, AT + timedelta(minutes=minute), lab)
                          for lab, minute, result in given_results])
    said = answers(store, tube, people)
    expected = rule.tube_verdict(rule.Reading(lab, AT + timedelta(minutes=m), r)
                                 for lab, m, r in given_results).outcome
    expected = None if expected == rule.INVALID else expected
    retest = expected if expected in (rule.POSITIVE, rule.CONFLICT) else None
    assert said == {"status": expected, "kiosk": expected, "export": expected,
                    "needs-retest": retest, "fhir": expected}, given_results
    # Never negative while any lab's latest word on the tube includes a positive.
    latest = {lab: max(m for lb, m, _ in given_results if lb == lab) for lab, _, _ in given_results}
    if any(r == "positive" and m == latest[lab] for lab, m, r in given_results):
        assert expected in (rule.POSITIVE, rule.CONFLICT)
    # Results from different labs that disagree on their latest word never agree into one answer.
    words = {lab: {r for lb, m, r in given_results if lb == lab and m == latest[lab]} for lab in latest}
    if len(latest) == 2 and words["LAB-A"] != words["LAB-B"] and "negative" in set().union(*words.values()):
        assert expected == rule.CONFLICT
