"""`samplepoint central serve` as a real process for the tests (waitress on SQLite, or gunicorn
`--workers N` on PostgreSQL, on a free loopback port, with its own temp folder and a log file), and
the real device commands as processes."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from central.db import CentralDB          # the name the backend fixture swaps for PostgreSQL
from tests.central.console.conftest import PASSWORD, csrf
from tests.central.test_postgres import Workers

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class CentralProcess:
    """The server on `db_path` (a file or a postgresql:// URL) until stop(); `tmp` is its TMPDIR."""

    def __init__(self, db_path: str, folder: Path, workers: int = 1, **settings):
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.tmp = folder / "spool"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.log_path = folder / "server.log"
        config = folder / "central.toml"
        lines = ["[central_server]", "console_secure_cookies = false"]
        lines += [f"{name} = {value!r}" for name, value in settings.items()]
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self._log = open(self.log_path, "wb")
        env = {**os.environ, "TMPDIR": str(self.tmp)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "samplepoint.cli", "central", "serve", "--db", str(db_path),
             "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--config", str(config)],
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(self.base + "/healthz", timeout=1)
                return
            except requests.RequestException:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise AssertionError(self.log())
                time.sleep(0.1)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def signed_in(self, username: str) -> requests.Session:
        session = requests.Session()
        token = csrf(session.get(self.base + "/console/sign-in", timeout=10).text)
        answer = session.post(self.base + "/console/sign-in", timeout=20, allow_redirects=False,
                              data={"username": username, "password": PASSWORD, "csrf_token": token})
        assert answer.status_code == 302, answer.text
        return session

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()


def samplepoint(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """One `samplepoint ...` command as its own process, with this checkout's code."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "samplepoint.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=120, env=env)


@pytest.fixture
def served(central_backend, tmp_path):
    """(central database, base URL of `central serve` on it) for the test's backend."""
    db = CentralDB(tmp_path / "served-central.db")      # PostgreSQL under that backend
    server = Workers(str(db.path), workers=2 if central_backend == "postgresql" else 1)
    yield db, server.base
    server.stop()
