"""sd_notify over a fake NOTIFY_SOCKET: READY, rate-limited WATCHDOG pings, and a hung kiosk going quiet."""
from __future__ import annotations

import os
import socket
import threading
import time

import numpy as np
import pytest

from kiosk.camera.base import Frame, FrameSource
from kiosk.decode import Decoder
from kiosk.feedback import LogFeedback
from kiosk.pipeline import Kiosk
from samplepoint import config as config_module
from samplepoint import sdnotify
from samplepoint.clock import system_clock
from samplepoint.store import Store


class FakeNotifySocket:
    """A datagram socket standing in for systemd's; collects what services send."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.01)
        self.messages: list[tuple[float, str]] = []

    def drain(self, seconds: float = 0.0) -> list[str]:
        deadline = time.monotonic() + seconds
        while True:
            try:
                self.messages.append((time.monotonic(), self.sock.recv(4096).decode()))
            except (socket.timeout, BlockingIOError):
                pass
            if time.monotonic() >= deadline:
                return [m for _, m in self.messages]

    def close(self):
        self.sock.close()


@pytest.fixture
def notify_socket(tmp_path):
    fake = FakeNotifySocket(tmp_path / "notify.sock")
    yield fake
    fake.close()


def env(fake, watchdog_usec: int | None = 200_000, pid: int | None = None):
    environ = {"NOTIFY_SOCKET": fake.path}
    if watchdog_usec is not None:
        environ["WATCHDOG_USEC"] = str(watchdog_usec)
    if pid is not None:
        environ["WATCHDOG_PID"] = str(pid)
    return environ


def test_no_notify_socket_is_a_silent_no_op():
    assert sdnotify.notify("READY=1", {}) is False
    dog = sdnotify.Watchdog({})
    dog.ready()
    dog.ping()          # nothing to send to, nothing raised


def test_ready_and_pings_reach_the_socket(notify_socket):
    clock = [0.0]
    dog = sdnotify.Watchdog(env(notify_socket, 2_000_000), monotonic=lambda: clock[0])
    dog.ready("scanning")
    for t in (0.2, 0.5, 1.0, 1.1, 2.0):        # pings every half interval (1 s) at most
        clock[0] = t
        dog.ping()
    messages = notify_socket.drain(0.1)
    assert messages[0] == "READY=1\nSTATUS=scanning"
    assert messages[1:] == ["WATCHDOG=1", "WATCHDOG=1"]


def test_watchdog_for_another_pid_is_ignored(notify_socket):
    dog = sdnotify.Watchdog(env(notify_socket, 100_000, pid=os.getpid() + 1))
    dog.ping()
    assert "WATCHDOG=1" not in notify_socket.drain(0.1)


def test_abstract_socket_address_is_encoded():
    assert sdnotify._address("@sd/notify") == b"\0sd/notify"
    assert sdnotify._address("/run/systemd/notify") == "/run/systemd/notify"


def test_unreachable_socket_does_not_raise(tmp_path):
    assert sdnotify.notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}) is False


def test_ticking_sleep_keeps_ticking_and_stops_on_request():
    ticks = []
    stop = threading.Event()
    sleep = sdnotify.ticking_sleep(stop.wait, lambda: ticks.append(time.monotonic()), 0.02)
    started = time.monotonic()
    sleep(0.2)
    assert time.monotonic() - started >= 0.19
    assert len(ticks) >= 5
    stop.set()
    started = time.monotonic()
    sleep(5.0)
    assert time.monotonic() - started < 1.0


class EndlessSource(FrameSource):
    def frames(self):
        index = 0
        blank = np.full((48, 64), 255, dtype=np.uint8)
        while True:
            index += 1
            yield Frame(index, blank)
            time.sleep(0.005)


class HangingDecoder(Decoder):
    """Decodes nothing; after `hang_after` frames it blocks until released, like a stuck driver."""

    def __init__(self, hang_after: int):
        self.hang_after, self.calls = hang_after, 0
        self.release, self.stop = threading.Event(), threading.Event()

    def decode(self, grey):
        self.calls += 1
        if self.calls == self.hang_after:
            self.release.wait(10)
        if self.stop.is_set():
            raise KeyboardInterrupt
        return []


def test_a_hung_kiosk_loop_stops_the_watchdog_pings(tmp_path, notify_socket):
    config = config_module.from_dict({"device": {"data_dir": str(tmp_path / "data")}})
    store = Store(config.db_path)
    decoder = HangingDecoder(hang_after=20)
    kiosk = Kiosk(config, store, decoder, LogFeedback(), system_clock())
    dog = sdnotify.Watchdog(env(notify_socket, 40_000))        # ping at most every 20 ms
    dog.ready()

    def run():
        try:
            kiosk.run(sdnotify.WatchedSource(EndlessSource(), dog), close_at_end=False)
        except KeyboardInterrupt:
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while decoder.calls < decoder.hang_after and time.monotonic() < deadline:
            notify_socket.drain(0.01)
        assert decoder.calls == decoder.hang_after, "kiosk loop never reached the hang"
        notify_socket.drain(0.1)
        pings_before = notify_socket.drain(0.0).count("WATCHDOG=1")
        hung_from = time.monotonic()
        notify_socket.drain(0.5)                      # 0.5 s hung = 12 missed ping intervals
        during = [m for t, m in notify_socket.messages if t > hung_from + 0.05 and m == "WATCHDOG=1"]
        assert pings_before >= 3
        assert during == [], "pings continued while the loop was hung"
        decoder.release.set()                          # the loop recovers: pings resume
        resumed_from = time.monotonic()
        notify_socket.drain(0.3)
        assert any(t > resumed_from and m == "WATCHDOG=1" for t, m in notify_socket.messages)
    finally:
        decoder.stop.set()
        decoder.release.set()
        thread.join(5)
        store.close()


def test_a_web_server_that_stops_answering_stops_the_pings(notify_socket):
    from flask import Flask

    from samplepoint.httpserver import BackgroundServer

    hang = threading.Event()
    released = threading.Event()
    app = Flask(__name__)

    @app.get("/healthz")
    def healthz():
        if hang.is_set():
            released.wait(10)
        return "ok"

    dog = sdnotify.Watchdog(env(notify_socket, 200_000))
    stop = threading.Event()
    with BackgroundServer(app, threads=2) as server:
        watcher = threading.Thread(target=sdnotify.watch_health,
                                   args=(server.url + "/healthz", dog, stop), daemon=True)
        watcher.start()
        try:
            notify_socket.drain(0.5)
            assert notify_socket.messages[0][1] == "READY=1"
            assert [m for _, m in notify_socket.messages].count("WATCHDOG=1") >= 2
            hang.set()
            notify_socket.drain(0.3)
            hung_from = time.monotonic()
            notify_socket.drain(1.2)
            assert not [m for t, m in notify_socket.messages if t > hung_from and m == "WATCHDOG=1"]
        finally:
            stop.set()
            released.set()
            watcher.join(5)
