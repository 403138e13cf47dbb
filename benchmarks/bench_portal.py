"""Captive portal under load: 300 concurrent clients from loopback on the portal pages; page weights."""
from __future__ import annotations

import http.client
import statistics
import tempfile
import threading
import time
from pathlib import Path

TITLE = "Captive portal"
CLIENTS, ROUNDS = 300, 5
PATHS = ["/", "/install", "/howto", "/privacy", "/declare", "/declare/form?province=79&people=1",
         "/generate_204", "/api/captive"]


def run() -> str:
    from samplepoint import config as config_module
    from samplepoint.httpserver import BackgroundServer
    from hotspot.portal.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        config = config_module.from_dict({
            "device": {"data_dir": tmp}, "portal": {"code_key_file": str(Path(tmp) / "key")}})
        app = create_app(config)
        with BackgroundServer(app, threads=config.portal.threads) as server:
            weights = {p: len(_get(server.port, p)[1]) for p in PATHS}
            latencies, errors = _load(server.port)
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
    lines = [f"{CLIENTS} concurrent clients × {ROUNDS} rounds × {len(PATHS)} pages "
             f"({len(latencies)} requests) from loopback, waitress with {config.portal.threads} threads.",
             "", "| figure | value | target |", "|---|---|---|",
             f"| errors | {errors} | 0 |", f"| p50 | {p(0.5):.1f} ms | |",
             f"| p99 | {p(0.99):.1f} ms | ≤ 100 ms |", f"| mean | {statistics.mean(latencies) * 1000:.1f} ms | |",
             "", "| page | bytes | target |", "|---|---|---|"]
    lines += [f"| `{path}` | {size:,} | ≤ 30,720 |" for path, size in weights.items()]
    return "\n".join(lines)


def _get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _load(port):
    latencies, errors, lock = [], [0], threading.Lock()
    start = threading.Barrier(CLIENTS)

    def client(n):
        start.wait()
        for r in range(ROUNDS):
            for i in range(len(PATHS)):
                path = PATHS[(n + i) % len(PATHS)]
                t0 = time.perf_counter()
                try:
                    status, _ = _get(port, path)
                    ok = status in (200, 204, 302)
                except OSError:
                    ok = False
                with lock:
                    latencies.append(time.perf_counter() - t0)
                    errors[0] += not ok
    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors[0]
