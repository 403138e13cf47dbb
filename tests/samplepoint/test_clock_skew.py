"""A device whose clock is three days behind: the central server still knows when each sample was taken."""
from __future__ import annotations

import dataclasses
import time
from datetime import datetime, timedelta

import pytest

from kiosk.camera import open_source
from kiosk.decode import make_decoder
from kiosk.feedback import LogFeedback
from kiosk.framegen import write_session
from kiosk.pipeline import CLOCK_UNSYNCHRONISED, Kiosk
from samplepoint.central_client import CentralClient
from samplepoint.clock import ClockEvidence, system_clock
from samplepoint.forwarder import Forwarder
from samplepoint.store import Store

BEHIND = timedelta(days=3)


def skewed_clock():
    real = system_clock("+07:00")
    return lambda: real() - BEHIND


def evidence(boot_id: str):
    return lambda: ClockEvidence(False, time.monotonic(), boot_id)


def scan_and_deliver(tmp_path, device_config, central, forwarder_clock, forwarder_boot):
    _, config = device_config
    # One record per request: the first goes without a measured offset (the server estimates it
    # from the send time), the next carries the offset measured on the previous answer.
    config = dataclasses.replace(config, central=dataclasses.replace(config.central, batch_size=1))
    session = write_session(tmp_path / "frames", people=6, pool_size=3)
    store = Store(config.db_path)
    feedback = LogFeedback()
    kiosk = Kiosk(config, store, make_decoder(), feedback, skewed_clock(), evidence=evidence("boot-A"))
    with open_source("replay:" + str(tmp_path / "frames"), 15, paced=False) as source:
        kiosk.run(source)
    assert (CLOCK_UNSYNCHRONISED, CLOCK_UNSYNCHRONISED) in feedback.history   # the display warns
    time.sleep(1.5)                 # delivered a while after collection, as over a slow link
    client = CentralClient(config.central.url, central.token, timeout=5, clock=forwarder_clock)
    forwarder = Forwarder(config, store, client, forwarder_clock, evidence=evidence(forwarder_boot))
    forwarder.run(until_drained=True)
    assert store.outbox_counts()["delivered"] == len(session.tubes) == 2
    ids = store.all_record_ids()
    store.close()
    return ids


def test_three_days_behind_is_corrected_within_two_seconds(tmp_path, device_config, central):
    ids = scan_and_deliver(tmp_path, device_config, central, skewed_clock(), "boot-A")
    for record_id in ids:
        row = central.db.sample_clock(record_id)
        device_time = datetime.fromisoformat(row["collected_at"])
        true_time = device_time + BEHIND          # the injected clock was exactly 3 days behind
        corrected = datetime.fromisoformat(row["corrected_at"])
        assert row["method"] == "monotonic" and row["flagged"] == 0
        print("clock-skew correction error (s):", (corrected - true_time).total_seconds())
        assert abs((corrected - true_time).total_seconds()) < 2.0
        assert row["offset_s"] == pytest.approx(BEHIND.total_seconds(), abs=2.0)
    assert central.db.flagged_times() == []


def test_clock_synchronised_before_delivery_still_corrects(tmp_path, device_config, central):
    ids = scan_and_deliver(tmp_path, device_config, central, system_clock("+07:00"), "boot-A")
    for record_id in ids:
        row = central.db.sample_clock(record_id)
        true_time = datetime.fromisoformat(row["collected_at"]) + BEHIND
        assert abs((datetime.fromisoformat(row["corrected_at"]) - true_time).total_seconds()) < 2.0


def test_a_reboot_before_delivery_is_flagged(tmp_path, device_config, central):
    ids = scan_and_deliver(tmp_path, device_config, central, skewed_clock(), "boot-B")
    for record_id in ids:
        row = central.db.sample_clock(record_id)
        assert row["flagged"] == 1 and row["corrected_at"] is None
    assert sorted(r["record_id"] for r in central.db.flagged_times()) == sorted(ids)
