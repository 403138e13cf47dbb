"""Correcting a device's collection time with the clock evidence it sends; pure, the receive time passed in.

A Raspberry Pi has no battery clock: until NTP synchronises it, its wall clock may be days off. The
forwarder measures how far the device clock is from ours on every delivery (the offset) and sends
it with the device's wall time and monotonic time at that moment. With the record's own monotonic
time from the same boot, the collection moment follows without trusting the device's wall clock:
    corrected = (device time at send + offset) - (monotonic at send - monotonic at collection).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from samplepoint.wire import (HEADER_BOOT_ID, HEADER_DEVICE_TIME, HEADER_MONOTONIC, HEADER_OFFSET,
                              SERVER_TIME_HEADER, SampleRecord)

SYNCHRONISED, MONOTONIC, OFFSET, UNCORRECTED = "synchronised", "monotonic", "offset", "uncorrected"
MAX_OFFSET_S = 100 * 365 * 86400.0      # an offset beyond a century is garbage, not a clock
FUTURE_SLACK = timedelta(seconds=5)



@dataclass(frozen=True)
class DeliveryClock:
    """The forwarder's clock evidence for one request; any part may be missing."""
    offset_s: float | None = None          # central minus device, seconds
    device_time: datetime | None = None    # device wall clock when the request was built
    monotonic_s: float | None = None       # device monotonic clock at that same moment
    boot_id: str | None = None


@dataclass(frozen=True)
class Correction:
    corrected_at: datetime | None
    method: str
    flagged: bool                          # True when the time could not be corrected or trusted


def _number(text: str | None, limit: float) -> float | None:
    if text is None or len(text) > 40:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and abs(value) <= limit else None


def parse_headers(headers) -> DeliveryClock:
    """Read the evidence from request headers; unreadable values count as absent, never as errors."""
    device_time = None
    raw = headers.get(HEADER_DEVICE_TIME)
    if raw and len(raw) <= 40:
        try:
            device_time = datetime.fromisoformat(raw)
        except ValueError:
            device_time = None
        if device_time is not None and device_time.tzinfo is None:
            device_time = None
    boot_id = headers.get(HEADER_BOOT_ID)
    if boot_id is not None and not re.fullmatch(r"[0-9A-Za-z-]{1,64}", boot_id):
        boot_id = None
    monotonic = _number(headers.get(HEADER_MONOTONIC), 1e10)
    return DeliveryClock(_number(headers.get(HEADER_OFFSET), MAX_OFFSET_S), device_time,
                         monotonic if monotonic is None or monotonic >= 0 else None, boot_id)


def correct(record: SampleRecord, delivery: DeliveryClock | None, received_at: datetime) -> Correction:
    """The collection time to trust for this record, how it was found, and whether it is flagged."""
    try:
        return _correct(record, delivery, received_at)
    except OverflowError:       # evidence pointing outside the calendar is no evidence
        return Correction(None, UNCORRECTED, True)


def with_offset(delivery: DeliveryClock | None, received_at: datetime) -> DeliveryClock:
    """The delivery evidence with an offset: the forwarder's measurement, else one estimated from
    its send time and our receive time (too large by the request's transit time, under a second
    on any working link)."""
    delivery = delivery or DeliveryClock()
    if delivery.offset_s is None and delivery.device_time is not None:
        estimate = (received_at - delivery.device_time).total_seconds()
        if abs(estimate) <= MAX_OFFSET_S:
            return replace(delivery, offset_s=estimate)
    return delivery


def _correct(record: SampleRecord, delivery: DeliveryClock | None, received_at: datetime) -> Correction:
    collected = datetime.fromisoformat(record.collected_at)
    delivery = with_offset(delivery, received_at)
    if record.clock_synchronised is True:
        found = Correction(collected, SYNCHRONISED, False)
    elif (delivery.offset_s is not None and delivery.device_time is not None
          and delivery.monotonic_s is not None and record.monotonic_s is not None
          and record.boot_id and record.boot_id == delivery.boot_id
          and record.monotonic_s <= delivery.monotonic_s):
        central_at_send = delivery.device_time + timedelta(seconds=delivery.offset_s)
        elapsed = timedelta(seconds=delivery.monotonic_s - record.monotonic_s)
        found = Correction((central_at_send - elapsed).astimezone(collected.tzinfo), MONOTONIC, False)
    elif delivery.offset_s is not None and record.boot_id is None and record.monotonic_s is None:
        # A device that sends no boot evidence: trust that its clock did not jump since collection.
        found = Correction(collected + timedelta(seconds=delivery.offset_s), OFFSET, False)
    else:
        return Correction(None, UNCORRECTED, True)
    if found.corrected_at > received_at + FUTURE_SLACK:
        return Correction(None, UNCORRECTED, True)     # collected after it arrived: impossible
    return found
