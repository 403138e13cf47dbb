"""A person's result status — no result, valid until, expired — from their samples and results; pure.

Validity counts from the sampling time and lasts the hours configured for the sample's test type.
The sampling time is the corrected collection time when there is one, else the earlier of the
device's own time and the time the record reached the central server (CentralDB.person_samples
works it out), so a device clock stuck in the future never stretches a result's validity. A lab's
`invalid` result is no result. A pooled tube's result belongs to every person in it; when it is
positive they need an individual test.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

NO_RESULT, VALID, EXPIRED = "no-result", "valid", "expired"
USABLE = ("negative", "positive")


@dataclass(frozen=True)
class SampleResult:
    record_id: str
    test_type: str
    collected_at: datetime
    people: int
    result: str | None
    result_at: datetime | None


def _aware(text: str | None) -> datetime | None:
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def from_rows(rows) -> list[SampleResult]:
    """Rows of CentralDB.person_samples() as SampleResults."""
    return [SampleResult(r["record_id"], r["test_type"], _aware(r["collected_at"]), r["people"],
                         r["result"], _aware(r["result_at"])) for r in rows]


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds") if moment else None


def person_status(samples: list[SampleResult], validity_hours: dict[str, float], now: datetime) -> dict:
    """The status answer of GET /api/v1/persons/status."""
    latest: dict[str, SampleResult] = {}     # per sample: its latest usable result
    for item in samples:
        if item.result in USABLE:
            known = latest.get(item.record_id)
            if known is None or item.result_at > known.result_at:
                latest[item.record_id] = item
    awaiting = any(s.result is None for s in samples)
    if not latest:
        return {"state": NO_RESULT, "valid_until": None, "collected_at": None, "test_type": None,
                "result": None, "result_at": None, "pooled": False, "needs_individual_test": False,
                "awaiting_result": awaiting}
    chosen = max(latest.values(), key=lambda s: s.collected_at)
    until = chosen.collected_at + timedelta(hours=validity_hours.get(chosen.test_type, 72.0))
    pooled = chosen.people > 1
    return {
        "state": VALID if now < until else EXPIRED,
        "valid_until": _iso(until),
        "collected_at": _iso(chosen.collected_at),
        "test_type": chosen.test_type,
        "result": chosen.result,
        "result_at": _iso(chosen.result_at),
        "pooled": pooled,
        "needs_individual_test": pooled and chosen.result == "positive",
        "awaiting_result": any(s.result is None and s.collected_at > chosen.collected_at
                               for s in samples),
    }
