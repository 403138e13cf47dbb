"""The `.xlsx` export (openpyxl, write-only so memory stays flat): text cells for IDs, dates as dates.

ID, phone, QID and tube cells are text with the "@" format, so Excel keeps leading zeros, `+84` and
all 18 digits of a QID; a value starting with "=" stays a text cell, never a formula.
"""
from __future__ import annotations

from datetime import datetime, timezone, tzinfo
from typing import IO, Iterable

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from central.export import COLUMNS, WORDS, as_date, headers, person_rows, zone_label

TIME_FORMAT = "dd/mm/yyyy hh:mm:ss"
DATE_FORMAT = "dd/mm/yyyy"
WIDTHS = {"code": 20, "time": 20, "date": 12, "bool": 10, "int": 8, "text": 18}
SHEET = {"vi": ("Mẫu xét nghiệm", "Thông tin"), "en": ("Samples", "About")}
ABOUT = {
    "vi": [("Múi giờ của mọi thời gian", "{zone}"), ("Xuất lúc", "{now}"), ("Số dòng", "{rows}"),
           ("Mỗi dòng", "một người trong một ống mẫu, với kết luận từ các kết quả của ống "
                         "(kết quả mâu thuẫn thì cần xét nghiệm lại)")],
    "en": [("Time zone of every time", "{zone}"), ("Exported at", "{now}"), ("Rows", "{rows}"),
           ("Each row", "one person in one tube, with what the tube's results say together (a conflict "
                         "needs a new test)")],
}


def _text_cell(sheet, value) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
    cell.data_type = "s"          # "=HYPERLINK(...)" as a name stays text, never a formula
    cell.number_format = "@"
    return cell


def _cell(sheet, value, kind: str, lang: str):
    if value is None:
        return None
    if kind == "time":
        cell = WriteOnlyCell(sheet, value=value.replace(tzinfo=None))
        cell.number_format = TIME_FORMAT
        return cell
    if kind == "date":
        day = as_date(value)
        if day is None:
            return _text_cell(sheet, str(value))
        cell = WriteOnlyCell(sheet, value=day)
        cell.number_format = DATE_FORMAT
        return cell
    if kind == "bool":
        return _text_cell(sheet, WORDS[lang][bool(value)])
    if kind == "int" and isinstance(value, int):
        return value
    return _text_cell(sheet, WORDS[lang].get(value, str(value)) if kind == "text" else str(value))


def write_xlsx(items: Iterable[dict], out: IO[bytes], *, tz: tzinfo = timezone.utc,
               lang: str = "vi") -> int:
    book = Workbook(write_only=True)
    sheet_name, about_name = SHEET[lang]
    sheet = book.create_sheet(sheet_name)
    sheet.freeze_panes = "A2"
    for index, (_, _, _, kind) in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = WIDTHS[kind]
    bold = Font(bold=True)
    header = []
    for name in headers(lang, tz):
        cell = _text_cell(sheet, name)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    rows = 0
    for row in person_rows(items, tz):
        sheet.append([_cell(sheet, row[key], kind, lang) for key, _, _, kind in COLUMNS])
        rows += 1
    about = book.create_sheet(about_name)
    now = datetime.now(tz).replace(microsecond=0).isoformat()
    for label, value in ABOUT[lang]:
        about.append([label, value.format(zone=zone_label(tz), now=now, rows=rows)])
    book.save(out)
    return rows
