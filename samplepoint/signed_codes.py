"""Our own QR codes (staff badges, portal declarations): versioned, prefixed, HMAC-signed text.

A code reads `SP1.<kind>.<payload>.<mac>`: `SP1` is the prefix and format version, `kind` a short
lower-case word (`staff`, `decl`), `payload` the base64url of compact JSON (a flat object) and
`mac` the first 16 bytes of HMAC-SHA256(key, "SP1.<kind>.<payload>"), base64url. Anyone can read a
code; only a holder of the site key can make one, so a forged or altered code is refused.

    make_code("staff", {"staff_id": "NV01"}, key)  ->  "SP1.staff.eyJ...".
    verify_code(text, key)  ->  {"kind": "staff", "staff_id": "NV01"}  or  Invalid(reason)

Shared by the kiosk (which reads both kinds) and the captive portal (which issues declarations).
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
from pathlib import Path

PREFIX = "SP1"
KINDS = ("staff", "decl")
MAC_BYTES = 16
MAX_CODE = 1024            # a QR a phone screen shows comfortably; longer is not ours
MIN_KEY = 16
_SHAPE = re.compile(r"SP1\.([a-z]{1,10})\.([A-Za-z0-9_-]{2,1000})\.([A-Za-z0-9_-]{22})")


@dataclass(frozen=True)
class Invalid:
    """Why a text is not a valid code of ours (`reason` is machine-readable, for logs and tests)."""
    reason: str

    def __bool__(self) -> bool:       # falsy, so `if verified:` reads naturally
        return False


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, signed_part: str) -> str:
    return _b64(hmac.new(key, signed_part.encode("ascii"), hashlib.sha256).digest()[:MAC_BYTES])


def make_code(kind: str, payload: dict, key: bytes) -> str:
    """Sign payload (a flat JSON object of short strings/numbers) as a code of the given kind."""
    if kind not in KINDS:
        raise ValueError(f"unknown code kind {kind!r}; one of {', '.join(KINDS)}")
    if len(key) < MIN_KEY:
        raise ValueError(f"code key must be at least {MIN_KEY} bytes")
    if "kind" in payload:
        raise ValueError("payload must not carry 'kind'; it is part of the code")
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    signed_part = f"{PREFIX}.{kind}.{_b64(body.encode('utf-8'))}"
    code = f"{signed_part}.{_mac(key, signed_part)}"
    if len(code) > MAX_CODE:
        raise ValueError(f"payload too large for a code ({len(code)} > {MAX_CODE} characters)")
    return code


def looks_like_code(text: str) -> bool:
    """True when text carries our prefix (so a bad one is refused as ours, not as unknown)."""
    return text.startswith(PREFIX + ".")


def verify_code(text: str, key: bytes) -> dict | Invalid:
    """The payload with its `kind` when text is a genuine code signed with key; else Invalid."""
    if not isinstance(text, str) or len(text) > MAX_CODE:
        return Invalid("too-long")
    match = _SHAPE.fullmatch(text)
    if not match:
        return Invalid("not-ours" if not looks_like_code(text) else "malformed")
    kind, payload, mac = match.groups()
    if kind not in KINDS:
        return Invalid("unknown-kind")
    if not hmac.compare_digest(_mac(key, text[: -len(mac) - 1]), mac):
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
