"""Reading a lab's results CSV: good rows, bad rows by line, whole-file problems, hostile bytes."""
from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings, strategies as st

from central.results import MAX_LINE, CsvFileError, LabResult, parse_time, read_csv, validate

TZ = timezone(timedelta(hours=7))
NOW = datetime(2021, 8, 21, 12, 0, tzinfo=timezone.utc)
HEADER = "tube_code,test_type,result,result_time,lab\n"


def rows(text: str | bytes):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return list(read_csv(io.BytesIO(data), tz=TZ, now=NOW))


def test_good_rows_come_out_with_their_line_numbers():
    out = rows(HEADER + "DT00000001,rt-pcr,negative,2021-08-20T14:30:00+07:00,LAB-1\n"
                        "DT00000002,RT-PCR,Dương tính,20/08/2021 15:00,LAB-1\n")
    assert [line for line, _ in out] == [2, 3]
    first, second = out[0][1], out[1][1]
    assert first == LabResult("DT00000001", "rt-pcr", "negative",
                              datetime(2021, 8, 20, 14, 30, tzinfo=TZ), "LAB-1")
    assert second.result == "positive" and second.result_at == datetime(2021, 8, 20, 15, 0, tzinfo=TZ)
    assert first.result_at_utc == "2021-08-20T07:30:00.000+00:00"


def test_bad_rows_are_reported_and_good_rows_around_them_still_come_out():
    out = rows(HEADER
               + "DT1,rt-pcr,negative,2021-08-20T14:30:00+07:00,LAB-1\n"
               + "DT2,rt-pcr,maybe,2021-08-20T14:30:00+07:00,LAB-1\n"
               + "DT3,pcr,negative,yesterday,LAB-1\n"
               + "DT4,urine,negative,2021-08-20T14:30:00+07:00,LAB-1\n"
               + ",rt-pcr,negative,2021-08-20T14:30:00+07:00,LAB-1\n"
               + "DT5,rt-pcr,negative\n"
               + "\n"
               + "DT6,rt-pcr,negative,2031-08-20T14:30:00+07:00,LAB-1\n"
               + "DT7,rt-pcr,invalid,2021-08-20T14:30:00+07:00,LAB-1\n")
    by_line = dict(out)
    assert isinstance(by_line[2], LabResult) and isinstance(by_line[10], LabResult)
    assert "result must be" in by_line[3]
    assert "result_time" in by_line[4]
    assert "test_type" in by_line[5]
    assert "tube_code" in by_line[6]
    assert "has 3 fields" in by_line[7]
    assert 8 not in by_line                       # blank lines are skipped silently
    assert "future" in by_line[9]


def test_missing_columns_fail_the_whole_file_with_the_names():
    with pytest.raises(CsvFileError, match="missing column.*result_time.*lab"):
        rows("tube_code,test_type,result\nDT1,rt-pcr,negative\n")
    with pytest.raises(CsvFileError, match="empty"):
        rows("")
    with pytest.raises(CsvFileError, match="header line is not readable"):
        rows(b"\xc2\x80\r\x01")
    with pytest.raises(CsvFileError, match="more than once"):
        rows("tube_code,test_type,result,result_time,lab,lab\n")


def test_header_is_forgiving_about_case_spaces_order_aliases_and_extra_columns():
    out = rows("\ufeffLab ID;Result At;Tube Code;Result;Test Type;Ghi chú\n"
               "LAB-1;2021-08-20 14:30;DT1;NEGATIVE;test nhanh;=cmd()\n")
    (line, result), = out
    assert line == 2 and result.test_type == "rapid-antigen" and result.tube_code == "DT1"
    assert result.result_at.utcoffset() == timedelta(hours=7)      # naive time: the site's offset


def test_wrong_encodings():
    with pytest.raises(CsvFileError, match="UTF-16"):
        rows(HEADER.encode("utf-16"))
    legacy = (HEADER + "DT1,rt-pcr,âm tính,2021-08-20T14:30:00+07:00,LAB-1\n"
              + "DT2,rt-pcr,negative,2021-08-20T14:30:00+07:00,LAB-ĐÔNG\n").encode("cp1258")
    out = dict(rows(legacy))
    assert "not UTF-8" in out[2] and "not UTF-8" in out[3]
    with pytest.raises(CsvFileError, match="not UTF-8"):
        rows("tube_code,test_type,result,result_time,lab,ghi chú\n".encode("cp1258"))


def test_overlong_and_broken_lines_are_reported_without_reading_them_whole():
    huge = "DT1,rt-pcr,negative,2021-08-20T14:30:00+07:00," + "X" * (3 * MAX_LINE) + "\n"
    out = dict(rows(HEADER + huge + "DT2,rt-pcr,negative,2021-08-20T14:30:00+07:00,LAB-1\n"))
    assert "longer than" in out[2]
    assert isinstance(out[3], LabResult)


def test_quoted_fields_and_control_characters():
    out = dict(rows(HEADER + '"DT1","rt-pcr","negative","2021-08-20T14:30:00+07:00","LAB, north"\n'
                    + 'DT2,rt-pcr,negative,2021-08-20T14:30:00+07:00,"LAB\n2"\n'
                    + "DT3,rt-pcr,negative,2021-08-20T14:30:00+07:00,LAB-1\n"))
    assert out[2].lab_id == "LAB, north"
    assert "lab" in out[3]                          # a newline inside a field is a control character
    assert isinstance(out[5], LabResult)            # line numbers count physical lines


def test_parse_time_formats():
    assert parse_time("20/08/2021 14:30:15", TZ) == datetime(2021, 8, 20, 14, 30, 15, tzinfo=TZ)
    assert parse_time("2021-08-20T07:30:00Z", TZ) == datetime(2021, 8, 20, 7, 30, tzinfo=timezone.utc)
    for bad in ("31/02/2021 10:00", "2021-13-01", "", "x" * 100, "20/08/2021"):
        assert parse_time(bad, TZ) is None


def test_validate_api_items_takes_the_lab_from_the_token():
    item = {"tube_code": "DT1", "test_type": "rt-pcr", "result": "negative",
            "result_time": "2021-08-20T14:30:00+07:00"}
    assert validate(item, tz=TZ, now=NOW, lab_id="LAB-9").lab_id == "LAB-9"
    assert "lab" in validate(item, tz=TZ, now=NOW)
    for hostile in ({**item, "tube_code": 5}, {**item, "result": None}, {**item, "result_time": []},
                    {**item, "tube_code": "A" * 65}, {**item, "tube_code": "DT\x001"}):
        assert isinstance(validate(hostile, tz=TZ, now=NOW, lab_id="L"), str)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_any_bytes_after_a_good_header_never_crash(data):
    out = rows(HEADER.encode() + data)
    assert all(isinstance(line, int) and line >= 2 for line, _ in out)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_as_a_whole_file_either_read_or_refuse_cleanly(data):
    try:
        rows(data)
    except CsvFileError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["tube_code", "test_type", "result", "result_time", "lab"]),
                       st.one_of(st.text(max_size=50), st.integers(), st.none(), st.lists(st.none()))))
def test_validate_never_crashes_on_hostile_items(item):
    assert isinstance(validate(item, tz=TZ, now=NOW), (LabResult, str))
