"""Turns the text of a scanned code into what it means: a tube, a person, a staff badge, or a refusal.

Pure functions: text in, typed result out; no I/O, no clock. Every refusal carries a reason code
(for logs and tests) and a Vietnamese message telling the staff member what to do. The national
personal QR lives here; the CCCD card in `kiosk.cccd`; our signed codes in `samplepoint.signed_codes`.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime

from samplepoint import signed_codes, wire

MAX_PAYLOAD = 1024          # the national QR is ~100 characters; anything far larger is not ours


@dataclass(frozen=True)
class Tube:
    code: str


@dataclass(frozen=True)
class PersonScan:
    person: wire.Person
    key: str                 # identity used to refuse the same person twice in one tube
    # What was left out of an otherwise valid code (e.g. "ext-phone"): names only, for the log.
    dropped: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class Refused:
    reason: str              # machine-readable reason, e.g. "bad-date"
    message: str             # Vietnamese, for the staff display

    def __bool__(self) -> bool:    # a refusal is falsy, so `if result:` reads naturally
        return False


@dataclass(frozen=True)
class StaffBadge:
    staff_id: str
    name: str = ""
    check: bool = False      # a check badge also switches check mode on or off
    badge_id: str | None = None      # SP2 badges: the badge itself, for revocation
    expires: str | None = None       # SP2 badges: YYYY-MM-DD, last day the badge is valid


Scan = Tube | PersonScan | StaffBadge | Refused

MSG_UNKNOWN = "Mã không được hỗ trợ — đề nghị mở mã QR cá nhân trên ứng dụng hoặc quét mã ống mẫu"
MSG_BAD_PERSONAL = "Mã QR không hợp lệ — đề nghị mở lại mã QR trên ứng dụng"
MSG_TOO_LONG = "Mã quá dài, không phải mã QR cá nhân — đề nghị mở lại mã QR trên ứng dụng"
MSG_BINARY = "Mã chứa dữ liệu lạ — đề nghị mở lại mã QR trên ứng dụng"
MSG_FORGED = "Mã không hợp lệ hoặc đã bị sửa — đề nghị cấp lại mã tại điểm lấy mẫu"
MSG_EXPIRED = "Mã đã hết hạn — đề nghị cấp lại mã"
MSG_BAD_DECLARATION = "Mã khai báo không đủ thông tin — đề nghị khai báo lại trên cổng Wi-Fi"
MSG_REVOKED = "Thẻ nhân viên đã bị thu hồi — liên hệ trưởng điểm để được cấp thẻ mới"
MSG_NO_KEY = "Thiết bị chưa có khoá ký mã — báo kỹ thuật viên cài khoá (scan.code_key_file)"

_CONTROL = wire.CONTROL_CHARS
# Numbers are ASCII digits only: `\d` would let fullwidth or Arabic-Indic digits through, which
# central's look-ups and the duplicate check would then treat as a different person.
_ID = re.compile(r"[0-9A-Z*]{6,20}")
_NAME = re.compile(r"[^\W\d_]+(?:[ '.-][^\W\d_]+)*")      # letters of any script; no digits
_DIGITS = re.compile(r"[0-9]{1,24}")
_QID = re.compile(r"[0-9]{12,24}")
_PHONE = re.compile(r"\+?[0-9]{8,15}")
_INSURANCE = re.compile(r"[A-Z0-9]{5,20}")
_GENDERS = {"0": "unknown", "1": "male", "2": "female"}


def normalise_name(name: str) -> str:
    """NFC, single spaces, no leading or trailing space."""
    return " ".join(unicodedata.normalize("NFC", name).split())


def decode_payload(data: bytes | str) -> str | Refused:
    """A code's content as text: bounded, without control characters.

    Text comes from the decoder (which read the symbol's ECI or detected its encoding); bare
    bytes, when a decoder gives no text, must be UTF-8.
    """
    if len(data) > MAX_PAYLOAD:
        return Refused("too-long", MSG_TOO_LONG)
    if isinstance(data, str):
        text = data
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return Refused("binary", MSG_BINARY)
    if _CONTROL.search(text):
        return Refused("control-characters", MSG_BINARY)
    return text


def parse_personal_qr(text: str) -> PersonScan | Refused:
    """National personal QR (Decision 1405/QĐ-BTTTT): ID|NAME|YYYY-MM-DD|kind|QID|EXT.

    The five core fields must be valid. EXT holds optional extras: whatever its shape (more
    fields, an extra `|` or `<`, a value of an unknown form), what cannot be read is dropped and
    named in `PersonScan.dropped`, never a refusal that would turn the citizen away.
    """
    fields = text.split("|")
    if len(fields) < 5:
        return Refused("field-count", MSG_BAD_PERSONAL)
    id_number, name, dob, kind, qid = fields[:5]
    ext = "|".join(fields[5:])
    if not _ID.fullmatch(id_number):
        return Refused("bad-id", MSG_BAD_PERSONAL)
    name = normalise_name(name)
    if not name or len(name) > 100 or not _NAME.fullmatch(name):
        return Refused("bad-name", MSG_BAD_PERSONAL)
    if not _valid_iso_date(dob):
        return Refused("bad-date", MSG_BAD_PERSONAL)
    if kind not in ("0", "1"):
        return Refused("bad-kind", MSG_BAD_PERSONAL)
    if qid and not _DIGITS.fullmatch(qid):
        return Refused("bad-qid", MSG_BAD_PERSONAL)
    extras = parse_extras(ext)
    on_behalf = kind == "1"
    person = wire.Person(source="personal-qr", id_number=id_number, full_name=name,
                         date_of_birth=dob, gender=extras.gender, phone=extras.phone,
                         qid=qid or None, declared_on_behalf=on_behalf,
                         declarer_qid=extras.declarer if on_behalf else None)
    return PersonScan(person, person_key(person), extras.dropped)


@dataclass(frozen=True)
class Extras:
    declarer: str | None = None
    gender: str = "unknown"
    insurance: str | None = None
    phone: str | None = None
    dropped: tuple[str, ...] = ()      # which parts were unreadable: "ext-phone", "ext-extra", ...


_EXT_FIELDS = (("declarer", _DIGITS.fullmatch), ("gender", _GENDERS.__contains__),
               ("insurance", _INSURANCE.fullmatch), ("phone", _PHONE.fullmatch))


def parse_extras(ext: str) -> Extras:
    """EXT: '<'-separated declarer QID, gender digit, health-insurance number, phone (each
    optional). Never refuses: a part that does not fit its place is dropped and named."""
    parts = ext.split("<") if ext else []
    if len(parts) > len(_EXT_FIELDS):
        return _extras_by_shape(parts)
    values, dropped = {}, []
    for (name, valid), part in zip(_EXT_FIELDS, parts):
        if part and valid(part):
            values[name] = part
        elif part:
            dropped.append("ext-" + name)
    return Extras(values.get("declarer"), _GENDERS[values.get("gender", "0")],
                  values.get("insurance"), values.get("phone"), tuple(dropped))


def _extras_by_shape(parts: list[str]) -> Extras:
    """More parts than EXT has places (an extra '<', an unknown field): positions no longer say
    what a part is, so keep only parts whose form says it unambiguously, each at most once."""
    found: dict[str, str] = {}
    dropped = ["ext-extra"]
    for part in (p for p in parts if p):
        if len(part) > 64:
            name = None
        elif part in _GENDERS:
            name = "gender"
        elif _QID.fullmatch(part):
            name = "declarer"
        elif re.fullmatch(r"(?:0|\+84)[0-9]{9}", part):
            name = "phone"
        elif re.fullmatch(r"[A-Z]{2}[0-9]{13}", part):
            name = "insurance"
        else:
            name = None
        if name is None or name in found:
            dropped.append("ext-" + (name or "unknown"))
            if name:
                found[name] = ""          # two candidates: neither is trusted
        else:
            found[name] = part
    return Extras(found.get("declarer") or None, _GENDERS[found.get("gender") or "0"],
                  found.get("insurance") or None, found.get("phone") or None,
                  tuple(dict.fromkeys(dropped)))


def format_personal_qr(person: wire.Person, insurance: str = "") -> str:
    """The national QR text for a person: the inverse of parse_personal_qr (used by the demo)."""
    gender = {v: k for k, v in _GENDERS.items()}[person.gender]
    ext = "<".join([person.declarer_qid or "", gender, insurance, person.phone or ""])
    return "|".join([person.id_number, person.full_name, person.date_of_birth or "",
                     "1" if person.declared_on_behalf else "0", person.qid or "", ext])


def person_key(person: wire.Person) -> str:
    """The identity of a person for duplicate checks, the same whichever code they showed.

    An unmasked ID number is the person (their app QR and their CCCD card agree on it); a masked
    one falls back to the platform's QID, then to the masked ID plus birth date.
    """
    if person.id_number.isdigit():
        return "id:" + person.id_number
    if person.qid:
        return "qid:" + person.qid
    return f"id:{person.id_number}:{person.date_of_birth}"


def classify(data: bytes | str, tube_pattern: str, code_key: bytes | list[bytes] | None = None,
             now: date | datetime | None = None) -> Scan:
    """What a scanned code is: tube (by the site's pattern), staff badge, declaration, CCCD,
    national personal QR, or refused with a reason. `data` is the decoder's text (or its bytes,
    read as UTF-8); signed codes past their expiry on `now`'s date are refused."""
    text = decode_payload(data)
    if isinstance(text, Refused):
        return text
    if signed_codes.looks_like_code(text):
        return parse_signed(text, code_key, now)
    if len(text) <= wire.MAX_TUBE_CODE and re.fullmatch(tube_pattern, text):
        return Tube(text)
    if "|" in text:
        from kiosk.cccd import looks_like_cccd, parse_cccd
        return parse_cccd(text) if looks_like_cccd(text) else parse_personal_qr(text)
    return Refused("unknown-code", MSG_UNKNOWN)


def parse_signed(text: str, code_key: bytes | list[bytes] | None,
                 now: date | datetime | None = None) -> StaffBadge | PersonScan | Refused:
    """A staff badge or portal declaration code (SP1 or SP2), only when its signature holds and,
    given `now`, it has not expired."""
    if code_key is None:
        return Refused("no-code-key", MSG_NO_KEY)
    payload = signed_codes.verify_code(text, code_key, now)
    if not payload:
        return Refused(f"signed-{payload.reason}",
                       MSG_EXPIRED if payload.reason == "expired" else MSG_FORGED)
    if payload["kind"] == "staff":
        staff_id, name = payload.get("staff_id"), payload.get("name", "")
        if not isinstance(staff_id, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}",
                                                             staff_id, re.ASCII) \
                or not isinstance(name, str):
            return Refused("bad-badge", MSG_FORGED)
        mode = payload.get("mode", "")
        if mode not in ("", "check"):
            return Refused("bad-badge", MSG_FORGED)
        return StaffBadge(staff_id, normalise_name(name)[:100], check=mode == "check",
                          badge_id=payload.get("badge_id"), expires=payload.get("expires"))
    return person_from_declaration(payload)


