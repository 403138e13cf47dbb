"""500 simulated devices sending heartbeats and record batches at once to the central server:
SQLite (one process) against PostgreSQL with one and with four worker processes, in the same run."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from central.db import CentralDB
from central.db_postgres import PostgresCentralDB
from samplepoint import wire

TITLE = "Central server under 500 devices: SQLite and PostgreSQL"
DEVICES = 500
ROUNDS = 2                # per device: heartbeat + one batch, this many times
BATCH = 20                # records per batch, 5 people each
PEOPLE = tuple(wire.Person("personal-qr", f"00109302{n:04d}", "NGUYEN VAN AN", "1990-01-01", "male",
                           "0912345678", f"16297938858617{n:04d}") for n in range(5))


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _bodies(device: str) -> list[str]:
    batches = []
    for _ in range(ROUNDS):
        records = [wire.SampleRecord(
            record_id=wire.new_record_id(), tube_code=f"T{device}-{n}", pool_size=5,
            test_type="rt-pcr", sample_type="swab", collected_at="2021-08-20T09:00:00+07:00",
            site_id="SITE-1", device_id=device, staff_id="s", persons=PEOPLE,
            clock_synchronised=True).to_json() for n in range(BATCH)]
        batches.append(json.dumps({"records": records}))
    return batches


def _heartbeat() -> str:
    return json.dumps({"queue_depth": BATCH, "quarantined": 0, "last_scan_at": None,
                       "version": "0.1.0", "disk_free_bytes": 1, "disk_total_bytes": 2,
                       "sent_at": "2021-08-20T09:00:00+07:00"})


def _serve(db_arg: str, workers: int) -> tuple[subprocess.Popen, str]:
    port = _port()
    command = [sys.executable, "-m", "samplepoint.cli", "central", "serve", "--db", db_arg,
               "--bind", f"127.0.0.1:{port}"] + (["--workers", str(workers)] if workers > 1 else [])
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(base + "/healthz", timeout=2)
            return server, base
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError("central server did not start")


def _load(base: str, tokens: dict[str, str]) -> dict:
    latencies: list[float] = []
    failures = []
    lock = threading.Lock()
    start = threading.Barrier(len(tokens) + 1)
    payloads = {device: _bodies(device) for device in tokens}
    beat = _heartbeat()

    def device_run(device: str) -> None:
        session = requests.Session()
        session.headers.update({"Authorization": f"Bearer {tokens[device]}",
                                "Content-Type": "application/json"})
        start.wait()
        for body in payloads[device]:
            for path, data in (("/api/v1/heartbeat", beat), ("/api/v1/samples/batch", body)):
                sent = time.perf_counter()
                try:
                    answer = session.post(base + path, data=data, timeout=120)
                    ok = answer.status_code == 200
                except requests.RequestException as exc:
                    ok, answer = False, exc
                took = time.perf_counter() - sent
                with lock:
                    latencies.append(took)
                    if not ok:
                        failures.append(str(answer))

    threads = [threading.Thread(target=device_run, args=(d,), daemon=True) for d in tokens]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {"elapsed": elapsed, "records": len(tokens) * ROUNDS * BATCH, "requests": len(latencies),
            "p50": latencies[len(latencies) // 2], "p99": latencies[int(len(latencies) * 0.99)],
            "failures": len(failures)}


def _measure(label: str, db, db_arg: str, workers: int) -> tuple[str, dict]:
    tokens = {f"DEV-{n:03d}": db.add_device(f"DEV-{n:03d}", "SITE-1") for n in range(DEVICES)}
    server, base = _serve(db_arg, workers)
    try:
        figures = _load(base, tokens)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    stored = db.count_samples()
    assert stored == figures["records"], f"{label}: {stored} stored of {figures['records']}"
    return label, figures


def run() -> str:
    from tests.central.postgres import Cluster

    rows = []
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        sqlite_db = CentralDB(Path(folder) / "central.db")
        rows.append(_measure("SQLite, 1 process (waitress, 8 threads)", sqlite_db, str(sqlite_db.path), 1))
    cluster = Cluster()
    try:
        for workers, label in ((1, "PostgreSQL, 1 process (waitress, 8 threads)"),
                               (4, "PostgreSQL, 4 worker processes (gunicorn, 4 threads each)")):
            url = cluster.database()
            db = PostgresCentralDB(url)
            rows.append(_measure(label, db, url, workers))
            db.close()
    finally:
        cluster.stop()
    lines = [f"{DEVICES} devices start together; each sends a heartbeat and a batch of {BATCH} "
             f"records (5 people each) {ROUNDS} times, {DEVICES * ROUNDS * BATCH:,} records in all. "
             "Clients and server share the same machine, so the figures are a floor "
             f"(load average {load:.1f} when the run began). "
             "Latency is per request (heartbeats and batches).", "",
             "| database and processes | records/s | p50 request | p99 request | failed requests |",
             "|---|---|---|---|---|"]
    for label, f in rows:
        lines.append(f"| {label} | {f['records'] / f['elapsed']:,.0f} | {f['p50'] * 1000:,.0f} ms | "
                     f"{f['p99'] * 1000:,.0f} ms | {f['failures']} |")
    lines += ["", "Every run stored each record exactly once (checked after the run). PostgreSQL "
              "serialises writes with one advisory lock (the same guarantee SQLite gives), so more "
              "workers add parallel parsing and reads rather than parallel commits; the cluster "
              "runs with fsync off here (a test cluster), so a production disk commits slower."]
    return "\n".join(lines)
