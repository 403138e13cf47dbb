"""`central export` in four formats: the .xlsx keeps IDs, QIDs and phones exact and never holds a
formula; the CSV has a BOM; machine formats carry raw values; every time in one stated time zone."""
from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date, datetime, timedelta, timezone

import openpyxl
import pytest

from central.db import CentralDB
from central.results import LabResult
from samplepoint import wire
from samplepoint.cli import main

NAME_VI = "NGUYỄN LÊ KHẢ HÂN"
FORMULA = '=HYPERLINK("http://evil.example/","click")'


@pytest.fixture
def db(tmp_path):
    db = CentralDB(tmp_path / "central.db")
    db.add_device("DEV-1", "SITE-1", site_name="Trạm Y tế Phường 1")
    people = (
        wire.Person("personal-qr", "001093029317", NAME_VI, "1987-01-18", "female", "+84944713700",
                    "162979388586171100"),
        wire.Person("cccd", "087654321012", FORMULA, None, "male", "0944713700", None,
                    declared_on_behalf=True, declarer_qid="000000000000000001"),
    )
    record = wire.SampleRecord(
        record_id=wire.new_record_id(), tube_code="00123", pool_size=5, test_type="rt-pcr",
        sample_type="swab", collected_at="2021-08-20T02:15:00+00:00", site_id="SITE-1",
        device_id="DEV-1", staff_id="staff-1", persons=people, clock_synchronised=True)
    db.ingest("DEV-1", [(record, wire.canonical(record.to_json()))])
    db.add_results([LabResult("00123", "rt-pcr", "positive",
                              datetime(2021, 8, 20, 14, 0, tzinfo=timezone(timedelta(hours=7))),
                              "LAB-1")])
    return db


def export(db, tmp_path, fmt: str, *extra) -> bytes:
    out = tmp_path / f"export.{fmt}"
    assert main(["central", "export", "--db", str(db.path), "--format", fmt, "--out", str(out),
                 *extra]) == 0
    return out.read_bytes()


def test_xlsx_keeps_ids_qids_phones_and_names_exact_and_holds_no_formula(db, tmp_path):
    data = export(db, tmp_path, "xlsx", "--columns", "vi")
    sheet = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    header = [c.value for c in sheet[1]]
    rows = [dict(zip(header, (c for c in row))) for row in sheet.iter_rows(min_row=2)]
    assert len(rows) == 2
    first, second = rows
    assert first["Số CCCD/CMND"].value == "001093029317"
    assert first["QID"].value == "162979388586171100"
    assert first["Số điện thoại"].value == "+84944713700"
    assert first["Họ và tên"].value == NAME_VI
    assert first["Mã ống"].value == "00123"
    for cell in (first["Số CCCD/CMND"], first["QID"], first["Số điện thoại"], first["Mã ống"]):
        assert cell.data_type == "s" and cell.number_format == "@"
    assert second["Họ và tên"].value == FORMULA and second["Họ và tên"].data_type == "s"
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        assert not any(b"<f>" in package.read(n) or b"<f " in package.read(n)
                       for n in package.namelist() if n.endswith(".xml"))
    # Dates as dates, in the report zone the header names; booleans and results in words.
    sampled = first["Thời gian lấy mẫu (UTC+07:00)"]
    assert sampled.is_date and sampled.value == datetime(2021, 8, 20, 9, 15)
    assert first["Ngày sinh"].value.date() == date(1987, 1, 18)
    assert first["Thời gian có kết quả (UTC+07:00)"].value == datetime(2021, 8, 20, 14, 0)
    assert (first["Kết quả"].value, first["Khai báo hộ"].value, second["Khai báo hộ"].value) == \
        ("Dương tính", "Không", "Có")
    assert first["Điểm lấy mẫu"].value == "Trạm Y tế Phường 1"
    assert second["QID người khai hộ"].value == "000000000000000001"


def test_spreadsheet_csv_has_a_bom_zone_in_header_and_formula_guard(db, tmp_path):
    data = export(db, tmp_path, "csv", "--columns", "vi")
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0]["Họ và tên"] == NAME_VI and rows[0]["Số CCCD/CMND"] == "001093029317"
    assert rows[0]["Số điện thoại"] == "'+84944713700" and rows[1]["Họ và tên"] == "'" + FORMULA
    assert rows[0]["Thời gian lấy mẫu (UTC+07:00)"] == "2021-08-20 09:15:00"
    assert rows[0]["Khai báo hộ"] == "Không" and rows[0]["Kết quả"] == "Dương tính"
    english = list(csv.DictReader(io.StringIO(export(db, tmp_path, "csv").decode("utf-8-sig"))))
    assert english[1]["Declared on behalf"] == "Yes" and english[0]["Result"] == "positive"


def test_machine_csv_has_raw_values_and_iso_times_with_offset(db, tmp_path):
    data = export(db, tmp_path, "machine-csv")
    assert not data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    assert rows[0]["phone"] == "+84944713700" and rows[1]["full_name"] == FORMULA
    assert rows[0]["collected_at"] == "2021-08-20T09:15:00+07:00"
    assert rows[0]["result_at"] == "2021-08-20T14:00:00+07:00"
    assert rows[0]["declared_on_behalf"] == "false" and rows[1]["declared_on_behalf"] == "true"
    assert rows[0]["site_name"] == "Trạm Y tế Phường 1" and rows[0]["result"] == "positive"


def test_jsonl_is_the_record_as_sent_plus_what_the_central_server_knows(db, tmp_path):
    (line,) = export(db, tmp_path, "jsonl").decode("utf-8").splitlines()
    sample = json.loads(line)
    assert sample["persons"][1]["full_name"] == FORMULA
    assert sample["collected_at"] == "2021-08-20T02:15:00+00:00"        # the device's own text
    assert sample["central"]["sampled_at"] == "2021-08-20T09:15:00+07:00"
    assert sample["central"]["result"] == "positive"


def test_report_zone_comes_from_the_config(db, tmp_path):
    config = tmp_path / "central.toml"
    config.write_text("[central_server]\nreport_utc_offset = \"+00:00\"\n", encoding="utf-8")
    data = export(db, tmp_path, "machine-csv", "--config", str(config))
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    assert rows[0]["collected_at"] == "2021-08-20T02:15:00+00:00"


def test_erased_people_export_empty_personal_cells(db, tmp_path):
    db.erase_personal_data(datetime(2030, 1, 1, tzinfo=timezone.utc), datetime.now(timezone.utc))
    sheet = openpyxl.load_workbook(io.BytesIO(export(db, tmp_path, "xlsx"))).worksheets[0]
    header = [c.value for c in sheet[1]]
    rows = [dict(zip(header, (c.value for c in row))) for row in sheet.iter_rows(min_row=2)]
    assert len(rows) == 2 and all(r["Full name"] in (None, "") for r in rows)
    assert rows[0]["Result"] == "positive"


def test_import_results_accepts_vietnamese_column_names(db, tmp_path, capsys):
    db.add_lab("LAB-2")
    path = tmp_path / "ket-qua.csv"
    path.write_text("\ufeffMã ống;Loại xét nghiệm;Kết quả;Thời gian có kết quả;Phòng xét nghiệm\n"
                    "00123;RT-PCR;Âm tính;21/08/2021 10:00;LAB-2\n", encoding="utf-8")
    assert main(["central", "import-results", "--db", str(db.path), str(path)]) == 0
    assert json.loads(capsys.readouterr().out) == {"created": 1}