_DECLARATION_FIELDS = {"kind", "id_number", "full_name", "date_of_birth", "gender", "phone",
                       "declared_on_behalf", "declaration_id", "expires"}


def person_from_declaration(payload: dict) -> PersonScan | Refused:
    """A portal declaration's payload (wire.Person field names) as a person, checked like a QR."""
    if set(payload) - _DECLARATION_FIELDS:
        return Refused("bad-declaration", MSG_BAD_DECLARATION)
    values = {k: payload.get(k) for k in ("id_number", "full_name", "date_of_birth", "phone")}
    if not all(isinstance(v, str) for v in values.values() if v is not None):
        return Refused("bad-declaration", MSG_BAD_DECLARATION)
    id_number, name = values["id_number"] or "", normalise_name(values["full_name"] or "")
    if not _ID.fullmatch(id_number) or not name or len(name) > 100 or not _NAME.fullmatch(name):
        return Refused("bad-declaration", MSG_BAD_DECLARATION)
    dob, phone = values["date_of_birth"], values["phone"]
    if dob is not None and not _valid_iso_date(dob):
        return Refused("bad-declaration", MSG_BAD_DECLARATION)
    if phone is not None and not _PHONE.fullmatch(phone):
        return Refused("bad-declaration", MSG_BAD_DECLARATION)
    gender, on_behalf = payload.get("gender", "unknown"), payload.get("declared_on_behalf", False)
    if gender not in wire.GENDERS or not isinstance(on_behalf, bool):
        return Refused("bad-declaration", MSG_BAD_DECLARATION)
    person = wire.Person(source="declaration", id_number=id_number, full_name=name,
                         date_of_birth=dob, gender=gender, phone=phone,
                         declared_on_behalf=on_behalf)
    return PersonScan(person, person_key(person))


def _valid_iso_date(text: str) -> bool:
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        return False
    try:
        return date.fromisoformat(text).year >= 1900
    except ValueError:
        return False
