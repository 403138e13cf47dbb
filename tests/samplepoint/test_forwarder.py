"""The forwarder against a real central server that fails the way a 4G link and a busy server do."""
from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from datetime import datetime, timezone

import pytest

from central.app import create_app
from samplepoint import config as config_module
from samplepoint import wire
from samplepoint.central_client import CentralClient, parse_retry_after
from samplepoint.clock import system_clock
from samplepoint.forwarder import Backoff, Forwarder
from samplepoint.httpserver import BackgroundServer
from samplepoint.store import Store
from tests.conftest import write_config

PERSON = wire.Person(source="personal-qr", id_number="0010930*****", full_name="LE VAN B",
                     date_of_birth="1990-02-03", qid="42")


def queue_records(store: Store, count: int, device_id="DEV-TEST-01") -> list[str]:
    ids = []
    for n in range(count):
        sid = wire.new_record_id()
        store.open_tube(sample_id=sid, tube_code=f"DT{n:08d}", pool_size=1, test_type="rt-pcr",
                        sample_type="swab", site_id="SITE-TEST", device_id=device_id, staff_id="NV",
                        opened_at="2021-08-20T09:00:00.000+07:00")
        store.add_person(sid, "k", PERSON, "2021-08-20T09:00:01.000+07:00")
        store.finish_tube(sid, closed_at=f"2021-08-20T09:{n % 60:02d}:02.000+07:00")
        ids.append(sid)
    return ids


class Scripted:
    """WSGI middleware: answers from a script of (status, headers) first, then passes to the app."""

    def __init__(self, app, script):
        self.app, self.script = app, list(script)
        self.log: list[tuple[float, str]] = []

    def __call__(self, environ, start_response):
        if self.script:
            status, headers = self.script.pop(0)
            self.log.append((time.monotonic(), status))
            start_response(status, headers + [("Content-Type", "application/json")])
            return [b'{"error":"scripted"}']
        self.log.append((time.monotonic(), "app"))
        return self.app(environ, start_response)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_forwarder(config, store):
    client = CentralClient(config.central.url, open(config.central.token_file).read().strip(),
                           timeout=config.central.timeout_s, ca_bundle=config.central.ca_bundle)
    return Forwarder(config, store, client, system_clock())


def run_until(forwarder: Forwarder, done, timeout=30.0):
    thread = threading.Thread(target=forwarder.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.02)
    forwarder.stopping.set()
    thread.join(5)
    assert done(), "forwarder did not finish in time"


def test_down_then_500s_then_429_then_accepts(tmp_path, central):
    port = free_port()
    path = write_config(tmp_path, f"http://127.0.0.1:{port}", central.token,
                        central={"batch_size": 7})
    config = config_module.load(path)
    store = Store(config.db_path)
    ids = queue_records(store, 20)
    forwarder = make_forwarder(config, store)
    thread = threading.Thread(target=forwarder.run, daemon=True)
    thread.start()
    time.sleep(0.4)                                  # nothing listens: connection refused
    assert store.outbox_counts()["pending"] == 20
    assert forwarder.backoff.failures >= 2
    scripted = Scripted(create_app(central.db), [("500 Internal Server Error", [])] * 2
                        + [("429 Too Many Requests", [("Retry-After", "1")])])
    with BackgroundServer(scripted, port=port):
        deadline = time.monotonic() + 20
        while store.outbox_counts()["delivered"] < 20 and time.monotonic() < deadline:
            time.sleep(0.02)
        forwarder.stopping.set()
        thread.join(5)
    assert store.outbox_counts() == {"pending": 0, "delivered": 20, "quarantined": 0}
    assert sorted(central.db.record_ids()) == sorted(ids)
    statuses = [s for _, s in scripted.log]
    assert statuses[:3] == ["500 Internal Server Error"] * 2 + ["429 Too Many Requests"]
    after_429 = scripted.log[3][0] - scripted.log[2][0]
    assert after_429 >= 1.0, f"Retry-After: 1 not honoured (retried after {after_429:.2f} s)"


@pytest.mark.parametrize("batch_size", [1, 50])
def test_a_refused_record_is_quarantined_without_blocking_the_rest(device_config, central,
                                                                   batch_size):
    _, config = device_config
    config = config_module.from_dict({"device": {"data_dir": config.device.data_dir},
                                      "central": {"url": central.url,
                                                  "token_file": config.central.token_file,
                                                  "batch_size": batch_size, "poll_s": 0.05}})
    store = Store(config.db_path)
    ids = queue_records(store, 5)
    # Damage the second record's frozen body the way a software bug might: the server must refuse it.
    db = sqlite3.connect(store.path)
    body = json.loads(db.execute("SELECT body FROM outbox WHERE record_id = ?", (ids[1],)).fetchone()[0])
    body["test_type"] = "culture"
    db.execute("UPDATE outbox SET body = ? WHERE record_id = ?", (json.dumps(body), ids[1]))
    db.commit()
    run_until(make_forwarder(config, store), lambda: store.outbox_counts()["pending"] == 0)
    assert store.outbox_counts() == {"pending": 0, "delivered": 4, "quarantined": 1}
    (row,) = store.quarantined()
    assert row["record_id"] == ids[1] and "test_type" in row["quarantine_reason"]
    assert sorted(central.db.record_ids()) == sorted(ids[:1] + ids[2:])


