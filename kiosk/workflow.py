"""The tube-first staff workflow as a pure state machine: events in, effects out, the clock passed in.

A tube code opens a tube; each personal code adds a person until the pool is full, which closes it.
The machine never touches the store: the kiosk applies each data effect (commit) before the
Feedback effect that follows it, so a beep always confirms something already durable.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Callable

from kiosk.codes import PersonScan, Refused, Tube
from samplepoint import wire

# Feedback kinds (the display and the buzzer/LEDs map each to a pattern).
ACCEPTED, REFUSED, DUPLICATE, TUBE_OPENED, TUBE_CLOSED, ERROR = (
    "accepted", "refused", "duplicate", "tube-opened", "tube-closed", "error")

MSG_SCAN_TUBE_FIRST = "Chưa có ống mẫu — đề nghị quét mã ống mẫu trước"
MSG_DUPLICATE = "Người này đã có trong ống mẫu"
MSG_TUBE_USED = "Mã ống mẫu đã được dùng — đề nghị dùng ống mới"
MSG_TUBE_OPEN = "Đang mở ống khác — đóng ống hiện tại trước khi quét ống mới"


# --- events ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scanned:
    scan: Tube | PersonScan | Refused
    now: datetime
    tube_already_used: bool = False      # looked up by the kiosk before the event


@dataclass(frozen=True)
class CloseRequested:
    now: datetime


# --- effects --------------------------------------------------------------------------------

@dataclass(frozen=True)
class OpenTube:
    sample_id: str
    tube_code: str
    pool_size: int
    test_type: str
    staff_id: str
    now: datetime


@dataclass(frozen=True)
class AddPerson:
    sample_id: str
    key: str
    person: wire.Person
    now: datetime


@dataclass(frozen=True)
class CloseTube:
    sample_id: str
    now: datetime


@dataclass(frozen=True)
class Feedback:
    kind: str
    message: str
    detail: str = ""


Effect = OpenTube | AddPerson | CloseTube | Feedback


# --- state ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class TubeState:
    sample_id: str
    tube_code: str
    pool_size: int
    person_keys: tuple[str, ...] = ()

    @property
    def full(self) -> bool:
        return len(self.person_keys) >= self.pool_size


@dataclass(frozen=True)
class State:
    tube: TubeState | None = None
    staff_id: str = "unassigned"


@dataclass(frozen=True)
class Settings:
    pool_size: int
    test_type: str
    new_id: Callable[[], str] = field(default=wire.new_record_id, compare=False)


def handle(state: State, event, settings: Settings) -> tuple[State, list[Effect]]:
    """Apply one event; return the new state and the effects to carry out in order."""
    if isinstance(event, CloseRequested):
        return _close(state, event.now)
    scan = event.scan
    if isinstance(scan, Refused):
        return state, [Feedback(REFUSED, scan.message, scan.reason)]
    if isinstance(scan, Tube):
        return _open(state, scan, event, settings)
    return _add_person(state, scan, event.now)


def _open(state: State, scan: Tube, event: Scanned, settings: Settings):
    if state.tube is not None:
        if state.tube.tube_code == scan.code:
            return state, []
        return state, [Feedback(REFUSED, MSG_TUBE_OPEN, "tube-open")]
    if event.tube_already_used:
        return state, [Feedback(REFUSED, MSG_TUBE_USED, "tube-used")]
    tube = TubeState(settings.new_id(), scan.code, settings.pool_size)
    return replace(state, tube=tube), [
        OpenTube(tube.sample_id, scan.code, settings.pool_size, settings.test_type, state.staff_id,
                 event.now),
        Feedback(TUBE_OPENED, f"Ống {scan.code}: 0/{settings.pool_size}")]


def _add_person(state: State, scan: PersonScan, now: datetime):
    tube = state.tube
    if tube is None:
        return state, [Feedback(REFUSED, MSG_SCAN_TUBE_FIRST, "no-tube")]
    if scan.key in tube.person_keys:
        return state, [Feedback(DUPLICATE, MSG_DUPLICATE, scan.person.full_name)]
    tube = replace(tube, person_keys=tube.person_keys + (scan.key,))
    effects: list[Effect] = [
        AddPerson(tube.sample_id, scan.key, scan.person, now),
        Feedback(ACCEPTED, scan.person.full_name, f"{len(tube.person_keys)}/{tube.pool_size}")]
    state = replace(state, tube=tube)
    if tube.full:
        state, closing = _close(state, now)
        effects += closing
    return state, effects


def _close(state: State, now: datetime):
    tube = state.tube
    if tube is None:
        return state, []
    if not tube.person_keys:
        return state, [Feedback(REFUSED, "Ống chưa có người nào — quét mã QR cá nhân trước khi đóng",
                                "empty-tube")]
    return replace(state, tube=None), [
        CloseTube(tube.sample_id, now),
        Feedback(TUBE_CLOSED, f"Đã đóng ống {tube.tube_code}: {len(tube.person_keys)} người")]


class Debouncer:
    """A code held in view counts once; it counts again only after `gap` frames without it."""

    def __init__(self, gap: int):
        self.gap = gap
        self._last_seen: dict[bytes, int] = {}
        self._frame = 0

    def new_codes(self, codes: list[bytes]) -> list[bytes]:
        self._frame += 1
        fresh = [c for c in dict.fromkeys(codes)
                 if self._frame - self._last_seen.get(c, -10**9) > self.gap]
        for code in codes:
            self._last_seen[code] = self._frame
        if len(self._last_seen) > 1000:    # forget codes long gone so memory stays bounded
            self._last_seen = {c: f for c, f in self._last_seen.items() if self._frame - f <= self.gap}
        return fresh
