"""SlipPrinter with python-escpos's Dummy printer: the bytes sent, failures kept, reprint."""
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from kiosk.printer import NO_PAPER, OFFLINE, READY, SlipPrinter
from kiosk.printer.devices import DummyPrinters, PrinterOffline
from kiosk.printer.slips import TubeReceipt

AT = datetime(2021, 8, 20, 9, 12, tzinfo=timezone(timedelta(hours=7)))
GS_V0 = b"\x1dv0"              # ESC/POS raster bit image (GS v 0)
CUT = b"\x1dV"                 # ESC/POS cut (GS V)


def receipt(code="DT00000001"):
    return TubeReceipt("Điểm lấy mẫu", code, "rt-pcr", AT)


def settle(printer, timeout=10.0):
    deadline = time.monotonic() + timeout
    while printer.status()["state"] == "printing" and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)


@pytest.fixture
def dummy():
    return DummyPrinters()


@pytest.fixture
def printer(dummy):
    p = SlipPrinter(dummy, 58)
    yield p
    p.close()


def test_a_slip_is_sent_as_one_raster_image_then_a_cut(printer, dummy):
    printer.submit(receipt())
    settle(printer)
    assert len(dummy.printed) == 1
    data = dummy.printed[0]
    assert GS_V0 in data and CUT in data
    assert data.index(GS_V0) < data.rindex(CUT)            # the picture, then the cut
    # GS v 0 m xL xH yL yH: 384 dots = 48 bytes per line on 58 mm paper.
    header = data[data.index(GS_V0) + 4: data.index(GS_V0) + 8]
    assert header[0] + 256 * header[1] == 48
    assert printer.status() == {"state": READY, "waiting": 0}


def test_an_offline_printer_keeps_the_slip_and_reprint_sends_it(printer, dummy):
    dummy.fail_with = PrinterOffline("unplugged")
    printer.submit(receipt("DT00000007"))
    settle(printer)
    assert printer.status() == {"state": OFFLINE, "waiting": 1}
    assert dummy.printed == []
    dummy.fail_with = None
    printer.reprint()
    settle(printer)
    assert printer.status() == {"state": READY, "waiting": 0}
    assert len(dummy.printed) == 1


def test_reprint_with_nothing_failed_prints_the_last_slip_again(printer, dummy):
    printer.submit(receipt())
    settle(printer)
    printer.reprint()
    settle(printer)
    assert len(dummy.printed) == 2 and dummy.printed[0] == dummy.printed[1]


def test_out_of_paper_is_reported_as_such(dummy):
    dummy.answer = bytes((0x12, 0x72))                  # offline cause fine, paper roll end
    p = SlipPrinter(dummy, 58)
    try:
        p.submit(receipt())
        settle(p)
        assert p.status() == {"state": NO_PAPER, "waiting": 1}
    finally:
        p.close()


def test_submit_never_waits_for_a_hanging_printer(dummy):
    release = threading.Event()

    def hanging():
        release.wait(10)
        raise PrinterOffline("timed out")

    p = SlipPrinter(hanging, 58)
    started = time.monotonic()
    for _ in range(5):
        p.submit(receipt())
    assert time.monotonic() - started < 0.5
    assert p.status()["state"] == "printing"
    release.set()
    p.close()


def test_a_failure_mid_slip_counts_as_offline(dummy):
    class Broken:
        def __init__(self):
            self.inner = dummy()

        def image(self, *a, **k):
            raise OSError("cable pulled")

        def __getattr__(self, name):
            return getattr(self.inner, name)

    p = SlipPrinter(Broken, 58, check_paper=False)
    try:
        p.submit(receipt())
        settle(p)
        assert p.status() == {"state": OFFLINE, "waiting": 1}
    finally:
        p.close()
