"""Strange answers from the central server in check mode and enrolment never crash a process."""
from __future__ import annotations

import threading
import time
from datetime import timezone
from types import SimpleNamespace

import pytest

from kiosk import check
from samplepoint.httpserver import BackgroundServer


@pytest.mark.parametrize("answer", [
    {"state": "valid", "valid_until": "0001-01-01T00:00:00+07:00"},
    {"state": "valid", "valid_until": "9999-12-31T23:59:59-07:00", "result": "negative"},
    {"state": "expired", "valid_until": "2021-08-23T09:00:00+07:00", "result": [1]},
    {"state": "valid", "valid_until": "2021-08-23T09:00:00+07:00", "result": {"x": 1}},
])
@pytest.mark.parametrize("signed_in", [True, False])
def test_out_of_range_or_odd_values_give_an_outcome_not_an_exception(answer, signed_in):
    result = check.outcome(answer, staff_signed_in=signed_in, tz=timezone.utc)
    assert result.kind in (check.CHECK_VALID, check.CHECK_EXPIRED, check.CHECK_UNAVAILABLE)


def test_a_dripping_server_cannot_hold_the_kiosk_past_the_timeout():
    release = threading.Event()

    def drip(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json")])

        def body():
            for _ in range(40):
                if release.is_set():
                    return
                yield b" "
                time.sleep(0.25)
        return body()

    with BackgroundServer(drip) as server:
        client = check.StatusClient(server.url, "t", timeout=1.0)
        started = time.monotonic()
        with pytest.raises(check.CheckUnavailable):
            client.status({"qid": "1"})
        assert time.monotonic() - started < 2.0
        release.set()


def test_check_mode_turns_any_client_failure_into_cannot_check():
    class Broken:
        def status(self, params):
            raise KeyError("bug")
    mode = check.CheckMode(Broken(), timezone.utc)
    scan = SimpleNamespace(person=SimpleNamespace(qid="123", id_number="001093029317"))
    assert mode.check(scan, staff_signed_in=True).kind == check.CHECK_UNAVAILABLE
