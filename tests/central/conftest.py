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


# --- every central test on SQLite and on PostgreSQL ---------------------------------------------

@pytest.fixture(scope="session")
def pg_cluster():
    from tests.central.postgres import Cluster
    cluster = Cluster()
    yield cluster
    cluster.stop()


def pytest_generate_tests(metafunc):
    """Each central test runs twice, once per database, unless it is about SQLite files."""
    if "central_backend" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker
        backends = ["sqlite"] if marker("sqlite_only") else ["postgresql"] if \
            marker("postgresql_only") else ["sqlite", "postgresql"]
        metafunc.parametrize("central_backend", backends, indirect=True)


@pytest.fixture(autouse=True)
def central_backend(request, monkeypatch):
    """On "postgresql", CentralDB(path) anywhere in the tests opens a fresh PostgreSQL database
    (one per path within a test) in the private cluster, and the db's `path` is its URL."""
    if request.param == "sqlite":
        yield "sqlite"
        return
    import sys
    from central.db import CentralDB
    from central.db_postgres import PostgresCentralDB
    cluster = request.getfixturevalue("pg_cluster")
    made: dict[str, str] = {}
    opened: list = []

    def factory(path, *args, **kwargs):
        key = str(path)
        if key.startswith("postgresql://"):
            db = PostgresCentralDB(key, create=True)
        else:
            if key not in made:
                made[key] = cluster.database()
            db = PostgresCentralDB(made[key])
        opened.append(db)
        return db

    for name, module in list(sys.modules.items()):
        if name.startswith("tests.") and getattr(module, "CentralDB", None) is CentralDB:
            monkeypatch.setattr(module, "CentralDB", factory)
    yield "postgresql"
    for db in opened:
        db.close()
    for url in made.values():
        cluster.drop(url)
