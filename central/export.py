"""Exports of stored samples, one row per person with the verdict of the tube's results, in four formats.

`xlsx` and `csv` are for people opening the file in a spreadsheet: Vietnamese or English column
names, booleans as Có/Không (Yes/No), times in the report time zone named in the header; the `csv`
starts with a UTF-8 BOM (Excel then reads Vietnamese right) and neutralises formulas, while the
`xlsx` stores ID, phone and QID cells as text and dates as dates. `machine-csv` and `jsonl` are for
programs: raw values, ISO 8601 times with their offset, no formula guard. Every writer takes the
items of CentralDB.export_samples() and a binary stream, and returns how many rows it wrote.
"""
from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import IO, Callable, Iterable

# (key, English header, Vietnamese header, kind). Kinds: code = text that looks like a number
# (leading zeros, 18 digits, +84), time, date, bool, int, text.
COLUMNS = [
    ("record_id", "Record ID", "Mã bản ghi", "code"),
    ("tube_code", "Tube code", "Mã ống", "code"),
    ("test_type", "Test type", "Loại xét nghiệm", "text"),
    ("sample_type", "Sample type", "Loại mẫu", "text"),
    ("collected_at", "Sampled at", "Thời gian lấy mẫu", "time"),
    ("received_at", "Received at", "Thời gian nhận", "time"),
    ("site_id", "Site ID", "Mã điểm lấy mẫu", "code"),
    ("site_name", "Site", "Điểm lấy mẫu", "text"),
    ("device_id", "Device", "Thiết bị", "code"),
    ("staff_id", "Staff", "Nhân viên", "code"),
    ("pool_size", "Pool size", "Số người/ống", "int"),
    ("position", "Position", "Thứ tự", "int"),
    ("source", "Code read", "Loại mã", "text"),
    ("id_number", "ID number", "Số CCCD/CMND", "code"),
    ("full_name", "Full name", "Họ và tên", "text"),
    ("date_of_birth", "Date of birth", "Ngày sinh", "date"),
    ("gender", "Gender", "Giới tính", "text"),
    ("phone", "Phone", "Số điện thoại", "code"),
    ("qid", "QID", "QID", "code"),
    ("declared_on_behalf", "Declared on behalf", "Khai báo hộ", "bool"),
    ("declarer_qid", "Declarer QID", "QID người khai hộ", "code"),
    ("status", "Tube status", "Trạng thái ống", "text"),
    ("result", "Result", "Kết quả", "text"),
    ("result_at", "Result at", "Thời gian có kết quả", "time"),
]
CSV_COLUMNS = [c[0] for c in COLUMNS]
PERSON_COLUMNS = ["source", "id_number", "full_name", "date_of_birth", "gender", "phone", "qid",
                  "declared_on_behalf", "declarer_qid"]
SAMPLE_COLUMNS = ["record_id", "tube_code", "test_type", "sample_type", "site_id", "device_id",
                  "staff_id", "pool_size", "status"]
WORDS = {"vi": {"negative": "Âm tính", "positive": "Dương tính", "invalid": "Không xác định",
                "conflict": "Mâu thuẫn — cần xét nghiệm lại",
                "male": "Nam", "female": "Nữ", "unknown": "Không rõ", "closed": "Đã đóng",
                "cancelled": "Đã huỷ", "rt-pcr": "RT-PCR", "rapid-antigen": "Test nhanh kháng nguyên",
                True: "Có", False: "Không"},
         "en": {True: "Yes", False: "No"}}
BOM = "\ufeff"


def csv_safe(value) -> str:
    """Neutralise spreadsheet formula injection: a cell starting with = + - @ (or tab/CR) gets a '."""
    text = "" if value is None else str(value)
    if text and text[0] in "=+-@\t\r":
        return "'" + text
    return text


