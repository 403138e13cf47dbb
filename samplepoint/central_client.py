"""The device's client for the central system's forwarding API (protocol v1, docs/protocol.md).

The one place that knows the central API; an adapter for another central system implements the
same `send()` contract: return one Outcome per item, or raise TransientError to retry them all later.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from datetime import datetime, timezone

import requests

from samplepoint.store import OutboxItem

RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}
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
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def _reason(response: requests.Response) -> str:
    try:
        body = response.json()
        text = f"{body.get('field', '')}: {body.get('message', '')}".strip(": ")
    except (ValueError, AttributeError):
        text = response.text[:200]
    return f"HTTP {response.status_code} {text}".strip()


class CentralClient:
    def __init__(self, base_url: str, token: str, *, timeout: float = 10.0, ca_bundle: str = ""):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        # Passed per request: requests lets REQUESTS_CA_BUNDLE override a session-level verify.
        self.verify = ca_bundle or True
        self.session.headers.update({"Authorization": f"Bearer {token}",
                                     "Content-Type": "application/json",
                                     "User-Agent": "samplepoint-forwarder/1"})

    def _post(self, path: str, body: str, headers: dict | None = None) -> requests.Response:
        try:
            response = self.session.post(self.base_url + path, data=body.encode("utf-8"),
                                         headers=headers, timeout=self.timeout, verify=self.verify)
        except requests.RequestException as exc:
            raise TransientError(f"network: {type(exc).__name__}") from exc
        if response.status_code in RETRY_STATUSES:
            raise TransientError(_reason(response), parse_retry_after(response.headers.get("Retry-After")))
        if response.status_code in (401, 403):
            # The device's credentials are wrong, not the record: keep everything queued.
            raise TransientError(f"{_reason(response)} (device token rejected: re-enrol the device)")
        return response

    def send(self, items: list[OutboxItem]) -> list[Outcome]:
        if len(items) == 1:
            return [self._send_one(items[0])]
        body = '{"records":[' + ",".join(item.body for item in items) + "]}"
        response = self._post("/api/v1/samples/batch", body)
        if response.status_code != 200:
            # The batch as a whole was refused (too large, say): send one by one so that only
            # a bad record is quarantined.
            return [self._send_one(item) for item in items]
        try:
            results = response.json()["results"]
            if len(results) != len(items):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            raise TransientError("batch answer unreadable") from None
        outcomes = []
        for item, result in zip(items, results):
            status = result.get("status")
            if status in ("created", "duplicate"):
                outcomes.append(Outcome(item.record_id, DELIVERED, status))
            else:
                detail = f"{result.get('field', '')}: {result.get('message', '')}".strip(": ")
                outcomes.append(Outcome(item.record_id, QUARANTINE, f"{status} {detail}".strip()))
        return outcomes

    def _send_one(self, item: OutboxItem) -> Outcome:
        response = self._post("/api/v1/samples", item.body, {"Idempotency-Key": item.record_id})
        if response.status_code in (200, 201):
            try:
                duplicate = bool(json.loads(response.text or "{}").get("duplicate"))
            except (ValueError, AttributeError):
                duplicate = False
            return Outcome(item.record_id, DELIVERED, "duplicate" if duplicate else "created")
        return Outcome(item.record_id, QUARANTINE, _reason(response))