def test_rejected_token_keeps_records_pending(tmp_path, central):
    config = config_module.load(write_config(tmp_path, central.url, "not-the-token"))
    store = Store(config.db_path)
    queue_records(store, 3)
    forwarder = make_forwarder(config, store)
    forwarder.sleep = lambda s: None
    for _ in range(3):
        forwarder.step()
    assert store.outbox_counts() == {"pending": 3, "delivered": 0, "quarantined": 0}


class DelayAfterCommit:
    """WSGI middleware: the server stores the record, then stalls before answering."""

    def __init__(self, app, delay):
        self.app, self.delay = app, delay

    def __call__(self, environ, start_response):
        body = list(self.app(environ, start_response))
        time.sleep(self.delay)
        return body


def test_kill_9_between_send_and_commit_loses_nothing_and_duplicates_nothing(tmp_path, central):
    slow = BackgroundServer(DelayAfterCommit(create_app(central.db), delay=30)).start()
    try:
        path = write_config(tmp_path, slow.url, central.token, central={"timeout_s": 60})
        config = config_module.load(path)
        store = Store(config.db_path)
        ids = queue_records(store, 12)
        proc = subprocess.Popen([sys.executable, "-m", "samplepoint.cli", "forwarder", "--config",
                                 str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 20
            while central.db.count_samples() < 12 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert central.db.count_samples() == 12, "central never stored the batch"
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        # The central server has every record; the device never heard back.
        assert store.outbox_counts()["pending"] == 12
    finally:
        slow.stop()
    restarted = subprocess.run([sys.executable, "-m", "samplepoint.cli", "forwarder", "--config",
                                str(write_config(tmp_path, central.url, central.token)),
                                "--until-drained"], capture_output=True, text=True, timeout=60)
    assert restarted.returncode == 0, restarted.stderr
    assert store.outbox_counts() == {"pending": 0, "delivered": 12, "quarantined": 0}
    assert sorted(central.db.record_ids()) == sorted(ids)
    assert restarted.stderr.count("delivered (duplicate)") == 12


def test_forwarder_without_token_file_says_how_to_fix(tmp_path):
    path = write_config(tmp_path)
    result = subprocess.run([sys.executable, "-m", "samplepoint.cli", "forwarder", "--config",
                             str(path), "--until-drained"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "no device token" in result.stderr


def test_forwarder_service_waits_for_enrolment_instead_of_dying(tmp_path, central):
    """Before first-boot enrolment has written the token, the service waits (and stays alive for
    systemd) rather than exiting into a restart loop; then it forwards."""
    import time
    path = write_config(tmp_path, central.url)
    config = config_module.load(path)
    process = subprocess.Popen([sys.executable, "-m", "samplepoint.cli", "forwarder", "--config",
                                str(path)], stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3)
        assert process.poll() is None, "the forwarder must wait, not exit"
        Path(config.central.token_file).write_text(central.token + "\n")
        os.chmod(config.central.token_file, 0o600)
        time.sleep(4)
        assert process.poll() is None
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
    assert "no device token" in err and "records stay queued" in err
    assert "device token found; forwarding starts" in err and "Traceback" not in err


def test_backoff_is_full_jitter_capped_and_honours_retry_after():
    import random
    backoff = Backoff(base=1.0, cap=8.0, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(12)]
    assert all(0 <= d <= 8.0 for d in delays) and max(delays[6:]) > 4.0
    assert backoff.next_delay(retry_after=30) >= 30
    assert backoff.next_delay(retry_after=10**9) <= 3600
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def test_retry_after_forms():
    now = datetime(2021, 8, 20, 2, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Fri, 20 Aug 2021 02:00:30 GMT", now) == 30.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_status_command_reports_counts_and_age(tmp_path, central):
    path = write_config(tmp_path, central.url, central.token)
    store = Store(config_module.load(path).db_path)
    queue_records(store, 2)
    out = subprocess.run([sys.executable, "-m", "samplepoint.cli", "status", "--config", str(path),
                          "--json"], capture_output=True, text=True, timeout=30)
    report = json.loads(out.stdout)
    assert report["pending"] == 2 and report["oldest_pending_age_s"] > 0
