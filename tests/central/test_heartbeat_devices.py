"""Heartbeats from the forwarder, last-seen per device and silent-device flags at the central server."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from central import enrol as central_enrol
from central.app import create_app
from central.db import CentralDB
from samplepoint import heartbeat
from samplepoint.central_client import CentralClient
from samplepoint.cli import main as cli_main
from samplepoint.clock import system_clock
from samplepoint.forwarder import Forwarder
from samplepoint.store import Store


def test_forwarder_sends_a_heartbeat_the_server_keeps(device_config, central, capsys):
    _, config = device_config
    store = Store(config.db_path)
    store.open_tube(sample_id="R1", tube_code="TUBE-0001", pool_size=3, test_type="rt-pcr",
                    sample_type="swab", site_id="SITE-TEST", device_id="DEV-TEST-01",
                    staff_id="s1", opened_at="2026-11-25T08:00:00.000+07:00")
    store.finish_tube("R1", closed_at="2026-11-25T08:01:00.000+07:00")
    client = CentralClient(central.url, central.token)
    clock = system_clock()
    beat = heartbeat.Heartbeat(client.session, central.url,
                               lambda: heartbeat.build(store, config.device.data_dir, clock), 60)
    forwarder = Forwarder(config, store, client, clock, on_tick=beat.maybe_send)
    forwarder.run(until_drained=True)
    assert beat.sent == 1
    (row,) = central.db.device_overview()
    body = json.loads(row["heartbeat"])
    assert body["queue_depth"] == 0          # measured after the first batch went out
    assert body["last_scan_at"] == "2026-11-25T08:00:00.000+07:00"
    assert body["disk_free_bytes"] > 0 and body["version"]
    assert row["last_seen"] is not None
    assert cli_main(["central", "devices", "--db", str(central.db.path), "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["device_id"] == "DEV-TEST-01" and listed["silent"] is False
    store.close()


def test_heartbeat_is_sent_once_a_minute_and_failures_never_raise():
    now = [0.0]
    posts = []

    class Session:
        def post(self, url, data, timeout, verify=True):
            posts.append(url)
            if len(posts) == 2:
                raise requests.ConnectionError("down")
            return type("R", (), {"status_code": 200})()

    beat = heartbeat.Heartbeat(Session(), "http://c", lambda: {}, every_s=60, monotonic=lambda: now[0])
    assert beat.maybe_send() is True
    now[0] = 59
    assert beat.maybe_send() is False
    now[0] = 60
    assert beat.maybe_send() is False          # the failed one is logged, not raised
    now[0] = 121
    assert beat.maybe_send() is True
    assert posts == ["http://c/api/v1/heartbeat"] * 3


def test_silent_devices_are_flagged():
    now = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
    rows = [{"device_id": "A", "site_id": "S", "last_seen": (now - timedelta(seconds=30)).isoformat(),
             "heartbeat": json.dumps({"queue_depth": 2})},
            {"device_id": "B", "site_id": "S", "last_seen": (now - timedelta(hours=1)).isoformat(),
             "heartbeat": None},
            {"device_id": "C", "site_id": "S", "last_seen": None, "heartbeat": None}]
    report = central_enrol.device_report(rows, now, silent_after_s=300)
    assert [d["silent"] for d in report] == [False, True, True]
    assert report[0]["queue_depth"] == 2 and report[2]["last_seen_age_s"] is None


def test_devices_table_shows_silent_flag(tmp_path, capsys):
    db = CentralDB(tmp_path / "c.db")
    db.add_device("DEV-9", "SITE-9")
    assert cli_main(["central", "devices", "--db", str(db.path)]) == 0
    out = capsys.readouterr().out
    assert "DEV-9" in out and "never" in out and "SILENT" in out


def test_heartbeat_needs_a_valid_token(central):
    answer = requests.post(central.url + "/api/v1/heartbeat", json={}, timeout=5,
                           headers={"Authorization": "Bearer nope"})
    assert answer.status_code == 401


GOOD = {"queue_depth": 0, "quarantined": 0, "last_scan_at": None, "version": "0.1.0",
        "disk_free_bytes": 1, "disk_total_bytes": 2, "sent_at": "2026-11-25T08:00:00+07:00"}


@settings(max_examples=60, deadline=None)
@given(field=st.sampled_from(sorted(GOOD)),
       value=st.one_of(st.text(max_size=100), st.integers(min_value=-2**70, max_value=2**70),
                       st.booleans(), st.none(), st.floats(allow_nan=True),
                       st.lists(st.integers(), max_size=2)))
def test_hostile_heartbeats_are_refused_cleanly(tmp_path_factory, field, value):
    db = CentralDB(tmp_path_factory.mktemp("c") / "c.db")
    token = db.add_device("D", "S")
    body = {**GOOD, field: value}
    answer = create_app(db).test_client().post("/api/v1/heartbeat", json=body,
                                               headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code in (200, 400)
    if answer.status_code == 200:
        central_enrol.parse_heartbeat(body)     # accepted only when it is well-formed


@pytest.mark.parametrize("raw", [b"\xff\xfe", b"[" * 5000, b"null", b"{}"])
def test_hostile_heartbeat_bytes(tmp_path, raw):
    db = CentralDB(tmp_path / "c.db")
    token = db.add_device("D", "S")
    answer = create_app(db).test_client().post("/api/v1/heartbeat", data=raw,
                                               headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 400
