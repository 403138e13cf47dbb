"""Runs the kiosk: frames → decoder → debouncer → workflow → store, then feedback once committed.

`Kiosk.dispatch(event)` is the single entry point for workflow events: the camera loop, the GPIO
close button and the staff display all go through it (it serialises them with a lock). Each data
effect is committed to the store before the feedback that follows it leaves through the
`FeedbackSink`, so a beep never confirms something a power cut could take back.
"""
from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

from kiosk import codes, messages, workflow
from kiosk.check import CheckMode, for_person, unavailable
from kiosk.camera import FrameSource
from kiosk.decode import Decoder, Symbol
from kiosk.feedback import FeedbackSink, LogFeedback, make_feedback
from kiosk.staff import parse_pin_entries, reissue_ids
from samplepoint import signed_codes
from samplepoint.durable import write_atomic
from samplepoint.clock import Clock, ClockEvidence, iso, system_evidence
from samplepoint.config import Config
from samplepoint.site_credentials import CredentialSource
from samplepoint.store import FULL, READ_ONLY, Store, StoreError, classify, explain

log = logging.getLogger(__name__)
SIGNED_IN_FILE = "signed-in.json"   # which badge signed in (staff and badge ids only), for revocation
TICK_EVERY_FRAMES = 15        # open-too-long and queue checks, about once a second at 15 fps
CLOCK_EVERY_TICKS = 30        # clock synchronisation looked at again about every 30 s
CLOCK_UNSYNCHRONISED, CLOCK_SYNCHRONISED = "clock-unsynchronised", "clock-synchronised"


@dataclass
class RunSummary:
    frames: int = 0
    scans: int = 0
    people: int = 0
    tubes_closed: int = 0
    tubes_cancelled: int = 0
    refused: int = 0


def load_code_key(path: str) -> bytes | None:
    """The site key for signed codes, or None (signed codes are then refused with a clear reason)."""
    try:
        return signed_codes.load_key(path)
    except (OSError, ValueError) as exc:
        log.warning("no usable code key at %s (%s): staff badges and declaration codes will be "
                    "refused; write one with `samplepoint staff key`", path, exc)
        return None


def make_feedback_or_log(config: Config) -> FeedbackSink:
    """The configured feedback devices; without usable GPIO, log only (scanning must go on)."""
    try:
        return make_feedback(config)
    except Exception as exc:      # gpiozero raises several kinds when no pin factory works
        log.warning("feedback devices unavailable (%s); continuing with log-only feedback", exc)
        return LogFeedback()


def settings_from(config: Config) -> workflow.Settings:
    return workflow.Settings(
        pool_size=config.site.pool_size, test_type=config.site.test_type,
        require_sign_in=config.workflow.require_sign_in, default_staff=config.scan.default_staff,
        pins=parse_pin_entries(config.workflow.staff_pins),
        open_prompt=timedelta(minutes=config.workflow.open_prompt_min))


