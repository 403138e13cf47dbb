"""Staff credentials: PIN entries for the config file, and signed badge codes to print.

A PIN entry is `STAFF_ID:$argon2id$…` (samplepoint/pins.py), so the config file never holds a PIN.
"""
from __future__ import annotations

from datetime import date

from samplepoint import signed_codes
from samplepoint.pins import (check_pin, needs_reissue, parse_pin_entries, pin_entry,  # noqa: F401
                             reissue_ids)


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
