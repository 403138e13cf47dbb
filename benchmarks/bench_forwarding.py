"""Forwarder drain of a 10,000-record backlog to the reference central server, and central ingest rates."""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import requests

from central.app import create_app
from central.db import CentralDB
from samplepoint import config as config_module
from samplepoint import wire
from samplepoint.central_client import CentralClient
from samplepoint.clock import system_clock
from samplepoint.forwarder import Forwarder
from samplepoint.httpserver import BackgroundServer
from samplepoint.store import Store

TITLE = "Forwarding and central ingest"
BACKLOG = 10_000
PERSON = wire.Person(source="personal-qr", id_number="001093029317", full_name="NGUYEN VAN AN",
                     date_of_birth="1990-01-01", gender="male", phone="0912345678",
                     qid="162979388586171100")


def fill(store: Store, count: int, pool: int = 5) -> float:
    started = time.perf_counter()
    for n in range(count):
        sid = wire.new_record_id()
        store.open_tube(sample_id=sid, tube_code=f"DT{n:08d}", pool_size=pool, test_type="rt-pcr",
                        sample_type="swab", site_id="SITE-B", device_id="DEV-B", staff_id="NV",
                        opened_at="2021-08-20T09:00:00.000+07:00")
        for k in range(pool):
            store.add_person(sid, f"k{k}", PERSON, "2021-08-20T09:00:01.000+07:00")
        store.finish_tube(sid, closed_at="2021-08-20T09:00:02.000+07:00")
    return time.perf_counter() - started


def run() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        central_db = CentralDB(root / "central.db")
        token = central_db.add_device("DEV-B", "SITE-B")
        store = Store(root / "device.db")
        fill_s = fill(store, BACKLOG)
        config = config_module.from_dict({"central": {"batch_size": 200}})
        with BackgroundServer(create_app(central_db)) as server:
            client = CentralClient(server.url, token)
            forwarder = Forwarder(config, store, client, system_clock())
            started = time.perf_counter()
            while forwarder.step():
                pass
            drain_s = time.perf_counter() - started
            assert central_db.count_samples() == BACKLOG == store.outbox_counts()["delivered"]

            # Single-record ingest: one request and one transaction per record.
            session = requests.Session()
            session.headers.update({"Authorization": f"Bearer {token}"})
            bodies = []
            for n in range(500):
                record = wire.SampleRecord(wire.new_record_id(), f"S{n:08d}", 1, "rt-pcr", "swab",
                                           "2021-08-20T09:00:00.000+07:00", "SITE-B", "DEV-B", "NV",
                                           (PERSON,))
                bodies.append(json.dumps(record.to_json()))
            started = time.perf_counter()
            for body in bodies:
                assert session.post(server.url + "/api/v1/samples", data=body,
                                    headers={"Content-Type": "application/json"}).status_code == 201
            single_rate = len(bodies) / (time.perf_counter() - started)
    return "\n".join([
        "| measure | result | target |",
        "|---|---|---|",
        f"| forwarder drain of a {BACKLOG:,}-record backlog (5 people each, batches of 200) "
        f"| **{drain_s:.1f} s** ({BACKLOG / drain_s:,.0f} records/s) | ≤ 10 s |",
        f"| central ingest, batch endpoint (same run) | {BACKLOG / drain_s:,.0f} records/s | — |",
        f"| central ingest, one record per request | {single_rate:,.0f} records/s | — |",
        f"| device store: open + 5 people + close, one commit each (synchronous=FULL) "
        f"| {BACKLOG / fill_s:,.0f} tubes/s ({fill_s / BACKLOG * 1000:.2f} ms per tube) | — |",
        "",
        "Reproduce: `make bench` or `.venv/bin/python -m benchmarks.run forwarding`.",
    ])
