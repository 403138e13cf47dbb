"""TLS to the central server: verified by default, a private CA trusted only through central.ca_bundle."""
from __future__ import annotations

import ssl
import subprocess
import threading

import pytest
from werkzeug.serving import make_server

from central.app import create_app
from samplepoint import config as config_module
from samplepoint.store import Store
from tests.conftest import write_config
from tests.samplepoint.test_forwarder import make_forwarder, queue_records


@pytest.fixture
def tls_central(tmp_path, central):
    """The central app over HTTPS on loopback, with a certificate from a throwaway private CA."""
    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp_path)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Test CA",
            "-keyout", "ca.key", "-out", "ca.pem")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "srv.key",
            "-out", "srv.csr")
    (tmp_path / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", "srv.pem")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "srv.pem", tmp_path / "srv.key")
    server = make_server("127.0.0.1", 0, create_app(central.db), threaded=True, ssl_context=context)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.port}", tmp_path / "ca.pem"
    server.shutdown()
    thread.join(5)


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
