"""Every CSV the product writes neutralises spreadsheet formulas (= + - @ at the start of a cell)."""
from __future__ import annotations

import csv
import io
import random

from hypothesis import given, strategies as st

from central.export import csv_safe, write_csv
from central.importer import ProblemReport
from central.results import LabResult
from kiosk.framegen import fictional_person
from samplepoint.cli import main
from samplepoint import wire

DANGEROUS = "=+-@\t\r"


def assert_safe(text: str) -> None:
    for row in csv.reader(io.StringIO(text)):
        for cell in row:
            assert not cell or cell[0] not in DANGEROUS, cell


@given(st.text(max_size=30))
def test_csv_safe_never_starts_a_cell_with_a_formula_character(value):
    out = csv_safe(value)
    assert not out or out[0] not in DANGEROUS
    assert out.endswith(value)


@given(st.lists(st.text(alphabet="=+-@\t abc1,\"", max_size=12), min_size=3, max_size=3))
def test_sample_export_is_safe(cells):
    name, id_number, tube = cells
    body = {"record_id": "r", "tube_code": tube, "persons": [{"full_name": name, "id_number": id_number,
                                                             "phone": "+84944713700"}]}
    out = io.BytesIO()
    write_csv([{"body": body}], out)
    assert_safe(out.getvalue().decode("utf-8-sig"))


def test_problem_report_is_safe():
    out = io.StringIO()
    report = ProblemReport(out)
    report(2, "-bad", "=1+1")
    report(3, "@SUM(A1)", "+84")
    assert_safe(out.getvalue())


def test_needs_retest_export_is_safe(central, capsys):
    person = fictional_person(random.Random(1))
    hostile = [wire.Person(source="personal-qr", id_number=person.id_number, full_name=name,
                           qid=str(100 + i), phone="+84944713700")
               for i, name in enumerate(["=HYPERLINK(\"x\")", "@SUM(A1)", "-1+2"])]
    record = wire.SampleRecord(
        record_id=wire.new_record_id(), tube_code="-DT1", pool_size=3, test_type="rt-pcr",
        sample_type="swab", collected_at="2021-08-20T09:00:00+07:00", site_id="SITE-TEST",
        device_id="DEV-TEST-01", staff_id="s", persons=tuple(hostile))
    central.db.ingest("DEV-TEST-01", [(record, wire.canonical(record.to_json()))])
    from datetime import datetime, timezone
    central.db.add_results([LabResult("-DT1", "rt-pcr", "positive",
                                      datetime(2021, 8, 20, 12, tzinfo=timezone.utc), "LAB")])
    assert main(["central", "needs-retest", "--db", str(central.db.path)]) == 0
    text = capsys.readouterr().out.removeprefix("\ufeff")
    assert text.count("\n") == 4
    assert_safe(text)
