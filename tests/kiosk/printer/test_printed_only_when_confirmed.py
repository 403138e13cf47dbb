"""A slip counts as printed only when the printer answers its status after the slip's bytes, saying
paper is present and the cover closed; every other printer keeps the slip for reprint, says so in
the log (slip ids, no names) and on the display. Printers here are real sockets on loopback."""
import logging
import random
import time
from dataclasses import replace

import pytest

from kiosk.framegen import fictional_person
from kiosk.printer import COVER_OPEN, NO_PAPER, OFFLINE, READY, KeptSlips, SlipPrinter
from kiosk.printer.devices import make_connector
from kiosk.printer.table import PrinterService
from samplepoint import print_spool
from tests.kiosk.display.display_rig import qr, running_rig
from tests.kiosk.printer.fake_escpos import FINE, FakeNetworkPrinter, network_config
from tests.kiosk.printer.test_kept_slips import files, receipt, settle

SHORT = 0.1                # seconds a silent printer is waited for: short in tests, never asserted


def wait_until(condition, timeout=300.0):        # a deadline against hanging, not a speed
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def printed_lines(caplog):
    return [r.getMessage() for r in caplog.records
            if r.name == "kiosk.printer" and "printed" in r.getMessage() and "kept" not in r.getMessage()]


@pytest.fixture
def fake(request):
    printer = FakeNetworkPrinter(getattr(request, "param", "answering"))
    yield printer
    printer.close()


def sample_100_people(tmp_path, fake, caplog, timeout_s):
    """Twenty full tubes of five at a kiosk printing a receipt per person on the network printer;
    returns (kept folder, the printer's state on the display, the people)."""
    rng = random.Random(20)
    people = [fictional_person(rng) for _ in range(100)]
    shorten = lambda config: replace(config, printer=replace(config.printer, timeout_s=timeout_s))  # noqa: E731
    with running_rig(tmp_path, shorten, site={"pool_size": 5},
                     printer={"backend": "network", "host": "127.0.0.1", "port": fake.port,
                              "receipt": "per-person", "keep_slips": 100}) as rig:
        service = PrinterService(rig.kiosk.config, rig.store, poll_s=0.05)
        service.attach(rig.kiosk, rig.hub).start()
        try:
            with caplog.at_level(logging.INFO, logger="kiosk.printer"):
                for tube in range(20):
                    rig.kiosk.on_code(b"DT%08d" % tube)
                    for person in people[tube * 5:tube * 5 + 5]:
                        rig.kiosk.on_code(qr(person))
                assert len(rig.store.all_record_ids()) == 20
                wait_until(lambda: rig.hub.snapshot()[1]["printer"]["state"] != "printing")
            state = rig.hub.snapshot()[1]["printer"]
        finally:
            service.stop()
        return print_spool.kept_dir(rig.kiosk.config.device.data_dir), state, people


@pytest.mark.parametrize("fake", ["silent"], indirect=True)
def test_100_receipts_to_a_printer_that_never_reads_are_all_kept(tmp_path, fake, caplog):
    kept, state, people = sample_100_people(tmp_path, fake, caplog, SHORT)
    assert printed_lines(caplog) == []
    assert len(files(kept)) == 100
    assert state == {"state": OFFLINE, "waiting": 100}       # "Máy in không kết nối", 100 phiếu chờ in
    kept_lines = [r.getMessage() for r in caplog.records if "kept for reprint" in r.getMessage()]
    assert len(kept_lines) == 100 and all("slip " in line and "tube DT" in line for line in kept_lines)
    assert not any(p.full_name in caplog.text or p.id_number in caplog.text for p in people)


def test_100_receipts_to_a_confirming_printer_are_printed_and_not_kept(tmp_path, fake, caplog):
    kept, state, _ = sample_100_people(tmp_path, fake, caplog, 10.0)
    assert len(printed_lines(caplog)) == 100
    assert files(kept) == []
    assert state == {"state": READY, "waiting": 0}
    wait_until(lambda: fake.images() == 100)


def slip_printer(fake, tmp_path, timeout_s=SHORT, check_paper=True):
    connect = make_connector(network_config(fake.port, timeout_s, check_paper))
    return SlipPrinter(connect, 58, kept=KeptSlips(tmp_path / "print-kept"), timeout_s=timeout_s,
                       check_paper=check_paper)


