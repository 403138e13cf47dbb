"""PIN entries for the config file (staff at the kiosk, volunteers on the portal).

An entry is `ID:SALT:HASH` (PBKDF2-SHA256, hex), so the config file never holds a PIN.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

PIN_ITERATIONS = 100_000


def _hash(pin: str, salt: bytes) -> str:
    return hashlib.pbkdf2_hmac("sha256", pin.encode("utf-8"), salt, PIN_ITERATIONS).hex()


def pin_entry(person_id: str, pin: str, salt: bytes | None = None) -> str:
    """The config entry for person_id's PIN."""
    if not pin.isdigit() or not 4 <= len(pin) <= 12:
        raise ValueError("a PIN is 4 to 12 digits")
    salt = salt or secrets.token_bytes(16)
    return f"{person_id}:{salt.hex()}:{_hash(pin, salt)}"


def parse_pin_entries(entries: list[str]) -> dict[str, tuple[bytes, str]]:
    """id → (salt, hash) from the config's entries (already checked by the config schema)."""
    table = {}
    for entry in entries:
        person_id, salt, digest = entry.split(":")
        table[person_id] = (bytes.fromhex(salt), digest)
    return table


def check_pin(table: dict[str, tuple[bytes, str]], person_id: str, pin: str) -> bool:
    """True when pin is person_id's PIN. Runs the hash even for unknown ids, so timing tells nothing."""
    salt, digest = table.get(person_id, (b"\0" * 16, ""))
    if not isinstance(pin, str) or len(pin) > 12:
        return False
    return hmac.compare_digest(_hash(pin, salt), digest) and person_id in table
