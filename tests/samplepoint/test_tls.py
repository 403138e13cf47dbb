"""TLS to the central server: verified by default, a private CA trusted only through central.ca_bundle."""
from __future__ import annotations

import contextlib
import json
import os
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from central.app import create_app
from samplepoint import config as config_module
from samplepoint import site_credentials
from samplepoint.httpserver import BackgroundServer
from samplepoint.store import Store
from tests.conftest import write_config
from tests.samplepoint.test_forwarder import make_forwarder, queue_records


def make_ca(folder):
    """A throwaway private CA and a certificate it issued for 127.0.0.1: (ca.pem, context)."""
    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)
    if not (folder / "ca.pem").exists():
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Test CA",
                "-keyout", "ca.key", "-out", "ca.pem")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout",
                "srv.key", "-out", "srv.csr")
        (folder / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
        openssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", "srv.pem")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "srv.pem", folder / "srv.key")
    return folder / "ca.pem", context


@contextlib.contextmanager
def tls_server(folder, app):
    """`app` over HTTPS on loopback: (url, the CA file that trusts it)."""
    ca, context = make_ca(folder)
    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=context)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.port}", ca
    finally:
        server.shutdown()
        thread.join(5)


@pytest.fixture
def tls_central(tmp_path, central):
    """The central app over HTTPS on loopback, with a certificate from a throwaway private CA."""
    with tls_server(tmp_path, create_app(central.db)) as served:
        yield served


class Eavesdropper:
    """Whoever answers on the path: a loopback HTTP proxy (HTTP_PROXY) or host that records every
    request it gets and answers as central would, replacing the site key and revocations."""

    def __init__(self):
        self.seen: list[dict] = []

    def __call__(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        self.seen.append({"url": environ.get("REQUEST_URI", environ["PATH_INFO"]),
                          "authorization": environ.get("HTTP_AUTHORIZATION", ""),
                          "body": environ["wsgi.input"].read(length).decode("utf-8", "replace")})
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"credentials": {"site_id": "SITE-TEST", "revoked": []},
                            "results": []}).encode()]


@pytest.fixture
def eavesdropper():
    listener = Eavesdropper()
    with BackgroundServer(listener) as server:
        listener.url = server.url
        yield listener


