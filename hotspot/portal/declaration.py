"""Checks a submitted declaration form (pure): field values in, a clean declaration or error keys out.

Errors are message keys of the catalog (see i18n.py), per field name, so the page can show each
next to its field in the reader's language. Nothing here touches the store, the clock or the network.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date

from hotspot.portal import divisions
from samplepoint import cccd_number
from samplepoint.wire import CONTROL_CHARS

RELATIONS = ("self", "relative", "volunteer")
GENDERS = ("male", "female", "unknown")
ID_KINDS = ("cccd", "cmnd", "passport")
PERSON_FIELDS = ("name", "dob", "gender", "id_kind", "id_number", "phone")
MAX_FIELD = 200
_NAME = re.compile(r"[^\W\d_]+(?:[ '.-][^\W\d_]+)*")
# a street address: letters, digits, spaces and , . / - # ( ) ' & +; markup and quotes are refused
_STREET = re.compile(r"[\w ,./#()'&+-]+")
_PHONE = re.compile(r"0[35789][0-9]{8}")          # ASCII digits only, like every number here
_CCCD_ERRORS = {"number": "err_cccd", "province": "err_cccd_province", "year": "err_cccd_year",
                "gender": "err_cccd_gender"}


@dataclass
class Checked:
    persons: list[dict] = field(default_factory=list)
    declaration: dict = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def clean_text(value: str | None) -> str | None:
    """NFC, trimmed, inner spaces collapsed; None when too long or holding control characters."""
    value = value or ""
    if len(value) > MAX_FIELD or CONTROL_CHARS.search(value):
        return None
    return " ".join(unicodedata.normalize("NFC", value).split())


def check_name(value: str | None) -> tuple[str | None, str | None]:
    text = clean_text(value)
    if text is None:
        return None, "err_bad_chars"
    if not text:
        return None, "err_required"
    if len(text) > 80 or not _NAME.fullmatch(text) or len(text.replace(" ", "")) < 2:
        return None, "err_name"
    return text, None


def check_dob(value: str | None, today: date) -> tuple[str | None, str | None]:
    text = clean_text(value) or ""
    if not text:
        return None, "err_required"
    match = re.fullmatch(r"([0-9]{4})-([0-9]{2})-([0-9]{2})|([0-9]{2})/([0-9]{2})/([0-9]{4})", text)
    if not match:
        return None, "err_date"
    y, m, d = (match.group(1, 2, 3) if match.group(1) else match.group(6, 5, 4))
    try:
        born = date(int(y), int(m), int(d))
    except ValueError:
        return None, "err_date"
    if born > today or born.year < today.year - 120:
        return None, "err_date_range"
    return born.isoformat(), None


def check_cccd(number: str, born: str | None, gender: str) -> str | None:
    """The 12 digits encode province of birth, century+gender and year of birth: cross-check them
    with the kiosk's own rule (samplepoint.cccd_number), so every code issued here scans there."""
    found = cccd_number.problem(number, int(born[:4]) if born else None, gender)
    return None if found is None else _CCCD_ERRORS[found]


def check_id(kind: str, value: str | None, born: str | None, gender: str):
    text = clean_text(value)
    if text is None:
        return None, "err_bad_chars"
    text = text.replace(" ", "").upper()
    if kind not in ID_KINDS:
        return None, "err_choice"
    if not text:
        return None, "err_required"
    if kind == "cccd":
        return (None, problem) if (problem := check_cccd(text, born, gender)) else (text, None)
    if kind == "cmnd":
        return (text, None) if re.fullmatch(r"[0-9]{9}", text) else (None, "err_cmnd")
    return (text, None) if re.fullmatch(r"[A-Z0-9]{6,12}", text) else (None, "err_passport")


def check_phone(value: str | None, required: bool) -> tuple[str | None, str | None]:
    text = clean_text(value)
    if text is None:
        return None, "err_bad_chars"
    digits = re.sub(r"[ .-]", "", text)
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    if not digits:
        return None, ("err_required" if required else None)
    return (digits, None) if _PHONE.fullmatch(digits) else (None, "err_phone")


def check_person(form, i: int, today: date, errors: dict) -> dict:
    def take(name, result):
        value, error = result
        if error:
            errors[f"{name}_{i}"] = error
        return value

    gender = form.get(f"gender_{i}", "")
    if gender not in GENDERS:
        errors[f"gender_{i}"], gender = "err_choice", "unknown"
    name = take("name", check_name(form.get(f"name_{i}")))
    born = take("dob", check_dob(form.get(f"dob_{i}"), today))
    kind = form.get(f"id_kind_{i}", "")
    number = take("id_number", check_id(kind, form.get(f"id_number_{i}"), born, gender))
    phone = take("phone", check_phone(form.get(f"phone_{i}"), required=(i == 0)))
    return {"full_name": name, "date_of_birth": born, "gender": gender, "id_kind": kind,
            "id_number": number, "phone": phone}


def check_form(form, *, people: int, province: int, relation: str, today: date) -> Checked:
    """Validate the whole form for `people` persons living in `province`, declared by `relation`."""
    out = Checked()
    if relation not in RELATIONS:
        out.errors["relation"] = "err_choice"
    out.persons = [check_person(form, i, today, out.errors) for i in range(people)]
    ward = form.get("ward", "")
    ward = ward if re.fullmatch(r"[0-9]{1,6}", ward) else ""
    if not ward or int(ward) not in divisions.wards(province):
        out.errors["ward"] = "err_ward"
    street = clean_text(form.get("street"))
    if street is None or len(street) > 120:
        out.errors["street"] = "err_bad_chars"
    elif not street:
        out.errors["street"] = "err_required"
    elif not _STREET.fullmatch(street) or "_" in street:
        out.errors["street"] = "err_street"
    declarer_name = declarer_phone = None
    if relation != "self":
        declarer_name, error = check_name(form.get("declarer_name"))
        if error:
            out.errors["declarer_name"] = error
        declarer_phone, error = check_phone(form.get("declarer_phone"), required=True)
        if error:
            out.errors["declarer_phone"] = error
    if form.get("consent") != "yes":
        out.errors["consent"] = "err_consent"
    out.declaration = {"declarer_relation": relation, "declarer_name": declarer_name,
                       "declarer_phone": declarer_phone, "province_code": province,
                       "ward_code": int(ward) if ward else None, "street": street}
    return out
