"""Our own QR codes (staff badges, portal declarations): versioned, prefixed, HMAC-signed text.

Two formats; new codes are SP2, and both are read, so every code already handed out or printed
keeps working until its own expiry (SP1 codes carry none).

**SP2** (issued now) reads `SP2.<base45>`: the base45 (RFC 9285) of a binary body followed by the
first 16 bytes of HMAC-SHA256(key, b"SP2." + body). Every character is in the QR alphanumeric set,
so a QR encodes it at 5.5 bits a character instead of 8: a one-person declaration is about 110
characters, a version 5 QR at error correction M (SP1 needed version 12 or 13). The body:

    byte 0       kind: 1 = staff badge, 2 = declaration
    bytes 1-2    expiry: days since 2020-01-01, big-endian; 0 = never expires
    then         fields in ascending tag order, each a tag byte and a value (FIELDS below)

Value types: text (length byte + UTF-8), number (a digit string packed as an integer, or text when
it holds anything but ASCII digits: ID numbers may be masked with `*`), date (two bytes, days since
1900-01-01), gender (one byte) and flag (no value: present means true). A body with an unknown
tag, a repeated or out-of-order tag, or trailing bytes is refused as malformed, so one text has
one meaning. `badge_id` and `declaration_id` name the code itself (for revocation and look-up).

**SP1** (issued until this version) reads `SP1.<kind>.<payload>.<mac>`: `kind` a word (`staff`,
`decl`), `payload` the base64url of compact JSON (a flat object) and `mac` the first 16 bytes of
HMAC-SHA256(key, "SP1.<kind>.<payload>"), base64url.

    make_code("staff", {"staff_id": "NV01"}, key, expires=date(2026, 12, 31))  ->  "SP2.…"
    verify_code(text, key, now)  ->  {"kind": "staff", "staff_id": "NV01", "expires": "2026-12-31"}
                                     or Invalid(reason)

Anyone can read a code; only a holder of the site key can make one, so a forged or altered code is
refused. `verify_code` takes one key or several (the current key and the ones still in their grace
period after a rotation). Shared by the kiosk (which reads both kinds) and the captive portal
(which issues declarations).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Iterable

PREFIX = "SP1"                 # the legacy format's prefix
PREFIX_V2 = "SP2"
KINDS = ("staff", "decl")
MAC_BYTES = 16
MAX_CODE = 1024            # a QR a phone screen shows comfortably; longer is not ours
MIN_KEY = 16
_SHAPE = re.compile(r"SP1\.([a-z]{1,10})\.([A-Za-z0-9_-]{2,1000})\.([A-Za-z0-9_-]{22})")

TEXT, NUMBER, DATE, GENDER, FLAG = "text", "number", "date", "gender", "flag"
# tag → (field name, type), per kind. New fields take new tags; a tag's meaning never changes.
FIELDS = {
    "staff": {1: ("badge_id", NUMBER), 2: ("staff_id", TEXT), 3: ("name", TEXT), 4: ("mode", TEXT)},
    "decl": {1: ("declaration_id", TEXT), 2: ("id_number", NUMBER), 3: ("full_name", TEXT),
             4: ("date_of_birth", DATE), 5: ("gender", GENDER), 6: ("phone", NUMBER),
             7: ("declared_on_behalf", FLAG)},
}
KIND_BYTES = {"staff": 1, "decl": 2}
GENDER_BYTES = {"unknown": 0, "male": 1, "female": 2}
EXPIRY_EPOCH = date(2020, 1, 1)
DATE_EPOCH = date(1900, 1, 1)
B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_B45_VALUE = {c: i for i, c in enumerate(B45)}


@dataclass(frozen=True)
class Invalid:
    """Why a text is not a valid code of ours (`reason` is machine-readable, for logs and tests)."""
    reason: str

    def __bool__(self) -> bool:       # falsy, so `if verified:` reads naturally
        return False


class _Malformed(ValueError):
    pass


# --- base45 (RFC 9285) and base64url -------------------------------------------------------------

def b45encode(data: bytes) -> str:
    out = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        out += [B45[n % 45], B45[n // 45 % 45], B45[n // 2025]]
    if len(data) % 2:
        out += [B45[data[-1] % 45], B45[data[-1] // 45]]
    return "".join(out)


def b45decode(text: str) -> bytes:
    """Raises ValueError for a character outside the alphabet or a group out of range."""
    if len(text) % 3 == 1:
        raise ValueError("base45 length")
    try:
        values = [_B45_VALUE[c] for c in text]
    except KeyError:
        raise ValueError("base45 character") from None
    out = bytearray()
    for i in range(0, len(values), 3):
        group = values[i:i + 3]
        n = sum(v * 45 ** k for k, v in enumerate(group))
        if len(group) == 3:
            if n > 0xFFFF:
                raise ValueError("base45 group")
            out += n.to_bytes(2, "big")
        else:
            if n > 0xFF:
                raise ValueError("base45 group")
            out.append(n)
    return bytes(out)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, signed_part: str) -> str:
    return _b64(hmac.new(key, signed_part.encode("ascii"), hashlib.sha256).digest()[:MAC_BYTES])


def _mac2(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, PREFIX_V2.encode() + b"." + body, hashlib.sha256).digest()[:MAC_BYTES]


# --- SP2 field values ----------------------------------------------------------------------------

def _digit_bytes(count: int) -> int:
    return (int("9" * count).bit_length() + 7) // 8


def _pack(kind: str, value) -> bytes:
    if kind == FLAG:
        if value is not True:
            raise ValueError("a flag field is true or absent")
        return b""
    if kind == GENDER:
        if value not in GENDER_BYTES:
            raise ValueError(f"gender must be one of {', '.join(GENDER_BYTES)}")
        return bytes([GENDER_BYTES[value]])
    if kind == DATE:
        iso = isinstance(value, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value)
        days = (date.fromisoformat(value) - DATE_EPOCH).days if iso else -1
        if not 0 <= days <= 0xFFFF:
            raise ValueError("a date is YYYY-MM-DD between 1900 and 2079")
        return days.to_bytes(2, "big")
    if not isinstance(value, str):
        raise ValueError("text and number fields hold strings")
    if kind == NUMBER and value and len(value) <= 127 and re.fullmatch(r"[0-9]+", value):
        return bytes([len(value)]) + int(value).to_bytes(_digit_bytes(len(value)), "big")
    raw = value.encode("utf-8")
    if kind == NUMBER:          # high bit set: the number is carried as text
        if len(raw) > 127:
            raise ValueError("number field too long")
        return bytes([0x80 | len(raw)]) + raw
    if len(raw) > 255:
        raise ValueError("text field longer than 255 bytes")
    return bytes([len(raw)]) + raw


def _unpack(kind: str, body: bytes, at: int):
    """(value, next offset) of one field value at body[at:]."""
    if kind == FLAG:
        return True, at
    if kind == GENDER:
        names = {v: k for k, v in GENDER_BYTES.items()}
        if at >= len(body) or body[at] not in names:
            raise _Malformed("gender")
        return names[body[at]], at + 1
    if kind == DATE:
        if at + 2 > len(body):
            raise _Malformed("date")
        return (DATE_EPOCH + timedelta(days=int.from_bytes(body[at:at + 2], "big"))).isoformat(), at + 2
    if at >= len(body):
        raise _Malformed("length")
    head, at = body[at], at + 1
    if kind == NUMBER and not head & 0x80:
        size = _digit_bytes(head) if head else -1
        if size < 0 or at + size > len(body):
            raise _Malformed("number")
        number = int.from_bytes(body[at:at + size], "big")
        if number > int("9" * head):
            raise _Malformed("number")
        return f"{number:0{head}d}", at + size
    size = head & 0x7F if kind == NUMBER else head
    if at + size > len(body):
        raise _Malformed("text")
    try:
        return body[at:at + size].decode("utf-8"), at + size
    except UnicodeDecodeError:
        raise _Malformed("utf-8") from None


def _encode_v2(kind: str, payload: dict, expires: date | None) -> bytes:
    tags = {name: (tag, vtype) for tag, (name, vtype) in FIELDS[kind].items()}
    unknown = set(payload) - set(tags)
    if unknown:
        raise ValueError(f"no SP2 field for {', '.join(sorted(unknown))} in a {kind} code")
    days = 0 if expires is None else (expires - EXPIRY_EPOCH).days
    if not (expires is None or 1 <= days <= 0xFFFF):
        raise ValueError("expiry must fall between 2020-01-02 and 2199")
    body = bytes([KIND_BYTES[kind]]) + days.to_bytes(2, "big")
    for name, value in sorted(payload.items(), key=lambda item: tags[item[0]][0]):
        tag, vtype = tags[name]
        if value is None or value is False or value == "":
            continue            # absent: the reader sees no key
        body += bytes([tag]) + _pack(vtype, value)
    return body


def _decode_v2(body: bytes) -> dict:
    kinds = {v: k for k, v in KIND_BYTES.items()}
    if len(body) < 3 or body[0] not in kinds:
        raise _Malformed("kind")
    kind = kinds[body[0]]
    data: dict = {"kind": kind}
    days = int.from_bytes(body[1:3], "big")
    if days:
        data["expires"] = (EXPIRY_EPOCH + timedelta(days=days)).isoformat()
    at, last = 3, 0
    while at < len(body):
        tag = body[at]
        if tag not in FIELDS[kind] or tag <= last:
            raise _Malformed("tag")
        name, vtype = FIELDS[kind][tag]
        data[name], at = _unpack(vtype, body, at + 1)
        last = tag
    return data


# --- issuing and verifying -----------------------------------------------------------------------

def make_code(kind: str, payload: dict, key: bytes, *, expires: date | None = None,
              version: int = 2) -> str:
    """Sign payload as a code of the given kind, valid through `expires` (a date; None = no expiry).

    SP2 payload keys are the FIELDS of the kind. `version=1` makes a legacy SP1 code (any flat JSON
    object, no expiry): only for reading tests and tools that must make what older devices read.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown code kind {kind!r}; one of {', '.join(KINDS)}")
    if len(key) < MIN_KEY:
        raise ValueError(f"code key must be at least {MIN_KEY} bytes")
    if "kind" in payload:
        raise ValueError("payload must not carry 'kind'; it is part of the code")
    if version == 1:
        if expires is not None:
            raise ValueError("SP1 codes carry no expiry")
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        signed_part = f"{PREFIX}.{kind}.{_b64(body.encode('utf-8'))}"
        code = f"{signed_part}.{_mac(key, signed_part)}"
    elif version == 2:
        body = _encode_v2(kind, payload, expires)
        code = f"{PREFIX_V2}.{b45encode(body + _mac2(key, body))}"
    else:
        raise ValueError("code version is 1 or 2")
    if len(code) > MAX_CODE:
        raise ValueError(f"payload too large for a code ({len(code)} > {MAX_CODE} characters)")
    return code


