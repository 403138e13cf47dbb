"""Helpers for the central server's result tests: samples posted over the real ingest API."""
from __future__ import annotations

import random

import pytest
import requests

from kiosk.framegen import fictional_person
from samplepoint import wire


def post_sample(central, persons, tube_code: str, collected_at: str, *, test_type: str = "rt-pcr",
                status: str = "closed", **clock) -> wire.SampleRecord:
    record = wire.SampleRecord(
        record_id=wire.new_record_id(), tube_code=tube_code, pool_size=max(1, len(persons)),
        test_type=test_type, sample_type="nasopharyngeal-swab", collected_at=collected_at,
        site_id="SITE-TEST", device_id="DEV-TEST-01", staff_id="staff-1", persons=tuple(persons),
        status=status, cancel_reason="spilled" if status == "cancelled" else None, **clock)
    response = requests.post(central.url + "/api/v1/samples", json=record.to_json(), timeout=5,
                             headers={"Authorization": f"Bearer {central.token}"})
    assert response.status_code == 201, response.text
    return record


@pytest.fixture
def people():
    rng = random.Random(7)
    return [fictional_person(rng) for _ in range(20)]


@pytest.fixture
def poster(central):
    return lambda *args, **kwargs: post_sample(central, *args, **kwargs)


def full_status(central, **params) -> dict:
    """A person's full status (as the console shows it); asserts that the device endpoint answers
    the same, cut down to what check mode needs."""
    from central import results_api
    with central.app.app_context():
        answer = results_api.lookup(params)
    response = requests.get(central.url + "/api/v1/persons/status", params=params, timeout=5,
                            headers={"Authorization": f"Bearer {central.token}"})
    assert response.status_code == 200, response.text
    assert response.json() == {k: answer[k] for k in results_api.CHECK_MODE_FIELDS}
    return answer
