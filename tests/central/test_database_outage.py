"""While the database cannot be reached, the real server answers every request 503 with Retry-After
(a console page or API JSON), logs the outage in a few lines rather than a traceback per request,
the forwarder's client takes it as "retry later", and service resumes by itself once it is back."""
from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from central.db import CentralDB
from central.db_postgres import PostgresCentralDB
from samplepoint import wire
from samplepoint.central_client import CentralClient, TransientError
from samplepoint.config import CentralServerConfig
from samplepoint.store import OutboxItem
from tests.central.console.conftest import PASSWORD_HASH
from tests.central.served import CentralProcess
from tests.samplepoint.test_wire import record

RETRY_AFTER = str(CentralServerConfig().outage_retry_after_s)
REQUESTS = 500


def new_record() -> dict:
    body = record()
    body["record_id"], body["device_id"] = wire.new_record_id(), "DEV-TEST-01"
    return body


def hammer(server: CentralProcess, token: str, cookies) -> list[requests.Response]:
    """REQUESTS requests from 8 clients at once (each keeping its connection, as the forwarder
    does): records, heartbeats, token checks, sign-ins and (with `cookies`) a user's console pages."""
    auth = {"Authorization": f"Bearer {token}"}
    clients = threading.local()

    def one(n: int) -> requests.Response:
        if not hasattr(clients, "session"):
            clients.session = requests.Session()
            opened.append(clients.session)
        session, kind = clients.session, n % 5
        if kind == 0:
            return session.post(server.base + "/api/v1/samples", json=new_record(), headers=auth,
                                timeout=30)
        if kind == 1:
            return session.post(server.base + "/api/v1/heartbeat", json={}, headers=auth, timeout=30)
        if kind == 2:
            return session.get(server.base + "/api/v1/device", headers=auth, timeout=30)
        if kind == 3 and cookies is not None:         # a signed-in user's page
            return session.get(server.base + "/console/", cookies=cookies, timeout=30)
        return session.post(server.base + "/console/sign-in", timeout=30,
                            data={"username": "admin", "password": "wrong"})
    opened: list[requests.Session] = []
    try:
        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(one, range(REQUESTS)))
    finally:
        for session in opened:
            session.close()


def assert_unavailable(answers: list[requests.Response]) -> None:
    # A sign-in without its form's token is refused from the cookie alone (no database needed).
    tokenless = [a for a in answers if a.url.endswith("/console/sign-in")]
    assert {a.status_code for a in tokenless} == {401}
    answers = [a for a in answers if a not in tokenless]
    assert {a.status_code for a in answers} == {503}, {a.status_code for a in answers}
    assert {a.headers.get("Retry-After") for a in answers} == {RETRY_AFTER}
    api = [a for a in answers if "/api/" in a.url]
    assert {a.json()["error"] for a in api} == {"service-unavailable"}
    pages = [a for a in answers if "/console/" in a.url]
    assert all("cơ sở dữ liệu" in a.text and a.headers["Content-Type"].startswith("text/html")
               for a in pages)


def outage_lines(log: str) -> list[str]:
    # waitress says when its queue backs up on a busy machine: about load, not the outage.
    return [line for line in log.splitlines() if line.strip() and "waitress.queue" not in line]


def assert_forwarder_retries(server: CentralProcess, token: str) -> None:
    client = CentralClient(server.base, token, timeout=10)
    body = new_record()
    with pytest.raises(TransientError) as refused:
        client.send([OutboxItem(body["record_id"], wire.canonical(body))])
    assert refused.value.retry_after == float(RETRY_AFTER)


def wait_until_served(server: CentralProcess, token: str, cookies, deadline_s: float = 30) -> None:
    deadline = time.monotonic() + deadline_s
    while True:
        answer = requests.post(server.base + "/api/v1/samples", json=new_record(), timeout=30,
                               headers={"Authorization": f"Bearer {token}"})
        if answer.status_code == 201:
            break
        assert answer.status_code == 503 and time.monotonic() < deadline, answer.status_code
        time.sleep(0.5)
    assert requests.get(server.base + "/console/", cookies=cookies, timeout=30).status_code == 200


def assert_recovery_logged(server: CentralProcess, token: str) -> None:
    """Each process says the database is back on an answered request at least a second after
    its last probe (whichever process takes these), within 30 s."""
    deadline = time.monotonic() + 30
    while "central database reachable again" not in server.log():
        assert time.monotonic() < deadline, server.log()[-2000:]
        requests.get(server.base + "/api/v1/device", headers={"Authorization": f"Bearer {token}"},
                     timeout=30)
        time.sleep(0.3)