class Kiosk:
    def __init__(self, config: Config, store: Store, decoder: Decoder, feedback: FeedbackSink,
                 clock: Clock, code_key: bytes | None = None,
                 evidence: Callable[[], ClockEvidence] = system_evidence):
        self.config = config
        self.store = store
        self.decoder = decoder
        self.feedback = feedback
        self.clock = clock
        self.evidence = evidence             # clock trust recorded with each closed tube
        # Asks the central server in check mode (the mode itself is workflow state); None: cannot check.
        self.checker: CheckMode | None = None
        self.clock_warned = False
        # A key given here is used alone (tests, tools); otherwise the site credentials central sent
        # (re-read when the heartbeat refreshes them), else scan.code_key_file.
        self.code_key = code_key
        self.credentials = CredentialSource(config.device.data_dir, config.scan.code_key_file)
        self.settings = settings_from(config)
        self._config_pins = dict(self.settings.pins)
        old = reissue_ids(self._config_pins)
        if old:            # said at start: these sign nobody in until a new PIN is issued
            log.warning("workflow.staff_pins: %d entr(ies) of the old kind sign nobody in (%s); "
                        "issue new PINs with `samplepoint staff pin`", len(old), ", ".join(old))
        self._pins_from: object = None
        self.debouncer = workflow.Debouncer(config.scan.repeat_frames)
        self._lock = threading.RLock()
        self.state = self._restore()
        self.summary = RunSummary()
        # Optional watcher of every grey frame and what was decoded in it (the display's preview).
        self.frame_watcher: Callable[[object, list[Symbol]], None] | None = None
        # Called with each closed (not cancelled) record once it is committed (the slip printer).
        self.closed_watchers: list[Callable[[object], None]] = []
        self._closed: list = []

    def _restore(self) -> workflow.State:
        """Pick up the tube left open by a restart or power cut, exactly as the store has it."""
        tube = self.store.open_tube_state()
        if tube is None:
            return workflow.State()
        if len(tube.persons) >= tube.pool_size:
            # Full but open (left by an older version): close it now rather than over-fill it.
            self.store.finish_tube(tube.sample_id, closed_at=iso(self.clock()), clock=self.evidence())
            log.info("record %s: full tube found open at start, closed", tube.sample_id)
            return workflow.State()
        log.info("restored open tube %s (record %s) with %d people", tube.tube_code, tube.sample_id,
                 len(tube.persons))
        # A tube opened with nobody signed in carries the default id: that is not a sign-in.
        staff = None if tube.staff_id == self.settings.default_staff else tube.staff_id
        return workflow.State(
            tube=workflow.TubeState(tube.sample_id, tube.tube_code, tube.pool_size,
                                    tuple(key for key, _ in tube.persons),
                                    opened_at=datetime.fromisoformat(tube.opened_at)),
            staff_id=staff, staff_badge=self._remembered_badge(staff))

    def _signed_in_path(self) -> Path:
        return Path(self.config.device.data_dir) / SIGNED_IN_FILE

    def _remembered_badge(self, staff_id: str | None) -> str | None:
        """The badge the restored staff member signed in with, so a revocation still signs them out."""
        if staff_id is None:
            return None
        try:
            saved = json.loads(self._signed_in_path().read_text(encoding="utf-8"))
            badge = saved.get("badge") if saved.get("staff_id") == staff_id else None
        except (OSError, ValueError, AttributeError):
            return None
        return badge if isinstance(badge, str) and 0 < len(badge) <= 32 else None

    def _remember_sign_in(self, before: workflow.State, after: workflow.State) -> None:
        if (before.staff_id, before.staff_badge) == (after.staff_id, after.staff_badge):
            return
        try:
            if after.staff_badge is None:
                self._signed_in_path().unlink(missing_ok=True)
            else:
                write_atomic(self._signed_in_path(), json.dumps(
                    {"staff_id": after.staff_id, "badge": str(after.staff_badge)}))
        except OSError as exc:        # a read-only card: the sign-in itself is unaffected
            log.warning("could not note which badge signed in (%s)", exc)

    def run(self, source: FrameSource, close_at_end: bool = True) -> RunSummary:
        self.note_clock(self.evidence())
        for frame in source.frames():
            self.on_frame(frame.grey)
        if close_at_end and self.state.tube is not None:
            self.dispatch(workflow.CloseRequested(self.clock()))
        return self.summary

    def on_frame(self, grey) -> None:
        self.summary.frames += 1
        symbols = self.decoder.decode(grey)
        if self.frame_watcher is not None:
            self.frame_watcher(grey, symbols)
        for data in self.debouncer.new_codes([s.payload for s in symbols]):
            self.on_code(data)
        if self.summary.frames % TICK_EVERY_FRAMES == 0:
            self.dispatch(workflow.Tick(self.clock()))
            self.sign_out_if_revoked()
            self.update_queue_light()
            if self.summary.frames % (TICK_EVERY_FRAMES * CLOCK_EVERY_TICKS) == 0:
                self.note_clock(self.evidence())

    def sign_out_if_revoked(self) -> None:
        """A badge revoked on central while its holder is signed in: signed out as soon as the
        revocation arrives (with a heartbeat), and the display says why."""
        badge = self.state.staff_badge
        if badge is not None and self.credentials.is_revoked(badge):
            log.info("revoked badge %s: its holder is signed out", badge)
            self.dispatch(workflow.SignOut(self.clock(), revoked=True))

    def on_code(self, data: bytes | str) -> None:
        """One code's content: the decoder's text, or bytes (read as UTF-8)."""
        self.summary.scans += 1
        now = self.clock()
        keys = self.code_key if self.code_key is not None else self.credentials.verify_keys(now)
        scan = codes.classify(data, self.config.site.tube_pattern, keys, now)
        if isinstance(scan, codes.StaffBadge) and self.credentials.is_revoked(scan.badge_id, scan.staff_id):
            log.info("revoked badge %s refused", scan.badge_id)
            scan = codes.Refused("badge-revoked", codes.MSG_REVOKED)
        if isinstance(scan, codes.PersonScan) and scan.dropped:
            log.info("%s code accepted without its unreadable parts: %s", scan.person.source,
                     ", ".join(scan.dropped))
        if self.state.check_mode:        # nothing is sampled: no store look-ups needed
            self.dispatch(workflow.Scanned(scan, now))
            return
        used = isinstance(scan, codes.Tube) and self.store.tube_code_used(scan.code)
        other = None
        if isinstance(scan, codes.PersonScan) and self.config.workflow.other_tube_window_min > 0:
            since = now - timedelta(minutes=self.config.workflow.other_tube_window_min)
            current = self.state.tube.sample_id if self.state.tube else None
            other = self.store.person_in_other_tube(scan.key, iso(since), current)
        self.dispatch(workflow.Scanned(scan, now, tube_already_used=used, other_tube=other))

    def _refresh_pins(self) -> None:
        """The config's PIN entries plus the site's from central (central's win for the same id)."""
        current = self.credentials.current()
        if current is self._pins_from:
            return
        self._pins_from = current
        self.settings = replace(self.settings, pins={**self._config_pins,
                                                     **self.credentials.pin_table()})

    def note_clock(self, evidence: ClockEvidence) -> None:
        """Warn the staff display while the clock is not synchronised, and say when it is again."""
        unsynced = evidence.synchronised is False
        if unsynced and not self.clock_warned:
            log.warning("system clock is not synchronised; records carry that flag")
            self._send(CLOCK_UNSYNCHRONISED, messages.CLOCK_UNSYNCHRONISED, CLOCK_UNSYNCHRONISED)
        elif self.clock_warned and not unsynced:
            log.info("system clock synchronised again")
            self._send(CLOCK_SYNCHRONISED, messages.CLOCK_SYNCHRONISED, CLOCK_SYNCHRONISED)
        self.clock_warned = unsynced

    def check_status(self, effect: workflow.CheckStatus) -> None:
        """Check mode: ask for the person's result status (bounded by the client's timeout) and show it."""
        if self.checker is None:
            result = unavailable()
        else:
            result = self.checker.check(effect.scan, staff_signed_in=effect.staff_signed_in)
        result = for_person(result, effect.scan.person)
        log.info("status check: %s", result.kind)
        self._send(result.kind, result.message, result.detail)

    def dispatch(self, event: workflow.Event) -> None:
        """Apply one workflow event. A failed commit stops its feedback and signals an error instead."""
        with self._lock:
            self._refresh_pins()
            new_state, effects = workflow.handle(self.state, event, self.settings)
            counted = replace(self.summary)      # the run summary counts only what committed
            try:
                with self.store.transaction():    # all data of one event commits together
                    for effect in effects:
                        if not isinstance(effect, (workflow.Feedback, workflow.CheckStatus)):
                            self.apply(effect)
            except Exception as exc:
                self._closed = []
                self.summary.people, self.summary.tubes_closed, self.summary.tubes_cancelled = (
                    counted.people, counted.tubes_closed, counted.tubes_cancelled)
                self._store_failed(event, exc)
                return
            before, self.state = self.state, new_state
            self._remember_sign_in(before, new_state)
            closed, self._closed = self._closed, []
            for record in closed:
                self._tell_closed(record)
            for effect in effects:
                if isinstance(effect, workflow.Feedback):
                    self._signal(effect)
                elif isinstance(effect, workflow.CheckStatus):
                    self.check_status(effect)

    def _store_failed(self, event: workflow.Event, exc: Exception) -> None:
        """A commit failed: nothing of the event is kept, staff see why in red."""
        import sqlite3
        if isinstance(exc, (sqlite3.Error, OSError, StoreError)):
            kind = classify(exc, self.store.path)
            log.error("store write failed, %s not applied: %s", type(event).__name__,
                      explain(exc, self.store.path))
        else:
            kind = None
            log.exception("store write failed; event %s not applied", type(event).__name__)
        try:
            # Back to what the store holds; the signed-in staff member stays signed in.
            self.state = replace(self._restore(), staff_id=self.state.staff_id,
                                 staff_name=self.state.staff_name, staff_badge=self.state.staff_badge)
        except Exception as again:                                   # noqa: BLE001
            log.error("store unreadable as well (%s); keeping the last known state", again)
        message, detail = {READ_ONLY: (messages.STORE_READONLY, "store-readonly"),
                           FULL: (messages.STORE_FULL, "store-full")}.get(
                               kind, (messages.STORE_ERROR, "store-error"))
        self._send(workflow.ERROR, message, detail)

    def announce_store_fault(self, problem: str) -> None:
        """Say at start that this store cannot be written (a read-only card): red before any scan."""
        log.error("the kiosk runs on a read-only copy of the database: %s", problem)
        self._send(workflow.ERROR, messages.STORE_READONLY, "store-readonly")

    def apply(self, effect) -> None:
        """Commit one data effect to the store."""
        site, device = self.config.site, self.config.device
        if isinstance(effect, workflow.OpenTube):
            self.store.open_tube(sample_id=effect.sample_id, tube_code=effect.tube_code,
                                 pool_size=effect.pool_size, test_type=effect.test_type,
                                 sample_type=site.sample_type, site_id=site.id, device_id=device.id,
                                 staff_id=effect.staff_id, opened_at=iso(effect.now))
            log.info("record %s: tube opened (pool of %d)", effect.sample_id, effect.pool_size)
        elif isinstance(effect, workflow.AddPerson):
            position = self.store.add_person(effect.sample_id, effect.key, effect.person,
                                             iso(effect.now))
            self.summary.people += 1
            log.info("record %s: person %d added (%s)", effect.sample_id, position,
                     effect.person.source)
        elif isinstance(effect, workflow.RemoveLastPerson):
            self.store.remove_last_person(effect.sample_id)
            self.summary.people -= 1
            log.info("record %s: last person removed", effect.sample_id)
        elif isinstance(effect, workflow.ResizeTube):
            self.store.set_pool_size(effect.sample_id, effect.pool_size)
            log.info("record %s: pool size now %d", effect.sample_id, effect.pool_size)
        elif isinstance(effect, workflow.CloseTube):
            evidence = self.evidence()
            record = self.store.finish_tube(effect.sample_id, closed_at=iso(effect.now),
                                            cancel_reason=effect.cancel_reason, clock=evidence)
            if not effect.cancel_reason:
                self._closed.append(record)
            self.note_clock(evidence)
            if effect.cancel_reason:
                self.summary.tubes_cancelled += 1
            else:
                self.summary.tubes_closed += 1

    def _tell_closed(self, record) -> None:
        for watcher in self.closed_watchers:
            try:
                watcher(record)
            except Exception:      # a printer problem must never stop scanning
                log.exception("closed-tube watcher failed")

    def _signal(self, effect: workflow.Feedback) -> None:
        if effect.kind == workflow.REFUSED:
            self.summary.refused += 1
            log.info("refused: %s", effect.detail)
        self._send(effect.kind, effect.message, effect.detail)

    def _send(self, kind: str, message: str, detail: str) -> None:
        try:
            self.feedback.signal(kind, message, detail)
        except Exception:      # a broken buzzer must never stop scanning
            log.exception("feedback device failed")

    def update_queue_light(self) -> None:
        """Amber on while a record has waited longer than feedback.amber_after_s to be forwarded."""
        oldest = self.store.oldest_pending_at()
        waiting = oldest is not None and (self.clock() - oldest).total_seconds() > \
            self.config.feedback.amber_after_s
        try:
            self.feedback.queue_waiting(waiting)
        except Exception:
            log.exception("feedback device failed")
