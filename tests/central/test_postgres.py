"""PostgreSQL itself: `central init` creates the schema, a database without it is refused, and
`serve --workers` stores each record exactly once while several processes race on the same ids, and
its processes share one rate limit."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from central.db_postgres import PostgresCentralDB
from samplepoint import wire
from samplepoint.cli import main
from samplepoint.config import CentralServerConfig
from tests.central.console.conftest import csrf
from tests.samplepoint.test_wire import record

pytestmark = pytest.mark.postgresql_only


@pytest.fixture
def empty_url(pg_cluster):
    name = "sp_empty_" + str(os.getpid())
    pg_cluster.admin(f"DROP DATABASE IF EXISTS {name}")
    pg_cluster.admin(f"CREATE DATABASE {name}")
    yield pg_cluster.url(name)
    pg_cluster.drop(pg_cluster.url(name))


def test_init_creates_the_schema_and_other_commands_refuse_an_empty_database(empty_url, capsys):
    assert main(["central", "devices", "--db", empty_url]) == 2
    assert "central init" in capsys.readouterr().err
    assert main(["central", "init", "--db", empty_url]) == 0
    assert main(["central", "add-device", "--db", empty_url, "--device-id", "D-1",
                 "--site-id", "S-1"]) == 0
    token = capsys.readouterr().out.strip()
    db = PostgresCentralDB(empty_url)
    assert db.device_for_token(token)["device_id"] == "D-1"
    db.close()


def test_an_unreachable_server_is_a_clear_error(capsys):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    assert main(["central", "devices", "--db", f"postgresql://x@127.0.0.1:{port}/none"]) == 2
    assert "cannot open the PostgreSQL database" in capsys.readouterr().err


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Workers:
    """`central serve --workers N` on `url` (or a SQLite file, with one worker), on a free
    loopback port, until stop(); `extra` are more `serve` arguments (--config FILE)."""

    def __init__(self, url: str, workers: int = 3, *extra: str):
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.server = subprocess.Popen(
            [sys.executable, "-m", "samplepoint.cli", "central", "serve", "--db", url, "--bind",
             f"127.0.0.1:{port}", "--workers", str(workers), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(self.base + "/healthz", timeout=1)
                break
            except requests.RequestException:
                if time.monotonic() > deadline or self.server.poll() is not None:
                    self.stop()
                    raise AssertionError(self.server.stdout.read().decode(errors="replace"))
                time.sleep(0.1)

    def stop(self) -> None:
        if self.server.poll() is None:
            os.killpg(self.server.pid, signal.SIGTERM)
        self.server.wait(timeout=20)


@pytest.mark.slow
def test_workers_store_each_record_once_under_racing_resends(pg_cluster):
    url = pg_cluster.database()
    db = PostgresCentralDB(url)
    tokens = {f"DEV-{n}": db.add_device(f"DEV-{n}", "SITE-1") for n in range(4)}
    workers = Workers(url)
    try:
        base = workers.base
        bodies = {}
        for device in tokens:
            for _ in range(25):
                body = record()
                body["device_id"] = device
                body["record_id"] = wire.new_record_id()
                bodies[body["record_id"]] = body

        def send(item):
            body = item
            answer = requests.post(base + "/api/v1/samples/batch", json={"records": [body]},
                                   timeout=20, headers={"Authorization": f"Bearer {tokens[body['device_id']]}"})
            return answer.status_code, answer.json()["results"][0]["status"]

        # Every record sent three times at once, from 12 threads over 3 processes.
        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(send, [b for b in bodies.values() for _ in range(3)]))
        assert {code for code, _ in answers} == {200}
        statuses = [status for _, status in answers]
        assert statuses.count("created") == len(bodies) and statuses.count("duplicate") == 2 * len(bodies)
        assert sorted(db.record_ids()) == sorted(bodies)
    finally:
        workers.stop()
        db.close()
        pg_cluster.drop(url)


@pytest.mark.slow
def test_workers_share_the_status_and_sign_in_limits(pg_cluster, tmp_path):
    url = pg_cluster.database()
    db = PostgresCentralDB(url)
    token = db.add_device("DEV-1", "SITE-1")
    per_minute = CentralServerConfig().status_per_device_per_min
    config = tmp_path / "central.toml"          # plain HTTP here: the form's cookie must come back
    config.write_text("[central_server]\nconsole_secure_cookies = false\n", encoding="utf-8")
    workers = Workers(url, 3, "--config", str(config))
    try:
        def ask(_):
            return requests.get(workers.base + "/api/v1/persons/status", params={"qid": "123"},
                                timeout=20, headers={"Authorization": f"Bearer {token}"}).status_code

        def guess(_):
            # Each guess on a fresh connection, so the workers share them out.
            browser = requests.Session()
            form = browser.get(workers.base + "/console/sign-in", timeout=90).text
            return browser.post(workers.base + "/console/sign-in", timeout=90, data={
                "username": "admin", "password": "wrong", "csrf_token": csrf(form)}).status_code

        with ThreadPoolExecutor(12) as pool:
            asked = list(pool.map(ask, range(per_minute * 2)))
            guessed = list(pool.map(guess, range(15)))
        # Three processes, one allowance: in memory each would have let its own limit through.
        # Failed sign-ins from one address: 10 put the account under attack, then that address
        # waits.
        assert asked.count(200) == per_minute and asked.count(429) == per_minute
        assert guessed.count(401) == 10 and guessed.count(429) == 5
    finally:
        workers.stop()
        db.close()
        pg_cluster.drop(url)
