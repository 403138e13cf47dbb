"""Captive portal under load: 300 concurrent clients from loopback on the portal pages; page weights.

The portal runs as it does on a device (`samplepoint portal`, waitress) in its own process; each
client keeps one HTTP/1.1 connection, as a phone's browser does, and walks the pages.
"""
from __future__ import annotations

import asyncio
import http.client
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TITLE = "Captive portal"
CLIENTS, ROUNDS = 300, 5
THINK_S = 1.0           # a person reading a page; still 20x the phones one radio can hold
PATHS = ["/", "/install", "/howto", "/privacy", "/declare", "/declare/form?province=79&people=1",
         "/generate_204", "/api/captive"]


def run() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        config = Path(tmp) / "samplepoint.toml"
        config.write_text(f'[device]\ndata_dir = "{tmp}"\n[scan]\ncode_key_file = "{tmp}/key"\n')
        server = subprocess.Popen([sys.executable, "-m", "samplepoint.cli", "portal", "--config",
                                   str(config), "--bind", f"127.0.0.1:{port}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait(port)
            weights = {p: len(_get(http.client.HTTPConnection("127.0.0.1", port), p)[1]) for p in PATHS}
            results = {"back to back (saturation)": _load(port),
                       f"each client pausing {THINK_S} s on average between pages": _load(port, THINK_S)}
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=10)
    lines = [f"{CLIENTS} concurrent clients (asyncio, one keep-alive connection each) × {ROUNDS} "
             f"rounds × {len(PATHS)} pages from loopback; the portal is `samplepoint portal` "
             f"(waitress, 16 threads) in its own process, {os.cpu_count()} CPU cores shared with "
             f"the clients.", "",
             "| load | requests | errors | throughput | p50 | p99 (target ≤ 100 ms) | max |",
             "|---|---|---|---|---|---|---|"]
    for name, (latencies, errors, elapsed) in results.items():
        latencies.sort()
        p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
        lines.append(f"| {name} | {len(latencies)} | {errors} | {len(latencies) / elapsed:.0f}/s | "
                     f"{p(0.5):.1f} ms | {p(0.99):.1f} ms | {latencies[-1] * 1000:.1f} ms |")
    lines += ["", "| page | bytes | target |", "|---|---|---|"]
    lines += [f"| `{path}` | {size:,} | ≤ 30,720 |" for path, size in weights.items()]
    return "\n".join(lines)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("portal did not start")


def _get(conn, path):
    conn.request("GET", path)
    response = conn.getresponse()
    return response.status, response.read()


def _load(port, think_s=0.0):
    """300 clients as coroutines of one event loop: one thread, so the load generator's own
    thread scheduling does not show up as server latency. think_s: mean pause between pages."""
    return asyncio.run(_load_async(port, think_s))


async def _load_async(port, think_s):
    rng = random.Random(6)
    latencies, errors = [], [0]
    gate = asyncio.Event()

    async def client(n):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await gate.wait()
        for _ in range(ROUNDS):
            for i in range(len(PATHS)):
                if think_s:
                    await asyncio.sleep(rng.uniform(0, 2 * think_s))
                t0 = time.perf_counter()
                try:
                    status = await _request(reader, writer, PATHS[(n + i) % len(PATHS)])
                    ok = status in (200, 204, 302)
                except (OSError, ValueError, asyncio.IncompleteReadError):
                    ok = False
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                latencies.append(time.perf_counter() - t0)
                errors[0] += not ok
        writer.close()

    tasks = [asyncio.create_task(client(n)) for n in range(CLIENTS)]
    await asyncio.sleep(0.5)           # every connection open before the clock starts
    t0 = time.perf_counter()
    gate.set()
    await asyncio.gather(*tasks)
    return latencies, errors[0], time.perf_counter() - t0


async def _request(reader, writer, path) -> int:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = re.search(rb"(?i)content-length: *(\d+)", head)
    if length:
        await reader.readexactly(int(length.group(1)))
    return status
