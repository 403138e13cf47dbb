"""Memory of the kiosk process with the staff display and its live preview watched, over a long replay.

`samplepoint kiosk` replays (camera.loop) generated frames at camera speed with the display on a loopback
port; one client follows the event stream and another the MJPEG preview for the whole run, as the
screen does. The kiosk's RSS is sampled every few seconds. The duration is a parameter:
SAMPLEPOINT_BENCH_DISPLAY_MINUTES (default 30, the issue's figure).
"""
from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from kiosk.framegen import write_session

TITLE = "Staff display: kiosk memory with display and preview"
LIMIT_MB = 120.0
SAMPLE_S = 5.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def _follow(url: str, stop: threading.Event, counter: dict, key: str, marker: bytes) -> None:
    """Read a stream for as long as the run lasts, reconnecting when the server ends it."""
    while not stop.is_set():
        try:
            with urllib.request.urlopen(url, timeout=30) as stream:
                while not stop.is_set():
                    chunk = stream.read1(65536)
                    if not chunk:
                        break
                    counter[key] += chunk.count(marker)
        except (OSError, http.client.HTTPException):     # the kiosk ended the stream or stopped
            time.sleep(0.5)


def _config(root: Path, port: int) -> Path:
    path = root / "samplepoint.toml"
    path.write_text(
        f"[site]\npool_size = 5\n[device]\ndata_dir = '{root / 'device'}'\n"
        f"[camera]\nsource = 'replay:{root / 'frames'}'\nfps = 15.0\nloop = true\n"
        f"[workflow]\nrequire_sign_in = false\n[feedback]\nbackend = 'none'\n"
        f"[display]\nbind = '127.0.0.1:{port}'\npreview_fps = 5.0\n", encoding="utf-8")
    return path


def measure(minutes: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-display-") as tmp:
        root = Path(tmp)
        session = write_session(root / "frames", people=100, pool_size=5, seed=11)
        frames = len(list((root / "frames").iterdir()))
        port = _free_port()
        kiosk = subprocess.Popen([sys.executable, "-m", "samplepoint.cli", "kiosk", "--config",
                                  str(_config(root, port))],
                                 stderr=subprocess.PIPE, text=True)
        stop, counts, samples = threading.Event(), {"events": 0, "jpegs": 0}, []
        try:
            while "staff display:" not in kiosk.stderr.readline():
                if kiosk.poll() is not None:
                    raise RuntimeError("kiosk exited before its display started")
            threading.Thread(target=lambda: [None for _ in kiosk.stderr], daemon=True).start()
            base = f"http://127.0.0.1:{port}/"
            for path, key, marker in (("events", "events", b"\ndata: "),
                                      ("preview.mjpg", "jpegs", b"Content-Type: image/jpeg")):
                threading.Thread(target=_follow, args=(base + path, stop, counts, key, marker),
                                 daemon=True).start()
            started = time.monotonic()
            while time.monotonic() - started < minutes * 60 and kiosk.poll() is None:
                samples.append((time.monotonic() - started, _rss_mb(kiosk.pid)))
                time.sleep(SAMPLE_S)
            peak = _rss_mb(kiosk.pid, "VmHWM")
            ran_s = time.monotonic() - started
        finally:
            stop.set()
            kiosk.terminate()
            try:
                kiosk.wait(timeout=20)
            except subprocess.TimeoutExpired:
                kiosk.kill()
                kiosk.wait()
    after_1min = next((rss for at, rss in samples if at >= 60), samples[0][1])
    return {"minutes": minutes, "ran_s": ran_s, "frames_per_loop": frames, "people": session.people,
            "samples": len(samples), "first": samples[0][1], "after_1min": after_1min,
            "last": samples[-1][1], "max_sampled": max(rss for _, rss in samples), "peak": peak,
            **counts}


def run() -> str:
    minutes = float(os.environ.get("SAMPLEPOINT_BENCH_DISPLAY_MINUTES", "30"))
    r = measure(minutes)
    verdict = "within" if r["peak"] <= LIMIT_MB else "OVER"
    return (
        f"`samplepoint kiosk` (camera.loop, scan.decoder at its default) replaying {r['frames_per_loop']} generated frames "
        f"({r['people']} people in tubes of 5) at 15 fps, display on loopback with the preview at "
        f"5 fps; one client followed the event stream and one the MJPEG preview throughout. "
        f"Requested {r['minutes']:g} min (`SAMPLEPOINT_BENCH_DISPLAY_MINUTES`), ran "
        f"{r['ran_s'] / 60:.1f} min. After the first loop the replayed tubes are already used, so "
        f"later scans are refused: the display keeps updating, the store stops growing.\n\n"
        f"| figure | value | target |\n|---|---|---|\n"
        f"| peak RSS of the kiosk process (VmHWM) | {r['peak']:.1f} MiB | ≤ {LIMIT_MB:.0f} MB "
        f"({verdict}) |\n"
        f"| RSS after 1 min → at the end | {r['after_1min']:.1f} → {r['last']:.1f} MiB | |\n"
        f"| RSS samples (every {SAMPLE_S:g} s) | {r['samples']}, max {r['max_sampled']:.1f} MiB | |\n"
        f"| snapshots pushed / preview JPEGs sent | {r['events']} / {r['jpegs']} | |\n")
