"""ESC/POS printer back-ends from python-escpos, chosen by `printer.backend` (usb, network or dummy),
and the one rule that says a slip was printed: `confirm`.

Each call of the connector opens a fresh connection for one slip and the caller closes it, so a
printer unplugged and plugged in again (or switched off and on) just works for the next slip.

Writing bytes proves nothing: a network printer's socket, or a USB printer's buffer, takes a whole
slip from a printer that never prints it. So after a slip's bytes the kiosk asks the printer for its
real-time status (DLE EOT 2, offline cause; DLE EOT 4, paper roll sensor) and counts the slip as
printed only when the two answers arrive in time, are well-formed status bytes, and say the cover
is closed, no error stopped printing and paper is present. A printer answers a real-time query when
it receives it, that is after it took in every byte sent before it.
"""
from __future__ import annotations

import logging
import time
from functools import lru_cache
from typing import Callable

log = logging.getLogger(__name__)

STATUS_QUERY = b"\x10\x04\x02" + b"\x10\x04\x04"      # DLE EOT 2 (offline cause), DLE EOT 4 (paper)
# Every DLE EOT answer has bit 1 and bit 4 set, bits 0 and 7 clear: 0b0xx1xx10.
_FIXED_MASK, _FIXED_BITS = 0x93, 0x12
_COVER_OPEN, _PAPER_END_STOP, _ERROR = 0x04, 0x20, 0x40  # in the offline-cause answer
_ROLL_END = 0x60                                        # in the paper-sensor answer
READY_ANSWER = bytes((_FIXED_BITS, _FIXED_BITS))        # cover closed, no error, paper present
MAX_DISCARDS = 64                                       # reads of stale bytes before a query
CONFIRMED, NO_ANSWER, NO_PAPER, COVER_OPEN, FAULT = (
    "confirmed", "no-answer", "no-paper", "cover-open", "fault")


class PrinterOffline(RuntimeError):
    """The printer could not be reached (unplugged, switched off, wrong address), or did not confirm."""


class PaperOut(RuntimeError):
    """The printer answered that it has no paper."""


class CoverOpen(RuntimeError):
    """The printer answered that its cover is open."""


def read_status(answer: bytes) -> str:
    """What the answer to STATUS_QUERY says: CONFIRMED, NO_PAPER, COVER_OPEN, FAULT (the printer
    reports an error), or NO_ANSWER for anything that is not exactly two well-formed status bytes."""
    if len(answer) != 2 or any(byte & _FIXED_MASK != _FIXED_BITS for byte in answer):
        return NO_ANSWER
    cause, paper = answer
    if cause & _COVER_OPEN:
        return COVER_OPEN
    if paper & _ROLL_END or cause & _PAPER_END_STOP:
        return NO_PAPER
    if cause & _ERROR:
        return FAULT
    return CONFIRMED


def confirm(printer, seconds: float) -> None:
    """Ask the printer for its status and wait up to `seconds` for the answer; returns only when it
    says ready with paper, else raises PaperOut, CoverOpen or PrinterOffline (no, late, garbled or
    error answer). Sent after a slip's bytes, a confirmation means the printer read them all."""
    printer.discard_pending()            # a late answer to an earlier query must not count
    printer._raw(STATUS_QUERY)
    answer, deadline = b"", time.monotonic() + seconds
    while len(answer) < len(READY_ANSWER):
        left = deadline - time.monotonic()
        chunk = printer.read_answer(left) if left > 0 else b""
        if not chunk:
            break
        answer += chunk
    verdict = read_status(answer)
    if verdict == NO_PAPER:
        raise PaperOut("printer reports no paper")
    if verdict == COVER_OPEN:
        raise CoverOpen("printer reports its cover open")
    if verdict == FAULT:
        raise PrinterOffline("printer reports an error")
    if verdict == NO_ANSWER:
        raise PrinterOffline(f"printer gave no status answer within {seconds:g} s" if not answer
                             else f"printer answered {len(answer)} byte(s) that are not a status")


