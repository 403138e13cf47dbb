"""The real portal server (`samplepoint portal`) refuses a body over 64 KiB with its Vietnamese 413
as soon as the headers say so, before waitress buffers it on the Pi's SD card; a chunked body is
cut off at the limit; a huge header line is refused."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from tests.central.served import free_port
from tests.conftest import write_config
from tests.samplepoint.body_probes import TempWatch, raw_request

SPOOL_BOUND = 256 * 1024


@pytest.fixture
def portal_server(tmp_path):
    port = free_port()
    spool = tmp_path / "spool"
    spool.mkdir()
    log = open(tmp_path / "portal.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "samplepoint.cli", "portal", "--config", str(write_config(tmp_path)),
         "--bind", f"127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True, env={**os.environ, "TMPDIR": str(spool)})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(base + "/privacy", timeout=1)
            break
        except requests.RequestException:
            assert time.monotonic() < deadline and process.poll() is None, \
                (tmp_path / "portal.log").read_text()
            time.sleep(0.1)
    yield base, process.pid, spool
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=20)
    log.close()
    assert "Traceback" not in (tmp_path / "portal.log").read_text()


def test_a_large_declaration_is_refused_from_its_headers_and_never_spooled(portal_server):
    base, pid, spool = portal_server
    # Headers alone, announcing 50 MB: the answer comes without a byte of the body sent.
    status, answer = raw_request(base, "POST /declare/form?province=1&people=1 HTTP/1.1\r\n"
                                       "Host: 10.42.0.1\r\nContent-Length: 50000000\r\n"
                                       "Content-Type: application/x-www-form-urlencoded", timeout=5)
    assert status == 413 and "quá lớn" in answer.decode("utf-8", "replace")
    with TempWatch(pid, spool) as watch:
        sent = requests.post(base + "/declare/form?province=1&people=1", timeout=30,
                             data={"name": "a" * 50_000_000}, headers={"Host": "10.42.0.1"})
    assert sent.status_code == 413 and "quá lớn" in sent.text
    assert watch.peak < SPOOL_BOUND, watch.peak


def test_a_chunked_body_past_the_limit_is_cut_off(portal_server):
    base, pid, spool = portal_server
    with TempWatch(pid, spool) as watch:
        status, answer = raw_request(base, "POST /declare/form?province=1&people=1 HTTP/1.1\r\n"
                                           "Host: 10.42.0.1\r\nTransfer-Encoding: chunked\r\n"
                                           "Content-Type: application/x-www-form-urlencoded",
                                     [b"a" * 100_000] * 200)
    assert status == 413 and "quá lớn" in answer.decode("utf-8", "replace")
    assert watch.peak < SPOOL_BOUND, watch.peak


def test_a_huge_header_line_is_refused(portal_server):
    base, _, _ = portal_server
    answer = requests.get(base + "/privacy", headers={"X-Filler": "a" * 100_000}, timeout=10)
    assert answer.status_code == 431
    assert requests.get(base + "/privacy", timeout=5).status_code == 200
