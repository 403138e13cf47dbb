"""The one result rule: what a tube's lab results say together, and which of a person's tubes counts; pure.

Every consumer (status API and check mode, console, exports, needs-retest, FHIR) calls these
functions on the results that belong to a sample; no SQL and no other module picks a "latest"
result on its own. The rule, as docs/results-and-retention.md tabulates it:

- Each lab's word on a tube is its result(s) at its own latest result time: a later result from
  the same lab corrects that lab's earlier ones. A lab never corrects another lab.
- The tube's verdict combines every lab's word: all negative → negative; all positive (an
  invalid beside them changes nothing) → positive; only invalid → invalid (no result); a
  negative beside anything else (a positive, an invalid, from another lab or the same lab at the
  same time) → conflict, which needs a new test and is never shown as negative.
- A person's status comes from their latest sample whose verdict is usable (negative, positive
  or conflict); samples sampled at the same moment combine like labs do.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable

NEGATIVE, POSITIVE, INVALID, CONFLICT = "negative", "positive", "invalid", "conflict"
USABLE = (NEGATIVE, POSITIVE, CONFLICT)      # a verdict a person's status can rest on


@dataclass(frozen=True)
class Reading:
    """One lab's result for a tube, as stored (a refused same-key disagreement too)."""
    lab_id: str
    result_at: datetime          # aware
    result: str                  # negative | positive | invalid

    @classmethod
    def stored(cls, lab_id: str, result_at: str, result: str) -> Reading:
        """A reading from the database's text (ISO 8601; naive means UTC)."""
        moment = datetime.fromisoformat(result_at)
        return cls(lab_id, moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc), result)


@dataclass(frozen=True)
class Verdict:
    outcome: str | None          # None: no result yet; else NEGATIVE, POSITIVE, INVALID or CONFLICT
    at: datetime | None          # the latest result time that counts
    counted: frozenset[Reading] = frozenset()    # the readings the outcome rests on

    @property
    def usable(self) -> bool:
        return self.outcome in USABLE


NO_VERDICT = Verdict(None, None)


def utc_text(moment: datetime | None) -> str | None:
    """A verdict's time as the database writes times (UTC, milliseconds)."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds") if moment else None


def listed(readings: Iterable[Reading], verdict: Verdict) -> list[dict]:
    """A sample's results for a person to read, oldest first, each saying whether the verdict
    counts it (a result another from the same lab corrected does not)."""
    return [{"lab_id": r.lab_id, "result_at": utc_text(r.result_at), "result": r.result,
             "counted": r in verdict.counted}
            for r in sorted(set(readings), key=lambda r: (r.result_at, r.lab_id, r.result))]


def combine(outcomes: Iterable[str]) -> str | None:
    """Outcomes that stand side by side (labs, ties, samples of one moment) as one."""
    seen = set(outcomes)
    if not seen:
        return None
    if NEGATIVE in seen and len(seen) > 1 or CONFLICT in seen:
        return CONFLICT
    if POSITIVE in seen:
        return POSITIVE
    return seen.pop()            # only negatives, or only invalids


def tube_verdict(readings: Iterable[Reading]) -> Verdict:
    """The verdict of one sample from every result that belongs to it."""
    latest: dict[str, datetime] = {}
    readings = list(readings)
    for item in readings:
        if item.lab_id not in latest or item.result_at > latest[item.lab_id]:
            latest[item.lab_id] = item.result_at
    counted = frozenset(r for r in readings if r.result_at == latest[r.lab_id])
    if not counted:
        return NO_VERDICT
    return Verdict(combine(r.result for r in counted), max(r.result_at for r in counted), counted)


def latest_usable(verdicts: dict[str, tuple[datetime, Verdict]]) -> tuple[list[str], Verdict]:
    """Of a person's samples (record id → (sampling time, verdict)), the latest with a usable
    verdict: its record id(s) (several when sampled at the same moment) and their combined verdict."""
    usable = {k: v for k, v in verdicts.items() if v[1].usable}
    if not usable:
        return [], NO_VERDICT
    newest = max(sampled for sampled, _ in usable.values())
    chosen = sorted(k for k, (sampled, _) in usable.items() if sampled == newest)
    parts = [usable[k][1] for k in chosen]
    return chosen, Verdict(combine(p.outcome for p in parts), max(p.at for p in parts),
                           frozenset().union(*(p.counted for p in parts)))


def needs_individual_test(verdict: Verdict, pooled: bool) -> bool:
    """A positive pool's people, and anyone whose results conflict, need a new individual test."""
    return verdict.outcome == CONFLICT or pooled and verdict.outcome == POSITIVE
