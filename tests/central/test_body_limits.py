"""A body over its path's limit is answered 413 at once by the real server (waitress on SQLite,
gunicorn workers on PostgreSQL), as a console page or API JSON, before it is buffered on disk or
read; the results upload has its own, larger limit; malformed or huge requests are never a 500."""
from __future__ import annotations

import json
import time

import pytest
import requests

from central.db import CentralDB
from samplepoint import wire
from tests.central.console.conftest import PASSWORD_HASH, csrf
from tests.central.served import CentralProcess
from tests.samplepoint.body_probes import TempWatch, raw_request
from tests.samplepoint.test_wire import record

MIB = 1024 * 1024
SPOOL_BOUND = 1 * MIB          # what any refused body may leave in temp files, at most


@pytest.fixture
def served(tmp_path):
    db = CentralDB(tmp_path / "central.db")      # a PostgreSQL database on the postgresql backend
    db.add_user("lab", PASSWORD_HASH, "lab")
    token = db.add_device("DEV-TEST-01", "SITE-TEST")
    workers = 2 if str(db.path).startswith("postgresql://") else 1
    server = CentralProcess(str(db.path), tmp_path, workers=workers, results_upload_max_mib=2)
    server.token = token
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()


def test_an_oversized_sign_in_is_a_413_page_at_once_and_never_spooled(served):
    # Headers alone, announcing 9 MB: the answer comes without a byte of the body sent.
    status, head_only = raw_request(served.base, "POST /console/sign-in HTTP/1.1\r\nHost: x\r\n"
                                                 "Content-Type: application/x-www-form-urlencoded"
                                                 "\r\nContent-Length: 9000000", timeout=5)
    assert status == 413 and "quá lớn" in head_only.decode()
    with TempWatch(served.pid, served.tmp) as spool:
        started = time.monotonic()
        answer = requests.post(served.base + "/console/sign-in", timeout=30,
                               data={"username": "a" * 9_000_000, "password": "x"})
        took = time.monotonic() - started
    assert answer.status_code == 413
    assert answer.headers["Content-Type"].startswith("text/html") and "quá lớn" in answer.text
    assert took < 5 and spool.peak < SPOOL_BOUND, (took, spool.peak)


def test_a_results_file_over_the_upload_limit_is_a_413_and_one_under_it_is_read(served):
    session = served.signed_in("lab")
    token = csrf(session.get(served.base + "/console/results", timeout=10).text)
    with TempWatch(served.pid, served.tmp) as spool:
        big = session.post(served.base + "/console/results", timeout=60, data={"csrf_token": token},
                           files={"file": ("ket-qua.csv", b"x" * 70_000_000, "text/csv")})
    assert big.status_code == 413 and "quá lớn" in big.text
    assert spool.peak < SPOOL_BOUND, spool.peak
    rows = ("," * 4 + " " * 1019 + "\n") * 1024                          # 1 MiB of empty rows:
    ok = session.post(served.base + "/console/results", timeout=60, data={"csrf_token": token},
                      files={"file": ("ket-qua.csv", "tube_code,test_type,result,result_time,lab\n"
                                      + rows, "text/csv")})                # over a form's limit
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize("path, size", [
    ("/api/v1/samples", 9 * MIB), ("/api/v1/samples/batch", 9 * MIB), ("/api/v1/results", 9 * MIB),
    ("/api/v1/heartbeat", 100_000), ("/api/v1/enrol", 100_000)])
def test_api_bodies_over_their_limit_get_a_json_413(served, path, size):
    with TempWatch(served.pid, served.tmp) as spool:
        answer = requests.post(served.base + path, data=b"[" * size, timeout=30, headers={
            "Authorization": f"Bearer {served.token}", "Content-Type": "application/json"})
    assert answer.status_code == 413, answer.text
    assert answer.json()["error"] == "request-entity-too-large"
    assert spool.peak < SPOOL_BOUND, spool.peak


def test_a_batch_inside_the_limit_is_stored(served):
    bodies = []
    for _ in range(300):
        body = record()
        body["record_id"], body["device_id"] = wire.new_record_id(), "DEV-TEST-01"
        bodies.append(body)
    assert len(json.dumps({"records": bodies})) > 64 * 1024               # over a form's limit
    answer = requests.post(served.base + "/api/v1/samples/batch", json={"records": bodies},
                           timeout=60, headers={"Authorization": f"Bearer {served.token}"})
    assert answer.status_code == 200 and {r["status"] for r in answer.json()["results"]} == {"created"}


@pytest.mark.parametrize("path, kind", [("/console/sign-in", "text/html"),
                                        ("/api/v1/samples/batch", "application/json")])
def test_a_chunked_body_is_cut_off_with_413_once_it_passes_the_limit(served, path, kind):
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
            f"Authorization: Bearer {served.token}\r\n"
            "Content-Type: application/x-www-form-urlencoded")
    with TempWatch(served.pid, served.tmp) as spool:
        status, answer = raw_request(served.base, head, [b"a" * 100_000] * 200)   # 20 MB
    assert status == 413 and kind.encode() in answer.split(b"\r\n\r\n")[0]
    assert spool.peak < 9 * MIB, spool.peak        # at most the path's own limit, then cut off
    small, _ = raw_request(served.base, head, [b"username=a&", b"password=b"])
    assert small not in (413, 500)                 # a chunked body inside the limit is read


def test_hostile_forms_and_headers_are_refused_never_a_500(served):
    fields = "&".join(f"f{n}=" for n in range(100_000))
    assert requests.post(served.base + "/console/sign-in", data=fields, timeout=30, headers={
        "Content-Type": "application/x-www-form-urlencoded"}).status_code == 413
    session = served.signed_in("lab")
    token = csrf(session.get(served.base + "/console/results", timeout=10).text)
    parts = {f"p{n}": ("", "") for n in range(5000)}                      # 5,000 multipart parts
    many = session.post(served.base + "/console/results", data={"csrf_token": token}, files=parts,
                        timeout=30)
    assert many.status_code == 413
    for body, content_type in ((b"--x\r\ngarbage", "multipart/form-data; boundary=x"),
                               (b"--x--", "multipart/form-data"), (b"\xff\xfe", "text/plain")):
        answer = requests.post(served.base + "/console/sign-in", data=body, timeout=10,
                               headers={"Content-Type": content_type})
        assert 400 <= answer.status_code < 500, (body, answer.status_code)
    huge = requests.get(served.base + "/console/", headers={"X-Filler": "a" * 100_000}, timeout=10)
    assert huge.status_code in (400, 431)
    assert requests.get(served.base + "/healthz", timeout=5).status_code == 200
