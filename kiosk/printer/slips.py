"""The two slips as pictures: a tube receipt and a declaration slip, drawn the same for the printer
and for `samplepoint slip ... --png`.

Pure: slip data in, a black-and-white PIL image as wide as the paper's printable dots out. Text is
drawn with DejaVu Sans, so Vietnamese prints correctly on any ESC/POS printer, whatever code pages
it has (they seldom have one with Vietnamese, and CP1258's combining marks print badly).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import barcode
import segno
from PIL import Image, ImageDraw, ImageFont

from kiosk.printer import wording as W

# Printable dots per line at 203 dpi: 58 mm paper prints 48 mm, 80 mm paper prints 72 mm.
PAPER_DOTS = {58: 384, 80: 576}
FONT_DIRS = ("/usr/share/fonts/truetype/dejavu",)
MARGIN = 8
MAX_TEXT = 200               # no field on a slip is longer; anything longer is a mistake upstream
# Control characters, and the line and paragraph separators (U+2028/9) text layout refuses.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@dataclass(frozen=True)
class TubeReceipt:
    site_name: str
    tube_code: str
    test_type: str
    collected_at: datetime
    people: int = 1                       # in the tube (a pool has several)
    person_name: str = ""                 # on a per-person receipt
    birth_year: str = ""
    masked_id: str = ""
    result_hours: int = 24
    note: str = ""                        # the site's own line (hotline, opening hours)


@dataclass(frozen=True)
class DeclarationSlip:
    site_name: str
    short_code: str                       # "K7M2-9QXD"
    code: str                             # the signed declaration text inside the QR
    name: str
    birth_year: str
    masked_id: str
    declared_at: datetime
    by_volunteer: bool = True


def clean(text: str) -> str:
    """Printable text: no control characters, bounded length."""
    return _CONTROL.sub("", str(text or ""))[:MAX_TEXT]


@lru_cache(maxsize=None)
def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    for folder in FONT_DIRS:
        try:
            return ImageFont.truetype(f"{folder}/{name}", size)
        except OSError:
            continue
    raise FileNotFoundError(f"{name} not found (install the Debian package fonts-dejavu-core)")


class Canvas:
    """A growing white strip as wide as the paper; each call draws the next block below the last."""

    def __init__(self, width: int):
        self.width = width
        self.image = Image.new("L", (width, 4000), 255)
        self.draw = ImageDraw.Draw(self.image)
        self.y = MARGIN

    def text(self, words: str, size: int = 22, bold: bool = False, center: bool = False,
             gap: int = 4) -> None:
        face = font(size, bold)
        for line in wrap(_CONTROL.sub("", words), face, self.width - 2 * MARGIN):
            left = MARGIN
            if center:
                left = (self.width - int(self.draw.textlength(line, font=face))) // 2
            self.draw.text((left, self.y), line, font=face, fill=0)
            self.y += int(size * 1.25)
        self.y += gap

    def rule(self) -> None:
        self.draw.line((MARGIN, self.y + 4, self.width - MARGIN, self.y + 4), fill=0, width=2)
        self.y += 14

    def picture(self, picture: Image.Image) -> None:
        left = (self.width - picture.width) // 2
        self.image.paste(picture, (left, self.y))
        self.y += picture.height + 6

    def finish(self) -> Image.Image:
        return self.image.crop((0, 0, self.width, self.y + MARGIN * 3)).point(
            lambda v: 0 if v < 128 else 255, mode="1")


def wrap(text: str, face: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Lines of text no wider than width (by the font's own measure); long words are split."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if face.getlength(candidate) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            while face.getlength(word) > width and len(word) > 1:
                cut = len(word)
                while cut > 1 and face.getlength(word[:cut]) > width:
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
    return lines


def when(moment: datetime) -> str:
    return moment.strftime("%H:%M %d/%m/%Y")


def code128(text: str, width: int, height: int = 80) -> Image.Image:
    """A Code 128 barcode drawn at whole printer dots per module (sharp on a thermal head)."""
    encoded = barcode.get("code128", text).build()[0]
    quiet = 10
    module = max(1, min(4, (width - 2 * MARGIN) // (len(encoded) + 2 * quiet)))
    image = Image.new("L", ((len(encoded) + 2 * quiet) * module, height), 255)
    draw = ImageDraw.Draw(image)
    for index, bit in enumerate(encoded):
        if bit == "1":
            x = (quiet + index) * module
            draw.rectangle((x, 0, x + module - 1, height - 1), fill=0)
    return image


def _barcode_or_none(code: str, width: int) -> Image.Image | None:
    """The tube code's barcode; None when it cannot be one (the code is still printed as text)."""
    if not re.fullmatch(r"[ -~]{1,40}", code or ""):
        return None
    try:
        bars = code128(code, width)
    except Exception:          # python-barcode refuses some inputs in its own ways
        return None
    return bars if bars.width <= width else None      # too long to scan as one barcode


