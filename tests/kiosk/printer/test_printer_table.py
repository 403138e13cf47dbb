"""The printer at the table: receipts when a tube closes, portal requests from the spool, a printer
that fails never stopping sampling, and the display saying so with a working Reprint button."""
import json
import random
import time
from dataclasses import replace

import pytest
import requests

from tests.kiosk.display.display_rig import qr, rig  # noqa: F401  (fixtures)
from kiosk.framegen import fictional_person
from kiosk.printer import OFFLINE, READY
from kiosk.printer.devices import DummyPrinters, PrinterOffline
from kiosk.printer.table import PrinterService, receipts_for
from samplepoint import print_spool, signed_codes, wire
from samplepoint import config as config_module
from samplepoint.clock import tz_from_offset
from tests.conftest import write_config

GS_V0 = b"\x1dv0"


def wait_until(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


@pytest.fixture
def people():
    rng = random.Random(8)
    return [fictional_person(rng) for _ in range(6)]


@pytest.fixture
def table(rig):
    """The display rig with a dummy printer attached (receipts per person)."""
    dummy = DummyPrinters()
    service = PrinterService(rig.kiosk.config, rig.store, connect=dummy, poll_s=0.05)
    service.attach(rig.kiosk, rig.hub).start()
    yield service, dummy
    service.stop()


def test_receipts_for_a_closed_tube_follow_the_setting(people):
    record = wire.SampleRecord("r1", "DT00000001", 3, "rt-pcr", "swab", "2021-08-20T09:12:00+07:00",
                               "S", "D", "NV01", tuple(people[:3]))
    tz = tz_from_offset("+07:00")
    kw = dict(site_name="Điểm", tz=tz, result_hours=24)
    assert receipts_for(record, "off", **kw) == []
    assert [r.people for r in receipts_for(record, "per-tube", **kw)] == [3]
    per_person = receipts_for(record, "per-person", **kw)
    assert [r.person_name for r in per_person] == [p.full_name for p in people[:3]]
    assert all(r.masked_id.startswith("*****") and len(r.masked_id) == 9 for r in per_person)
    assert receipts_for(replace(record, status="cancelled"), "per-person", **kw) == []


def test_a_full_tube_prints_one_receipt_per_person(rig, table, people):
    service, dummy = table
    rig.kiosk.on_code(b"DT00000001")
    for p in people[:3]:
        rig.kiosk.on_code(qr(p))
    wait_until(lambda: len(dummy.printed) == 3)
    assert all(GS_V0 in data for data in dummy.printed)
    wait_until(lambda: rig.hub.snapshot()[1]["printer"] == {"state": READY, "waiting": 0})


def test_a_missing_printer_never_stops_sampling_and_the_display_says_so(rig, table, people):
    service, dummy = table
    dummy.fail_with = PrinterOffline("unplugged")
    rig.kiosk.on_code(b"DT00000001")
    for p in people[:3]:
        rig.kiosk.on_code(qr(p))
    rig.kiosk.on_code(b"DT00000002")                # sampling goes on at once
    rig.kiosk.on_code(qr(people[3]))
    tube = rig.store.open_tube_state()
    assert tube.tube_code == "DT00000002" and len(tube.persons) == 1
    assert len(rig.store.all_record_ids()) == 1     # the full tube closed and queued as usual
    wait_until(lambda: rig.hub.snapshot()[1]["printer"] == {"state": OFFLINE, "waiting": 3})
    assert dummy.printed == []

    dummy.fail_with = None                          # plugged back in: staff press Reprint
    answer = requests.post(rig.url + "action/reprint", json={}, timeout=5,
                           headers={"X-Samplepoint-Display": "1"})
    assert answer.status_code == 200
    wait_until(lambda: len(dummy.printed) == 3)
    wait_until(lambda: rig.hub.snapshot()[1]["printer"] == {"state": READY, "waiting": 0})


def test_reprint_is_unavailable_without_a_printer(rig):
    snapshot = rig.hub.snapshot()[1]
    assert snapshot["printer"] is None and snapshot["actions"]["reprint"] is False
    answer = requests.post(rig.url + "action/reprint", json={}, timeout=5,
                           headers={"X-Samplepoint-Display": "1"})
    assert answer.status_code == 501


def test_a_portal_request_prints_the_stored_declaration_slip(rig, table, people, tmp_path):
    service, dummy = table
    key = b"q" * 32
    person = people[4]
    payload = {"declaration_id": "K7M2-9QXD", "id_number": person.id_number,
               "full_name": person.full_name, "date_of_birth": person.date_of_birth,
               "gender": person.gender, "declared_on_behalf": True}
    stored = {**payload, "code": signed_codes.make_code("decl", payload, key)}
    rig.store.add_declaration(
        {"id": "d1", "created_at": "2021-08-20T01:40:00+00:00", "declarer_relation": "volunteer",
         "declarer_name": "", "declarer_phone": "", "province_code": 87, "ward_code": 0,
         "street": "", "consent_at": "2021-08-20T01:40:00+00:00"}, [("K7M2-9QXD", stored)])
    spool = print_spool.spool_dir(rig.kiosk.config.device.data_dir)
    assert print_spool.request_declaration(spool, "K7M2-9QXD", "TNV01", "2021-08-20T08:40:00+07:00")
    assert print_spool.request_declaration(spool, "ZZZZ-ZZZZ", "TNV01", "2021-08-20T08:41:00+07:00")
    (spool / "junk.json").write_text(json.dumps({"kind": "x"}))
    wait_until(lambda: len(dummy.printed) == 1 and not print_spool.waiting(spool))
    assert person.id_number.encode() not in b"".join(p.read_bytes() for p in spool.glob("*"))
    assert GS_V0 in dummy.printed[0]


def test_spool_requests_are_checked(tmp_path):
    assert not print_spool.request_declaration(tmp_path, "../../etc", "v", "2021-08-20T08:40:00")
    assert not print_spool.request_declaration(tmp_path, "K7M2-9QXDX", "v", "2021-08-20T08:40:00")
    (tmp_path / "big.json").write_text("x" * 5000)
    assert print_spool.read_request(tmp_path / "big.json") is None
    (tmp_path / "list.json").write_text("[1]")
    assert print_spool.read_request(tmp_path / "list.json") is None


def test_kiosk_without_a_printer_configured_has_none(tmp_path):
    config = config_module.load(write_config(tmp_path))
    assert PrinterService(config, store=None).enabled is False
