"""The reference central server over real HTTP: idempotent ingest, batches, auth, hostile bodies."""
from __future__ import annotations

import copy
import json
import uuid

import pytest
import requests

from tests.samplepoint.test_wire import record as wire_record


def body(**overrides):
    fields = {"record_id": str(uuid.uuid4()), "device_id": "DEV-TEST-01", "site_id": "SITE-TEST"}
    return wire_record(**{**fields, **overrides})


def post(central, payload, token=None, path="/api/v1/samples", raw=None, headers=None):
    headers = {"Authorization": f"Bearer {token or central.token}", "Content-Type": "application/json",
               **(headers or {})}
    data = raw if raw is not None else json.dumps(payload)
    return requests.post(central.url + path, data=data, headers=headers, timeout=10)


def test_same_id_same_body_is_a_duplicate_success(central):
    sample = body()
    first = post(central, sample)
    assert first.status_code == 201 and first.json()["duplicate"] is False
    reordered = dict(reversed(list(sample.items())))
    again = post(central, reordered)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert central.db.count_samples() == 1


def test_same_id_different_body_is_a_conflict_kept_aside(central):
    sample = body()
    post(central, sample)
    changed = copy.deepcopy(sample)
    changed["persons"][0]["full_name"] = "TRAN THI B"
    response = post(central, changed)
    assert response.status_code == 409
    assert central.db.count_samples() == 1
    assert [r["record_id"] for r in central.db.conflicts()] == [sample["record_id"]]
    stored = next(central.db.samples_since(None))
    assert stored["persons"][0]["full_name"] == "NGUYEN LE KHA HAN"


@pytest.mark.parametrize("token", ["", "wrong-token"])
def test_unknown_token_is_401(central, token):
    response = post(central, body(), token=token or " ")
    assert response.status_code == 401
    assert central.db.count_samples() == 0


def test_record_of_another_device_is_refused(central):
    response = post(central, body(device_id="DEV-OTHER"))
    assert response.status_code == 400 and response.json()["field"] == "device_id"


def test_idempotency_key_must_match(central):
    response = post(central, body(), headers={"Idempotency-Key": str(uuid.uuid4())})
    assert response.status_code == 400 and response.json()["field"] == "Idempotency-Key"


@pytest.mark.parametrize("raw, field", [
    (b"not json", "(body)"),
    (b"\xff\xfe", "(body)"),
    (b"[1,2,3]", "(body)"),
    (b"{}", "record_id"),
    (b"[" * 100_000 + b"]" * 100_000, "(body)"),
])
def test_malformed_bodies_are_400_with_the_field(central, raw, field):
    response = post(central, None, raw=raw)
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert central.db.count_samples() == 0


def test_missing_fields_each_name_the_field(central):
    for name in ("tube_code", "collected_at", "persons", "test_type"):
        sample = body()
        del sample[name]
        response = post(central, sample)
        assert response.status_code == 400 and response.json()["field"] == name


def test_too_large_body_is_413(central):
    response = post(central, None, raw=b'{"x":"' + b"a" * (9 * 1024 * 1024) + b'"}')
    assert response.status_code == 413
    assert central.db.count_samples() == 0


def test_batch_reports_each_record(central):
    good, dup, bad = body(), body(), body(pool_size=0)
    post(central, dup)
    response = post(central, {"records": [good, dup, bad, "junk"]}, path="/api/v1/samples/batch")
    assert response.status_code == 200
    statuses = [(r["status"], r.get("field")) for r in response.json()["results"]]
    assert statuses == [("created", None), ("duplicate", None), ("invalid", "pool_size"),
                        ("invalid", "(body)")]
    assert central.db.count_samples() == 2


@pytest.mark.parametrize("payload", [{}, {"records": []}, {"records": "x"},
                                     {"records": [{}] * 1001}])
def test_batch_envelope_is_checked(central, payload):
    response = post(central, payload, path="/api/v1/samples/batch")
    assert response.status_code == 400 and response.json()["field"] == "records"


def test_wrong_method_and_path_answer_json(central):
    assert requests.get(central.url + "/api/v1/samples", timeout=5).status_code == 405
    missing = requests.get(central.url + "/nope", timeout=5)
    assert missing.status_code == 404 and missing.json()["error"] == "not-found"


@pytest.mark.parametrize("raw", [
    b'{"record_id": ' + b"9" * 5000 + b"}",
    json.dumps({"x": "\ud800"}).encode(),
])
def test_bodies_python_cannot_decode_or_encode_are_400(central, raw):
    response = post(central, None, raw=raw)
    assert response.status_code == 400 and response.json()["field"] in ("(body)", "record_id")


@pytest.mark.parametrize("where", ["name", "unknown-field"])
def test_lone_surrogate_is_refused_alone_in_a_batch(central, where):
    good, bad = body(), body()
    if where == "name":
        bad["persons"][0]["full_name"] = "NGUYEN \ud800"
    else:
        bad["extra"] = "\udfff"
    response = post(central, {"records": [good, bad]}, path="/api/v1/samples/batch")
    assert response.status_code == 200
    assert [r["status"] for r in response.json()["results"]] == ["created", "invalid"]


@pytest.mark.parametrize("text", ["NGUYEN\u202eNAV", "NGUYEN\u200bVAN", "A\x85B", "\ufeffLE"])
def test_invisible_and_bidi_characters_are_refused(central, text):
    sample = body()
    sample["persons"][0]["full_name"] = text
    response = post(central, sample)
    assert response.status_code == 400 and response.json()["field"] == "persons[0].full_name"
