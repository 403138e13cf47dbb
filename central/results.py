"""Lab results in: validating one result, and streaming a lab's CSV export into results line by line.

Pure apart from reading the stream: each data row comes out as (line number, LabResult) or (line
number, problem text), so a bad row is reported where the lab can find it while good rows go on.
Memory stays bounded whatever the file: lines are read at most MAX_LINE bytes at a time and never
collected. Whole-file problems (not UTF-8, no header, missing columns) raise CsvFileError.
"""
from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import BinaryIO, Iterator

from samplepoint import wire

RESULTS = ("negative", "positive", "invalid")
COLUMNS = ("tube_code", "test_type", "result", "result_time", "lab")
MAX_LINE = 64 * 1024
MAX_FUTURE = timedelta(days=1)
_ALIASES = {
    "result": {"negative": "negative", "âm tính": "negative", "am tinh": "negative",
               "positive": "positive", "dương tính": "positive", "duong tinh": "positive",
               "invalid": "invalid", "không xác định": "invalid", "khong xac dinh": "invalid"},
    "test_type": {"rt-pcr": "rt-pcr", "rtpcr": "rt-pcr", "rt pcr": "rt-pcr", "pcr": "rt-pcr",
                  "rapid-antigen": "rapid-antigen", "rapid antigen": "rapid-antigen",
                  "antigen": "rapid-antigen", "test nhanh": "rapid-antigen"},
}
_HEADER_ALIASES = {"result_at": "result_time", "lab_id": "lab", "tube": "tube_code",
                   # Vietnamese names, as labs type them and as our own exports write them
                   "mã_ống": "tube_code", "ma_ong": "tube_code", "mã_ống_mẫu": "tube_code",
                   "loại_xét_nghiệm": "test_type", "loai_xet_nghiem": "test_type",
                   "kết_quả": "result", "ket_qua": "result",
                   "thời_gian_có_kết_quả": "result_time", "thời_gian_kết_quả": "result_time",
                   "thoi_gian_ket_qua": "result_time", "phòng_xét_nghiệm": "lab",
                   "đơn_vị_xét_nghiệm": "lab", "phong_xet_nghiem": "lab",
                   "tube_code": "tube_code", "test_type": "test_type"}
_CONTROL = wire.CONTROL_CHARS
_VN_TIME = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?", re.ASCII)


class CsvFileError(ValueError):
    """The file as a whole cannot be read; nothing was imported. Worded for the lab's clerk."""


@dataclass(frozen=True)
class LabResult:
    tube_code: str
    test_type: str
    result: str
    result_at: datetime          # aware
    lab_id: str

    @property
    def result_at_utc(self) -> str:
        return self.result_at.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def _word(value: str) -> str:
    return " ".join(unicodedata.normalize("NFC", value).lower().split())


def parse_time(value: str, tz: tzinfo) -> datetime | None:
    """ISO 8601 (offset optional, then tz) or the Vietnamese DD/MM/YYYY HH:MM[:SS]."""
    value = value.strip()
    if len(value) > 40:
        return None
    match = _VN_TIME.fullmatch(value)
    try:
        if match:
            day, month, year, hour, minute, second = match.groups()
            moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0))
        else:
            moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def _text(fields: dict, name: str, max_len: int = 64) -> str | None:
    value = fields.get(name)
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or len(value) > max_len or _CONTROL.search(value):
        return None
    return value


