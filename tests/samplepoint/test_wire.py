"""Wire format v1: round trip, the field at fault for each bad body, tolerance of unknown fields."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings, strategies as st

from samplepoint import wire


def record(**overrides) -> dict:
    body = wire.SampleRecord(
        record_id="3f1c2a4e-9b7d-4c1e-8f00-000000000001", tube_code="DT00000001", pool_size=5,
        test_type="rt-pcr", sample_type="nasopharyngeal-swab",
        collected_at="2021-08-20T09:15:00.000+07:00", site_id="SITE-1", device_id="DEV-1",
        staff_id="NV01",
        persons=(wire.Person(source="personal-qr", id_number="001093029317",
                             full_name="NGUYEN LE KHA HAN", date_of_birth="1987-01-18",
                             gender="male", phone="0944713700", qid="162979388586171100"),),
    ).to_json()
    body.update(overrides)
    return body


def test_round_trip():
    body = record()
    assert wire.parse_record(body).to_json() == body
    assert body["version"] == wire.WIRE_VERSION


def test_unknown_fields_are_tolerated():
    body = record(future_field={"x": 1})
    body["persons"][0]["vaccinated"] = True
    assert wire.parse_record(body).tube_code == "DT00000001"


def test_canonical_is_key_order_independent():
    body = record()
    shuffled = json.loads(json.dumps(dict(reversed(list(body.items())))))
    assert wire.canonical(body) == wire.canonical(shuffled)


@pytest.mark.parametrize("change, field", [
    ({"record_id": "not-a-uuid"}, "record_id"),
    ({"record_id": "3F1C2A4E-9B7D-4C1E-8F00-000000000001"}, "record_id"),
    ({"pool_size": 0}, "pool_size"),
    ({"pool_size": True}, "pool_size"),
    ({"test_type": "pcr"}, "test_type"),
    ({"collected_at": "2021-08-20T09:15:00"}, "collected_at"),
    ({"collected_at": "yesterday"}, "collected_at"),
    ({"persons": []}, "persons"),
    ({"persons": "x"}, "persons"),
    ({"persons": [1]}, "persons[0]"),
    ({"tube_code": ""}, "tube_code"),
    ({"tube_code": "A" * 65}, "tube_code"),
    ({"staff_id": "a\x00b"}, "staff_id"),
    ({"site_id": None}, "site_id"),
    ({"version": 2}, "version"),
    ({"status": "cancelled"}, "cancel_reason"),
])
def test_bad_bodies_name_the_field(change, field):
    with pytest.raises(wire.WireError) as info:
        wire.parse_record(record(**change))
    assert info.value.field == field


def test_too_many_persons_for_the_pool():
    body = record(pool_size=1)
    body["persons"] = body["persons"] * 2
    with pytest.raises(wire.WireError, match="pool_size is 1"):
        wire.parse_record(body)


@pytest.mark.parametrize("person_change, field", [
    ({"source": "passport"}, "persons[0].source"),
    ({"date_of_birth": "18/01/1987"}, "persons[0].date_of_birth"),
    ({"gender": "x"}, "persons[0].gender"),
    ({"declared_on_behalf": "yes"}, "persons[0].declared_on_behalf"),
    ({"full_name": "<script>" * 40}, "persons[0].full_name"),
])
def test_bad_persons_name_the_field(person_change, field):
    body = record()
    body["persons"][0].update(person_change)
    with pytest.raises(wire.WireError) as info:
        wire.parse_record(body)
    assert info.value.field == field


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20)


@settings(max_examples=500, deadline=None)
@given(json_values)
def test_any_json_value_is_parsed_or_refused_with_wire_error(value):
    try:
        wire.parse_record(value)
    except wire.WireError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(record().keys())), json_values)
def test_any_single_field_mutation_is_parsed_or_refused(name, value):
    try:
        wire.parse_record(record(**{name: value}))
    except wire.WireError:
        pass
