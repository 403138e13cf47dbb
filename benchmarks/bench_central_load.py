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
CLIENT_PROCESSES = 4      # the simulated devices are shared out over this many client processes
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


def _cpu_s(belongs) -> float:
    """CPU seconds (user + system) used so far by the live processes for which `belongs(pid, ppid,
    session)` is true."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if belongs(int(stat.parent.name), int(fields[1]), int(fields[3])):
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _server_cpu(session: int):
    """The central server's processes: started with start_new_session, gunicorn's arbiter and
    workers included."""
    return lambda: _cpu_s(lambda pid, ppid, sid: sid == session)


def _postgres_cpu(data_dir: Path):
    """The PostgreSQL cluster's processes: its postmaster and every backend it forked."""
    postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    return lambda: _cpu_s(lambda pid, ppid, sid: postmaster in (pid, ppid))


def _machine_busy_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, every process included."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    idle = ticks[3] + ticks[4]                     # idle + iowait
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK"), sum(ticks) / os.sysconf("SC_CLK_TCK")


def _client(base: str, tokens: dict[str, str], ready, results) -> None:
    """One client process: a thread per device, each on its own keep-alive connection."""
    import resource

    latencies: list[float] = []
    failures = []
    lock = threading.Lock()
    go = threading.Barrier(len(tokens) + 1)
    payloads = {device: _bodies(device) for device in tokens}
    beat = _heartbeat()

    def device_run(device: str) -> None:
        session = requests.Session()
        session.headers.update({"Authorization": f"Bearer {tokens[device]}",
                                "Content-Type": "application/json"})
        go.wait()
        for body in payloads[device]:
            for path, data in (("/api/v1/heartbeat", beat), ("/api/v1/samples/batch", body)):
                sent = time.monotonic()
                try:
                    answer = session.post(base + path, data=data, timeout=120)
                    ok = answer.status_code == 200
                except requests.RequestException as exc:
                    ok, answer = False, exc
                took = time.monotonic() - sent
                with lock:
                    latencies.append(took)
                    if not ok:
                        failures.append(str(answer))

    threads = [threading.Thread(target=device_run, args=(d,), daemon=True) for d in tokens]
    for thread in threads:
        thread.start()
    ready.wait()                  # every client process has its payloads built: start together
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    go.wait()
    for thread in threads:
        thread.join()
    after = resource.getrusage(resource.RUSAGE_SELF)
    results.put({"end": time.monotonic(), "latencies": latencies, "failures": len(failures),
                 "cpu": after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime})


