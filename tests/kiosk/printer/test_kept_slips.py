"""Slips that failed to print survive a kiosk restart (KeptSlips on disk), are dropped once printed
or when stale, and a hostile or broken kept file is dropped, never printed and never a crash."""
import json
import os
import time
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings, strategies as st

from kiosk.printer import KEEP_FAILED, OFFLINE, READY, KeptSlips, SlipPrinter
from kiosk.printer.devices import DummyPrinters, PrinterOffline
from kiosk.printer.slips import DeclarationSlip, TubeReceipt

VN = timezone(timedelta(hours=7))
AT = datetime(2026, 11, 26, 9, 12, tzinfo=VN)


def receipt(code="DT00000001", name="Nguyễn Thị Hoa"):
    return TubeReceipt("Trạm Y tế Phường 7", code, "rt-pcr", AT, people=5, person_name=name,
                       birth_year="1961", masked_id="********9012", note="Hỏi kết quả: 0277 3851 234")


def declaration():
    return DeclarationSlip("Trạm Y tế Phường 7", "K7M2-9QXD", "SP2.decl.ABC", "Trần Văn Bình", "1948",
                           "********3456", AT, by_volunteer=True)


def settle(printer, timeout=10.0):
    deadline = time.monotonic() + timeout
    while printer.status()["state"] == "printing" and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)


def unplugged(kept: KeptSlips):
    """(the dummy, a SlipPrinter on it) with the printer unplugged; plug it in with
    `dummy.fail_with = None`."""
    dummy = DummyPrinters()
    dummy.fail_with = PrinterOffline("unplugged")
    return dummy, SlipPrinter(dummy, 58, kept=kept)


def files(folder):
    return sorted(p.name for p in folder.glob("*.json")) if folder.is_dir() else []


def test_failed_slips_outlive_a_restart_and_print_on_reprint(tmp_path):
    folder = tmp_path / "print-kept"
    dummy, first = unplugged(KeptSlips(folder))
    first.submit(receipt())
    first.submit(declaration())
    settle(first)
    first.close()
    assert first.status() == {"state": OFFLINE, "waiting": 2}
    assert len(files(folder)) == 2
    assert oct(os.stat(folder / files(folder)[0]).st_mode & 0o777) == "0o600"

    # The kiosk restarts (watchdog, power cut): the two slips still wait for "In lại".
    dummy.fail_with = None
    again = SlipPrinter(dummy, 58, kept=KeptSlips(folder))
    try:
        assert again.status() == {"state": READY, "waiting": 2}
        again.reprint()
        settle(again)
        assert again.status() == {"state": READY, "waiting": 0}
        assert len(dummy.printed) == 2
        assert files(folder) == [], "printed slips are no longer kept"
    finally:
        again.close()
    assert SlipPrinter(dummy, 58, kept=KeptSlips(folder)).status()["waiting"] == 0


def test_a_slip_that_fails_again_is_kept_once(tmp_path):
    folder = tmp_path / "print-kept"
    dummy, printer = unplugged(KeptSlips(folder))
    try:
        printer.submit(receipt())
        settle(printer)
        for _ in range(3):
            printer.reprint()
            settle(printer)
        assert printer.status() == {"state": OFFLINE, "waiting": 1}
        assert len(files(folder)) == 1
    finally:
        printer.close()


def test_the_kept_slip_reads_back_equal(tmp_path):
    kept = KeptSlips(tmp_path)
    for slip in (receipt(), declaration()):
        kept.save(slip)
    assert [job.slip for job in kept.load()] == [receipt(), declaration()]


def test_beyond_the_limit_the_oldest_is_dropped_from_disk_too(tmp_path):
    folder = tmp_path / "print-kept"
    dummy, printer = unplugged(KeptSlips(folder))
    try:
        for n in range(KEEP_FAILED + 3):
            printer.submit(receipt(f"DT{n:08d}"))
        settle(printer)
        assert printer.status()["waiting"] == KEEP_FAILED
    finally:
        printer.close()
    assert len(files(folder)) == KEEP_FAILED
    codes = [job.slip.tube_code for job in KeptSlips(folder).load()]
    assert codes == [f"DT{n:08d}" for n in range(3, KEEP_FAILED + 3)]


def test_stale_kept_slips_are_dropped(tmp_path):
    old = KeptSlips(tmp_path, clock=lambda: datetime.now(timezone.utc) - timedelta(hours=30))
    old.save(receipt())
    KeptSlips(tmp_path).save(declaration())
    assert [type(job.slip).__name__ for job in KeptSlips(tmp_path).load()] == ["DeclarationSlip"]
    assert len(files(tmp_path)) == 1


def test_a_folder_that_cannot_be_written_keeps_the_slip_in_memory(tmp_path):
    blocker = tmp_path / "print-kept"
    blocker.write_text("a file where the folder should be")
    dummy, printer = unplugged(KeptSlips(blocker))
    try:
        printer.submit(receipt())
        settle(printer)
        assert printer.status() == {"state": OFFLINE, "waiting": 1}
        dummy.fail_with = None
        printer.reprint()
        settle(printer)
        assert len(dummy.printed) == 1
    finally:
        printer.close()


