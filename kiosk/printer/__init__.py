"""The optional slip printer at the table: tube receipts and volunteer declaration slips.

`SlipPrinter` prints on its own thread, so a printer that is missing, out of paper or switched off
never holds up scanning: the slip is kept, the display says what is wrong, and "Reprint" sends the
kept slips again (or the last printed one when nothing failed). Slips are pictures (kiosk.printer.slips)
sent with python-escpos's raster image command, then a cut. A slip counts as printed only when the
printer confirms it afterwards (kiosk.printer.devices.confirm), the first time and on reprint alike.

Every slip is written to a folder when it is submitted (`KeptSlips`, in the data directory, 0600
like the database that holds the same data), so a kiosk restart or a power cut, even before its turn
came, does not lose a citizen's receipt or a declaration slip; the file goes once the slip is
printed, or after `KEEP_HOURS` (here, and by the retention run whatever the printer).
"""
from __future__ import annotations

import collections
import dataclasses
import json
import logging
import queue
import secrets
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from kiosk.printer import slips
from kiosk.printer.devices import CoverOpen, PaperOut, PrinterOffline, confirm
from samplepoint.durable import write_atomic
from samplepoint.print_spool import KEEP_HOURS

log = logging.getLogger(__name__)
READY, PRINTING, OFFLINE, NO_PAPER, COVER_OPEN = "ready", "printing", "offline", "no-paper", "cover-open"
KEEP_FAILED = 20               # default of printer.keep_slips: slips kept for reprint; older ones are dropped
KINDS = {cls.__name__: cls for cls in (slips.TubeReceipt, slips.DeclarationSlip)}
MAX_KEPT_BYTES = 16_384


@dataclasses.dataclass
class _Job:
    slip: object
    kept: str | None = None    # its file in the kept folder
    at: datetime = dataclasses.field(default_factory=lambda: datetime.now(timezone.utc))
    memory_id: str = dataclasses.field(default_factory=lambda: "mem-" + secrets.token_hex(3))

    def label(self) -> str:
        """The slip for a log line: its id (its kept file) and kind, and a receipt's tube; no names."""
        ident = self.kept.removesuffix(".json") if self.kept else self.memory_id
        tube = getattr(self.slip, "tube_code", None)
        return f"slip {ident} ({type(self.slip).__name__}" + (f", tube {tube})" if tube else ")")


class KeptSlips:
    """Failed slips on disk, one JSON file each, so they outlive the kiosk process."""

    def __init__(self, folder: str | Path, clock: Callable[[], datetime] | None = None,
                 keep: int = KEEP_FAILED):
        self.folder = Path(folder)
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.keep = keep

    def save(self, slip) -> str | None:
        """Write one slip; its file name, or None when it could not be written (logged)."""
        now = self.clock()
        fields = {f.name: getattr(slip, f.name) for f in dataclasses.fields(slip)}
        body = json.dumps({"kind": type(slip).__name__, "kept_at": now.isoformat(),
                           "fields": {k: v.isoformat() if isinstance(v, datetime) else v
                                      for k, v in fields.items()}}, ensure_ascii=False)
        name = f"{now.strftime('%Y%m%dT%H%M%S%f')}-{secrets.token_hex(3)}.json"
        try:
            write_atomic(self.folder / name, body)
        except OSError as exc:
            log.warning("a kept %s could not be saved to %s (%s): it is kept in memory only",
                        type(slip).__name__, self.folder, exc)
            return None
        return name

    def remove(self, name: str | None) -> None:
        if name:
            try:
                (self.folder / name).unlink(missing_ok=True)
            except OSError as exc:
                log.warning("kept slip %s could not be removed: %s", name, exc)

    def load(self) -> list[_Job]:
        """The kept slips still worth printing, oldest first; stale or unreadable files are removed."""
        if not self.folder.is_dir():
            return []
        jobs = []
        for path in sorted(self.folder.glob("*.json")):
            job = self._read(path)
            if job is not None and self.stale(job):
                log.info("kept slip %s is older than %d h: dropped", path.name, KEEP_HOURS)
                job = None
            if job is None:
                self.remove(path.name)
            else:
                jobs.append(job)
        for job in jobs[:-self.keep]:
            self.remove(job.kept)
        return jobs[-self.keep:]

    def stale(self, job: _Job) -> bool:
        """Kept longer than KEEP_HOURS, or dated that far ahead (a damaged or forged file)."""
        now, keep = self.clock(), timedelta(hours=KEEP_HOURS)
        return not now - keep <= job.at <= now + keep

    @staticmethod
    def _read(path: Path) -> _Job | None:
        """The job of one kept file, or None for anything that is not a well-formed kept slip."""
        try:
            if path.stat().st_size > MAX_KEPT_BYTES:
                raise ValueError("too large")
            doc = json.loads(path.read_text(encoding="utf-8"))
            cls = KINDS[doc["kind"]]
            kept_at = datetime.fromisoformat(doc["kept_at"])
            if kept_at.tzinfo is None:
                raise ValueError("kept_at without a time zone")
            fields, given = {}, doc["fields"]
            for f in dataclasses.fields(cls):
                if f.name not in given:
                    if f.default is dataclasses.MISSING:
                        raise ValueError(f"{f.name} missing")
                    continue
                value = given[f.name]
                expected = type(f.default) if f.default is not dataclasses.MISSING else None
                if f.name in ("collected_at", "declared_at"):
                    value = datetime.fromisoformat(value)
                elif expected is not None and not isinstance(value, expected) or \
                        expected is None and not isinstance(value, str):
                    raise ValueError(f"{f.name} has the wrong type")
                fields[f.name] = value
            return _Job(cls(**fields), path.name, kept_at)
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            log.warning("kept slip %s is unreadable (%s): dropped", path.name, type(exc).__name__)
            return None


