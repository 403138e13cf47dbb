"""Printable staff badges: an A4 PDF, eight cards a page, each with its QR code and, under it, the
staff member's name, staff id, site and expiry (DejaVu Sans, so Vietnamese prints as written).

Pure apart from the font file: badges in, PDF bytes out (docs/staff-credentials.md).
"""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path

import segno
from fpdf import FPDF

logging.getLogger("fontTools").setLevel(logging.WARNING)     # its subsetting chatter

FONT_DIRS = ("/usr/share/fonts/truetype/dejavu",)
PAGE_W, PAGE_H = 210.0, 297.0          # A4, mm
CARD_W, CARD_H = 86.0, 66.0            # a little over a bank card: cut and laminate
COLUMNS, ROWS = 2, 4
QR_MM = 40.0


@dataclass(frozen=True)
class Badge:
    code: str            # the signed QR text (SP2)
    name: str
    staff_id: str
    site: str            # the site's name (or id) as printed
    expires: str         # YYYY-MM-DD
    badge_id: int | None = None


def font_file(bold: bool = False) -> Path:
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    for folder in FONT_DIRS:
        path = Path(folder) / name
        if path.is_file():
            return path
    raise FileNotFoundError(f"{name} not found in {', '.join(FONT_DIRS)}; install fonts-dejavu-core")


def _qr_png(code: str) -> io.BytesIO:
    out = io.BytesIO()
    segno.make(code, error="m").save(out, kind="png", scale=8, border=2)
    out.seek(0)
    return out


def _fit(pdf: FPDF, text: str, width: float) -> str:
    """The text, shortened with an ellipsis when it would not fit in width mm."""
    if pdf.get_string_width(text) <= width:
        return text
    while text and pdf.get_string_width(text + "…") > width:
        text = text[:-1]
    return text + "…"


def render(badges: list[Badge]) -> bytes:
    """The sheet(s) as PDF bytes."""
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.add_font("DejaVu", "", str(font_file()))
    pdf.add_font("DejaVu", "B", str(font_file(bold=True)))
    pdf.set_title("Thẻ nhân viên")
    left = (PAGE_W - COLUMNS * CARD_W) / 2
    top = (PAGE_H - ROWS * CARD_H) / 2
    per_page = COLUMNS * ROWS
    for index, badge in enumerate(badges):
        if index % per_page == 0:
            pdf.add_page()
        slot = index % per_page
        x = left + (slot % COLUMNS) * CARD_W
        y = top + (slot // COLUMNS) * CARD_H
        pdf.set_draw_color(170, 170, 170)
        pdf.set_line_width(0.2)
        pdf.rect(x, y, CARD_W, CARD_H)                 # the cutting line
        pdf.image(_qr_png(badge.code), x=x + (CARD_W - QR_MM) / 2, y=y + 2, w=QR_MM, h=QR_MM)
        inner = CARD_W - 6
        pdf.set_xy(x + 3, y + QR_MM + 3)
        pdf.set_font("DejaVu", "B", 11)
        pdf.cell(inner, 5.5, _fit(pdf, badge.name, inner), align="C")
        lines = [f"Mã NV: {badge.staff_id}", f"Điểm: {badge.site}",
                 f"Hết hạn: {badge.expires}" + (f"  ·  Thẻ số {badge.badge_id}"
                                                if badge.badge_id is not None else "")]
        pdf.set_font("DejaVu", "", 8.5)
        for n, line in enumerate(lines):
            pdf.set_xy(x + 3, y + QR_MM + 8.5 + n * 4.3)
            pdf.cell(inner, 4.3, _fit(pdf, line, inner), align="C")
    return bytes(pdf.output())
