"""Console pages by role: fleet, tube and person look-ups (audited), results upload with bad rows by
line, the needs-retest list, exports (audited) and the audit log."""
from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone

import openpyxl
import pytest

from central.results import LabResult
from samplepoint import wire
from tests.central.console.conftest import form_token

VN = timezone(timedelta(hours=7))
PERSON = wire.Person("personal-qr", "001093029317", "NGUYỄN VĂN AN", "1987-01-18", "male",
                     "0944713700", "162979388586171100")

ALLOWED = {
    "/console/": {"admin", "cdc"},
    "/console/samples": {"admin", "cdc", "lab"},
    "/console/results": {"admin", "lab"},
    "/console/retest": {"admin", "cdc"},
    "/console/export": {"admin", "cdc"},
    "/console/audit": {"admin"},
}


def ingest(db, tube="DT00000001", persons=(PERSON,), collected="2021-08-20T09:00:00+07:00",
           device="DEV-1"):
    record = wire.SampleRecord(
        record_id=wire.new_record_id(), tube_code=tube, pool_size=len(persons), test_type="rt-pcr",
        sample_type="swab", collected_at=collected, site_id="SITE-1", device_id=device,
        staff_id="s", persons=tuple(persons), clock_synchronised=True)
    db.ingest(device, [(record, wire.canonical(record.to_json()))])
    return record


@pytest.mark.parametrize("path", ALLOWED)
@pytest.mark.parametrize("username", ["admin", "cdc", "lab"])
def test_each_role_sees_only_its_pages(console, path, username):
    answer = console.client(username).get(path)
    assert answer.status_code == (200 if username in ALLOWED[path] else 403), (path, username)
    if answer.status_code == 403:
        assert "không có quyền" in answer.get_data(as_text=True)


def test_fleet_shows_every_device_with_its_state_and_a_chart(console):
    db = console.db
    db.add_device("DEV-1", "SITE-1", site_name="Trạm Y tế Phường 1")
    db.add_device("DEV-2", "SITE-2")
    ingest(db)
    db.record_heartbeat("DEV-1", json.dumps({
        "queue_depth": 3, "quarantined": 1, "last_scan_at": "2021-08-20T09:00:00+07:00",
        "version": "0.1.0", "disk_free_bytes": 1, "disk_total_bytes": 2,
        "oldest_pending_at": (datetime.now(VN) - timedelta(hours=1)).isoformat(),
        "sent_at": datetime.now(VN).isoformat()}), datetime.now(timezone.utc).isoformat())
    page = console.client("cdc").get("/console/?day=2021-08-20").get_data(as_text=True)
    assert 'data-device="DEV-1"' in page and 'class="state-lagging"' in page
    assert 'data-device="DEV-2"' in page and "Mất liên lạc" in page
    assert "Trạm Y tế Phường 1" in page and "<svg" in page and 'data-site="SITE-1"' in page
    assert '<meta http-equiv="refresh"' in page
    empty = console.client("cdc").get("/console/?day=2021-08-01").get_data(as_text=True)
    assert 'id="chart-empty"' in empty


def test_tube_look_up_shows_people_only_to_roles_that_may_see_them(console):
    console.db.add_device("DEV-1", "SITE-1")
    ingest(console.db)
    assert "NGUYỄN VĂN AN" in console.client("cdc").get(
        "/console/samples?code=DT00000001").get_data(as_text=True)
    lab_page = console.client("lab").get("/console/samples?code=DT00000001").get_data(as_text=True)
    assert "NGUYỄN VĂN AN" not in lab_page and "1 người" in lab_page
    assert [e["action"] for e in console.db.audit_log()].count("sample-lookup") == 2


def test_person_look_up_is_audited_without_the_full_number(console):
    console.db.add_device("DEV-1", "SITE-1")
    ingest(console.db)
    console.db.add_results([LabResult("DT00000001", "rt-pcr", "negative",
                                      datetime.now(timezone.utc) - timedelta(days=1), "LAB-1")])
    client = console.client("cdc")
    token = form_token(client, "/console/samples")
    page = client.post("/console/person", data={"kind": "id_number", "value": PERSON.id_number,
                                                 "csrf_token": token}).get_data(as_text=True)
    assert "Âm tính" in page
    entry = console.db.audit_log()[0]
    assert entry["action"] == "person-lookup" and PERSON.id_number not in entry["detail"]
    assert entry["detail"].endswith("9317: expired") or entry["detail"].endswith("9317: valid")
    refused = console.client("lab").post("/console/person", data={"kind": "qid", "value": "1"})
    assert refused.status_code == 403


