"""Rate limits shared by every worker process: enrolment guesses, console sign-in failures, status
look-ups.

The count lives in the central database (`rate_hits`), not in a process, so N workers together
allow what one would, and a restart does not hand out a fresh allowance. A sliding window: each
allowed attempt counts for `window_s` seconds from the moment it was made.
"""
from __future__ import annotations

import hashlib
import ipaddress
import time
from dataclasses import dataclass
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


def address_key(address: str) -> str:
    """The client a sign-in limit counts: an IPv4 address, or an IPv6 address's /64 (one household
    or office holds a whole /64, so counting single IPv6 addresses would count nothing)."""
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if parsed.version == 6 and parsed.ipv4_mapped:
        return str(parsed.ipv4_mapped)
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


@dataclass(frozen=True)
class Held:
    """A sign-in attempt counted as a failure until `succeeded` takes it back."""
    buckets: tuple[str, ...]
    until_ms: int


class SignInLimiter:
    """Console sign-in limits that count failures only, so the right password is never held back
    by its own sign-ins, and that an attacker cannot turn against it (docs/central.md):

    - an address (IPv6: its /64) with `per_address` failures within `window_s` must wait until the
      oldest ages out, whatever account it names;
    - an account with `account_alarm` failures within the window (from anywhere) is under attack:
      an address that has itself failed on that account waits until those failures age out, but an
      address that has not is still asked for the password, so an attacker's guesses from other
      addresses never keep the right password from a clean one.

    Each attempt is counted before its password is checked (so workers racing cannot let more
    through) and taken back when the password was right.
    """

    def __init__(self, db, per_address: int = 20, account_alarm: int = 10, window_s: float = 300.0,
                 clock: Callable[[], float] = time.time):
        self.db, self.per_address, self.account_alarm = db, per_address, account_alarm
        self.window_s, self.clock = window_s, clock

    def attempt(self, address: str, account: str) -> Held | float:
        """Held when the password may be checked, else seconds until this address may try again."""
        net = address_key(address)
        mine, theirs, pair = (bucket("sign-in", "ip:" + net), bucket("sign-in", "user:" + account),
                              bucket("sign-in", f"pair:{account}\x1f{net}"))
        now_ms = int(self.clock() * 1000)

        def rule(counts) -> int | None:
            failures, oldest, _ = counts[mine]
            if failures >= self.per_address:
                return oldest - now_ms
            if counts[theirs][0] >= self.account_alarm and counts[pair][0]:
                return counts[pair][2] - now_ms
            return None
        window_ms = int(self.window_s * 1000)
        wait_ms = self.db.count_rate_slot([mine, theirs, pair], rule, window_ms, now_ms)
        if wait_ms is not None:
            return wait_ms / 1000
        return Held((mine, theirs, pair), now_ms + window_ms)

    def succeeded(self, held: Held) -> None:
        self.db.uncount_rate_slot(list(held.buckets), held.until_ms)
