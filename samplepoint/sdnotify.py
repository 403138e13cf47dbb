"""Tells systemd a service is ready and alive, over the NOTIFY_SOCKET datagram protocol (sd_notify(3)).

Only the main loop may call `Watchdog.ping()`: if the loop hangs, the pings stop and systemd
restarts the service after WatchdogSec. No helper thread pings on the loop's behalf. Outside
systemd (no NOTIFY_SOCKET) every call is a cheap no-op, so the same code runs in tests and by hand.
"""
from __future__ import annotations

import logging
import os
import http.client
import socket
import threading
import time
import urllib.parse
from typing import Callable, Mapping

log = logging.getLogger(__name__)


def _address(value: str) -> str | bytes:
    # "@name" is a Linux abstract socket: a leading NUL byte instead of the '@'.
    return b"\0" + value[1:].encode() if value.startswith("@") else value


def notify(state: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send one notification such as "READY=1"; False when not under systemd or the send failed."""
    target = (environ if environ is not None else os.environ).get("NOTIFY_SOCKET", "")
    if not target or not (target.startswith("/") or target.startswith("@")):
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(state.encode("utf-8"), _address(target))
        return True
    except OSError as exc:
        log.warning("systemd notification failed (%s)", exc.strerror or exc)
        return False


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """Seconds between pings systemd asks for (WATCHDOG_USEC), or None when no watchdog is set."""
    environ = environ if environ is not None else os.environ
    usec = environ.get("WATCHDOG_USEC", "")
    pid = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None        # the watchdog belongs to another process (our parent)
    return int(usec) / 1_000_000


class Watchdog:
    """READY=1 once, then WATCHDOG=1 at most every half interval; call `ping()` from the main loop."""

    def __init__(self, environ: Mapping[str, str] | None = None,
                 monotonic: Callable[[], float] = time.monotonic):
        self.environ = dict(environ if environ is not None else os.environ)
        interval = watchdog_interval(self.environ)
        self.every = interval / 2 if interval else None
        self.monotonic = monotonic
        self.last_ping = float("-inf")
        self.enabled = bool(self.environ.get("NOTIFY_SOCKET"))

    def ready(self, status: str = "") -> None:
        if self.enabled:
            notify("READY=1" + (f"\nSTATUS={status}" if status else ""), self.environ)
            self.last_ping = self.monotonic()

    def status(self, text: str) -> None:
        if self.enabled:
            notify(f"STATUS={text}", self.environ)

    def ping(self) -> None:
        """Prove the calling loop is alive; sends only when half the watchdog interval has passed."""
        if not (self.enabled and self.every):
            return
        now = self.monotonic()
        if now - self.last_ping >= self.every:
            notify("WATCHDOG=1", self.environ)
            self.last_ping = now

    def stopping(self) -> None:
        if self.enabled:
            notify("STOPPING=1", self.environ)

    @property
    def slice_s(self) -> float:
        """The longest the loop may sleep between pings."""
        return self.every if self.every else 1.0


def ticking_sleep(wait: Callable[[float], bool], tick: Callable[[], None],
                  slice_s: float) -> Callable[[float], None]:
    """A sleep for the main loop that calls `tick` (watchdog ping, heartbeat) at least every slice_s.

    `wait` is like Event.wait: it returns True when the loop should stop, which ends the sleep.
    A long backoff is still the main loop sleeping on purpose, so it keeps proving it is alive.
    """
    def sleep(seconds: float) -> None:
        deadline = time.monotonic() + max(0.0, seconds)
        while True:
            tick()
            remaining = deadline - time.monotonic()
            if remaining <= 0 or wait(min(slice_s, remaining)):
                return
    return sleep


def pinging_frames(frames, watchdog: Watchdog):
    """Wrap a frame iterator so each frame the kiosk loop pulls proves that loop is alive.

    A decoder or store call that hangs stops the loop from pulling the next frame, so the pings
    stop with it.
    """
    for frame in frames:
        watchdog.ping()
        yield frame


def answers(url: str, timeout: float) -> bool:
    """True when the server at url answers at all without a server error (redirects count)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        connection.request("GET", parts.path or "/", headers={"User-Agent": "samplepoint-watchdog"})
        return connection.getresponse().status < 500
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def watch_health(url: str, watchdog: Watchdog, stop: threading.Event | None = None) -> None:
    """READY=1 on the first healthy answer from url, then WATCHDOG=1 after each healthy answer.

    A server whose workers or I/O loop hang stops answering, so the pings stop with it.
    """
    stop = stop or threading.Event()
    announced = False
    while not stop.is_set():
        healthy = answers(url, timeout=max(1.0, watchdog.slice_s))
        if healthy and not announced:
            watchdog.ready()
            announced = True
        elif healthy:
            watchdog.ping()
        stop.wait(min(5.0, watchdog.slice_s / 2))


def start_health_watch(url: str, environ: Mapping[str, str] | None = None) -> threading.Thread | None:
    """Under systemd, watch url from a daemon thread (see watch_health); outside it, do nothing."""
    watchdog = Watchdog(environ)
    if not watchdog.enabled:
        return None
    thread = threading.Thread(target=watch_health, args=(url, watchdog), name="health-watchdog",
                              daemon=True)
    thread.start()
    return thread


def local_url(host: str, port: int, path: str) -> str:
    """A URL this machine can use to reach its own server bound to host:port."""
    host = host.strip("[]")
    local = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    return f"http://[{local}]:{port}{path}" if ":" in local else f"http://{local}:{port}{path}"


def serve_watched(app, bind: str, health_path: str = "/healthz", threads: int = 8,
                  environ: Mapping[str, str] | None = None) -> None:
    """Serve a WSGI app with waitress, telling systemd it is ready and alive only while it answers."""
    from waitress.server import create_server

    host, _, port = bind.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    server = create_server(app, host=host, port=int(port), threads=threads)
    start_health_watch(local_url(host, server.effective_port, health_path), environ)
    server.run()


class WatchedSource:
    """A frame source whose frames ping the watchdog as the kiosk loop pulls them."""

    def __init__(self, source, watchdog: Watchdog):
        self.source, self.watchdog = source, watchdog

    def frames(self):
        return pinging_frames(self.source.frames(), self.watchdog)

    def __getattr__(self, name):
        return getattr(self.source, name)
