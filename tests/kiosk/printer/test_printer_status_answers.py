"""The printer's status answer, whatever bytes it is, through each back-end: only two well-formed
status bytes saying cover closed, no error and paper present confirm a slip; anything else keeps it,
and no answer crashes the printing thread."""
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from kiosk.printer import OFFLINE, READY, KeptSlips, SlipPrinter
from kiosk.printer.devices import (CONFIRMED, READY_ANSWER, STATUS_QUERY, DummyPrinters, PrinterOffline,
                                   _usb_class, confirm, make_connector, read_status)
from samplepoint.cli import main
from tests.conftest import write_config
from tests.kiosk.printer.fake_escpos import FakeNetworkPrinter, network_config
from tests.kiosk.printer.test_kept_slips import files, receipt, settle

ANSWERS = st.binary(max_size=6) | st.lists(st.sampled_from([0x12, 0x16, 0x32, 0x52, 0x72, 0x1e, 0x00,
                                                             0xff]), max_size=3).map(bytes)


def well_formed_and_fine(answer: bytes) -> bool:
    return len(answer) == 2 and all(b & 0x93 == 0x12 for b in answer) and \
        not answer[0] & 0x64 and not answer[1] & 0x60


@given(ANSWERS)
def test_only_a_fine_answer_confirms(answer):
    assert (read_status(answer) == CONFIRMED) == well_formed_and_fine(answer)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answer=ANSWERS)
def test_any_answer_of_the_dummy_printer_keeps_or_prints_by_the_rule(tmp_path, answer):
    kept = KeptSlips(tmp_path / "print-kept")
    printer = SlipPrinter(DummyPrinters(answer=answer), 58, kept=kept, timeout_s=0.01)
    try:
        printer.submit(receipt())
        settle(printer)
        ready = printer.status()["state"] == READY
        assert ready == well_formed_and_fine(answer)
        assert len(files(tmp_path / "print-kept")) == (0 if ready else 1)
    finally:
        printer.close()
        for name in files(tmp_path / "print-kept"):
            kept.remove(name)


@pytest.fixture(scope="module")
def network_printer():
    fake = FakeNetworkPrinter("answering")
    yield fake
    fake.close()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=ANSWERS, second=ANSWERS)
def test_any_answer_over_the_network_confirms_only_by_the_rule(network_printer, first, second):
    network_printer.answers = {2: first, 4: second}
    connection = make_connector(network_config(network_printer.port, 0.1))()
    try:
        try:
            confirm(connection, 0.1)
            confirmed = True
        except Exception:
            confirmed = False
    finally:
        connection.close()
    if not well_formed_and_fine(first + second):
        assert not confirmed
    # A fine answer split over two replies may arrive as two reads: it still confirms (or, on a
    # slow machine, times out and keeps the slip: never the other way round).


class FakeUsbDevice:
    """Just the calls python-escpos's Usb printer makes on a pyusb device."""

    def __init__(self, take=None, answer=READY_ANSWER):
        self.take, self.answer, self.pending = take, answer, b""
        self.written = b""
        self._ctx = SimpleNamespace(dispose=lambda device: None)     # what pyusb's close calls

    def write(self, endpoint, data, timeout):
        taken = data if self.take is None else data[:self.take]
        self.written += taken
        if data == STATUS_QUERY and self.answer is not None:
            self.pending += self.answer
        return len(taken)

    def read(self, endpoint, size, timeout):
        import usb.core
        if not self.pending:
            raise usb.core.USBTimeoutError("timed out", 110, 110)
        out, self.pending = self.pending[:size], self.pending[size:]
        return out


def usb_printer(device):
    printer = _usb_class()(0x0416, 0x5011, timeout=100)
    printer.device = device
    return printer


def test_a_usb_printer_that_answers_confirms():
    confirm(usb_printer(FakeUsbDevice()), 0.1)


def test_a_usb_printer_that_never_answers_does_not_confirm():
    with pytest.raises(PrinterOffline, match="no status answer"):
        confirm(usb_printer(FakeUsbDevice(answer=None)), 0.1)


def test_a_usb_printer_that_takes_part_of_a_slip_keeps_it(tmp_path):
    printer = SlipPrinter(lambda: usb_printer(FakeUsbDevice(take=64)), 58, check_paper=False,
                          kept=KeptSlips(tmp_path), timeout_s=0.1)
    try:
        printer.submit(receipt())
        settle(printer)
        assert printer.status() == {"state": OFFLINE, "waiting": 1}
    finally:
        printer.close()


def test_a_late_answer_to_an_earlier_query_does_not_count():
    device = FakeUsbDevice(answer=None)
    device.pending = READY_ANSWER                        # left over from a query that timed out
    with pytest.raises(PrinterOffline):
        confirm(usb_printer(device), 0.1)


def test_the_slip_command_reports_a_printer_that_never_answers(tmp_path, capsys):
    fake = FakeNetworkPrinter("silent")
    try:
        path = write_config(tmp_path, printer={"backend": "network", "host": "127.0.0.1",
                                               "port": fake.port, "timeout_s": 0.5})
        assert main(["slip", "--config", str(path), "receipt", "--tube", "DT00000042"]) == 1
        assert "printer: offline" in capsys.readouterr().out
    finally:
        fake.close()
