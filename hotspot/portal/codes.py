"""Short codes and signed declaration QR codes (SVG) for the people of a saved declaration."""
from __future__ import annotations

import io
import secrets
import unicodedata
from dataclasses import dataclass

import segno

from samplepoint.signed_codes import make_code

# Crockford's base32: no I, L, O, U, so a code read aloud or typed at the kiosk is unambiguous.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@dataclass(frozen=True)
class Issued:
    short_code: str        # "K7M2-9QXD"
    code: str              # SPD1.… signed text inside the QR
    svg: str
    name: str


def ascii_upper(name: str) -> str:
    """NGUYEN LE KHA HAN for "Nguyễn Lê Khả Hân", the national QR's way of writing names."""
    name = name.replace("Đ", "D").replace("đ", "d")
    return "".join(c for c in unicodedata.normalize("NFD", name) if not unicodedata.combining(c)).upper()


def new_short_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(8))
    return f"{raw[:4]}-{raw[4:]}"


def qr_svg(text: str) -> str:
    buffer = io.BytesIO()
    segno.make(text, error="m", micro=False).save(buffer, kind="svg", scale=4, border=2,
                                                  xmldecl=False, svgns=True, omitsize=True)
    return buffer.getvalue().decode("ascii")


def issue_codes(store, key: bytes, persons: list[dict]) -> list[Issued]:
    """One unused short code and one signed QR per person (the QR carries code, name and birth date;
    the kiosk reads the rest from the shared store)."""
    issued = []
    for person in persons:
        short = new_short_code()
        while store.short_code_taken(short) or any(i.short_code == short for i in issued):
            short = new_short_code()
        code = make_code("declaration", {"c": short, "n": ascii_upper(person["full_name"]),
                                         "b": person["date_of_birth"]}, key)
        issued.append(Issued(short, code, qr_svg(code), person["full_name"]))
    return issued
