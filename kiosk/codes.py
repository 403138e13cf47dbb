"""Turns the text of a scanned code into what it means: a tube, a person, or a refusal with a reason.

Pure functions: text in, typed result out; no I/O, no clock. Every refusal carries a reason code
(for logs and tests) and a Vietnamese message telling the staff member what to do.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from samplepoint import wire

MAX_PAYLOAD = 1024          # the national QR is ~100 characters; anything far larger is not ours


@dataclass(frozen=True)
class Tube:
    code: str


@dataclass(frozen=True)
class PersonScan:
    person: wire.Person
    key: str                 # identity used to refuse the same person twice in one tube


@dataclass(frozen=True)
class Refused:
    reason: str              # machine-readable reason, e.g. "bad-date"
    message: str             # Vietnamese, for the staff display

    def __bool__(self) -> bool:    # a refusal is falsy, so `if result:` reads naturally
        return False


Scan = Tube | PersonScan | Refused

MSG_UNKNOWN = "Mã không được hỗ trợ — đề nghị mở mã QR cá nhân trên ứng dụng hoặc quét mã ống mẫu"
MSG_BAD_PERSONAL = "Mã QR không hợp lệ — đề nghị mở lại mã QR trên ứng dụng"
MSG_TOO_LONG = "Mã quá dài, không phải mã QR cá nhân — đề nghị mở lại mã QR trên ứng dụng"
MSG_BINARY = "Mã chứa dữ liệu lạ — đề nghị mở lại mã QR trên ứng dụng"

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_ID = re.compile(r"[0-9A-Z*]{6,20}")
_NAME = re.compile(r"[^\W\d_]+(?:[ '.-][^\W\d_]+)*")
_DIGITS = re.compile(r"\d{1,24}")
_PHONE = re.compile(r"\+?\d{8,15}")
_GENDERS = {"0": "unknown", "1": "male", "2": "female"}


def normalise_name(name: str) -> str:
    """NFC, single spaces, no leading or trailing space."""
    return " ".join(unicodedata.normalize("NFC", name).split())


def decode_payload(data: bytes) -> str | Refused:
    """Bytes from a decoder to text: UTF-8 only, bounded, without control characters."""
    if len(data) > MAX_PAYLOAD:
        return Refused("too-long", MSG_TOO_LONG)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return Refused("binary", MSG_BINARY)
    if _CONTROL.search(text):
        return Refused("control-characters", MSG_BINARY)
    return text


def parse_personal_qr(text: str) -> PersonScan | Refused:
    """National personal QR (Decision 1405/QĐ-BTTTT): ID|NAME|YYYY-MM-DD|kind|QID|EXT."""
    fields = text.split("|")
    if len(fields) not in (5, 6):
        return Refused("field-count", MSG_BAD_PERSONAL)
    id_number, name, dob, kind, qid = fields[:5]
    ext = fields[5] if len(fields) == 6 else ""
    if not _ID.fullmatch(id_number):
        return Refused("bad-id", MSG_BAD_PERSONAL)
    name = normalise_name(name)
    if not name or len(name) > 100 or not _NAME.fullmatch(name):
        return Refused("bad-name", MSG_BAD_PERSONAL)
    try:
        born = date.fromisoformat(dob)
    except ValueError:
        return Refused("bad-date", MSG_BAD_PERSONAL)
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", dob) or born.year < 1900:
        return Refused("bad-date", MSG_BAD_PERSONAL)
    if kind not in ("0", "1"):
        return Refused("bad-kind", MSG_BAD_PERSONAL)
    if qid and not _DIGITS.fullmatch(qid):
        return Refused("bad-qid", MSG_BAD_PERSONAL)
    extras = parse_extras(ext)
    if isinstance(extras, Refused):
        return extras
    declarer, gender, _insurance, phone = extras
    on_behalf = kind == "1"
    person = wire.Person(source="personal-qr", id_number=id_number, full_name=name,
                         date_of_birth=dob, gender=gender, phone=phone, qid=qid or None,
                         declared_on_behalf=on_behalf, declarer_qid=declarer if on_behalf else None)
    return PersonScan(person, person_key(person))


def parse_extras(ext: str):
    """EXT: '<'-separated declarer QID, gender digit, health-insurance number, phone (each optional)."""
    if not ext:
        return None, "unknown", None, None
    parts = ext.split("<")
    if len(parts) > 4:
        return Refused("bad-extras", MSG_BAD_PERSONAL)
    parts += [""] * (4 - len(parts))
    declarer, gender, insurance, phone = parts
    if declarer and not _DIGITS.fullmatch(declarer):
        return Refused("bad-extras", MSG_BAD_PERSONAL)
    if gender and gender not in _GENDERS:
        return Refused("bad-gender", MSG_BAD_PERSONAL)
    if insurance and not re.fullmatch(r"[A-Z0-9]{5,20}", insurance):
        return Refused("bad-extras", MSG_BAD_PERSONAL)
    if phone and not _PHONE.fullmatch(phone):
        return Refused("bad-phone", MSG_BAD_PERSONAL)
    return declarer or None, _GENDERS.get(gender, "unknown"), insurance or None, phone or None


def format_personal_qr(person: wire.Person, insurance: str = "") -> str:
    """The national QR text for a person: the inverse of parse_personal_qr (used by the demo)."""
    gender = {v: k for k, v in _GENDERS.items()}[person.gender]
    ext = "<".join([person.declarer_qid or "", gender, insurance, person.phone or ""])
    return "|".join([person.id_number, person.full_name, person.date_of_birth or "",
                     "1" if person.declared_on_behalf else "0", person.qid or "", ext])


def person_key(person: wire.Person) -> str:
    """The identity of a person for duplicate checks: QID when present, else ID + birth date."""
    if person.qid:
        return "qid:" + person.qid
    return f"id:{person.id_number}:{person.date_of_birth}"


def classify(data: bytes, tube_pattern: str) -> Scan:
    """What a scanned code is: a tube by the site's pattern, a national personal QR, or refused."""
    text = decode_payload(data)
    if isinstance(text, Refused):
        return text
    if re.fullmatch(tube_pattern, text):
        return Tube(text)
    if "|" in text:
        return parse_personal_qr(text)
    return Refused("unknown-code", MSG_UNKNOWN)