def since_utc(since: str | None) -> str | None:
    """An ISO time from the command line as the UTC text the database compares against."""
    if not since:
        return None
    moment = datetime.fromisoformat(since)
    if moment.tzinfo is None:
        raise ValueError("--since needs a UTC offset, e.g. 2021-08-20T00:00:00+07:00")
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def zone_label(tz: tzinfo) -> str:
    """'UTC+07:00': how every header names the report time zone."""
    offset = tz.utcoffset(None) or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _moment(text: str | None, tz: tzinfo) -> datetime | None:
    """A stored time (ISO, any offset; naive means UTC) in the report zone, to the second."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(tz).replace(microsecond=0)


def person_rows(items: Iterable[dict], tz: tzinfo) -> Iterable[dict]:
    """One dict per person, raw values: times as aware datetimes in `tz`, booleans as bool."""
    for item in items:
        sample = item["body"]
        shared = {c: sample.get(c) for c in SAMPLE_COLUMNS}
        shared.update(site_name=item.get("site_name"), result=item.get("result"),
                      collected_at=_moment(item.get("sampled_at"), tz),
                      received_at=_moment(item.get("received_at"), tz),
                      result_at=_moment(item.get("result_at"), tz))
        for position, person in enumerate(sample.get("persons") or [], start=1):
            person = person if isinstance(person, dict) else {}
            # Each column from its own level: unknown person fields never shadow the sample's.
            yield {**shared, **{c: person.get(c) for c in PERSON_COLUMNS}, "position": position}


def headers(lang: str, tz: tzinfo) -> list[str]:
    label = zone_label(tz)
    names = [vi if lang == "vi" else en for _, en, vi, _ in COLUMNS]
    return [f"{name} ({label})" if kind == "time" else name
            for name, (_, _, _, kind) in zip(names, COLUMNS)]


def _shown(value, kind: str, lang: str):
    """A value as a person reads it in a spreadsheet cell (before any formula guard)."""
    if value is None:
        return ""
    if kind == "time":
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if kind == "bool" or isinstance(value, str):
        return WORDS[lang].get(value, value) if kind in ("bool", "text") else value
    return value


def write_csv(items: Iterable[dict], out: IO[bytes], *, tz: tzinfo = timezone.utc,
              lang: str = "en") -> int:
    """The spreadsheet CSV: BOM, headers naming the zone, Có/Không, formula guard on every cell."""
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    try:
        text.write(BOM)
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(headers(lang, tz))
        rows = 0
        for row in person_rows(items, tz):
            writer.writerow([csv_safe(_shown(row[key], kind, lang)) for key, _, _, kind in COLUMNS])
            rows += 1
        return rows
    finally:
        text.detach()


def _raw(value, kind: str) -> str:
    if value is None:
        return ""
    if kind == "time":
        return value.isoformat()
    if kind == "bool":
        return "true" if value else "false"
    return str(value)


def write_machine_csv(items: Iterable[dict], out: IO[bytes], *, tz: tzinfo = timezone.utc,
                      lang: str = "en") -> int:
    """CSV for programs: key names, raw values, ISO times with offset, no BOM, no formula guard."""
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    try:
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        rows = 0
        for row in person_rows(items, tz):
            writer.writerow([_raw(row[key], kind) for key, _, _, kind in COLUMNS])
            rows += 1
        return rows
    finally:
        text.detach()


def write_jsonl(items: Iterable[dict], out: IO[bytes], *, tz: tzinfo = timezone.utc,
                lang: str = "en") -> int:
    """One JSON object per sample: the record as the device sent it, plus what the central server
    knows of it under "central" (times in the report zone with their offset)."""
    count = 0
    for item in items:
        known = {"site_name": item.get("site_name"), "result": item.get("result")}
        for name in ("received_at", "sampled_at", "result_at"):
            moment = _moment(item.get(name), tz)
            known[name] = moment.isoformat() if moment else None
        line = {**item["body"], "central": known}
        out.write((json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8"))
        count += 1
    return count


def write_xlsx(items: Iterable[dict], out: IO[bytes], *, tz: tzinfo = timezone.utc,
               lang: str = "vi") -> int:
    from central.export_xlsx import write_xlsx as write
    return write(items, out, tz=tz, lang=lang)


# Format name → writer; `samplepoint central export --format` and the console offer these.
EXPORTERS: dict[str, Callable[..., int]] = {
    "xlsx": write_xlsx,
    "csv": write_csv,
    "machine-csv": write_machine_csv,
    "jsonl": write_jsonl,
}
MEDIA_TYPES = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
               "csv": "text/csv; charset=utf-8", "machine-csv": "text/csv; charset=utf-8",
               "jsonl": "application/x-ndjson"}
SUFFIXES = {"xlsx": ".xlsx", "csv": ".csv", "machine-csv": ".machine.csv", "jsonl": ".jsonl"}


def as_date(value) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
