"""The printer at the table wired to the kiosk: receipts for closed tubes, slips the portal asked for.

`PrinterService.attach(kiosk, hub)` makes every closed tube print its receipt(s) and tells the
display when the printer's state changes; a thread picks up the portal's print requests from the
spool folder. Building each slip from a record or a stored declaration is pure (`receipts_for`,
`declaration_slip`).
"""
from __future__ import annotations

import logging
import re
import threading
from datetime import datetime, tzinfo

from kiosk.check import masked_id
from kiosk.printer import KeptSlips, SlipPrinter
from kiosk.printer.devices import make_connector
from kiosk.printer.slips import DeclarationSlip, TubeReceipt
from samplepoint import print_spool, wire
from samplepoint.clock import tz_from_offset

log = logging.getLogger(__name__)
OFF, PER_TUBE, PER_PERSON = "off", "per-tube", "per-person"


def _birth_year(dob) -> str:
    return dob[:4] if isinstance(dob, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", dob) else ""


def receipts_for(record: wire.SampleRecord, mode: str, *, site_name: str, tz: tzinfo,
                 result_hours: int, note: str = "") -> list[TubeReceipt]:
    """The receipts one closed tube prints: none, one for the tube, or one per person in it."""
    if mode == OFF or record.status != "closed":
        return []
    at = datetime.fromisoformat(record.collected_at).astimezone(tz)
    base = TubeReceipt(site_name, record.tube_code, record.test_type, at, people=len(record.persons),
                       result_hours=result_hours, note=note)
    if mode == PER_TUBE:
        return [base]
    return [TubeReceipt(site_name, record.tube_code, record.test_type, at,
                        people=len(record.persons), person_name=p.full_name,
                        birth_year=_birth_year(p.date_of_birth), masked_id=masked_id(p.id_number),
                        result_hours=result_hours, note=note) for p in record.persons]


def declaration_slip(person: dict, short_code: str, *, site_name: str, tz: tzinfo) -> DeclarationSlip | None:
    """The slip for a stored declared person (store.declared_person), or None when it has no code."""
    code = person.get("code")
    if not isinstance(code, str) or not code:
        return None
    try:
        declared = datetime.fromisoformat(str(person.get("declared_at"))).astimezone(tz)
    except ValueError:
        declared = datetime.now(tz)
    return DeclarationSlip(site_name, short_code, code, str(person.get("full_name", "")),
                           _birth_year(person.get("date_of_birth")),
                           masked_id(str(person.get("id_number", ""))), declared)


class PrinterService:
    """The configured printer (or none), its receipts and the portal's spool, for one kiosk."""

    def __init__(self, config, store, connect=None, poll_s: float = 1.0):
        pc = config.printer
        self.config = config
        self.store = store
        self.tz = tz_from_offset(config.site.utc_offset)
        self.connect = connect or make_connector(config)
        kept = KeptSlips(print_spool.kept_dir(config.device.data_dir), keep=pc.keep_slips)
        self.printer = SlipPrinter(self.connect, pc.paper_mm, check_paper=pc.check_paper, kept=kept,
                                   timeout_s=pc.timeout_s) if self.connect is not None else None
        self.spool = print_spool.spool_dir(config.device.data_dir)
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        return self.printer is not None

    def attach(self, kiosk, hub=None) -> "PrinterService":
        if self.printer is None:
            return self
        kiosk.closed_watchers.append(self.tube_closed)
        if hub is not None:
            hub.printer = self.printer
            self.printer.on_change = hub.publish
        return self

    def tube_closed(self, record: wire.SampleRecord) -> None:
        pc = self.config.printer
        for slip in receipts_for(record, pc.receipt, site_name=self.config.site.name, tz=self.tz,
                                 result_hours=pc.result_hours, note=pc.receipt_note):
            self.printer.submit(slip)

    def start(self) -> "PrinterService":
        if self.printer is not None:
            self._thread = threading.Thread(target=self._watch_spool, name="print-spool", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.printer is not None:
            self.printer.close()

    def take_requests(self) -> int:
        """Queue every waiting portal request once; returns how many slips were queued."""
        queued = 0
        for path in print_spool.waiting(self.spool):
            request = print_spool.read_request(path)
            slip = None
            if request is not None:
                person = self.store.declared_person(request["short_code"])
                if person is not None:
                    slip = declaration_slip(person, request["short_code"],
                                            site_name=self.config.site.name, tz=self.tz)
            if slip is None:
                log.warning("print request %s names no printable declaration; dropped", path.name)
            else:
                self.printer.submit(slip)
                queued += 1
            try:
                path.unlink()
            except OSError:
                log.exception("print request %s could not be removed", path.name)
        return queued

    def _watch_spool(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.take_requests()
            except Exception:
                log.exception("reading the print spool failed")
