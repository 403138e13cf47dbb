"""The staff workflow at the table as a pure state machine: events in, effects out, the clock passed in.

Staff sign in (badge or PIN); a tube code opens a tube of `pool_size` (site default, changeable per
tube); each personal code adds a person until the pool is full, which closes it. Staff may undo the
last person, close early, or cancel with a reason (the tube is kept and forwarded as cancelled). A
tube open too long prompts once. Check mode (switched by the display's button or a signed check
badge) turns personal codes into result-status checks and refuses tubes until it is switched off. The machine never touches the store: the kiosk applies each data
effect (commit) before the Feedback effect that follows it, so a beep always confirms something
already durable.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Callable

from kiosk import messages as msg
from kiosk.codes import PersonScan, Refused, StaffBadge, Tube
from kiosk.staff import check_pin, needs_reissue
from samplepoint import wire

# Feedback kinds (the display and the buzzer/LEDs map each to a pattern).
ACCEPTED, REFUSED, DUPLICATE, WARNING, ERROR = "accepted", "refused", "duplicate", "warning", "error"
TUBE_OPENED, TUBE_CLOSED, TUBE_CANCELLED, UNDONE = "tube-opened", "tube-closed", "tube-cancelled", "undone"
SIGNED_IN, SIGNED_OUT, PROMPT, INFO = "signed-in", "signed-out", "prompt", "info"
CHECK_ON, CHECK_OFF = "check-mode-on", "check-mode-off"
PIN_LOCK_AFTER, PIN_LOCK_FOR = 5, timedelta(minutes=1)
_CONTROL = wire.CONTROL_CHARS


# --- events (what happened) -----------------------------------------------------------------

@dataclass(frozen=True)
class Scanned:
    scan: Tube | PersonScan | StaffBadge | Refused
    now: datetime
    tube_already_used: bool = False      # looked up in the store by the kiosk before the event
    other_tube: str | None = None        # tube code holding this person within the warning window


@dataclass(frozen=True)
class PinEntered:
    staff_id: str
    pin: str
    now: datetime


@dataclass(frozen=True)
class SignOut:
    now: datetime
    revoked: bool = False        # the signed-in badge was revoked on central (kiosk.pipeline)


@dataclass(frozen=True)
class SetPoolSize:
    size: int
    now: datetime


@dataclass(frozen=True)
class UndoLast:
    now: datetime


@dataclass(frozen=True)
class CancelRequested:
    reason: str
    now: datetime


@dataclass(frozen=True)
class CloseRequested:
    now: datetime


@dataclass(frozen=True)
class Tick:
    now: datetime


@dataclass(frozen=True)
class SetCheckMode:
    on: bool
    now: datetime


Event = (Scanned | PinEntered | SignOut | SetPoolSize | UndoLast | CancelRequested | CloseRequested
         | Tick | SetCheckMode)


# --- effects (what the kiosk must do, in order) -----------------------------------------------

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
class RemoveLastPerson:
    sample_id: str


@dataclass(frozen=True)
class ResizeTube:
    sample_id: str
    pool_size: int


@dataclass(frozen=True)
class CloseTube:
    sample_id: str
    now: datetime
    cancel_reason: str | None = None


@dataclass(frozen=True)
class Feedback:
    kind: str
    message: str
    detail: str = ""


@dataclass(frozen=True)
class CheckStatus:
    """Ask the central server for this person's result status and show it (check mode only)."""
    scan: PersonScan
    staff_signed_in: bool


Effect = OpenTube | AddPerson | RemoveLastPerson | ResizeTube | CloseTube | Feedback | CheckStatus


# --- state ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class TubeState:
    sample_id: str
    tube_code: str
    pool_size: int
    person_keys: tuple[str, ...] = ()
    opened_at: datetime | None = None
    prompted: bool = False

    @property
    def full(self) -> bool:
        return len(self.person_keys) >= self.pool_size

    @property
    def count(self) -> str:
        return f"{len(self.person_keys)}/{self.pool_size}"


@dataclass(frozen=True)
class State:
    tube: TubeState | None = None
    staff_id: str | None = None
    staff_name: str = ""
    staff_badge: str | None = None       # the badge that signed in (SP2 badges), for revocation
    next_pool_size: int | None = None    # chosen for the next tube only
    pin_failures: int = 0
    pin_locked_until: datetime | None = None
    check_mode: bool = False             # personal codes are checked, not sampled


@dataclass(frozen=True)
class Settings:
    pool_size: int
    test_type: str
    require_sign_in: bool = False
    default_staff: str = "unassigned"
    pins: dict = field(default_factory=dict, compare=False)     # staff_id → argon2id hash
    open_prompt: timedelta = timedelta(minutes=15)
    new_id: Callable[[], str] = field(default=wire.new_record_id, compare=False)


