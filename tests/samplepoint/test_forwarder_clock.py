"""The forwarder measures its clock offset on every delivery and runs retention between deliveries."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import requests

from samplepoint.central_client import CentralClient, TransientError, _server_time
from samplepoint.clock import iso, offset_from_exchange
from samplepoint.forwarder import Forwarder
from samplepoint.store import OutboxItem, Store

UTC = timezone.utc


def test_offset_from_exchange_uses_the_midpoint():
    sent = datetime(2021, 8, 17, 9, 0, tzinfo=UTC)
    server = sent + timedelta(days=3, seconds=1)
    assert offset_from_exchange(sent, sent + timedelta(seconds=2), server) == 3 * 86400


def test_server_time_prefers_the_millisecond_header_and_falls_back_to_date():
    response = requests.Response()
    response.headers["Samplepoint-Server-Time"] = "2021-08-20T02:00:00.250+00:00"
    response.headers["Date"] = "Fri, 20 Aug 2021 02:00:00 GMT"
    assert _server_time(response) == datetime(2021, 8, 20, 2, 0, 0, 250000, tzinfo=UTC)
    del response.headers["Samplepoint-Server-Time"]
    assert _server_time(response) == datetime(2021, 8, 20, 2, 0, tzinfo=UTC)
    response.headers["Date"] = "garbage"
    assert _server_time(response) is None


def test_every_answer_measures_the_offset(central):
    behind = lambda: datetime.now(UTC) - timedelta(days=3)          # noqa: E731
    client = CentralClient(central.url, central.token, clock=behind)
    assert client.recent_offset() is None
    (outcome,) = client.send([OutboxItem("not-a-record", "{}")])   # even a refusal tells the time
    assert outcome.result == "quarantine"
    assert abs(client.recent_offset() - 3 * 86400) < 1.0
    client._offset = (client._offset[0], client._offset[1] - 601)  # too old: a clock may have stepped
    assert client.recent_offset() is None
    offline = CentralClient("http://127.0.0.1:9", "t", timeout=0.5, clock=behind)
    try:
        offline.send([OutboxItem("x", "{}")])
    except TransientError:
        pass
    assert offline.recent_offset() is None


def test_forwarder_loop_runs_retention(device_config, central):
    _, config = device_config
    store = Store(config.db_path)
    now = datetime.now(UTC)
    store.open_tube(sample_id="0b7e3f8e-4c1e-4a55-9d7c-111111111111", tube_code="DT00000001",
                    pool_size=1, test_type="rt-pcr", sample_type="swab", site_id="SITE-TEST",
                    device_id="DEV-TEST-01", staff_id="s", opened_at=iso(now))
    from kiosk.framegen import fictional_person
    store.add_person("0b7e3f8e-4c1e-4a55-9d7c-111111111111", "k", fictional_person(random.Random(1)),
                     iso(now))
    store.finish_tube("0b7e3f8e-4c1e-4a55-9d7c-111111111111", closed_at=iso(now))
    client = CentralClient(central.url, central.token)
    Forwarder(config, store, client, lambda: now).run(until_drained=True)
    assert store.outbox_counts()["delivered"] == 1 and store.personal_data_summary()["people"] == 1
    later = now + timedelta(days=config.retention.delivered_days + 1)
    Forwarder(config, store, client, lambda: later).run(until_drained=True)
    assert store.personal_data_summary()["people"] == 0
    store.close()
