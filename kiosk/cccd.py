"""Reads the QR printed on a chip citizen ID card (CCCD) into a person, cross-checking its number.

Seven `|`-separated fields: 12-digit CCCD | old 9-digit CMND (may be empty) | full name with
diacritics | birth date DDMMYYYY | Nam/Nữ | permanent address | issue date DDMMYYYY. Some cards
print six fields, without the CMND: the field count tells which. The 12 digits are province of
birth (3), century+gender (1) and the last two digits of the birth year (2), then 6 serial digits:
they must agree with the birth date and gender on the card (the rule is `samplepoint.cccd_number`,
shared with the portal). Pure functions; the address is read (and checked) but never stored.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from kiosk.codes import PersonScan, Refused, normalise_name, person_key
from samplepoint import cccd_number, wire
from samplepoint.cccd_number import century_gender_digit  # noqa: F401 (generators use it)

MSG_BAD_CARD = "Mã QR trên CCCD không đọc được — đề nghị quét lại thẻ hoặc dùng mã QR cá nhân"
MSG_CARD_MISMATCH = "Số CCCD không khớp năm sinh/giới tính trên thẻ — đề nghị kiểm tra lại thẻ"
GENDER_WORDS = {"Nam": "male", "Nữ": "female"}
_WORD_OF = {v: k for k, v in GENDER_WORDS.items()}
_NAME = re.compile(r"[^\W\d_]+(?:[ '.-][^\W\d_]+)*")


@dataclass(frozen=True)
class CccdCard:
    number: str                  # 12 digits
    old_number: str | None       # 9-digit CMND, None when absent or empty
    full_name: str               # NFC
    date_of_birth: str           # YYYY-MM-DD
    gender: str                  # male / female
    address: str
    issued_on: str | None        # YYYY-MM-DD
    six_fields: bool = False     # the variant without the CMND field


def looks_like_cccd(text: str) -> bool:
    """A CCCD QR starts with 12 digits and has 6 or 7 fields (a personal QR has 5 or 6, ISO date)."""
    fields = text.split("|")
    if len(fields) not in (6, 7) or not cccd_number.NUMBER.fullmatch(fields[0]):
        return False
    return re.fullmatch(r"[0-9]{8}", fields[3 if len(fields) == 7 else 2]) is not None


def _date(ddmmyyyy: str) -> str | None:
    if not re.fullmatch(r"[0-9]{8}", ddmmyyyy):
        return None
    try:
        day = date(int(ddmmyyyy[4:]), int(ddmmyyyy[2:4]), int(ddmmyyyy[:2]))
    except ValueError:
        return None
    return day.isoformat() if day.year >= 1900 else None


def parse_cccd_card(text: str) -> CccdCard | Refused:
    fields = text.split("|")
    if len(fields) == 7:
        number, old, name, dob, gender, address, issued = fields
    elif len(fields) == 6:
        number, name, dob, gender, address, issued = fields
        old = ""
    else:
        return Refused("cccd-field-count", MSG_BAD_CARD)
    if cccd_number.problem(number) is not None:
        return Refused("cccd-bad-number", MSG_BAD_CARD)
    if old and not re.fullmatch(r"[0-9]{9}", old):
        return Refused("cccd-bad-old-number", MSG_BAD_CARD)
    name = normalise_name(name)
    if not name or len(name) > 100 or not _NAME.fullmatch(name):
        return Refused("cccd-bad-name", MSG_BAD_CARD)
    born, issued_on = _date(dob), _date(issued) if issued else None
    if born is None or (issued and issued_on is None):
        return Refused("cccd-bad-date", MSG_BAD_CARD)
    if gender not in GENDER_WORDS:
        return Refused("cccd-bad-gender", MSG_BAD_CARD)
    address = " ".join(address.split())
    if len(address) > 200 or wire.CONTROL_CHARS.search(address):
        return Refused("cccd-bad-address", MSG_BAD_CARD)
    card = CccdCard(number, old or None, name, born, GENDER_WORDS[gender], address, issued_on,
                    six_fields=len(fields) == 6)
    if cccd_number.problem(number, int(born[:4]), card.gender) is not None:
        return Refused("cccd-mismatch", MSG_CARD_MISMATCH)
    return card


def format_cccd(card: CccdCard) -> str:
    """The QR text of a card: the inverse of parse_cccd_card (used by generators and tests)."""
    def ddmmyyyy(iso: str | None) -> str:
        return "" if iso is None else iso[8:10] + iso[5:7] + iso[0:4]
    fields = [card.number] + ([] if card.six_fields else [card.old_number or ""]) + [
        card.full_name, ddmmyyyy(card.date_of_birth), _WORD_OF[card.gender], card.address,
        ddmmyyyy(card.issued_on)]
    return "|".join(fields)


def to_person(card: CccdCard) -> wire.Person:
    return wire.Person(source="cccd", id_number=card.number, full_name=card.full_name,
                       date_of_birth=card.date_of_birth, gender=card.gender)


def parse_cccd(text: str) -> PersonScan | Refused:
    card = parse_cccd_card(text)
    if isinstance(card, Refused):
        return card
    person = to_person(card)
    return PersonScan(person, person_key(person))

