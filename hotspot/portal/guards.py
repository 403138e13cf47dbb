"""Form guards that need no cookies (captive mini-browsers may wipe them): CSRF tokens bound to the
phone's address, and per-phone sliding-window rate limits."""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import threading
from collections import OrderedDict, deque

CSRF_MAX_AGE_S = 2 * 3600


class Csrf:
    """Token = "time.mac" with mac = HMAC(key, client address + time): valid for 2 h from that phone."""

    def __init__(self, key: bytes):
        self._key = hashlib.sha256(b"samplepoint-csrf\0" + key).digest()

    def _mac(self, client: str, stamp: int) -> str:
        digest = hmac.new(self._key, f"{client}|{stamp}".encode(), hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def token(self, client: str, now: float) -> str:
        return f"{int(now)}.{self._mac(client, int(now))}"

    def valid(self, token: str, client: str, now: float) -> bool:
        stamp, _, mac = (token or "").partition(".")
        if not re.fullmatch(r"[0-9]{1,12}", stamp) or not 0 <= now - int(stamp) <= CSRF_MAX_AGE_S:
            return False
        return hmac.compare_digest(self._mac(client, int(stamp)), mac)


class RateLimit:
    """At most `limit` events per `window_s` per client; remembers at most `max_clients` clients."""

    def __init__(self, limit: int, window_s: float = 3600.0, max_clients: int = 10000):
        self.limit, self.window_s, self.max_clients = limit, window_s, max_clients
        self._seen: OrderedDict[str, deque] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, client: str, now: float) -> bool:
        with self._lock:
            times = self._seen.pop(client, None) or deque()
            while times and times[0] <= now - self.window_s:
                times.popleft()
            self._seen[client] = times
            if len(self._seen) > self.max_clients:
                self._seen.popitem(last=False)
            if len(times) >= self.limit:
                return False
            times.append(now)
            return True

    def would_allow(self, client: str, now: float) -> bool:
        """Whether `allow` would say yes now, without counting anything."""
        with self._lock:
            times = self._seen.get(client) or ()
            return sum(1 for t in times if t > now - self.window_s) < self.limit


class DeclarationLimit:
    """Accepted declarations per phone per hour, and a separate, higher limit for volunteer
    sessions (one phone declaring for many people). Forms refused for a typo are not counted
    here; `attempts` (ten times the limit, every post) only stops a flood."""

    def __init__(self, per_phone: int, per_volunteer: int):
        self.citizens, self.volunteers = RateLimit(per_phone), RateLimit(per_volunteer)
        self.attempts = RateLimit(per_phone * 10)

    def _pick(self, volunteer: bool) -> RateLimit:
        return self.volunteers if volunteer else self.citizens

    def may_post(self, client: str, now: float, volunteer: bool = False) -> bool:
        """Checked before reading the form: under the accepted limit and not flooding."""
        return (self._pick(volunteer).would_allow(client, now)
                and (volunteer or self.attempts.allow(client, now)))

    def accept(self, client: str, now: float, volunteer: bool = False) -> bool:
        """Count one accepted declaration; False when the limit was reached meanwhile."""
        return self._pick(volunteer).allow(client, now)


class DoneClients:
    """Phones that pressed "Done" (by address), forgotten after `ttl_s` like their DHCP lease."""

    def __init__(self, ttl_s: float = 12 * 3600, max_clients: int = 10000):
        self.ttl_s, self.max_clients = ttl_s, max_clients
        self._until: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def mark(self, client: str, now: float) -> None:
        with self._lock:
            self._until.pop(client, None)
            self._until[client] = now + self.ttl_s
            if len(self._until) > self.max_clients:
                self._until.popitem(last=False)

    def __call__(self, client: str, now: float) -> bool:
        with self._lock:
            return self._until.get(client, 0) > now