@pytest.fixture(scope="module")
def own_cluster():
    """A cluster of this module's own, so stopping it stops nobody else's databases."""
    from tests.central.postgres import Cluster
    cluster = Cluster()
    yield cluster
    cluster.stop()


def workers_on_a_new_database(cluster, tmp_path, device_id: str) -> tuple[str, CentralProcess]:
    """(device token, `central serve --workers 2`) on a new database of `cluster` with an admin."""
    url = cluster.database()
    db = PostgresCentralDB(url)
    token = db.add_device(device_id, "SITE-TEST")
    db.add_user("admin", PASSWORD_HASH, "admin")
    db.close()
    return token, CentralProcess(url, tmp_path, workers=2)


@pytest.mark.postgresql_only
@pytest.mark.slow
def test_workers_answer_503_while_postgresql_is_stopped_and_recover_without_restart(own_cluster,
                                                                                   tmp_path):
    token, server = workers_on_a_new_database(own_cluster, tmp_path, "DEV-TEST-01")
    try:
        cookies = server.signed_in("admin").cookies
        assert requests.get(server.base + "/console/", cookies=cookies, timeout=10).status_code == 200
        before = len(outage_lines(server.log()))
        own_cluster.pause()
        started = time.monotonic()
        answers = hammer(server, token, cookies)
        took = time.monotonic() - started
        assert_unavailable(answers)
        assert_forwarder_retries(server, token)
        during = outage_lines(server.log())[before:]
        # One line per worker process for this outage (well under a minute): no traceback.
        assert 1 <= len(during) <= 2 and "Traceback" not in server.log(), "\n".join(during[:70])
        assert all("central database unreachable" in line for line in during), during
        assert took < 60, took
        own_cluster.resume()
        wait_until_served(server, token, cookies)
        assert_recovery_logged(server, token)
        assert server.process.poll() is None
    finally:
        server.stop()
        if not own_cluster.running():
            own_cluster.resume()


@pytest.mark.sqlite_only
def test_one_process_answers_503_while_the_sqlite_file_cannot_be_opened_and_recovers(tmp_path):
    path = tmp_path / "central.db"
    db = CentralDB(path)
    token = db.add_device("DEV-TEST-01", "SITE-TEST")
    db.add_user("admin", PASSWORD_HASH, "admin")
    server = CentralProcess(str(path), tmp_path)
    away = tmp_path / "central.db.away"
    try:
        before = len(outage_lines(server.log()))
        # The file is swapped for a folder: every connection the request threads open fails, as
        # for a file that became unreadable (root reads any file, so no chmod here).
        os.rename(path, away)
        os.mkdir(path)
        answers = hammer(server, token, None)
        assert_unavailable(answers)
        assert_forwarder_retries(server, token)
        during = outage_lines(server.log())[before:]
        assert len(during) == 1 and "central database unreachable" in during[0], during
        assert "Traceback" not in server.log()
        os.rmdir(path)
        os.rename(away, path)
        cookies = server.signed_in("admin").cookies
        wait_until_served(server, token, cookies)
        assert_recovery_logged(server, token)
    finally:
        server.stop()
        if away.exists():
            if path.is_dir():
                os.rmdir(path)
            os.rename(away, path)


def worker_pids(server: CentralProcess) -> list[int]:
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    return [int(pid) for pid in children]


@pytest.mark.postgresql_only
@pytest.mark.slow
def test_a_worker_restarted_during_the_outage_waits_and_the_server_stays_up(own_cluster, tmp_path):
    token, server = workers_on_a_new_database(own_cluster, tmp_path, "DEV-TEST-02")
    try:
        own_cluster.pause()
        first = worker_pids(server)
        os.kill(first[0], signal.SIGKILL)         # a worker dies while the database is away
        deadline = time.monotonic() + 60
        while first[0] in worker_pids(server) or len(worker_pids(server)) < 2:
            assert server.process.poll() is None and time.monotonic() < deadline, server.log()
            time.sleep(0.2)
        time.sleep(3)                              # the new worker tries, and waits
        assert server.process.poll() is None, server.log()
        own_cluster.resume()
        deadline = time.monotonic() + 60
        while True:                                # every request is answered again, by both
            try:
                answers = [requests.get(server.base + "/api/v1/device", timeout=30,
                                        headers={"Authorization": f"Bearer {token}"}).status_code
                           for _ in range(10)]
            except requests.ConnectionError as exc:
                raise AssertionError(server.log()) from exc
            if set(answers) == {200}:
                break
            assert set(answers) <= {200, 503} and time.monotonic() < deadline, answers
            time.sleep(0.5)
        assert server.process.poll() is None
        assert "Worker failed to boot" not in server.log()
    finally:
        server.stop()
        if not own_cluster.running():
            own_cluster.resume()

