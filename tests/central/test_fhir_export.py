"""`central export --format fhir`: R4 transaction Bundles that validate, repeat byte for byte, and
create every resource conditionally on a business identifier; pools fan results out to each person."""
from __future__ import annotations

import dataclasses
import io
import json
import logging
import subprocess
import sys
from argparse import Namespace
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from central import commands, fhir
from central.results import LabResult
from samplepoint import wire
from tests.central.fhir_receiver import FhirReceiver, parse_identifier_search, validate_both

COLLECTED = "2021-08-20T09:15:00+07:00"
RESULT_AT = datetime(2021, 8, 20, 14, 30, tzinfo=timezone.utc)


def export(db_path, **options) -> list[dict]:
    out = io.StringIO()
    args = Namespace(db=str(db_path), since=None, config=None, samples_per_bundle=1)
    for name, value in options.items():
        setattr(args, name, value)
    assert commands.export_fhir(args, out=out) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def resources(bundle: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


@pytest.fixture
def pooled_positive(central, poster, people):
    """A pooled tube of 5 at the central server with a positive result from the lab."""
    record = poster(people[:5], "DT00000001", COLLECTED)
    assert central.db.add_results([LabResult("DT00000001", "rt-pcr", "positive", RESULT_AT,
                                             "LAB-1")]) == ["created"]
    return record


def test_pooled_positive_tube_exports_to_one_valid_bundle(central, pooled_positive):
    (bundle,) = export(central.db.path)
    fhir.validate(bundle)
    validate_both(bundle)                   # R4 models and the R4B models of fhir.resources
    assert bundle["type"] == "transaction"
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds == ["Patient"] * 5 + ["Group", "Specimen", "ServiceRequest"] + \
        ["Observation"] * 5 + ["DiagnosticReport"] + ["Observation"] * 5 + ["DiagnosticReport"]
    group, = resources(bundle, "Group")
    patients = {e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"}
    assert {m["entity"]["reference"] for m in group["member"]} == patients
    observations = resources(bundle, "Observation")
    assert {o["subject"]["reference"] for o in observations} == patients
    assert all(o["valueCodeableConcept"]["coding"][0]["code"] == "260373001" for o in observations)
    assert all("individual test" in o["note"][0]["text"] for o in observations)
    report, verdict = resources(bundle, "DiagnosticReport")     # the lab's, and the tube's verdict
    assert report["subject"]["reference"] == next(e["fullUrl"] for e in bundle["entry"]
                                                  if e["resource"]["resourceType"] == "Group")
    assert verdict["subject"] == report["subject"] and verdict["conclusionCode"] == \
        report["conclusionCode"]
    assert report["code"]["coding"][0] == {"system": "http://loinc.org", "code": "94500-6",
                                           "display": fhir.TESTS["rt-pcr"][1]}
    specimen, = resources(bundle, "Specimen")
    assert specimen["container"][0]["identifier"][0]["value"] == "DT00000001"
    assert specimen["collection"]["collectedDateTime"] == COLLECTED
    assert resources(bundle, "ServiceRequest")[0]["status"] == "completed"


def test_every_entry_is_a_conditional_create_on_its_own_identifiers(central, pooled_positive):
    (bundle,) = export(central.db.path)
    for entry in bundle["entry"]:
        request, resource = entry["request"], entry["resource"]
        if request["method"] == "PUT":          # the tube's verdict: replaced when it changes
            assert resource["identifier"][0]["system"] == "urn:samplepoint:verdict"
            kind, _, query = request["url"].partition("?")
            assert kind == resource["resourceType"] and parse_identifier_search(query) == [
                (resource["identifier"][0]["system"], resource["identifier"][0]["value"])]
            continue
        assert request["method"] == "POST" and request["url"] == resource["resourceType"]
        keys = parse_identifier_search(request["ifNoneExist"])
        assert keys and all(k in [(i["system"], i["value"]) for i in resource["identifier"]]
                            for k in keys)
    specimen, = resources(bundle, "Specimen")
    specimen_entry = next(e for e in bundle["entry"] if e["resource"] is specimen or
                          e["resource"]["resourceType"] == "Specimen")
    # a reused tube code must never match an older specimen: the key is the record id alone
    assert parse_identifier_search(specimen_entry["request"]["ifNoneExist"]) == [
        ("urn:samplepoint:sample-record", pooled_positive.record_id)]


def test_references_inside_a_bundle_all_resolve(central, pooled_positive):
    (bundle,) = export(central.db.path)
    urls = {e["fullUrl"] for e in bundle["entry"]}

    def refs(node):
        if isinstance(node, dict):
            if "reference" in node:
                yield node["reference"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for item in node:
                yield from refs(item)
    found = list(refs(bundle))
    assert found and set(found) <= urls


def test_re_export_is_byte_identical(central, pooled_positive):
    first = subprocess.run([sys.executable, "-m", "samplepoint.cli", "central", "export", "--db",
                            str(central.db.path), "--format", "fhir"], capture_output=True, timeout=60)
    second = subprocess.run([sys.executable, "-m", "samplepoint.cli", "central", "export", "--db",
                             str(central.db.path), "--format", "fhir"], capture_output=True, timeout=60)
    assert first.returncode == 0 and first.stdout == second.stdout and first.stdout.count(b"\n") == 1
    assert json.loads(first.stdout)["resourceType"] == "Bundle"


def test_a_receiver_stores_each_resource_once_however_often_it_is_sent(central, pooled_positive):
    (bundle,) = export(central.db.path)
    receiver = FhirReceiver()
    first = receiver.transact(bundle)
    again = receiver.transact(json.loads(json.dumps(bundle)))
    assert {e["response"]["status"] for e in first["entry"]} == {"201 Created"}
    assert {e["response"]["status"] for e in again["entry"]} == {"200 OK"}
    assert len(receiver.resources) == len(bundle["entry"]) == 20
    assert all(r["subject"]["reference"].startswith("Group/")
               for r in receiver.of_type("DiagnosticReport"))


def test_vietnamese_names_diacritics_and_birth_dates_survive_the_round_trip(central, poster, people):
    person = dataclasses.replace(people[0], source="cccd", full_name="Nguyễn Thị Ánh Tuyết",
                                 date_of_birth="1952-02-29", gender="female")
    poster([person], "DT00000002", COLLECTED)
    (bundle,) = export(central.db.path)
    receiver = FhirReceiver()
    receiver.transact(json.loads(json.dumps(bundle, ensure_ascii=True)))
    patient, = receiver.of_type("Patient")
    assert patient["name"][0]["text"] == "Nguyễn Thị Ánh Tuyết"
    assert (patient["name"][0]["family"], patient["name"][0]["given"]) == ("Nguyễn",
                                                                           ["Thị", "Ánh", "Tuyết"])
    assert (patient["birthDate"], patient["gender"]) == ("1952-02-29", "female")
    assert {"system": fhir.SID_CCCD, "value": person.id_number} == {
        k: patient["identifier"][0][k] for k in ("system", "value")}


def test_people_without_a_cccd_number_keep_the_identifier_their_data_has(central, poster, people):
    masked_with_qid = dataclasses.replace(people[0], id_number="******509")
    masked_only = dataclasses.replace(people[1], id_number="*********", qid=None)
    old_card = dataclasses.replace(people[2], id_number="381234567", qid=None)
    record = poster([masked_with_qid, masked_only, old_card], "DT00000003", COLLECTED)
    (bundle,) = export(central.db.path)
    idents = [[(i["system"], i["value"]) for i in p["identifier"]] for p in resources(bundle, "Patient")]
    assert idents == [[("urn:samplepoint:qid", people[0].qid)],
                      [("urn:samplepoint:sample-person", f"{record.record_id}/2")],
                      [(fhir.SID_CMND, "381234567")]]
    assert "*" not in json.dumps(bundle)          # masked numbers identify nobody: left out


def test_negative_pool_fans_out_and_invalid_result_is_no_value(central, poster, people):
    poster(people[:3], "DT00000004", COLLECTED)
    central.db.add_results([LabResult("DT00000004", "rt-pcr", "invalid", RESULT_AT, "LAB-1"),
                            LabResult("DT00000004", "rt-pcr", "negative",
                                      RESULT_AT.replace(hour=18), "LAB-1")])
    (bundle,) = export(central.db.path)
    fhir.validate(bundle)
    observations = resources(bundle, "Observation")
    assert len(observations) == 9 and len(resources(bundle, "DiagnosticReport")) == 3
    assert [o["dataAbsentReason"]["coding"][0]["code"] for o in observations[:3]] == ["error"] * 3
    assert [o["valueCodeableConcept"]["coding"][0]["code"] for o in observations[3:]] == \
        ["260415000"] * 6          # the later negative corrects the lab's invalid: the verdict
    assert all("individual test" not in o["note"][0]["text"] for o in observations)


def test_batches_create_a_person_once_and_leave_out_erased_samples(central, poster, people):
    old = poster(people[3:5], "DT00000007", COLLECTED)
    now = datetime.now(timezone.utc)
    assert central.db.erase_personal_data(now + timedelta(seconds=1), now) == (1, 2)
    poster(people[:2], "DT00000005", COLLECTED)
    poster(people[1:3], "DT00000006", COLLECTED)
    bundles = export(central.db.path, samples_per_bundle=10)
    assert len(bundles) == 1
    fhir.validate(bundles[0])
    assert len(resources(bundles[0], "Patient")) == 3
    assert len(resources(bundles[0], "Specimen")) == 2
    assert old.record_id not in json.dumps(bundles)
    assert len(export(central.db.path)) == 2


def test_cancelled_tube_is_a_revoked_request_and_unavailable_specimen(central, poster, people):
    poster([], "DT00000008", COLLECTED, status="cancelled")
    (bundle,) = export(central.db.path)
    fhir.validate(bundle)
    assert resources(bundle, "Specimen")[0]["status"] == "unavailable"
    assert resources(bundle, "ServiceRequest")[0]["status"] == "revoked"


def test_export_logs_counts_never_personal_data(central, pooled_positive, people, caplog):
    with caplog.at_level(logging.DEBUG):
        export(central.db.path)
    text = caplog.text
    assert "exported 1 samples as 1 FHIR bundles" in text
    for person in people[:5]:
        assert person.full_name not in text and person.id_number not in text
        assert person.phone not in text and person.qid not in text


def test_identifier_base_comes_from_the_central_config(tmp_path, central, pooled_positive):
    config = tmp_path / "central.toml"
    config.write_text('[central_server]\nfhir_identifier_base = "https://cdc.example.vn/fhir/sid/"\n')
    (bundle,) = export(central.db.path, config=str(config))
    assert resources(bundle, "Specimen")[0]["identifier"][0]["system"] == \
        "https://cdc.example.vn/fhir/sid/sample-record"


def test_export_cli_refuses_a_bad_bundle_size(central):
    result = subprocess.run([sys.executable, "-m", "samplepoint.cli", "central", "export", "--db",
                             str(central.db.path), "--format", "fhir", "--samples-per-bundle", "0"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--samples-per-bundle" in result.stderr


_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cf", "Zl", "Zp")), min_size=1,
                max_size=40).filter(lambda t: t.strip() and not wire.CONTROL_CHARS.search(t))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tube=_TEXT, name=_TEXT, qid=_TEXT, staff=_TEXT)
def test_hostile_text_still_validates_and_matches_itself(tube, name, qid, staff):
    person = {"source": "personal-qr", "id_number": "******", "full_name": name, "gender": "unknown",
              "qid": qid}
    body = {"record_id": "5e1c1a59-0c1f-4b1f-9a55-0d9b1f0e1a01", "tube_code": tube, "pool_size": 2,
            "test_type": "rapid-antigen", "sample_type": name, "collected_at": COLLECTED,
            "site_id": "SITE-1", "device_id": "DEV-1", "staff_id": staff, "status": "closed",
            "persons": [person, dict(person, qid=qid + "x")]}
    data = fhir.SampleData(body, COLLECTED, (fhir.LabResult("LAB-1", "2021-08-20T14:30:00.000+00:00",
                                                           "rapid-antigen", "positive"),))
    bundle = fhir.bundle([data])
    fhir.validate(bundle)
    receiver = FhirReceiver()
    receiver.transact(bundle)
    receiver.transact(bundle)
    assert len(receiver.resources) == len(bundle["entry"])
    patient = receiver.of_type("Patient")[0]
    assert patient["name"][0]["text"] == name
