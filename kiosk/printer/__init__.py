"""The optional slip printer at the table: tube receipts and volunteer declaration slips.

`SlipPrinter` prints on its own thread, so a printer that is missing, out of paper or switched off
never holds up scanning: the slip is kept, the display says what is wrong, and "Reprint" sends the
kept slips again (or the last printed one when nothing failed). Slips are pictures (kiosk.printer.slips)
sent with python-escpos's raster image command, then a cut.
"""
from __future__ import annotations

import collections
import logging
import queue
import threading
from typing import Callable

from kiosk.printer import slips
from kiosk.printer.devices import PaperOut, PrinterOffline, paper_out

log = logging.getLogger(__name__)
READY, PRINTING, OFFLINE, NO_PAPER = "ready", "printing", "offline", "no-paper"
KEEP_FAILED = 20               # slips kept for reprint after a failure; older ones are dropped


class SlipPrinter:
    def __init__(self, connect: Callable, paper_mm: int = 58, *, check_paper: bool = True,
                 on_change: Callable[[], None] | None = None):
        self.connect = connect
        self.paper_mm = paper_mm
        self.check_paper = check_paper
        self.on_change = on_change or (lambda: None)
        self._queue: queue.Queue = queue.Queue()
        self._failed: collections.deque = collections.deque(maxlen=KEEP_FAILED)
        self._last = None
        self._state = READY
        self._busy = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="slip-printer", daemon=True)
        self._thread.start()

    # --- what the kiosk, the spool and the display call ---------------------------------------

    def submit(self, slip) -> None:
        """Queue one slip; returns at once."""
        with self._lock:
            self._busy += 1
        self._queue.put(slip)

    def reprint(self) -> None:
        """Send the slips that failed again; when none failed, the last printed slip once more."""
        with self._lock:
            again = list(self._failed) or ([self._last] if self._last is not None else [])
            self._failed.clear()
        log.info("reprint of %d slip(s) requested", len(again))
        for slip in again:
            self.submit(slip)

    def status(self) -> dict:
        with self._lock:
            state = PRINTING if self._busy else self._state
            return {"state": state, "waiting": len(self._failed)}

    def close(self, timeout: float = 5.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    # --- the printing thread ------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            slip = self._queue.get()
            if slip is None:
                return
            state = self._print(slip)
            with self._lock:
                self._busy -= 1
                self._state = state
                if state == READY:
                    self._last = slip
                else:
                    self._failed.append(slip)
            self._changed()

    def _print(self, slip) -> str:
        kind = type(slip).__name__
        try:
            image = slips.render(slip, self.paper_mm)
        except Exception:
            log.exception("a %s could not be drawn; skipped", kind)
            return READY
        printer = None
        try:
            printer = self.connect()
            if self.check_paper and paper_out(printer):
                raise PaperOut("printer reports no paper")
            printer.image(image, impl="bitImageRaster", center=False)
            printer.cut()
            log.info("printed a %s", kind)
            return READY
        except PaperOut:
            log.warning("printer out of paper; %s kept for reprint", kind)
            return NO_PAPER
        except PrinterOffline as exc:
            log.warning("%s; %s kept for reprint", exc, kind)
            return OFFLINE
        except Exception as exc:             # a cable pulled mid-slip, a timeout, a USB error
            log.warning("printing a %s failed (%s); kept for reprint", kind, type(exc).__name__)
            return OFFLINE
        finally:
            if printer is not None:
                try:
                    printer.close()
                except Exception:
                    log.debug("closing the printer failed", exc_info=True)

    def _changed(self) -> None:
        try:
            self.on_change()
        except Exception:
            log.exception("printer status listener failed")


__all__ = ["SlipPrinter", "PrinterOffline", "PaperOut", "READY", "PRINTING", "OFFLINE", "NO_PAPER"]
