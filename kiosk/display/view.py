"""Pure pieces of the display's state: what a feedback signal, the open tube and the outbox look like on screen.

No I/O and no clock reads: the hub passes in what it read and the time. Everything here becomes the
JSON pushed to the page, which renders it as text only.
"""
from __future__ import annotations

import re
from datetime import datetime

from kiosk import check, workflow
from samplepoint import wire

ONLINE, SENDING, OFFLINE = "online", "sending", "offline"
TUBE_FULL = "tube-full"
_FILLED = re.compile(r"^(\d+)/(\d+)$")


mask_id = check.masked_id        # only the last four characters of an ID number reach the screen


def birth_year(person: wire.Person) -> str:
    dob = person.date_of_birth or ""
    return dob[:4] if re.fullmatch(r"\d{4}-\d{2}-\d{2}", dob) else ""


def person_view(person: wire.Person) -> dict:
    """What the screen may show of a person: name, birth year, masked ID; never the phone."""
    return {"name": person.full_name, "birth_year": birth_year(person),
            "masked_id": mask_id(person.id_number)}


# Kinds the workflow signals besides those above (strings, so this module works with any build).
WARNING, UNDONE, TUBE_CANCELLED = "warning", "undone", "tube-cancelled"
NOTICE_KINDS = ("signed-in", "signed-out", "prompt", "info", "error", "check-mode-on",
                "check-mode-off")
CHECK_KINDS = tuple(check.COLOURS)
CLOCK_UNSYNCHRONISED, CLOCK_SYNCHRONISED = "clock-unsynchronised", "clock-synchronised"
CLOCK_KINDS = (CLOCK_UNSYNCHRONISED, CLOCK_SYNCHRONISED)
# Details of an ERROR signal that mean the database cannot be written (kiosk.pipeline), and the
# signals that only follow a successful commit.
STORE_FAULTS = ("store-readonly", "store-full", "store-error")
COMMITTED_KINDS = (workflow.ACCEPTED, WARNING, workflow.TUBE_OPENED, workflow.TUBE_CLOSED, UNDONE,
                   TUBE_CANCELLED)


def last_scan(kind: str, message: str, detail: str, at: datetime, seq: int,
              person: wire.Person | None = None, previous: dict | None = None) -> dict | None:
    """The 'last scan' panel after one feedback signal, or None when the signal is not about a scan.

    A tube closing right after the person who filled it turns that person's panel into 'tube full',
    so staff see both the name and that the next scan must be a new tube.
    """
    base = {"seq": seq, "at": at.isoformat(timespec="seconds"), "message": message,
            "detail": "", "person": None}
    if kind in (workflow.ACCEPTED, WARNING):
        # A warning still added the person (e.g. sampled in another tube moments ago).
        return {**base, "kind": kind, "detail": detail,
                "person": person_view(person) if person else None}
    if kind == workflow.REFUSED:
        return {**base, "kind": kind, "detail": detail}
    if kind in CHECK_KINDS:
        # Check mode: the state in large type and whose result it is; the facts (valid-until,
        # result) worded by the page.
        facts = check.parse_detail(detail)
        who = {"name": facts.pop("name", ""), "birth_year": facts.pop("born", ""),
               "masked_id": facts.pop("masked", "")}
        return {**base, "kind": kind, "check": facts, "person": who if who["name"] else None}
    if kind in (UNDONE, TUBE_CANCELLED):
        # The staff's own correction replaces the panel, so it never shows a person no longer there.
        return {**base, "kind": kind}
    if kind == workflow.DUPLICATE:
        # Older workflows put the name in `detail`; newer ones in the message itself.
        named = detail not in ("", "duplicate")
        return {**base, "kind": kind,
                "person": {"name": detail, "birth_year": "", "masked_id": ""} if named else None}
    if kind == workflow.TUBE_CLOSED and previous and previous.get("kind") in (workflow.ACCEPTED,
                                                                              WARNING):
        filled = _FILLED.match(str(previous.get("detail", "")))
        if detail == "full" or (filled and filled.group(1) == filled.group(2)):
            return {**previous, "seq": seq, "kind": TUBE_FULL, "message": message}
    return None


def notice(kind: str, message: str, at: datetime, seq: int) -> dict | None:
    """A one-line notice for signals that are not scans (signed in/out, undone, cancelled, prompts)."""
    if kind not in NOTICE_KINDS:
        return None
    return {"seq": seq, "kind": kind, "message": message, "at": at.isoformat(timespec="seconds")}


def tube_view(tube) -> dict | None:
    """The open tube (store.OpenTube or None): code, test type, slots filled and empty, names."""
    if tube is None:
        return None
    return {"tube_code": tube.tube_code, "test_type": tube.test_type, "pool_size": tube.pool_size,
            "filled": len(tube.persons), "empty": max(0, tube.pool_size - len(tube.persons)),
            "persons": [person_view(p) for _, p in tube.persons]}


def link_view(counts: dict[str, int], oldest_pending: datetime | None,
              last_delivery: datetime | None, now: datetime, offline_after_s: float) -> dict:
    """Online when nothing waits, sending while records are young, offline once one waited too long."""
    age = (now - oldest_pending).total_seconds() if oldest_pending else None
    if not counts.get("pending"):
        state = ONLINE
    elif age is not None and age > offline_after_s:
        state = OFFLINE
    else:
        state = SENDING
    return {"state": state, "pending": counts.get("pending", 0),
            "quarantined": counts.get("quarantined", 0),
            "oldest_pending_age_s": round(age) if age is not None else None,
            "last_delivery": last_delivery.isoformat(timespec="seconds") if last_delivery else None,
            "last_delivery_age_s": round((now - last_delivery).total_seconds())
            if last_delivery else None}


def local_midnight(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)
