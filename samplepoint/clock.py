"""Wall-clock reads in one place, so tests and the pure core can pass time in instead."""
from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

Clock = Callable[[], datetime]
TIME_ERROR = 5          # adjtimex(2) return value: the clock is not synchronised


def tz_from_offset(offset: str) -> timezone:
    """'+07:00' → a fixed timezone."""
    sign = -1 if offset.startswith("-") else 1
    hours, minutes = offset[1:].split(":")
    return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))


def system_clock(offset: str = "+07:00") -> Clock:
    tz = tz_from_offset(offset)
    return lambda: datetime.now(tz)


def iso(moment: datetime) -> str:
    """ISO 8601 with offset and milliseconds: 2021-08-20T09:15:00.123+07:00."""
    return moment.isoformat(timespec="milliseconds")


# --- clock evidence (docs/results-and-retention.md): a Pi has no battery clock ------------------

@dataclass(frozen=True)
class ClockEvidence:
    """What the device knew about its clock at one moment; attached to records and deliveries."""
    synchronised: bool | None
    monotonic_s: float
    boot_id: str | None


def kernel_clock_synchronised() -> bool | None:
    """Ask the kernel (adjtimex, as timedatectl does) whether NTP has synchronised the clock.

    None when the answer is unavailable (not Linux): unknown is recorded as unknown, never as true.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        timex = ctypes.create_string_buffer(512)      # struct timex, zeroed: modes = 0 only reads
        state = libc.adjtimex(timex)
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != TIME_ERROR


def current_boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def system_evidence() -> ClockEvidence:
    return ClockEvidence(kernel_clock_synchronised(), time.monotonic(), current_boot_id())


def offset_from_exchange(sent: datetime, received: datetime, server_time: datetime) -> float:
    """Seconds to add to the device clock to get the server's (NTP-style midpoint of one exchange)."""
    midpoint = sent + (received - sent) / 2
    return (server_time - midpoint).total_seconds()
