"""The 12-digit CCCD number's own cross-check, shared by the kiosk (ID card QR) and the portal (form).

Digits: province (or country) of birth registration (3), century+gender (1), last two digits of the
birth year (2), then 6 serial digits. Century+gender: 0/1 = 1900s male/female, 2/3 = 2000s,
4/5 = 2100s, 6/7 = 2200s, 8/9 = 2300s. Province codes run from 001 to 096; the check accepts the
whole range rather than only the 63 codes of the pre-2025 provinces, so no real card is refused at
a sampling point for a code missing from a list. Pure functions, ASCII digits only.
"""
from __future__ import annotations

import re

NUMBER = re.compile(r"[0-9]{12}")
PROVINCES = range(1, 97)


def century_gender_digit(year: int, gender: str) -> int:
    """The 4th digit for a birth year (1900-2399) and gender ("female", anything else = male)."""
    return 2 * ((year - 1900) // 100) + (1 if gender == "female" else 0)


def birth_year(number: str) -> int:
    """The birth year a well-formed number encodes."""
    return 1900 + 100 * (int(number[3]) // 2) + int(number[4:6])


def problem(number: str, year: int | None = None, gender: str | None = None) -> str | None:
    """None when `number` is well formed and agrees with the birth year and gender given (each
    optional); else one of "number", "province", "year", "gender"."""
    if not NUMBER.fullmatch(number):
        return "number"
    if int(number[:3]) not in PROVINCES:
        return "province"
    if year is not None and birth_year(number) != year:
        return "year"
    if gender in ("male", "female") and ("female" if int(number[3]) % 2 else "male") != gender:
        return "gender"
    return None
