"""The real processes under a fake systemd: the forwarder and the central server send READY and pings."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.conftest import write_config
from tests.samplepoint.test_sdnotify import FakeNotifySocket

SAMPLEPOINT = [sys.executable, "-m", "samplepoint.cli"]


def _run_until(command, notify, wanted: int, timeout: float = 20.0) -> list[str]:
    env = {**os.environ, "NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000"}
    env.pop("WATCHDOG_PID", None)
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            messages = notify.drain(0.05)
            if messages.count("WATCHDOG=1") >= wanted:
                break
        return notify.drain(0.0)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def test_forwarder_pings_while_backing_off_from_a_dead_central(tmp_path):
    notify = FakeNotifySocket(tmp_path / "notify.sock")
    try:
        config = write_config(tmp_path, "http://127.0.0.1:9", token="t" * 20,
                              central={"backoff_base_s": 5.0, "backoff_cap_s": 5.0})
        messages = _run_until(SAMPLEPOINT + ["forwarder", "--config", str(config)], notify, 4)
    finally:
        notify.close()
    assert messages[0].startswith("READY=1")
    assert messages.count("WATCHDOG=1") >= 4


def test_central_server_is_ready_only_once_it_answers(tmp_path):
    notify = FakeNotifySocket(tmp_path / "notify.sock")
    try:
        messages = _run_until(SAMPLEPOINT + ["central", "serve", "--init", "--db", str(tmp_path / "c.db"),
                                             "--bind", "127.0.0.1:0"], notify, 2)
    finally:
        notify.close()
    assert messages[0].startswith("READY=1")
    assert messages.count("WATCHDOG=1") >= 2


def test_kiosk_is_ready_and_pings_per_frame(tmp_path):
    from kiosk.framegen import qr_image
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(40):
        qr_image(f"not a code {i}").save(frames / f"{i:03}.png")
    notify = FakeNotifySocket(tmp_path / "notify.sock")
    try:
        config = write_config(tmp_path)
        messages = _run_until(SAMPLEPOINT + ["kiosk", "--config", str(config), "--exit-when-done"],
                              notify, 2)
    finally:
        notify.close()
    assert messages[0].startswith("READY=1")
    assert messages.count("WATCHDOG=1") >= 2


def test_portal_is_ready_and_pings_once_it_answers(tmp_path):
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    notify = FakeNotifySocket(tmp_path / "notify.sock")
    try:
        config = write_config(tmp_path)
        messages = _run_until(SAMPLEPOINT + ["portal", "--config", str(config), "--bind",
                                             f"127.0.0.1:{port}"], notify, 2)
    finally:
        notify.close()
    assert messages and messages[0].startswith("READY=1")
    assert messages.count("WATCHDOG=1") >= 2