@lru_cache(maxsize=None)
def _network_class():
    from escpos.printer import Network

    class NetworkPrinter(Network):
        """python-escpos's Network printer whose answers are read within a time limit."""

        def read_answer(self, seconds: float) -> bytes:
            """Bytes the printer sent, b"" when none came in time or it closed the connection."""
            self.device.settimeout(seconds)
            try:
                return self.device.recv(16)
            except OSError:                # socket.timeout is an OSError
                return b""
            finally:
                self.device.settimeout(self.timeout)

        def discard_pending(self) -> None:
            self.device.setblocking(False)
            try:
                for _ in range(MAX_DISCARDS):          # a printer that never stops talking
                    if not self.device.recv(256):
                        break
            except OSError:                # nothing waiting (BlockingIOError)
                pass
            finally:
                self.device.settimeout(self.timeout)
    return NetworkPrinter


@lru_cache(maxsize=None)
def _usb_class():
    import usb.core
    from escpos.printer import Usb

    class UsbPrinter(Usb):
        """python-escpos's Usb printer that refuses a partial write and reads within a time limit."""

        def _raw(self, msg: bytes) -> None:
            written = self.device.write(self.out_ep, msg, self.timeout)
            if written != len(msg):
                raise PrinterOffline(f"USB printer took {written} of {len(msg)} bytes")

        def read_answer(self, seconds: float) -> bytes:
            try:
                return bytes(self.device.read(self.in_ep, 16, max(1, int(seconds * 1000))))
            except usb.core.USBError:      # USBTimeoutError is one
                return b""

        def discard_pending(self) -> None:
            for _ in range(MAX_DISCARDS):
                if not self.read_answer(0.001):
                    break
    return UsbPrinter


class DummyPrinters:
    """The `dummy` back-end: python-escpos's Dummy printer; the bytes of each slip are kept here.

    It answers each status query with `answer` (READY_ANSWER: paper present); `answer = None` makes
    it a printer that takes bytes and never answers."""

    def __init__(self, keep: int = 50, answer: bytes | None = READY_ANSWER):
        self.printed: list[bytes] = []
        self.keep = keep
        self.answer = answer
        self.fail_with: Exception | None = None     # tests: make the next connections fail

    def __call__(self):
        from escpos.printer import Dummy
        if self.fail_with is not None:
            raise self.fail_with
        keeper = self

        class KeptDummy(Dummy):
            kept = False
            pending = b""

            def _raw(self, msg: bytes) -> None:
                super()._raw(msg)
                if msg == STATUS_QUERY and keeper.answer is not None:
                    self.pending += keeper.answer

            def read_answer(self, seconds: float) -> bytes:
                answer, self.pending = self.pending, b""
                return answer

            def discard_pending(self) -> None:
                self.pending = b""

            def close(self) -> None:
                # python-escpos closes again when the object is collected: keep each slip once.
                if not self.kept:
                    self.kept = True
                    keeper.printed.append(self.output)
                    del keeper.printed[:-keeper.keep]

        return KeptDummy()


def make_connector(config) -> Callable | None:
    """A function opening the configured printer, or None when there is none (`backend = "none"`)."""
    pc = config.printer
    if pc.backend == "none":
        return None
    if pc.backend == "dummy":
        return DummyPrinters()
    if pc.backend == "network":
        def network():
            from escpos.exceptions import DeviceNotFoundError
            printer = _network_class()(pc.host, pc.port, timeout=pc.timeout_s)
            try:
                printer.open()
            except DeviceNotFoundError as exc:
                raise PrinterOffline(f"network printer {pc.host}:{pc.port} not reachable") from exc
            return printer
        return network

    def usb():
        printer = _usb_class()(pc.usb_vendor_id, pc.usb_product_id, timeout=int(pc.timeout_s * 1000))
        try:
            printer.open()
        except Exception as exc:      # DeviceNotFoundError, and pyusb raises several kinds
            raise PrinterOffline(f"USB printer {pc.usb_vendor_id:04x}:{pc.usb_product_id:04x} "
                                 f"not found ({type(exc).__name__})") from exc
        return printer
    return usb
