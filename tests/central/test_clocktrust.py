"""Correcting collection times from the device's clock evidence: every case, and hostile headers."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, strategies as st

from central.clocktrust import (MONOTONIC, OFFSET, SYNCHRONISED, UNCORRECTED, DeliveryClock, correct,
                                parse_headers)
from samplepoint import wire

VN = timezone(timedelta(hours=7))
TRUE_COLLECTION = datetime(2021, 8, 20, 9, 0, tzinfo=VN)
SKEW = timedelta(days=-3)                       # the device clock is three days behind
RECEIVED = TRUE_COLLECTION + timedelta(hours=5)


def record(**clock) -> wire.SampleRecord:
    return wire.SampleRecord(
        record_id=wire.new_record_id(), tube_code="DT1", pool_size=1, test_type="rt-pcr",
        sample_type="swab", collected_at=(TRUE_COLLECTION + SKEW).isoformat(), site_id="S",
        device_id="D", staff_id="x", persons=(), status="cancelled", cancel_reason="r", **clock)


def delivery(after: timedelta, boot_id="boot-1", mono_at_collection=1000.0) -> DeliveryClock:
    """The forwarder's evidence `after` the collection, with a correctly measured offset."""
    return DeliveryClock(offset_s=-SKEW.total_seconds(), device_time=TRUE_COLLECTION + after + SKEW,
                         monotonic_s=mono_at_collection + after.total_seconds(), boot_id=boot_id)


def test_monotonic_correction_recovers_the_true_time_whatever_the_delay():
    for after in (timedelta(0), timedelta(seconds=3), timedelta(hours=4)):
        fixed = correct(record(clock_synchronised=False, monotonic_s=1000.0, boot_id="boot-1"),
                        delivery(after), RECEIVED)
        assert fixed.method == MONOTONIC and not fixed.flagged
        assert fixed.corrected_at == TRUE_COLLECTION


def test_monotonic_correction_survives_a_clock_step_between_collection_and_delivery():
    # NTP synchronised the device after collection: at delivery its clock is right (offset 0).
    stepped = DeliveryClock(offset_s=0.0, device_time=TRUE_COLLECTION + timedelta(hours=2),
                            monotonic_s=1000.0 + 7200, boot_id="boot-1")
    fixed = correct(record(clock_synchronised=False, monotonic_s=1000.0, boot_id="boot-1"), stepped,
                    RECEIVED)
    assert fixed.corrected_at == TRUE_COLLECTION


def test_a_reboot_before_delivery_cannot_be_corrected_and_is_flagged():
    fixed = correct(record(clock_synchronised=False, monotonic_s=1000.0, boot_id="boot-1"),
                    delivery(timedelta(hours=1), boot_id="boot-2"), RECEIVED)
    assert fixed == (fixed.__class__(None, UNCORRECTED, True))


def test_synchronised_clock_is_trusted_and_old_devices_use_the_offset():
    assert correct(record(clock_synchronised=True), None, RECEIVED).method == SYNCHRONISED
    legacy = correct(record(), delivery(timedelta(hours=1)), RECEIVED)
    assert legacy.method == OFFSET and legacy.corrected_at == TRUE_COLLECTION
    assert correct(record(), None, RECEIVED).flagged
    assert correct(record(clock_synchronised=False, monotonic_s=5.0, boot_id="b"), None, RECEIVED).flagged


def test_a_corrected_time_after_receipt_is_refused():
    future = DeliveryClock(offset_s=10 * 86400.0, device_time=TRUE_COLLECTION + SKEW,
                           monotonic_s=1000.0, boot_id="boot-1")
    fixed = correct(record(clock_synchronised=False, monotonic_s=1000.0, boot_id="boot-1"), future,
                    RECEIVED)
    assert fixed.flagged and fixed.corrected_at is None


def test_headers_parse_and_garbage_counts_as_absent():
    good = parse_headers({"Samplepoint-Clock-Offset": "259200.5", "Samplepoint-Monotonic": "12.5",
                          "Samplepoint-Device-Time": "2021-08-17T09:00:00.000+07:00",
                          "Samplepoint-Boot-Id": "708ec7d3-602a-4b3a-a4ca-6f94a5935d7e"})
    assert good.offset_s == 259200.5 and good.monotonic_s == 12.5 and good.boot_id
    bad = parse_headers({"Samplepoint-Clock-Offset": "nan", "Samplepoint-Monotonic": "-1",
                         "Samplepoint-Device-Time": "2021-08-17T09:00:00", "Samplepoint-Boot-Id": "a b"})
    assert bad == DeliveryClock()
    assert parse_headers({"Samplepoint-Clock-Offset": "1e300"}).offset_s is None


@given(st.dictionaries(st.sampled_from(["Samplepoint-Clock-Offset", "Samplepoint-Monotonic",
                                        "Samplepoint-Device-Time", "Samplepoint-Boot-Id"]),
                       st.text(max_size=60)))
def test_hostile_headers_never_crash_the_correction(headers):
    clock = parse_headers(headers)
    correct(record(clock_synchronised=False, monotonic_s=1.0, boot_id="x"), clock, RECEIVED)


def test_evidence_outside_the_calendar_is_flagged():
    edge = DeliveryClock(offset_s=3e9, device_time=datetime(9999, 12, 31, tzinfo=timezone.utc),
                         monotonic_s=1.0, boot_id="x")
    assert correct(record(clock_synchronised=False, monotonic_s=1.0, boot_id="x"), edge, RECEIVED).flagged


def test_without_a_measured_offset_the_send_time_gives_one():
    sent = TRUE_COLLECTION + timedelta(minutes=10)
    evidence = DeliveryClock(offset_s=None, device_time=sent + SKEW, monotonic_s=1000.0 + 600,
                             boot_id="boot-1")
    fixed = correct(record(clock_synchronised=False, monotonic_s=1000.0, boot_id="boot-1"), evidence,
                    sent + timedelta(milliseconds=300))          # 0.3 s in transit
    assert fixed.method == MONOTONIC
    assert abs((fixed.corrected_at - TRUE_COLLECTION).total_seconds() - 0.3) < 1e-6