def through(proxy_url: str) -> dict:
    """The environment of a device process whose plain-HTTP traffic crosses `proxy_url`."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy", "http_proxy")}
    return {**env, "HTTP_PROXY": proxy_url, "http_proxy": proxy_url}


def run_forwarder_briefly(config_path, env, until, seconds=20.0) -> str:
    """The real forwarder process until `until` is in its log (or `seconds`); returns its log."""
    process = subprocess.Popen([sys.executable, "-m", "samplepoint.cli", "forwarder", "--config",
                                str(config_path)], env=env, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True)
    reader.start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and until not in "".join(lines):
        time.sleep(0.1)
    time.sleep(1.0)              # a heartbeat goes at the first tick; give it its chance
    process.terminate()
    process.wait(10)
    reader.join(5)
    return "".join(lines)


def test_unknown_ca_is_refused_and_records_stay_pending(tmp_path, central, tls_central):
    url, _ = tls_central
    config = config_module.load(write_config(tmp_path, url, central.token))
    store = Store(config.db_path)
    queue_records(store, 2)
    forwarder = make_forwarder(config, store)
    forwarder.sleep = lambda s: None
    forwarder.step()
    assert store.outbox_counts()["pending"] == 2
    assert central.db.count_samples() == 0


def test_private_ca_bundle_is_trusted(tmp_path, central, tls_central):
    url, ca = tls_central
    config = config_module.load(write_config(tmp_path, url, central.token,
                                             central={"ca_bundle": str(ca)}))
    store = Store(config.db_path)
    queue_records(store, 2)
    forwarder = make_forwarder(config, store)
    assert forwarder.step() == 2
    assert store.outbox_counts()["delivered"] == 2 and central.db.count_samples() == 2


def test_the_forwarder_process_sends_nothing_in_clear_to_a_remote_central(tmp_path, eavesdropper):
    path = write_config(tmp_path, "http://central.example.vn", "the-device-token")
    config = config_module.load(path)
    store = Store(config.db_path)
    queue_records(store, 2)
    log = run_forwarder_briefly(path, through(eavesdropper.url), "nothing will be sent")
    assert eavesdropper.seen == [], "the token and records crossed the path in clear"
    assert "central.url: plain http:// to a non-loopback host sends the device token in clear" in log
    assert "heartbeat not sent: central.url: plain http://" in log
    assert store.outbox_counts()["pending"] == 2
    assert not (Path(config.device.data_dir) / site_credentials.FILE_NAME).exists(), \
        "a stranger's answer replaced the site key"


def test_the_lab_setting_sends_in_clear_and_says_so_at_start(tmp_path, eavesdropper):
    path = write_config(tmp_path, "http://central.example.vn", "the-device-token",
                        central={"allow_insecure_http": True})
    queue_records(Store(config_module.load(path).db_path), 1)
    log = run_forwarder_briefly(path, through(eavesdropper.url), "heartbeat")
    assert "WARNING" in log and "central.allow_insecure_http = true: the device token cross" in log
    assert any(seen["authorization"] == "Bearer the-device-token" for seen in eavesdropper.seen)


def redirecting_to(target: str):
    def app(environ, start_response):
        start_response("307 Temporary Redirect", [("Location", target + environ["PATH_INFO"])])
        return [b""]
    return app


def test_a_redirect_from_https_to_http_carries_nothing(tmp_path, central, eavesdropper, caplog):
    """central.url answers 307 to a plain-HTTP address: the records, the token and the heartbeat
    stay put, and no answer from the other address is believed."""
    from samplepoint import heartbeat
    from samplepoint.clock import system_clock
    with tls_server(tmp_path, redirecting_to(eavesdropper.url)) as (url, ca):
        config = config_module.load(write_config(tmp_path, url, central.token,
                                                 central={"ca_bundle": str(ca)}))
        store = Store(config.db_path)
        queue_records(store, 1)
        forwarder = make_forwarder(config, store)
        forwarder.sleep = lambda s: None
        assert forwarder.step() == 0
        beat = heartbeat.Heartbeat(forwarder.client.session, url,
                                   lambda: heartbeat.build(store, config.device.data_dir,
                                                           system_clock()),
                                   on_answer=heartbeat.credentials_keeper(config))
        assert beat.maybe_send() is False
    assert eavesdropper.seen == []
    assert store.outbox_counts()["pending"] == 1
    assert "central redirected (HTTP 307) and redirects are not followed" in caplog.text
    assert "heartbeat refused: HTTP 307" in caplog.text


def test_verification_cannot_be_turned_off_nor_the_pinned_ca_replaced(tmp_path, central,
                                                                      tls_central, monkeypatch):
    import requests
    from samplepoint.central_client import CentralClient
    url, ca = tls_central
    with pytest.raises(requests.exceptions.SSLError):
        CentralClient(url, central.token).session.get(url + "/healthz", verify=False)
    (tmp_path / "other").mkdir()
    other_ca, _ = make_ca(tmp_path / "other")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))      # trusts the server, but is not the pin
    assert CentralClient(url, central.token).session.get(url + "/healthz").status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        CentralClient(url, central.token, ca_bundle=str(other_ca)).session.get(url + "/healthz")


def test_the_enrolment_code_is_never_sent_in_clear(tmp_path, eavesdropper):
    path = write_config(tmp_path, "http://central.example.vn")
    done = subprocess.run([sys.executable, "-m", "samplepoint.cli", "enrol", "--config", str(path),
                           "--code", "SP-ABCD-EFGH-JKLM"], env=through(eavesdropper.url),
                          capture_output=True, text=True, timeout=60)
    assert eavesdropper.seen == [], "the enrolment code crossed the path in clear"
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert "central.url: plain http:// to a non-loopback host" in line


def test_check_mode_does_not_ask_a_remote_central_in_clear(tmp_path, eavesdropper):
    from kiosk.check import CheckUnavailable, StatusClient
    client = StatusClient("http://central.example.vn", "the-device-token")
    assert client.refused.startswith("central.url: plain http://")
    with pytest.raises(CheckUnavailable):
        client.status({"qid": "42"})
    assert eavesdropper.seen == []
