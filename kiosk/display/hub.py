"""The display's hub: a FeedbackSink that turns workflow outcomes, the store and the camera into one
live snapshot, and wakes every page listening for the next one.

The kiosk calls `signal` from inside `Kiosk.dispatch` (after the data effect is committed), so a scan
reaches the page as soon as it is durable. A small refresher thread re-reads the outbox, which
another process (the forwarder) changes, and publishes only when something the page shows changed.
"""
from __future__ import annotations

import logging
import threading
import time

from kiosk import workflow
from kiosk.display import actions, view
from kiosk.display.preview import PreviewBuffer
from kiosk.feedback import FeedbackSink

log = logging.getLogger(__name__)


class DisplayHub(FeedbackSink):
    def __init__(self, store, clock, *, site_name: str = "", offline_after_s: float = 120.0,
                 preview_fps: float = 5.0, refresh_s: float = 2.0, unassigned: str = "unassigned",
                 clear_after_s: float = 6.0, monotonic=time.monotonic):
        self.store = store
        self.clock = clock
        self.site_name = site_name
        self.offline_after_s = offline_after_s
        self.refresh_s = refresh_s
        self.unassigned = unassigned          # the staff id recorded when nobody has signed in
        self.preview = PreviewBuffer(preview_fps) if preview_fps > 0 else None
        self.kiosk = None
        self.printer = None                   # the slip printer (kiosk.printer.SlipPrinter) or None
        # The result panel goes back to "ready" this long after a scan, so an old "accepted" can
        # never pass for a scan that did not register.
        self.clear_after_s = clear_after_s
        self._monotonic = monotonic
        self._last_until = 0.0
        self._changed = threading.Condition()
        self._version = 0
        self._snapshot: dict = {}
        self._last: dict | None = None
        self._notice: dict | None = None
        self._seq = 0
        self._clock_unsynchronised = False
        # A database that cannot be written (read-only or full card) is a standing condition: a red
        # banner until a later scan commits again, not a result that clears after a few seconds.
        self._store_fault: dict | None = None
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None

    # --- wiring ------------------------------------------------------------------------------

    def attach(self, kiosk) -> "DisplayHub":
        """Watch this kiosk: its frames feed the preview, its dispatch is what the buttons call."""
        self.kiosk = kiosk
        self._clock_unsynchronised = bool(getattr(kiosk, "clock_warned", False))
        if self.preview is not None:
            kiosk.frame_watcher = self.preview.put
        self.publish()
        return self

    def start(self) -> "DisplayHub":
        self._refresher = threading.Thread(target=self._refresh_loop, name="display-refresh",
                                           daemon=True)
        self._refresher.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self.preview is not None:
            self.preview.closed = True
        with self._changed:
            self._changed.notify_all()
        if self._refresher is not None:
            self._refresher.join(timeout=5)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    # --- FeedbackSink --------------------------------------------------------------------------

    def signal(self, kind: str, message: str, detail: str = "") -> None:
        if kind in view.CLOCK_KINDS:      # a standing condition: the banner, not the scan panel
            self._clock_unsynchronised = kind == view.CLOCK_UNSYNCHRONISED
            self.publish()
            return
        if kind == workflow.ERROR and detail in view.STORE_FAULTS:
            self._store_fault = {"detail": detail, "message": message}
        elif kind in view.COMMITTED_KINDS:
            self._store_fault = None          # that event was written: the store works again
        person = None
        if kind in (workflow.ACCEPTED, view.WARNING):
            # Read back from the store: committed before this signal, whether or not the tube has
            # closed since (a full tube closes in the same dispatch).
            person = self.store.latest_person()
        self._seq += 1
        now = self.clock()
        panel = view.last_scan(kind, message, detail, now, self._seq, person, self._shown_last())
        if kind in (workflow.CHECK_ON, workflow.CHECK_OFF):
            self._last = None     # a result of the other mode must not stay on screen in this one
        elif panel is not None:
            self._last = panel
            self._last_until = self._monotonic() + self.clear_after_s
        self._notice = view.notice(kind, message, now, self._seq) or self._notice
        self.publish()

    # --- buttons -------------------------------------------------------------------------------

    def press(self, button: str, reason: str | None = None, on: bool | None = None) -> None:
        """Send a button's workflow event through the kiosk's single entry point."""
        if button == actions.REPRINT:         # the printer's own queue, not a workflow event
            if self.printer is None:
                raise actions.ActionUnavailable(button)
            log.info("display button %s", button)
            self.printer.reprint()
            self.publish()
            return
        event = actions.build_event(button, self.clock(), reason, on)
        if self.kiosk is None:
            raise actions.ActionUnavailable(button)
        log.info("display button %s", button)
        self.kiosk.dispatch(event)
        self.publish()

    # --- snapshots -----------------------------------------------------------------------------

    def build(self) -> dict:
        now = self.clock()
        state = getattr(self.kiosk, "state", None)
        staff = getattr(state, "staff_name", None) or getattr(state, "staff_id", None)
        return {
            "site": self.site_name,
            "staff": None if staff == self.unassigned else staff,
            "check_mode": bool(getattr(state, "check_mode", False)),
            "sign_in_required": bool(getattr(getattr(self.kiosk, "settings", None),
                                             "require_sign_in", False)),
            "clock_unsynchronised": self._clock_unsynchronised,
            "store_fault": self._store_fault,
            "last": self._shown_last(),
            "notice": self._notice,
            "tube": view.tube_view(self.store.open_tube_state()),
            "today": self.store.day_counts(view.local_midnight(now).isoformat(timespec="milliseconds")),
            "link": view.link_view(self.store.outbox_counts(), self.store.oldest_pending_at(),
                                   self.store.last_delivery_at(), now, self.offline_after_s),
            "actions": {**actions.available(), actions.REPRINT: self.printer is not None},
            "printer": self.printer.status() if self.printer is not None else None,
            "preview": self.preview is not None,
        }

    def _shown_last(self) -> dict | None:
        """The result panel while it is fresh; None (ready, scan next) once it has been shown long enough."""
        return self._last if self._last is not None and self._monotonic() < self._last_until else None

    def publish(self) -> None:
        snapshot = self.build()
        with self._changed:
            if snapshot != self._snapshot:
                self._snapshot = snapshot
                self._version += 1
                self._changed.notify_all()

    def snapshot(self) -> tuple[int, dict]:
        with self._changed:
            return self._version, self._snapshot

    def wait(self, after: int, timeout: float) -> tuple[int, dict]:
        """The next snapshot newer than version `after`, or the current one after `timeout` seconds."""
        with self._changed:
            self._changed.wait_for(lambda: self._version != after or self._stop.is_set(), timeout)
            return self._version, self._snapshot

    def _next_wait(self) -> float:
        """Until the next refresh, or sooner when the result panel is due to clear."""
        left = self._last_until - self._monotonic()
        return max(0.01, min(self.refresh_s, left + 0.005)) if left > 0 else self.refresh_s

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self._next_wait()):
            try:
                self.publish()
            except Exception:            # a busy or broken database must not kill the display
                log.exception("display refresh failed")