def handle(state: State, event: Event, settings: Settings) -> tuple[State, list[Effect]]:
    """Apply one event; return the new state and the effects to carry out in order."""
    handler = _HANDLERS[type(event)]
    return handler(state, event, settings)


def _scanned(state: State, event: Scanned, settings: Settings):
    scan = event.scan
    if isinstance(scan, Refused):
        return state, [Feedback(REFUSED, scan.message, scan.reason)]
    if isinstance(scan, StaffBadge):
        state, effects = _sign_in(state, scan.staff_id, scan.name, scan.badge_id)
        if scan.check:               # a check badge signs in and switches check mode over
            state, switched = _set_check(state, not state.check_mode)
            effects += switched
        return state, effects
    if state.check_mode:
        if isinstance(scan, Tube):
            return state, [Feedback(REFUSED, msg.TUBE_IN_CHECK, "check-mode")]
        return state, [CheckStatus(scan, state.staff_id is not None)]
    if settings.require_sign_in and state.staff_id is None:
        return state, [Feedback(REFUSED, msg.SIGN_IN_FIRST, "not-signed-in")]
    if isinstance(scan, Tube):
        return _open(state, scan, event, settings)
    return _add_person(state, scan, event)


def _sign_in(state: State, staff_id: str, name: str, badge: str | None = None):
    state = replace(state, staff_id=staff_id, staff_name=name, staff_badge=badge, pin_failures=0,
                    pin_locked_until=None)
    return state, [Feedback(SIGNED_IN, msg.SIGNED_IN.format(name=name or staff_id), staff_id)]


def _pin(state: State, event: PinEntered, settings: Settings):
    if state.pin_locked_until is not None and event.now < state.pin_locked_until:
        return state, [Feedback(REFUSED, msg.PIN_LOCKED, "pin-locked")]
    if check_pin(settings.pins, event.staff_id, event.pin):
        return _sign_in(state, event.staff_id, "")
    failures = state.pin_failures + 1
    locked = event.now + PIN_LOCK_FOR if failures >= PIN_LOCK_AFTER else None
    state = replace(state, pin_failures=0 if locked else failures, pin_locked_until=locked)
    if needs_reissue(settings.pins, event.staff_id):      # an old PBKDF2 entry signs nobody in
        return state, [Feedback(REFUSED, msg.PIN_REISSUE, "pin-reissue")]
    return state, [Feedback(REFUSED, msg.PIN_WRONG, "pin-wrong")]


def _sign_out(state: State, event: SignOut, settings: Settings):
    if state.staff_id is None:
        return state, []
    staff = state.staff_id
    said = msg.SIGNED_OUT_REVOKED if event.revoked else msg.SIGNED_OUT
    return replace(state, staff_id=None, staff_name="", staff_badge=None), [Feedback(SIGNED_OUT, said, staff)]


def _open(state: State, scan: Tube, event: Scanned, settings: Settings):
    if state.tube is not None:
        if state.tube.tube_code == scan.code:
            return state, [Feedback(INFO, msg.TUBE_ALREADY_OPEN.format(count=state.tube.count),
                                    "same-tube")]
        return state, [Feedback(REFUSED, msg.TUBE_OPEN, "tube-open")]
    if event.tube_already_used:
        return state, [Feedback(REFUSED, msg.TUBE_USED, "tube-used")]
    size = state.next_pool_size or settings.pool_size
    staff = state.staff_id or settings.default_staff
    tube = TubeState(settings.new_id(), scan.code, size, opened_at=event.now)
    return replace(state, tube=tube, next_pool_size=None), [
        OpenTube(tube.sample_id, scan.code, size, settings.test_type, staff, event.now),
        Feedback(TUBE_OPENED, msg.TUBE_OPENED.format(code=scan.code, count=tube.count), tube.sample_id)]


def _add_person(state: State, scan: PersonScan, event: Scanned):
    tube = state.tube
    if tube is None:
        return state, [Feedback(REFUSED, msg.SCAN_TUBE_FIRST, "no-tube")]
    if scan.key in tube.person_keys:
        return state, [Feedback(DUPLICATE, msg.DUPLICATE.format(name=scan.person.full_name),
                                "duplicate")]
    tube = replace(tube, person_keys=tube.person_keys + (scan.key,))
    effects: list[Effect] = [AddPerson(tube.sample_id, scan.key, scan.person, event.now)]
    if event.other_tube:
        effects.append(Feedback(WARNING, msg.OTHER_TUBE.format(name=scan.person.full_name,
                                                               tube=event.other_tube,
                                                               count=tube.count), "other-tube"))
    else:
        effects.append(Feedback(ACCEPTED, f"{scan.person.full_name} ({tube.count})", tube.count))
    state = replace(state, tube=tube)
    if tube.full:
        state, closing = _finish(state, event.now, None)
        effects += closing
    return state, effects


