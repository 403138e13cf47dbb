"""Strange answers on the way to the central server never mark a record delivered nor crash the forwarder.

A proxy's 404, a hotel login page answering 200 to everything, a malformed batch answer or a
hostile Retry-After must keep the records pending; only the server's own refusal quarantines.
"""
from __future__ import annotations


import pytest

from samplepoint import config as config_module
from samplepoint.httpserver import BackgroundServer
from samplepoint.store import Store
from tests.conftest import write_config
from tests.samplepoint.test_forwarder import make_forwarder, queue_records


def fixed_answer(status: str, body: bytes, headers=()):
    def app(environ, start_response):
        environ["wsgi.input"].read()
        start_response(status, list(headers))
        return [body]
    return app


@pytest.mark.parametrize("status, body, headers", [
    ("404 Not Found", b"<html>nginx 404</html>", [("Content-Type", "text/html")]),
    ("200 OK", b"<html>Dang nhap Wi-Fi</html>", [("Content-Type", "text/html")]),
    ("200 OK", b'{"results": ["created", "created"]}', [("Content-Type", "application/json")]),
    ("200 OK", b'{"results": [{"status": "created"}]}', [("Content-Type", "application/json")]),
    ("201 Created", b'{"duplicate": false}', [("Content-Type", "application/json")]),
    ("400 Bad Request", b"<html>bad gateway config</html>", [("Content-Type", "text/html")]),
    ("503 Service Unavailable", b"{}", [("Retry-After", "\u00b2".encode("latin-1").decode("latin-1"))]),
    ("429 Too Many Requests", b"{}", [("Retry-After", "99999999999999999999999")]),
])
@pytest.mark.parametrize("batch_size", [1, 10])
def test_answer_that_is_not_a_confirmation_keeps_records_pending(tmp_path, status, body, headers,
                                                                 batch_size):
    with BackgroundServer(fixed_answer(status, body, headers)) as server:
        config = config_module.load(write_config(tmp_path, server.url, "token",
                                                 central={"batch_size": batch_size}))
        store = Store(config.db_path)
        queue_records(store, 2)
        forwarder = make_forwarder(config, store)
        waits = []
        forwarder.sleep = waits.append
        for _ in range(2):
            assert forwarder.step() == 0
    assert store.outbox_counts() == {"pending": 2, "delivered": 0, "quarantined": 0}
    assert len(waits) == 2 and all(0 <= w <= 3600 for w in waits)


def test_unexpected_client_error_backs_off_instead_of_crashing(tmp_path):
    config = config_module.load(write_config(tmp_path, "http://127.0.0.1:9", "token"))
    store = Store(config.db_path)
    queue_records(store, 1)
    forwarder = make_forwarder(config, store)

    def broken(*args, **kwargs):
        raise AttributeError("adapter bug")
    forwarder.client.send = broken
    forwarder.sleep = lambda s: None
    assert forwarder.step() == 0
    assert store.outbox_counts()["pending"] == 1
    assert "unexpected AttributeError" in store._db.execute("SELECT last_error FROM outbox").fetchone()[0]


def test_heartbeat_uses_the_private_ca_bundle(tmp_path):
    from samplepoint.central_client import CentralClient
    client = CentralClient("https://127.0.0.1:9", "t", ca_bundle=str(tmp_path / "ca.pem"))
    assert client.session.verify == str(tmp_path / "ca.pem")


def test_an_offset_measured_before_the_clock_was_stepped_is_not_reused(central):
    from datetime import datetime, timedelta, timezone
    from samplepoint.central_client import CentralClient
    from samplepoint.store import OutboxItem
    skew = [timedelta(days=-30)]                     # fake-hwclock's stale time before NTP
    client = CentralClient(central.url, central.token,
                           clock=lambda: datetime.now(timezone.utc) + skew[0])
    client.send([OutboxItem("00000000-0000-4000-8000-00000000dead", "{}")])  # any answer measures
    assert abs(client.recent_offset() - 30 * 86400) < 5
    skew[0] = timedelta(0)                           # NTP steps the clock
    assert client.recent_offset() is None