def looks_like_code(text: str) -> bool:
    """True when text carries one of our prefixes (so a bad one is refused as ours, not as unknown)."""
    return text.startswith((PREFIX + ".", PREFIX_V2 + "."))


def verify_code(text: str, key: bytes | Iterable[bytes],
                now: date | datetime | None = None) -> dict | Invalid:
    """The payload with its `kind` (and `expires`, when it has one) when text is a genuine code
    signed with key (or one of several keys), not expired on `now`'s date; else Invalid."""
    keys = [key] if isinstance(key, (bytes, bytearray)) else list(key)
    if not isinstance(text, str) or len(text) > MAX_CODE:
        return Invalid("too-long")
    if text.startswith(PREFIX_V2 + "."):
        data = _verify_v2(text[len(PREFIX_V2) + 1:], keys)
    else:
        data = _verify_v1(text, keys)
    if data and now is not None and "expires" in data:
        today = now.date() if isinstance(now, datetime) else now
        if today > date.fromisoformat(data["expires"]):
            return Invalid("expired")
    return data


def _verify_v2(encoded: str, keys: list[bytes]) -> dict | Invalid:
    try:
        raw = b45decode(encoded)
    except ValueError:
        return Invalid("malformed")
    if len(raw) < 3 + MAC_BYTES:
        return Invalid("malformed")
    body, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
    if not any(hmac.compare_digest(_mac2(k, body), mac) for k in keys):
        return Invalid("bad-signature")
    try:
        return _decode_v2(body)
    except _Malformed:       # signed by us yet unreadable: a newer field this version lacks
        return Invalid("malformed")