def test_results_upload_shows_each_bad_row_by_line(console):
    console.db.add_device("DEV-1", "SITE-1")
    ingest(console.db)
    client = console.client("lab")
    token = form_token(client, "/console/results")
    text = ("Mã ống,Loại xét nghiệm,Kết quả,Thời gian có kết quả,Phòng xét nghiệm\n"
            "DT00000001,RT-PCR,Âm tính,20/08/2021 15:00,LAB-1\n"
            "DT00000001,RT-PCR,maybe,20/08/2021 15:00,LAB-1\n"
            "DT99999999,RT-PCR,Âm tính,20/08/2021 15:00,LAB-1\n")
    page = client.post("/console/results", data={
        "csrf_token": token, "file": (io.BytesIO(text.encode("utf-8")), "ket-qua.csv")},
        content_type="multipart/form-data").get_data(as_text=True)
    assert "1 kết quả mới" in page and "2 dòng có lỗi" in page
    assert "<td class=\"num\">3</td>" in page and "<td class=\"num\">4</td>" in page
    assert console.db.count_results() == 1
    assert console.db.audit_log()[0]["action"] == "results-upload"


def test_export_downloads_an_xlsx_and_is_audited(console):
    console.db.add_device("DEV-1", "SITE-1", site_name="Trạm 1")
    ingest(console.db)
    client = console.client("cdc")
    token = form_token(client, "/console/export")
    answer = client.post("/console/export", data={"csrf_token": token, "format": "xlsx",
                                                  "columns": "vi", "since": ""})
    assert answer.status_code == 200
    assert ".xlsx" in answer.headers["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(answer.data)).worksheets[0]
    assert sheet.cell(row=2, column=14).value == PERSON.id_number
    entry = console.db.audit_log()[0]
    assert entry["action"] == "export" and entry["detail"].startswith("xlsx") and "1 rows" in entry["detail"]
    assert client.post("/console/export", data={"format": "csv"}).status_code == 400   # no token


def test_needs_retest_list_and_download(console):
    console.db.add_device("DEV-1", "SITE-1")
    second = wire.Person("cccd", "087654321012", "TRẦN THỊ BÌNH")
    ingest(console.db, tube="DT00000009", persons=(PERSON, second))
    console.db.add_results([LabResult("DT00000009", "rt-pcr", "positive",
                                      datetime(2021, 8, 20, 15, tzinfo=VN), "LAB-1")])
    client = console.client("cdc")
    page = client.get("/console/retest").get_data(as_text=True)
    assert "TRẦN THỊ BÌNH" in page and "NGUYỄN VĂN AN" in page
    token = form_token(client, "/console/retest")
    csv_file = client.post("/console/retest.csv", data={"csrf_token": token})
    assert csv_file.data.startswith(b"\xef\xbb\xbf") and "TRẦN THỊ BÌNH".encode() in csv_file.data


def test_console_pages_forbid_framing_caching_and_foreign_resources(console):
    answer = console.client("admin").get("/console/audit")
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in answer.headers["Content-Security-Policy"]


def test_the_api_keeps_its_json_errors(console):
    answer = console.app.test_client().get("/api/v1/nothing")
    assert answer.status_code == 404 and answer.get_json()["error"] == "not-found"


def test_results_files_larger_than_a_device_batch_upload(console):
    client = console.client("lab")
    token = form_token(client, "/console/results")
    filler = ("," * 4 + " " * 1019 + "\n") * 9 * 1024                  # 9 MiB of empty rows
    text = "tube_code,test_type,result,result_time,lab\n" + filler
    answer = client.post("/console/results", data={
        "csrf_token": token, "file": (io.BytesIO(text.encode()), "big.csv")},
        content_type="multipart/form-data")
    assert answer.status_code == 200 and "0 kết quả mới" in answer.get_data(as_text=True)


@pytest.mark.parametrize("code", ["%00", "DT%0000001", "%ED%A0%80", "x" * 5000])
def test_odd_tube_searches_show_a_page_not_an_error(console, code):
    assert console.client("cdc").get("/console/samples?code=" + code).status_code == 200