def qr(text: str, width: int) -> Image.Image:
    """A QR code (error correction M) at whole dots per module, as large as fits ~80% of the width."""
    matrix = segno.make(text, error="m", micro=False).matrix
    quiet = 4
    size = len(matrix) + 2 * quiet
    module = max(2, int(width * 0.8) // size)
    image = Image.new("L", (size * module, size * module), 255)
    draw = ImageDraw.Draw(image)
    for row, bits in enumerate(matrix):
        for col, bit in enumerate(bits):
            if bit:
                x, y = (col + quiet) * module, (row + quiet) * module
                draw.rectangle((x, y, x + module - 1, y + module - 1), fill=0)
    return image


def _headed(paper_mm: int, site_name: str, title: str, title_en: str) -> Canvas:
    """A slip's paper with its heading: the site, the title in Vietnamese and in English, a rule."""
    canvas = Canvas(PAPER_DOTS[paper_mm])
    canvas.text(clean(site_name), 22, bold=True, center=True)
    canvas.text(title, 26, bold=True, center=True, gap=0)
    canvas.text(title_en, 18, center=True)
    canvas.rule()
    return canvas


def render_receipt(slip: TubeReceipt, paper_mm: int = 58) -> Image.Image:
    canvas = _headed(paper_mm, slip.site_name, W.RECEIPT_TITLE, W.RECEIPT_TITLE_EN)
    canvas.text(f"{W.TIME}: {when(slip.collected_at)}")
    canvas.text(f"{W.TEST}: {W.TEST_TYPES.get(slip.test_type, slip.test_type)}")
    if slip.person_name:
        canvas.text(f"{W.PERSON}: {clean(slip.person_name)}", bold=True)
        facts = " · ".join(clean(f) for f in (f"{W.BORN} {slip.birth_year}" if slip.birth_year
                                              else "", slip.masked_id) if f)
        if facts:
            canvas.text(facts)
    if slip.people > 1:
        canvas.text(f"{W.PEOPLE_IN_TUBE}: {slip.people}")
    canvas.text(W.TUBE_CODE + ":", gap=2)
    bars = _barcode_or_none(slip.tube_code, canvas.width)
    if bars is not None:
        canvas.picture(bars)
    canvas.text(clean(slip.tube_code), 30, bold=True, center=True)
    canvas.rule()
    canvas.text(W.RESULT_HOW.format(hours=slip.result_hours), 20)
    canvas.text(W.RESULT_HOW_EN.format(hours=slip.result_hours), 17)
    if slip.note:
        canvas.text(clean(slip.note), 20, bold=True)
    canvas.text(W.KEEP, 20, bold=True, center=True)
    return canvas.finish()


def render_declaration(slip: DeclarationSlip, paper_mm: int = 58) -> Image.Image:
    canvas = _headed(paper_mm, slip.site_name, W.DECLARATION_TITLE, W.DECLARATION_TITLE_EN)
    canvas.text(f"{W.NAME}: {clean(slip.name)}", 24, bold=True)
    facts = " · ".join(clean(f) for f in (f"{W.BORN} {slip.birth_year}" if slip.birth_year else "",
                                          slip.masked_id) if f)
    if facts:
        canvas.text(facts)
    canvas.picture(qr(slip.code, canvas.width))
    canvas.text(f"{W.SHORT_CODE}: {clean(slip.short_code)}", 24, bold=True, center=True)
    canvas.rule()
    canvas.text(W.DECLARATION_HOW, 20)
    canvas.text(W.DECLARATION_HOW_EN, 17)
    canvas.text(f"{W.DECLARED_AT}: {when(slip.declared_at)}", 18)
    if slip.by_volunteer:
        canvas.text(W.DECLARED_BY_VOLUNTEER, 18)
    return canvas.finish()


def render(slip: TubeReceipt | DeclarationSlip, paper_mm: int = 58) -> Image.Image:
    if isinstance(slip, TubeReceipt):
        return render_receipt(slip, paper_mm)
    return render_declaration(slip, paper_mm)
