"""Wire format v1's optional clock fields: round trip, omitted when unknown, hostile values refused."""
from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, strategies as st

from kiosk.framegen import fictional_person
from samplepoint import wire


def record(**clock) -> wire.SampleRecord:
    return wire.SampleRecord(
        record_id=wire.new_record_id(), tube_code="DT1", pool_size=1, test_type="rt-pcr",
        sample_type="swab", collected_at="2021-08-20T09:00:00.000+07:00", site_id="S", device_id="D",
        staff_id="x", persons=(fictional_person(random.Random(1)),), **clock)


def test_clock_fields_round_trip():
    original = record(clock_synchronised=False, monotonic_s=1234.5, boot_id="708ec7d3-602a")
    body = json.loads(wire.canonical(original.to_json()))
    assert wire.parse_record(body) == original


def test_unknown_clock_fields_are_left_out_so_old_bodies_stay_byte_identical():
    body = record().to_json()
    assert not set(wire.OPTIONAL_CLOCK_FIELDS) & set(body)
    assert wire.parse_record(body).clock_synchronised is None


def test_readers_tolerate_unknown_fields():
    body = {**record(monotonic_s=1.0).to_json(), "some_future_field": {"x": [1, 2]}}
    assert wire.parse_record(body).monotonic_s == 1.0


@pytest.mark.parametrize("name, value", [
    ("clock_synchronised", "yes"), ("clock_synchronised", 1), ("monotonic_s", -1),
    ("monotonic_s", float("nan")), ("monotonic_s", float("inf")), ("monotonic_s", True),
    ("monotonic_s", "12"), ("monotonic_s", 1e12), ("boot_id", 5), ("boot_id", "x" * 65),
    ("boot_id", "a\nb")])
def test_bad_clock_values_name_the_field(name, value):
    with pytest.raises(wire.WireError) as caught:
        wire.parse_record({**record().to_json(), name: value})
    assert caught.value.field == name


@given(st.dictionaries(st.sampled_from(wire.OPTIONAL_CLOCK_FIELDS),
                       st.one_of(st.none(), st.booleans(), st.floats(), st.integers(), st.text())))
def test_hostile_clock_values_are_accepted_or_refused_never_crash(values):
    try:
        wire.parse_record({**record().to_json(), **values})
    except wire.WireError:
        pass
