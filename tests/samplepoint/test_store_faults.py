"""A card gone read-only or full, for real (a read-only bind mount and a full tmpfs in a private
mount namespace): every command says so in one `samplepoint:` line, the kiosk stays up and counts
only what committed, the forwarder backs off and delivers each record exactly once when space returns."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from central.app import create_app
from central.db import CentralDB
from kiosk.framegen import write_session
from samplepoint import config as config_module
from samplepoint.httpserver import BackgroundServer
from samplepoint.store import Store
from tests.conftest import write_config

pytestmark = pytest.mark.system      # mounts need root and a private mount namespace

CLI = [sys.executable, "-m", "samplepoint.cli"]


def in_namespace(setup: str, command: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `setup` (shell, mounts) then `command` in a private mount namespace of their own."""
    script = f"set -e\n{setup}\nexec \"$@\""
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "bash", "-c", script,
                           "fault", *command], capture_output=True, text=True, timeout=timeout,
                          cwd=Path(__file__).resolve().parents[2])


@pytest.fixture
def seeded(tmp_path):
    """A device with a database holding one delivered-to-be record, and a replay session."""
    path = write_config(tmp_path, token="device-token", display={"enabled": False},
                        site={"pool_size": 2, "tube_pattern": r"^DT\d{8}$"})
    write_session(tmp_path / "frames", people=2, pool_size=2, seed=3)
    done = subprocess.run([*CLI, "kiosk", "--config", str(path), "--fast", "--exit-when-done"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    config = config_module.load(path)
    assert json.loads(done.stdout.strip().splitlines()[-1])["people"] == 2
    return path, config


@pytest.mark.parametrize("command", [
    ["status"], ["status", "--json"], ["purge"], ["forwarder", "--until-drained"],
])
def test_read_only_card_one_line_per_command(seeded, command):
    path, config = seeded
    data = config.device.data_dir
    done = in_namespace(f"mount --bind {data} {data}; mount -o remount,bind,ro {data}",
                        [*CLI, *command, "--config", str(path)])
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("samplepoint: ")]
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "read-only" in lines[0] and "replace the card" in lines[0]


def test_read_only_card_status_still_shows_what_it_holds(seeded):
    path, config = seeded
    data = config.device.data_dir
    done = in_namespace(f"mount --bind {data} {data}; mount -o remount,bind,ro {data}",
                        [*CLI, "status", "--json", "--config", str(path)])
    assert json.loads(done.stdout)["pending"] == 1


def test_read_only_card_kiosk_stays_up_and_refuses_in_red(seeded, tmp_path):
    path, config = seeded
    data = config.device.data_dir
    shutil.rmtree(tmp_path / "frames")
    write_session(tmp_path / "frames", people=2, pool_size=2, seed=4)
    done = in_namespace(f"mount --bind {data} {data}; mount -o remount,bind,ro {data}",
                        [*CLI, "-v", "kiosk", "--config", str(path), "--fast", "--exit-when-done"])
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["people"] == 0 and summary["tubes_closed"] == 0, "nothing committed, nothing counted"
    assert "runs on a read-only copy of the database" in done.stderr
    assert "feedback error store-readonly" in done.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_full_card_forwarder_backs_off_then_delivers_each_record_once(tmp_path):
    central_db = CentralDB(tmp_path / "central.db")
    token = central_db.add_device("DEV-TEST-01", "SITE-TEST")
    port = free_port()
    path = write_config(tmp_path, f"http://127.0.0.1:{port}", token, display={"enabled": False},
                        site={"pool_size": 1, "tube_pattern": r"^DT\d{8}$"})
    config = config_module.load(path)
    write_session(tmp_path / "frames", people=6, pool_size=1, seed=5)
    assert subprocess.run([*CLI, "kiosk", "--config", str(path), "--fast", "--exit-when-done"],
                          capture_output=True, timeout=120).returncode == 0
    Store(config.db_path).close()        # the last close checkpoints: no WAL left to write into
    data = Path(config.device.data_dir)
    shutil.move(str(data), str(tmp_path / "seed"))
    data.mkdir()
    # The forwarder opens the database on a small tmpfs; while central is down the card fills up.
    process = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "bash", "-c",
         f"set -e; mount -t tmpfs -o size=2m tmpfs {data}; cp -a {tmp_path / 'seed'}/. {data}/; "
         f"exec \"$@\"", "fault", *CLI, "forwarder", "--until-drained", "--config", str(path)],
        stderr=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    server = None
    try:
        inside = Path(f"/proc/{process.pid}/root") / str(data).lstrip("/")
        deadline = time.monotonic() + 30
        while not (inside / "samplepoint.db-wal").exists():
            assert time.monotonic() < deadline and process.poll() is None, "the forwarder never opened"
            time.sleep(0.1)
        filler = inside / "filler"
        with open(filler, "wb") as handle:
            try:
                while True:
                    handle.write(b"\0" * 65536)
                    handle.flush()
            except OSError:
                pass
        server = BackgroundServer(create_app(central_db), port=port).start()
        time.sleep(4)                      # central answers; marking the records delivered fails
        assert process.poll() is None, "a full card must not kill the forwarder"
        assert central_db.count_samples() == 6
        filler.unlink()                    # space comes back
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        err = process.stderr.read()
        if server:
            server.stop()
    assert process.returncode == 0, err
    assert "Traceback" not in err and "no space left" in err
    assert sorted(central_db.record_ids()) == sorted(set(central_db.record_ids()))
    assert central_db.count_samples() == 6
