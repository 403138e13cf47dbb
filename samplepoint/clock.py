"""Wall-clock reads in one place, so tests and the pure core can pass time in instead."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Callable

Clock = Callable[[], datetime]


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
