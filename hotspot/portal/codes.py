"""Short codes and signed declaration QR codes (SVG) for the people of a saved declaration."""
from __future__ import annotations

import base64
import hashlib
import hmac
import io
import secrets
from dataclasses import dataclass

import segno

from samplepoint.signed_codes import make_code

# Crockford's base32: no I, L, O, U, so a code read aloud or typed at the kiosk is unambiguous.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@dataclass(frozen=True)
class Issued:
    short_code: str        # "K7M2-9QXD"
    code: str              # SP1.decl.… signed text inside the QR
    svg: str
    name: str
    token: str             # for /declare/code/<short_code>?t=<token>


def link_token(key: bytes, short_code: str) -> str:
    """Unguessable token for the link to one person's QR page (the short code alone is not enough)."""
    mac = hmac.new(key, f"qr-page|{short_code}".encode(), hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(mac).decode()


def new_short_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(8))
    return f"{raw[:4]}-{raw[4:]}"


def qr_svg(text: str) -> str:
    buffer = io.BytesIO()
    segno.make(text, error="m", micro=False).save(buffer, kind="svg", scale=4, border=2,
                                                  xmldecl=False, svgns=True, omitsize=True)
    return buffer.getvalue().decode("ascii")


def declaration_payload(short_code: str, person: dict, on_behalf: bool) -> dict:
    """What the QR carries: the person in wire.Person field names, as the kiosk reads it offline."""
    payload = {"declaration_id": short_code, "id_number": person["id_number"],
               "full_name": person["full_name"], "date_of_birth": person["date_of_birth"],
               "gender": person["gender"]}
    if person.get("phone"):
        payload["phone"] = person["phone"]
    if on_behalf:
        payload["declared_on_behalf"] = True
    return payload


def issue_codes(store, key: bytes, persons: list[dict], relation: str) -> list[Issued]:
    """One unused short code and one signed declaration QR per person. Everyone but the first
    person of a self-declaration was declared on their behalf."""
    issued = []
    for position, person in enumerate(persons):
        short = new_short_code()
        while store.short_code_taken(short) or any(i.short_code == short for i in issued):
            short = new_short_code()
        on_behalf = relation != "self" or position > 0
        code = make_code("decl", declaration_payload(short, person, on_behalf), key)
        issued.append(Issued(short, code, qr_svg(code), person["full_name"], link_token(key, short)))
    return issued