HOSTILE = [
    b"", b"not json", b"[]", b"{}", b'{"kind": "TubeReceipt"}',
    b'{"kind": "Exploit", "kept_at": "2099-01-01T00:00:00+00:00", "fields": {}}',
    b'{"kind": "TubeReceipt", "kept_at": "2099-01-01T00:00:00", "fields": {}}',
    json.dumps({"kind": "TubeReceipt", "kept_at": datetime.now(timezone.utc).isoformat(),
                "fields": {"site_name": 1, "tube_code": "x", "test_type": "x",
                           "collected_at": AT.isoformat()}}).encode(),
    json.dumps({"kind": "TubeReceipt", "kept_at": datetime.now(timezone.utc).isoformat(),
                "fields": {"site_name": "s", "tube_code": "x", "test_type": "x",
                           "collected_at": "yesterday"}}).encode(),
    json.dumps({"kind": "TubeReceipt", "kept_at": datetime.now(timezone.utc).isoformat(),
                "fields": {"site_name": "s", "tube_code": "x", "test_type": "x",
                           "collected_at": AT.isoformat(), "people": "many"}}).encode(),
    b"\xff\xfe\x00garbage", b"{" * 50_000, b"[" * 16_000,
    json.dumps({"kind": "TubeReceipt", "kept_at": "9999-12-31T23:59:59-23:59",
                "fields": {"site_name": "s", "tube_code": "x", "test_type": "x",
                           "collected_at": AT.isoformat()}}).encode(),
]


def test_hostile_kept_files_are_dropped_not_printed(tmp_path):
    for n, body in enumerate(HOSTILE):
        (tmp_path / f"{n:03d}.json").write_bytes(body)
    KeptSlips(tmp_path).save(receipt())
    loaded = KeptSlips(tmp_path).load()
    assert [job.slip for job in loaded] == [receipt()]
    assert len(files(tmp_path)) == 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12),
                                                                                 inner, max_size=6),
                    max_leaves=30))
def test_any_json_in_the_kept_folder_never_crashes_loading(tmp_path, doc):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"kind": "TubeReceipt", "kept_at": datetime.now(timezone.utc).isoformat(),
                                "fields": doc}))
    for job in KeptSlips(tmp_path).load():
        assert isinstance(job.slip, TubeReceipt)
    path.unlink(missing_ok=True)


def test_slips_queued_but_not_yet_tried_survive_a_stop(tmp_path):
    """A network printer that is off takes its timeout per slip: slips still in the queue when the
    kiosk stops (or loses power) were already on disk."""
    import threading
    folder = tmp_path / "print-kept"
    gate = threading.Event()

    def hanging():
        gate.wait(10)
        raise PrinterOffline("timed out")
    first = SlipPrinter(hanging, 58, kept=KeptSlips(folder))
    for n in range(5):
        first.submit(receipt(f"DT{n:08d}"))
    assert len(files(folder)) == 5                    # on disk before any attempt
    first.close(timeout=0.2)                          # the kiosk stops mid-timeout
    gate.set()
    again = SlipPrinter(DummyPrinters(), 58, kept=KeptSlips(folder))
    try:
        assert again.status()["waiting"] == 5
        assert [job.slip.tube_code for job in KeptSlips(folder).load()] == \
            [f"DT{n:08d}" for n in range(5)]
    finally:
        again.close()


def test_a_kiosk_running_for_days_does_not_reprint_a_stale_slip(tmp_path):
    now = [datetime.now(timezone.utc)]
    kept = KeptSlips(tmp_path / "print-kept", clock=lambda: now[0])
    dummy, printer = unplugged(kept)
    try:
        printer.submit(receipt())
        settle(printer)
        assert printer.status()["waiting"] == 1
        now[0] += timedelta(hours=25)
        dummy.fail_with = None
        printer.reprint()
        settle(printer)
        assert dummy.printed == [] and files(tmp_path / "print-kept") == []
    finally:
        printer.close()


def test_retention_prunes_kept_slips_whatever_the_printer(tmp_path):
    """The forwarder's retention run deletes a day-old kept slip and a leftover temp file even on a
    device whose printer was since switched off in the configuration."""
    from samplepoint import print_spool
    folder = print_spool.kept_dir(tmp_path)
    KeptSlips(folder).save(receipt("DT00000001"))
    fresh = KeptSlips(folder).save(receipt("DT00000002"))
    (folder / ".x.json.tmp123").write_text("half")
    old = time.time() - 25 * 3600
    for path in folder.iterdir():
        if path.name != fresh:
            os.utime(path, (old, old))
    assert print_spool.prune_kept(folder) == 2
    assert files(folder) == [fresh] and not (folder / ".x.json.tmp123").exists()
    assert print_spool.prune_kept(tmp_path / "nowhere") == 0
