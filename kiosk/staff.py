"""Staff credentials: PIN entries for the config file, and signed badge codes to print.

A PIN entry is `STAFF_ID:SALT:HASH` (PBKDF2-SHA256, hex), so the config file never holds a PIN.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import date

from samplepoint import signed_codes

PIN_ITERATIONS = 100_000


def _hash(pin: str, salt: bytes) -> str:
    return hashlib.pbkdf2_hmac("sha256", pin.encode("utf-8"), salt, PIN_ITERATIONS).hex()


def pin_entry(staff_id: str, pin: str, salt: bytes | None = None) -> str:
    """The `workflow.staff_pins` entry for staff_id's PIN."""
    if not pin.isdigit() or not 4 <= len(pin) <= 12:
        raise ValueError("a PIN is 4 to 12 digits")
    salt = salt or secrets.token_bytes(16)
    return f"{staff_id}:{salt.hex()}:{_hash(pin, salt)}"


def parse_pin_entries(entries: list[str]) -> dict[str, tuple[bytes, str]]:
    """staff_id → (salt, hash) from the config's entries (already checked by the config schema)."""
    table = {}
    for entry in entries:
        staff_id, salt, digest = entry.split(":")
        table[staff_id] = (bytes.fromhex(salt), digest)
    return table


def check_pin(table: dict[str, tuple[bytes, str]], staff_id: str, pin: str) -> bool:
    """True when pin is staff_id's PIN. Runs the hash even for unknown staff, so timing tells nothing."""
    salt, digest = table.get(staff_id, (b"\0" * 16, ""))
    if not isinstance(pin, str) or len(pin) > 12:
        return False
    return hmac.compare_digest(_hash(pin, salt), digest) and staff_id in table


def badge_code(staff_id: str, name: str, key: bytes, check: bool = False,
               expires: date | None = None, badge_id: str | None = None) -> str:
    """The signed text of a staff badge QR (SP2), valid through `expires` (None: no expiry) and
    named by `badge_id` (digits) for revocation; a check badge also switches check mode on and off."""
    payload = {"staff_id": staff_id, "name": name}
    if check:
        payload["mode"] = "check"
    if badge_id:
        payload["badge_id"] = badge_id
    return signed_codes.make_code("staff", payload, key, expires=expires)