@pytest.mark.parametrize("fake", ["silent"], indirect=True)
def test_without_the_paper_check_the_answer_after_the_slip_is_still_needed(tmp_path, fake):
    printer = slip_printer(fake, tmp_path, check_paper=False)
    try:
        for n in range(3):
            printer.submit(receipt(f"DT{n:08d}"))
        settle(printer)
        assert printer.status() == {"state": OFFLINE, "waiting": 3}
        assert len(files(tmp_path / "print-kept")) == 3
    finally:
        printer.close()


@pytest.mark.parametrize("fake", ["stalls"], indirect=True)
def test_a_printer_that_stops_reading_mid_slip_keeps_it(tmp_path, fake):
    """It answers the check before the slip, then takes no more: the write blocks or stays partial
    until the timeout, and no answer follows it."""
    printer = slip_printer(fake, tmp_path)
    try:
        printer.submit(receipt())
        settle(printer)
        assert printer.status() == {"state": OFFLINE, "waiting": 1}
        assert len(files(tmp_path / "print-kept")) == 1
    finally:
        printer.close()


@pytest.mark.parametrize("cause, paper, state", [
    (FINE, 0x72, NO_PAPER),              # paper roll end
    (FINE | 0x20, FINE, NO_PAPER),       # printing stopped by a paper end
    (FINE | 0x04, FINE, COVER_OPEN),
    (FINE | 0x40, FINE, OFFLINE),        # an error occurred
    (FINE, FINE | 0x0C, READY),          # paper near its end still prints
])
def test_what_the_printer_answers_decides(tmp_path, fake, cause, paper, state):
    fake.answers.update({2: bytes([cause]), 4: bytes([paper])})
    printer = slip_printer(fake, tmp_path, timeout_s=10.0)
    try:
        printer.submit(receipt())
        settle(printer)
        assert printer.status()["state"] == state
        assert len(files(tmp_path / "print-kept")) == (0 if state == READY else 1)
    finally:
        printer.close()


@pytest.mark.parametrize("answers", [
    {2: b"\xff", 4: b"\xff"},            # not status bytes
    {2: b"", 4: b""},                    # answers nothing
    {2: bytes([FINE]), 4: b""},          # answers half
    {2: b"OK", 4: b"OK"},                # answers too much
    {2: b"\x00", 4: b"\x00"},
])
def test_a_printer_that_answers_garbage_keeps_the_slip(tmp_path, fake, answers):
    fake.answers = answers
    printer = slip_printer(fake, tmp_path)
    try:
        printer.submit(receipt())
        settle(printer)
        assert printer.status() == {"state": OFFLINE, "waiting": 1}
    finally:
        printer.close()


def test_reprint_and_restart_follow_the_same_rule(tmp_path, fake):
    fake.mode = "silent"                 # for connections from now on
    first = slip_printer(fake, tmp_path)
    try:
        first.submit(receipt("DT00000001"))
        settle(first)
        first.reprint()                  # still silent: still kept, once
        settle(first)
        assert first.status() == {"state": OFFLINE, "waiting": 1}
    finally:
        first.close()
    assert len(files(tmp_path / "print-kept")) == 1

    fake.mode = "answering"              # fixed; the kiosk restarted meanwhile
    fake.answers[4] = bytes([0x72])      # but out of paper: reprint keeps it
    again = slip_printer(fake, tmp_path, timeout_s=10.0)
    try:
        again.reprint()
        settle(again)
        assert again.status() == {"state": NO_PAPER, "waiting": 1}
        fake.answers[4] = bytes([FINE])  # paper in
        again.reprint()
        settle(again)
        assert again.status() == {"state": READY, "waiting": 0}
    finally:
        again.close()
    assert files(tmp_path / "print-kept") == []


@pytest.mark.parametrize("fake", ["floods"], indirect=True)
def test_a_printer_that_never_stops_talking_keeps_the_slip(tmp_path, fake):
    printer = slip_printer(fake, tmp_path)
    try:
        printer.submit(receipt())
        settle(printer)
        assert printer.status() == {"state": OFFLINE, "waiting": 1}
    finally:
        printer.close()
