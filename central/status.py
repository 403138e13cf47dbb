"""A person's result status — no result, valid until, expired, conflict — from their samples and results; pure.

Validity counts from the sampling time and lasts the hours configured for the sample's test type.
The sampling time is the corrected collection time when there is one, else the earlier of the
device's own time and the time the record reached the central server (CentralDB.person_samples
works it out), so a device clock stuck in the future never stretches a result's validity. What a
sample's results say, and which sample counts, is central.verdict's one rule: a lab's `invalid`
result is no result, disagreeing results are a conflict that needs a new test (state `conflict`,
never valid), and a positive pool's people need an individual test.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from central import verdict as rule

NO_RESULT, VALID, EXPIRED, CONFLICT = "no-result", "valid", "expired", "conflict"


@dataclass(frozen=True)
class SampleResult:
    """One row of CentralDB.person_samples(): a sample with one of its results (or none)."""
    record_id: str
    test_type: str
    collected_at: datetime
    people: int
    result: str | None
    result_at: datetime | None
    lab_id: str | None = None


def _aware(text: str | None) -> datetime | None:
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def from_rows(rows) -> list[SampleResult]:
    """Rows of CentralDB.person_samples() as SampleResults."""
    return [SampleResult(r["record_id"], r["test_type"], _aware(r["collected_at"]), r["people"],
                         r["result"], _aware(r["result_at"]), r["lab_id"]) for r in rows]


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds") if moment else None


def verdicts(samples: list[SampleResult]) -> dict[str, tuple[datetime, rule.Verdict]]:
    """Each sample's sampling time and the verdict of its results (central.verdict)."""
    readings: dict[str, list[rule.Reading]] = {}
    times: dict[str, datetime] = {}
    for item in samples:
        times[item.record_id] = item.collected_at
        found = readings.setdefault(item.record_id, [])
        if item.result is not None:
            found.append(rule.Reading(item.lab_id or "", item.result_at, item.result))
    return {key: (times[key], rule.tube_verdict(found)) for key, found in readings.items()}


def person_status(samples: list[SampleResult], validity_hours: dict[str, float], now: datetime) -> dict:
    """The status answer of GET /api/v1/persons/status (the console shows all of it)."""
    by_sample = verdicts(samples)
    chosen, verdict = rule.latest_usable(by_sample)
    newest = by_sample[chosen[0]][0] if chosen else None
    awaiting = any(v.outcome is None and (newest is None or sampled > newest)
                   for sampled, v in by_sample.values())
    if not chosen:
        return {"state": NO_RESULT, "valid_until": None, "collected_at": None, "test_type": None,
                "result": None, "result_at": None, "pooled": False, "needs_individual_test": False,
                "conflict": False, "awaiting_result": awaiting}
    first = {s.record_id: s for s in samples}
    picked = [first[key] for key in chosen]
    pooled = any(s.people > 1 for s in picked)
    until = min(s.collected_at + timedelta(hours=validity_hours.get(s.test_type, 72.0)) for s in picked)
    if verdict.outcome == rule.CONFLICT:
        state, until = CONFLICT, None
    else:
        state = VALID if now < until else EXPIRED
    return {
        "state": state,
        "valid_until": _iso(until),
        "collected_at": _iso(newest),
        "test_type": picked[0].test_type,
        "result": verdict.outcome,
        "result_at": _iso(verdict.at),
        "pooled": pooled,
        "needs_individual_test": rule.needs_individual_test(verdict, pooled),
        "conflict": verdict.outcome == rule.CONFLICT,
        "awaiting_result": awaiting,
    }


def retest_reason(samples: list[SampleResult], record_id: str) -> dict | None:
    """Why the person of `samples` needs a new individual test because of sample `record_id` (its
    sampling and result times, and `reason`: positive or conflict), or None when they do not:
    the sample is not the one their status rests on, or its verdict needs no new test."""
    by_sample = verdicts(samples)
    chosen, verdict = rule.latest_usable(by_sample)
    pooled = any(s.people > 1 for s in samples if s.record_id in chosen)
    if record_id not in chosen or not rule.needs_individual_test(verdict, pooled):
        return None
    return {"collected_at": _iso(by_sample[record_id][0]), "result_at": _iso(verdict.at),
            "reason": verdict.outcome}