def validate(fields: dict, *, tz: tzinfo, now: datetime, lab_id: str | None = None) -> LabResult | str:
    """One result (CSV row or API item) → LabResult, or the problem in English for the report."""
    tube = _text(fields, "tube_code")
    if tube is None:
        return "tube_code is empty, too long (over 64 characters) or has control characters"
    test_type = _ALIASES["test_type"].get(_word(str(fields.get("test_type", ""))))
    if test_type is None:
        return "test_type must be rt-pcr or rapid-antigen"
    result = _ALIASES["result"].get(_word(str(fields.get("result", ""))))
    if result is None:
        return "result must be negative, positive or invalid"
    raw_time = fields.get("result_time")
    moment = parse_time(raw_time, tz) if isinstance(raw_time, str) else None
    if moment is None:
        return "result_time must be a time such as 2021-08-20T14:30:00+07:00 or 20/08/2021 14:30"
    try:
        moment.astimezone(timezone.utc)
    except OverflowError:
        return "result_time is out of range"
    if not 2000 <= moment.year:
        return "result_time is before the year 2000"
    if moment > now + MAX_FUTURE:
        return "result_time is in the future"
    lab = lab_id or _text(fields, "lab")
    if lab is None:
        return "lab is empty, too long (over 64 characters) or has control characters"
    return LabResult(tube, test_type, result, moment, lab)


class _Lines:
    """Decoded physical lines of a binary stream, each at most MAX_LINE bytes; remembers bad ones."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream
        self.number = 0
        self.problems: dict[int, str] = {}

    def __iter__(self) -> Iterator[str]:
        while True:
            raw = self.stream.readline(MAX_LINE)
            if not raw:
                return
            self.number += 1
            if self.number == 1:
                raw = self._first(raw)
            if len(raw) == MAX_LINE and not raw.endswith(b"\n"):
                while (rest := self.stream.readline(MAX_LINE)) and not rest.endswith(b"\n"):
                    pass
                self.problems[self.number] = f"line is longer than {MAX_LINE // 1024} KiB"
                yield "\n"
                continue
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                self.problems[self.number] = "not UTF-8 text; save the file as CSV UTF-8"
                yield "\n"

    @staticmethod
    def _first(raw: bytes) -> bytes:
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in raw:
            raise CsvFileError("the file is UTF-16 (Excel 'Unicode text'); save it as CSV UTF-8")
        return raw.removeprefix(b"\xef\xbb\xbf")


def _header_name(cell: str) -> str:
    """'Kết quả', 'Result at (UTC+07:00)', ' tube-code ' → 'kết_quả', 'result_at', 'tube_code'."""
    cell = re.sub(r"\(.*\)", "", unicodedata.normalize("NFC", cell))
    return re.sub(r"[\s-]+", "_", cell.strip().lower())


def _header(row: list[str]) -> list[str]:
    names = [_HEADER_ALIASES.get(n, n) for n in (_header_name(cell) for cell in row)]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise CsvFileError(f"missing column(s) {', '.join(missing)}; the first line must name: "
                           f"{', '.join(COLUMNS)}")
    duplicated = sorted({n for n in names if n in COLUMNS and names.count(n) > 1})
    if duplicated:
        raise CsvFileError(f"column {duplicated[0]} appears more than once in the first line")
    return names


def read_csv(stream: BinaryIO, *, tz: tzinfo, now: datetime) -> Iterator[tuple[int, LabResult | str]]:
    """Yield (line, LabResult | problem) for each data row of a lab's CSV export, streaming."""
    lines = _Lines(stream)
    source = iter(lines)
    first = next(source, None)
    if first is None or 1 in lines.problems:
        raise CsvFileError(lines.problems.get(1, "the file is empty; expected a header line"))
    delimiter = max(",;\t", key=first.count)
    try:
        names = _header(next(csv.reader([first], delimiter=delimiter), []))
    except csv.Error as exc:
        raise CsvFileError(f"the header line is not readable as CSV ({exc})") from None
    reader = csv.reader(source, delimiter=delimiter)
    while True:
        start = lines.number + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            for n in range(start, lines.number + 1):
                lines.problems.pop(n, None)
            yield start, f"not readable as CSV ({exc})"
            continue
        problem = next((lines.problems.pop(n) for n in range(start, lines.number + 1)
                        if n in lines.problems), None)
        if problem:
            yield start, problem
        elif not any(cell.strip() for cell in row):
            continue
        elif len(row) != len(names) and any(c.strip() for c in row[len(names):]) or len(row) < len(names):
            yield start, f"has {len(row)} fields, the header has {len(names)}"
        else:
            yield start, validate(dict(zip(names, row)), tz=tz, now=now)
