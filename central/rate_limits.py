"""Rate limits shared by every worker process: enrolment guesses, console sign-ins, status look-ups.

The count lives in the central database (`rate_hits`), not in a process, so N workers together
allow what one would, and a restart does not hand out a fresh allowance. A sliding window: each
allowed attempt counts for `window_s` seconds from the moment it was made.
"""
from __future__ import annotations

import hashlib
import time
from typing import Callable


def bucket(limiter: str, client: str) -> str:
    """A fixed-length name for (limiter, client): hostile names, addresses and ids stay 64 hex
    characters, with nothing PostgreSQL or SQLite could refuse (NUL, lone surrogates)."""
    raw = f"{limiter}\x1f{client}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(raw).hexdigest()


class SharedRateLimiter:
    """At most `per_client` attempts per client and `overall` (None: no overall cap) in total
    within `window_s` seconds, counted in `db` under the name `limiter`."""

    def __init__(self, db, limiter: str, per_client: int, overall: int | None = None,
                 window_s: float = 60.0, clock: Callable[[], float] = time.time):
        self.db, self.limiter = db, limiter
        self.per_client, self.overall, self.window_s = per_client, overall, window_s
        self.clock = clock

    def allow(self, *clients: str) -> float | None:
        """None when the attempt may go ahead (and it is counted once for each of `clients`, e.g. an
        address and an account name, and once overall), else seconds until it could."""
        buckets = [(bucket(self.limiter, "client:" + c), self.per_client) for c in dict.fromkeys(clients)]
        if self.overall is not None:
            buckets.append((bucket(self.limiter, "*"), self.overall))
        wait_ms = self.db.take_rate_slot(buckets, int(self.window_s * 1000),
                                         int(self.clock() * 1000))
        return None if wait_ms is None else wait_ms / 1000