def _load(base: str, tokens: dict[str, str], meters: dict) -> dict:
    """The devices shared out over CLIENT_PROCESSES processes (one Python process with 500 threads
    spends its time on its own interpreter lock); CPU is counted for clients and server apart."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    ready, results = context.Barrier(CLIENT_PROCESSES + 1), context.Queue()
    devices = list(tokens)
    clients = [context.Process(target=_client, daemon=True, args=(
        base, {d: tokens[d] for d in devices[n::CLIENT_PROCESSES]}, ready, results))
        for n in range(CLIENT_PROCESSES)]
    for client in clients:
        client.start()
    ready.wait(timeout=300)
    before = {name: meter() for name, meter in meters.items()}
    began = time.monotonic()
    answers = [results.get(timeout=600) for _ in clients]
    used = {name: meter() - before[name] for name, meter in meters.items()}
    for client in clients:
        client.join(timeout=30)
    latencies = sorted(t for a in answers for t in a["latencies"])
    return {"elapsed": max(a["end"] for a in answers) - began,
            "records": len(tokens) * ROUNDS * BATCH, "requests": len(latencies),
            "p50": latencies[len(latencies) // 2], "p99": latencies[int(len(latencies) * 0.99)],
            "failures": sum(a["failures"] for a in answers), **used,
            "client_cpu": sum(a["cpu"] for a in answers)}


def _measure(label: str, db, db_arg: str, workers: int, cluster=None) -> tuple[str, dict]:
    tokens = {f"DEV-{n:03d}": db.add_device(f"DEV-{n:03d}", "SITE-1") for n in range(DEVICES)}
    server, base = _serve(db_arg, workers)
    meters = {"server_cpu": _server_cpu(server.pid),
              "database_cpu": _postgres_cpu(cluster.data) if cluster else lambda: float("nan"),
              "machine_busy": lambda: _machine_busy_s()[0],
              "machine_total": lambda: _machine_busy_s()[1]}
    try:
        figures = _load(base, tokens, meters)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    stored = db.count_samples()
    assert stored == figures["records"], f"{label}: {stored} stored of {figures['records']}"
    return label, figures


def _cpu_reading(rows) -> str:
    """What the CPU table says about the pace, in words that follow from its figures."""
    clients = max(f["client_cpu"] / f["machine_total"] for _, f in rows)
    busy = min(f["machine_busy"] / f["machine_total"] for _, f in rows)
    ours = max((f["server_cpu"] + f["client_cpu"] + (f["database_cpu"] if cluster_ran(f) else 0))
               / f["machine_total"] for _, f in rows)
    text = f"The load clients used at most {clients:.0%} of the machine" + (
        ", so they did not set the pace. " if clients < 0.25 else ", a large share of it. ")
    text += f"This benchmark's processes together used at most {ours:.0%}; "
    if busy >= 0.9:
        return text + (f"the cores were at least {busy:.0%} busy in every run (other work on the "
                       "machine included), so extra worker processes had no idle core to use. "
                       "Comparing 1 and 4 workers fairly needs a machine with cores to spare.")
    return text + f"the machine was at least {busy:.0%} busy in every run, other work included."


def cluster_ran(figures: dict) -> bool:
    return figures["database_cpu"] == figures["database_cpu"]          # NaN for SQLite


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
            rows.append(_measure(label, db, url, workers, cluster))
            db.close()
    finally:
        cluster.stop()
    cores = os.cpu_count() or 1
    lines = [f"{DEVICES} devices start together; each sends a heartbeat and a batch of {BATCH} "
             f"records (5 people each) {ROUNDS} times, {DEVICES * ROUNDS * BATCH:,} records in all. "
             f"The devices are threads shared out over {CLIENT_PROCESSES} client processes on the "
             f"same machine ({cores} cores, shared with other work: load average {load:.1f} when "
             "the run began), so the figures are a floor. Latency is per request (heartbeats and "
             "batches).", "",
             "| database and processes | records/s | p50 request | p99 request | failed requests |",
             "|---|---|---|---|---|"]
    for label, f in rows:
        lines.append(f"| {label} | {f['records'] / f['elapsed']:,.0f} | {f['p50'] * 1000:,.0f} ms | "
                     f"{f['p99'] * 1000:,.0f} ms | {f['failures']} |")
    lines += ["", "Where the CPU went during each load, as a share of what the machine had (run time "
              f"× {cores} cores): the central server's processes, PostgreSQL's, the client "
              "processes, and the whole machine busy (these and everything else running on it).", "",
              "| database and processes | server | PostgreSQL | clients | whole machine busy |",
              "|---|---|---|---|---|"]
    for label, f in rows:
        share = {name: f[name] / f["machine_total"] for name in
                 ("server_cpu", "database_cpu", "client_cpu", "machine_busy")}
        database = f"{share['database_cpu']:.0%}" if cluster_ran(f) else "in the server"
        lines.append(f"| {label} | {share['server_cpu']:.0%} | {database} | "
                     f"{share['client_cpu']:.0%} | {share['machine_busy']:.0%} |")
    lines += ["", _cpu_reading(rows)]
    lines += ["", "Every run stored each record exactly once (checked after the run). PostgreSQL "
              "serialises writes with one advisory lock (the same guarantee SQLite gives), so more "
              "workers add parallel parsing and reads rather than parallel commits; the cluster "
              "runs with fsync off here (a test cluster), so a production disk commits slower."]
    return "\n".join(lines)