def _verify_v1(text: str, keys: list[bytes]) -> dict | Invalid:
    match = _SHAPE.fullmatch(text)
    if not match:
        return Invalid("not-ours" if not looks_like_code(text) else "malformed")
    kind, payload, mac = match.groups()
    if kind not in KINDS:
        return Invalid("unknown-kind")
    if not any(hmac.compare_digest(_mac(k, text[: -len(mac) - 1]), mac) for k in keys):
        return Invalid("bad-signature")
    try:
        data = json.loads(_unb64(payload).decode("utf-8"))
    except (binascii.Error, ValueError):
        return Invalid("malformed")
    if not isinstance(data, dict) or "kind" in data:
        return Invalid("malformed")
    return {"kind": kind, **data}


def load_key(path: str | Path) -> bytes:
    """The site code key from its file (hex text, one line). Raises OSError/ValueError when unusable."""
    text = Path(path).read_text(encoding="ascii").strip()
    key = bytes.fromhex(text)
    if len(key) < MIN_KEY:
        raise ValueError(f"{path}: code key must be at least {MIN_KEY} bytes ({2 * MIN_KEY} hex digits)")
    return key


def new_key() -> str:
    """A fresh random site key as hex text, for the key file."""
    return secrets.token_hex(32)


def key_id(key: bytes) -> str:
    """A code key's public name (16 hex digits): devices report it, central compares it, and it
    tells nothing about the key."""
    return hashlib.sha256(b"samplepoint code key id\0" + key).hexdigest()[:16]
