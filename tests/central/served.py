"""The real central server and the real device commands as processes, for the trust tests: `central
serve` (two gunicorn workers on PostgreSQL, one process on SQLite) and `samplepoint CMD` runs."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from central.db import CentralDB          # the name the backend fixture swaps for PostgreSQL
from tests.central.test_postgres import Workers

ROOT = Path(__file__).resolve().parents[2]


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

