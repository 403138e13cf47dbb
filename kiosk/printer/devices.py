"""ESC/POS printer back-ends from python-escpos, chosen by `printer.backend`: usb, network or dummy.

Each call of the connector opens a fresh connection for one slip and the caller closes it, so a
printer unplugged and plugged in again (or switched off and on) just works for the next slip.
"""
from __future__ import annotations

import logging
from typing import Callable

log = logging.getLogger(__name__)


class PrinterOffline(RuntimeError):
    """The printer could not be reached (unplugged, switched off, wrong address)."""


class PaperOut(RuntimeError):
    """The printer answered that it has no paper."""


class DummyPrinters:
    """The `dummy` back-end: python-escpos's Dummy printer; the bytes of each slip are kept here."""

    def __init__(self, keep: int = 50):
        self.printed: list[bytes] = []
        self.keep = keep
        self.fail_with: Exception | None = None     # tests: make the next connections fail

    def __call__(self):
        from escpos.printer import Dummy
        if self.fail_with is not None:
            raise self.fail_with
        keeper = self

        class KeptDummy(Dummy):
            kept = False

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
            from escpos.printer import Network
            printer = Network(pc.host, pc.port, timeout=pc.timeout_s)
            try:
                printer.open()
            except DeviceNotFoundError as exc:
                raise PrinterOffline(f"network printer {pc.host}:{pc.port} not reachable") from exc
            return printer
        return network

    def usb():
        from escpos.exceptions import DeviceNotFoundError
        from escpos.printer import Usb
        printer = Usb(pc.usb_vendor_id, pc.usb_product_id, timeout=int(pc.timeout_s * 1000))
        try:
            printer.open()
        except (DeviceNotFoundError, Exception) as exc:      # pyusb raises several kinds
            raise PrinterOffline(f"USB printer {pc.usb_vendor_id:04x}:{pc.usb_product_id:04x} "
                                 f"not found ({type(exc).__name__})") from exc
        return printer
    return usb


def paper_out(printer) -> bool:
    """True only when the printer says it has no paper; printers that cannot say count as fine."""
    try:
        return printer.paper_status() == 0
    except Exception:          # no read channel (Dummy), no answer, or not supported
        return False