def _undo(state: State, event: UndoLast, settings: Settings):
    tube = state.tube
    if tube is None or not tube.person_keys:
        return state, [Feedback(REFUSED, msg.NOTHING_TO_UNDO, "nothing-to-undo")]
    tube = replace(tube, person_keys=tube.person_keys[:-1])
    return replace(state, tube=tube), [
        RemoveLastPerson(tube.sample_id),
        Feedback(UNDONE, msg.UNDONE.format(count=tube.count), tube.count)]


def _pool_size(state: State, event: SetPoolSize, settings: Settings):
    size = event.size
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= wire.MAX_PERSONS:
        return state, [Feedback(REFUSED, msg.BAD_POOL_SIZE, "bad-pool-size")]
    tube = state.tube
    if tube is None:
        return replace(state, next_pool_size=size), [
            Feedback(INFO, msg.NEXT_POOL_SIZE.format(size=size), f"next-pool-{size}")]
    if size < len(tube.person_keys):
        return state, [Feedback(REFUSED, msg.POOL_TOO_SMALL.format(count=tube.count), "pool-too-small")]
    tube = replace(tube, pool_size=size)
    state = replace(state, tube=tube)
    effects: list[Effect] = [ResizeTube(tube.sample_id, size),
                             Feedback(INFO, msg.POOL_SIZE.format(count=tube.count), f"pool-{size}")]
    if tube.full:
        state, closing = _finish(state, event.now, None)
        effects += closing
    return state, effects


def _cancel(state: State, event: CancelRequested, settings: Settings):
    reason = " ".join(event.reason.split()) if isinstance(event.reason, str) else ""
    if state.tube is None:
        return state, [Feedback(REFUSED, msg.NO_TUBE_OPEN, "no-tube")]
    if not reason or len(reason) > 200 or _CONTROL.search(reason):
        return state, [Feedback(REFUSED, msg.CANCEL_NEEDS_REASON, "bad-cancel-reason")]
    return _finish(state, event.now, reason)


def _close(state: State, event: CloseRequested, settings: Settings):
    tube = state.tube
    if tube is None:
        return state, [Feedback(REFUSED, msg.NO_TUBE_OPEN, "no-tube")]
    if not tube.person_keys:
        return state, [Feedback(REFUSED, msg.CLOSE_EMPTY, "empty-tube")]
    return _finish(state, event.now, None)


def _finish(state: State, now: datetime, cancel_reason: str | None):
    tube = state.tube
    if cancel_reason is not None:
        feedback = Feedback(TUBE_CANCELLED, msg.TUBE_CANCELLED.format(code=tube.tube_code), tube.sample_id)
    else:
        feedback = Feedback(TUBE_CLOSED, msg.TUBE_CLOSED.format(code=tube.tube_code,
                                                               people=len(tube.person_keys)),
                            "full" if tube.full else "closed-early")
    return replace(state, tube=None), [CloseTube(tube.sample_id, now, cancel_reason), feedback]


def _tick(state: State, event: Tick, settings: Settings):
    tube = state.tube
    if tube is None or tube.prompted or tube.opened_at is None:
        return state, []
    if event.now - tube.opened_at < settings.open_prompt:
        return state, []
    minutes = int((event.now - tube.opened_at).total_seconds() // 60)
    return replace(state, tube=replace(tube, prompted=True)), [
        Feedback(PROMPT, msg.OPEN_TOO_LONG.format(code=tube.tube_code, minutes=minutes,
                                                  count=tube.count), "open-too-long")]


def _check_mode(state: State, event: SetCheckMode, settings: Settings):
    if not isinstance(event.on, bool):
        return state, [Feedback(REFUSED, msg.BAD_REQUEST, "bad-check-mode")]
    if event.on == state.check_mode:
        return state, []
    return _set_check(state, event.on)


def _set_check(state: State, on: bool):
    if on and state.tube is not None:
        # An open tube would sit unnoticed while staff check results: close or cancel it first.
        return state, [Feedback(REFUSED, msg.CHECK_NEEDS_NO_TUBE.format(code=state.tube.tube_code),
                                "check-tube-open")]
    if on:
        return replace(state, check_mode=True), [Feedback(CHECK_ON, msg.CHECK_ON, CHECK_ON)]
    return replace(state, check_mode=False), [Feedback(CHECK_OFF, msg.CHECK_OFF, CHECK_OFF)]


_HANDLERS = {Scanned: _scanned, PinEntered: _pin, SignOut: _sign_out, SetPoolSize: _pool_size,
             UndoLast: _undo, CancelRequested: _cancel, CloseRequested: _close, Tick: _tick,
             SetCheckMode: _check_mode}


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