class SlipPrinter:
    def __init__(self, connect: Callable, paper_mm: int = 58, *, check_paper: bool = True,
                 on_change: Callable[[], None] | None = None, kept: KeptSlips | None = None,
                 timeout_s: float = 5.0):
        self.connect = connect
        self.paper_mm = paper_mm
        self.check_paper = check_paper            # also ask before the slip: no bytes into a dead printer
        self.timeout_s = timeout_s                # for the printer's answer to a status query
        self.on_change = on_change or (lambda: None)
        self.kept = kept
        self.keep = kept.keep if kept else KEEP_FAILED
        self._queue: queue.Queue = queue.Queue()
        # Slips kept by an earlier run wait for "Reprint" like those that fail in this one.
        self._failed: collections.deque = collections.deque(kept.load() if kept else ())
        if self._failed:
            log.info("%d slip(s) kept from before wait for reprint", len(self._failed))
        self._last = None
        self._state = READY
        self._busy = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="slip-printer", daemon=True)
        self._thread.start()

    # --- what the kiosk, the spool and the display call ---------------------------------------

    def submit(self, slip) -> None:
        """Queue one slip, kept on disk until it prints; returns at once."""
        job = _Job(slip)
        if self.kept:
            job.kept = self.kept.save(slip)
            job.at = self.kept.clock()
        self._put(job)

    def _put(self, job: _Job) -> None:
        with self._lock:
            self._busy += 1
        self._queue.put(job)

    def reprint(self) -> None:
        """Send the slips that failed again; when none failed, the last printed slip once more."""
        with self._lock:
            again = list(self._failed) or ([_Job(self._last)] if self._last is not None else [])
            self._failed.clear()
        if self.kept:
            fresh = []
            for job in again:
                if self.kept.stale(job):
                    log.info("a %s kept for more than %d h is dropped, not printed",
                             type(job.slip).__name__, KEEP_HOURS)
                    self.kept.remove(job.kept)
                else:
                    fresh.append(job)
            again = fresh
        log.info("reprint of %d slip(s) requested", len(again))
        for job in again:
            self._put(job)

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
            job = self._queue.get()
            if job is None:
                return
            state = self._print(job)
            dropped = None
            if state == READY:
                if self.kept:
                    self.kept.remove(job.kept)
            elif self.kept and job.kept is None:       # the last slip again, failed this time
                job.kept = self.kept.save(job.slip)
            with self._lock:
                self._busy -= 1
                self._state = state
                if state == READY:
                    self._last = job.slip
                else:
                    self._failed.append(job)
                    if len(self._failed) > self.keep:
                        dropped = self._failed.popleft()
            if dropped is not None:
                log.warning("more than %d slips wait: the oldest, %s, is dropped",
                            self.keep, dropped.label())
                if self.kept:
                    self.kept.remove(dropped.kept)
            self._changed()

    def _print(self, job: _Job) -> str:
        """Send one slip; READY only when the printer confirmed it after its bytes, else the state
        that keeps it for reprint."""
        try:
            image = slips.render(job.slip, self.paper_mm)
        except Exception:
            log.exception("%s could not be drawn; skipped", job.label())
            return READY
        printer = None
        try:
            printer = self.connect()
            if self.check_paper:
                confirm(printer, self.timeout_s)
            printer.image(image, impl="bitImageRaster", center=False)
            printer.cut()
            confirm(printer, self.timeout_s)
            log.info("%s printed: the printer confirmed it", job.label())
            return READY
        except PaperOut:
            log.warning("%s kept for reprint: the printer reports no paper", job.label())
            return NO_PAPER
        except CoverOpen:
            log.warning("%s kept for reprint: the printer reports its cover open", job.label())
            return COVER_OPEN
        except PrinterOffline as exc:
            log.warning("%s kept for reprint: %s", job.label(), exc)
            return OFFLINE
        except Exception as exc:             # a cable pulled mid-slip, a write timeout, a USB error
            log.warning("%s kept for reprint: sending it failed (%s)", job.label(), type(exc).__name__)
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


__all__ = ["SlipPrinter", "KeptSlips", "PrinterOffline", "PaperOut", "CoverOpen", "READY", "PRINTING",
           "OFFLINE", "NO_PAPER", "COVER_OPEN"]
