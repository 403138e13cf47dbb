"""Deep or hostile JSON posted to any central endpoint is a 400 (or a per-record refusal), never a 500;
the device status look-up is rate limited per device and answers only what check mode needs."""
from __future__ import annotations

import json

import pytest
import requests
from hypothesis import HealthCheck, given, settings, strategies as st

from central.app import create_app
from samplepoint import wire
from samplepoint.config import CentralServerConfig
from tests.samplepoint.test_wire import record

ENDPOINTS = ["/api/v1/samples", "/api/v1/samples/batch", "/api/v1/heartbeat", "/api/v1/enrol",
             "/api/v1/results"]


def nested(depth: int, leaf=1):
    value = leaf
    for level in range(depth):
        value = {"x": value} if level % 2 else [value]
    return value


def test_canonical_refuses_deep_bodies_with_a_wire_error():
    with pytest.raises(wire.WireError, match="nested deeper"):
        wire.canonical({"persons": [nested(5000)]})
    assert wire.nesting_depth(nested(100_000)) > wire.MAX_DEPTH      # no recursion while counting


def deep_text(depth: int) -> str:
    """JSON text nested `depth` levels (json.dumps itself would hit the recursion limit)."""
    return '{"x":[' * (depth // 2) + "1" + "]}" * (depth // 2)


def test_a_deep_unknown_field_inside_a_person_is_a_400(central):
    body = record()
    body["persons"][0]["unknown"] = "DEEP"
    single = json.dumps(body).replace('"DEEP"', deep_text(980))
    for raw in (single, '{"records": [' + single + "]}"):
        for path in ("/api/v1/samples", "/api/v1/samples/batch"):
            answer = requests.post(central.url + path, data=raw, timeout=10, headers={
                "Authorization": f"Bearer {central.token}", "Content-Type": "application/json"})
            assert answer.status_code == 400, (path, answer.text)
            assert answer.json()["field"] == "(body)"
    assert central.db.count_samples() == 0


def test_a_record_just_inside_the_depth_limit_is_stored(central):
    body = record()
    body["device_id"] = "DEV-TEST-01"
    body["persons"][0]["extension"] = nested(wire.MAX_DEPTH - 4)
    answer = requests.post(central.url + "/api/v1/samples", json=body, timeout=10,
                           headers={"Authorization": f"Bearer {central.token}"})
    assert answer.status_code == 201, answer.text


def test_json_nested_past_the_parser_limit_is_a_400(central):
    raw = "[" * 30_000 + "]" * 30_000          # within every endpoint's body limit (64 KiB)
    for path in ENDPOINTS:
        answer = requests.post(central.url + path, data=raw, timeout=10,
                               headers={"Authorization": f"Bearer {central.token}"})
        assert answer.status_code in (400, 401), (path, answer.status_code)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) |
                    st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=30)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=JSON, depth=st.integers(0, 400) | st.integers(500, 3000),
       where=st.sampled_from(["person", "top", "batch"]))
def test_any_json_to_any_endpoint_never_answers_500(body, depth, where, tmp_path):
    from central.db import CentralDB
    db = CentralDB(tmp_path / "hostile.db")
    token = db.add_device("DEV-H", "SITE-H", rekey=True)
    lab = db.add_lab("LAB-H")
    client = create_app(db).test_client()
    sample = record()
    sample["device_id"] = "DEV-H"
    inner = nested(depth, body) if depth < 500 else "DEEP"     # deeper: spliced in as text
    if where == "person":
        sample["persons"][0]["extra"] = inner
        payload = sample
    elif where == "top":
        payload = inner
    else:
        payload = {"records": [sample, inner]}
    raw = json.dumps(payload).replace('"DEEP"', deep_text(depth))
    for path in ENDPOINTS:
        auth = lab if path == "/api/v1/results" else token
        answer = client.post(path, data=raw, content_type="application/json",
                             headers={"Authorization": f"Bearer {auth}"})
        assert answer.status_code < 500, (path, answer.get_data(as_text=True)[:200])


def test_status_lookups_are_rate_limited_per_device_and_answer_only_check_fields(tmp_path):
    from central.db import CentralDB
    db = CentralDB(tmp_path / "c.db")
    first, second = db.add_device("DEV-1", "S"), db.add_device("DEV-2", "S")
    client = create_app(db, CentralServerConfig(status_per_device_per_min=3)).test_client()

    def ask(token):
        return client.get("/api/v1/persons/status?qid=123",
                          headers={"Authorization": f"Bearer {token}"})

    answers = [ask(first) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert int(answers[-1].headers["Retry-After"]) >= 1
    assert set(answers[0].get_json()) == {"state", "valid_until", "result", "needs_individual_test",
                                         "conflict"}
    assert ask(second).status_code == 200        # another device has its own allowance
