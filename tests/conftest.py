"""Shared fixtures: real servers on ephemeral loopback ports, device configs in temp folders.

With CI=true a skipped test fails the run: CI is root on a machine that can install every system
package, so a skip there would only hide a test that never ran.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from central.app import create_app
from central.db import CentralDB
from samplepoint import config as config_module
from samplepoint.durable import write_atomic
from samplepoint.httpserver import BackgroundServer

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_sessionfinish(session, exitstatus):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if IN_CI and skipped and session.exitstatus == 0:
        reporter.write_line(f"CI=true: {skipped} test(s) skipped; in CI every test must run", red=True)
        session.exitstatus = 1


@pytest.fixture
def central(tmp_path):
    """A real reference central server on 127.0.0.1:<ephemeral>, with one registered device."""
    db = CentralDB(tmp_path / "central.db")
    token = db.add_device("DEV-TEST-01", "SITE-TEST")
    app = create_app(db)
    server = BackgroundServer(app).start()
    server.app = app        # tests inject the central clock via app.extensions["central_clock"]
    server.db = db
    server.token = token
    yield server
    server.stop()


def write_config(tmp_path: Path, central_url: str = "http://127.0.0.1:9", token: str | None = None,
                 **sections) -> Path:
    """A device config in tmp_path; `sections` maps a section name to a dict of overrides."""
    data_dir = tmp_path / "device"
    data_dir.mkdir(exist_ok=True)
    token_file = data_dir / "device-token"
    if token is not None:
        write_atomic(token_file, token)
    merged = {
        "site": {"id": "SITE-TEST", "pool_size": 3},
        "device": {"id": "DEV-TEST-01", "data_dir": str(data_dir)},
        "central": {"url": central_url, "token_file": str(token_file), "backoff_base_s": 0.05,
                    "backoff_cap_s": 0.5, "poll_s": 0.05, "timeout_s": 5.0},
        "camera": {"source": "replay:" + str(tmp_path / "frames")},
        # Never the machine's /var/lib/samplepoint/code-key: a key there would be the device's own.
        "scan": {"code_key_file": str(data_dir / "code-key")},
        # Test devices have no GPIO and, unless a test signs in, no staff badge.
        "workflow": {"require_sign_in": False},
        "feedback": {"backend": "none"},
    }
    for name, values in sections.items():
        merged.setdefault(name, {}).update(values)
    lines = []
    for name, values in merged.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {config_module._toml_value(v)}" for k, v in values.items()]
    path = tmp_path / "samplepoint.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def device_config(tmp_path, central):
    """(path, Config) of a device pointed at the `central` fixture, holding a valid token."""
    path = write_config(tmp_path, central.url, central.token)
    return path, config_module.load(path)
