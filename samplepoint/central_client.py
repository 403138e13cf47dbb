"""The device's client for the central system's forwarding API (protocol v1, docs/protocol.md).

The one place that knows the central API; an adapter for another central system implements the
same `send()` contract: return one Outcome per item, or raise TransientError to retry them all later.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from datetime import datetime, timezone

import requests

from samplepoint.clock import Clock, offset_from_exchange
from samplepoint.store import OutboxItem
from samplepoint import transport, wire
from samplepoint.wire import SERVER_TIME_HEADER

OFFSET_MAX_AGE_S = 600.0
CLOCK_STEP_S = 1.0       # a jump of the device clock against the monotonic one larger than this
RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}
# Answers in which the server refuses a record itself (with our JSON error body): quarantine.
# Any other answer (a proxy's 404, a hotel login page's 200) says nothing about the record.
RECORD_REFUSALS = {400, 409, 413, 422}
DELIVERED, QUARANTINE = "delivered", "quarantine"


class TransientError(RuntimeError):
    """Nothing was (knowingly) stored; try the same records again later."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Outcome:
    record_id: str
    result: str          # DELIVERED or QUARANTINE
    reason: str = ""


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def _server_time(response: requests.Response) -> datetime | None:
    """The server's clock from its answer: the millisecond header, else the HTTP Date (1 s)."""
    value = response.headers.get(SERVER_TIME_HEADER)
    try:
        if value and len(value) <= 40:
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is not None:
                return moment
        moment = parsedate_to_datetime(response.headers.get("Date", ""))
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _json_object(response: requests.Response) -> dict | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _is_record_refusal(response: requests.Response) -> bool:
    body = _json_object(response)
    return response.status_code in RECORD_REFUSALS and body is not None and "error" in body


def _unexpected(response: requests.Response) -> TransientError:
    return TransientError(f"unexpected answer {_reason(response)} (is central.url the samplepoint "
                          f"API? a proxy or login page may be in the way)")


def _reason(response: requests.Response) -> str:
    try:
        body = response.json()
        text = f"{body.get('field', '')}: {body.get('message', '')}".strip(": ")
    except (ValueError, AttributeError):
        text = response.text[:200]
    return f"HTTP {response.status_code} {text}".strip()


class CentralClient:
    def __init__(self, base_url: str, token: str, *, timeout: float = 10.0, ca_bundle: str = "",
                 clock: Clock | None = None, allow_insecure_http: bool = False):
        self.base_url = base_url.rstrip("/")
        # The device clock whose offset from the server's is measured on every answer.
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        # (offset s, monotonic when measured, device wall clock minus monotonic then)
        self._offset: tuple[float, float, float] | None = None
        self.timeout = timeout
        # Verified TLS (or loopback), no redirects; shared with the heartbeat.
        self.session = transport.SecureSession(transport.CENTRAL, self.base_url,
                                               allow_insecure=allow_insecure_http, ca_bundle=ca_bundle)
        self.refused = self.session.refused     # why nothing will be sent, or None
        self.session.headers.update({"Authorization": f"Bearer {token}",
                                     "Content-Type": "application/json",
                                     "User-Agent": "samplepoint-forwarder/1"})

    def _post(self, path: str, body: str, headers: dict | None = None) -> requests.Response:
        sent = self.clock()
        try:
            response = self.session.post(self.base_url + path, data=body.encode("utf-8"),
                                         headers=headers, timeout=self.timeout)
        except transport.InsecureTransport as exc:
            raise TransientError(f"not sent: {exc}") from None
        except requests.RequestException as exc:
            raise TransientError(f"network: {type(exc).__name__}") from exc
        self._measure(sent, self.clock(), response)    # every answer, even an error, tells the time
        if response.status_code in RETRY_STATUSES:
            raise TransientError(_reason(response), parse_retry_after(response.headers.get("Retry-After")))
        if response.is_redirect:
            # Never followed: the token, the records and the trust of the answer stay with central.url.
            raise TransientError(f"central redirected (HTTP {response.status_code}) and redirects are "
                                 f"not followed; set central.url to the final https:// address")
        if response.status_code in (401, 403):
            # The device's credentials are wrong, not the record: keep everything queued.
            raise TransientError(f"{_reason(response)} (device token rejected: {wire.rekey_advice()})")
        return response

    def recent_offset(self) -> float | None:
        """Seconds from the device clock to the server's, measured on the latest answer; None if
        there was none within OFFSET_MAX_AGE_S (an older one may predate an NTP clock step)."""
        if self._offset is None or time.monotonic() - self._offset[1] > OFFSET_MAX_AGE_S:
            return None
        if abs(self._wall_minus_monotonic() - self._offset[2]) > CLOCK_STEP_S:
            return None       # the device clock was stepped (NTP) since: the offset is stale
        return self._offset[0]

    def _wall_minus_monotonic(self) -> float:
        return self.clock().timestamp() - time.monotonic()

    def _measure(self, sent: datetime, received: datetime, response: requests.Response) -> None:
        server_time = _server_time(response)
        if server_time is not None:
            self._offset = (offset_from_exchange(sent, received, server_time), time.monotonic(),
                            self._wall_minus_monotonic())

    def send(self, items: list[OutboxItem], headers: dict | None = None) -> list[Outcome]:
        """Deliver items; `headers` (the clock evidence) go with every request."""
        if len(items) == 1:
            return [self._send_one(items[0], headers)]
        body = '{"records":[' + ",".join(item.body for item in items) + "]}"
        response = self._post("/api/v1/samples/batch", body, headers)
        if _is_record_refusal(response):
            # The batch as a whole was refused (too large, say): send one by one so that only
            # a bad record is quarantined.
            return [self._send_one(item, headers) for item in items]
        results = (_json_object(response) or {}).get("results") if response.status_code == 200 else None
        if not (isinstance(results, list) and len(results) == len(items)
                and all(isinstance(r, dict) and r.get("record_id") == item.record_id
                        for r, item in zip(results, items))):
            raise _unexpected(response)
        outcomes = []
        for item, result in zip(items, results):
            status = result.get("status")
            if status in ("created", "duplicate"):
                outcomes.append(Outcome(item.record_id, DELIVERED, status))
            else:
                detail = f"{result.get('field', '')}: {result.get('message', '')}".strip(": ")
                outcomes.append(Outcome(item.record_id, QUARANTINE, f"{status} {detail}".strip()))
        return outcomes

    def _send_one(self, item: OutboxItem, headers: dict | None = None) -> Outcome:
        response = self._post("/api/v1/samples", item.body,
                              {**(headers or {}), "Idempotency-Key": item.record_id})
        body = _json_object(response)
        if response.status_code in (200, 201) and body and body.get("record_id") == item.record_id:
            return Outcome(item.record_id, DELIVERED, "duplicate" if body.get("duplicate") else "created")
        if _is_record_refusal(response):
            return Outcome(item.record_id, QUARANTINE, _reason(response))
        raise _unexpected(response)
