"""The central database's SQL for enrolment codes: each code names the sites it may enrol devices
for, and optionally the one device id it was issued to (docs/central.md).

A mixin of `central.db.CentralDB`; the schema is migrations 2 and 8 in central/db.py.
"""
from __future__ import annotations

import secrets

# Why a code did not enrol a device; central/enrol.py says each to the technician.
UNKNOWN, EXPIRED, USED, UNBOUND = "unknown", "expired", "used", "unbound"
OTHER_SITE, OTHER_DEVICE, ENROLLED = "other-site", "other-device", "enrolled"


class EnrolSQL:
    def add_enrol_code(self, code_hash: str, campaign: str, max_uses: int, expires_at: str,
                       sites: list[str], device_id: str | None = None) -> None:
        from central.db import utc_now
        if not sites:
            raise ValueError("an enrolment code names at least one site")
        with self.transaction() as db:
            db.execute("INSERT INTO enrol_codes (code_hash, campaign, max_uses, expires_at,"
                       " created_at, device_id) VALUES (?,?,?,?,?,?)",
                       (code_hash, campaign, max_uses, expires_at, utc_now(), device_id))
            db.executemany("INSERT INTO enrol_code_sites VALUES (?,?)",
                           [(code_hash, site) for site in dict.fromkeys(sites)])

    def enrol_with_code(self, code_hash: str, device_id: str, site_id: str, now: str) -> str:
        """Spend one use of an enrolment code on a new device of one of the code's sites: returns
        "token:" + the device's token, or why not (one of the outcomes above). A refusal spends
        nothing."""
        from central.db import hash_token
        token = secrets.token_urlsafe(32)
        with self.transaction() as db:
            code = db.execute("SELECT max_uses, uses, expires_at, device_id FROM enrol_codes"
                              " WHERE code_hash = ?", (code_hash,)).fetchone()
            if code is None:
                return UNKNOWN
            if code["expires_at"] <= now:
                return EXPIRED
            if code["uses"] >= code["max_uses"]:
                return USED
            sites = {r[0] for r in db.execute("SELECT site_id FROM enrol_code_sites WHERE"
                                              " code_hash = ?", (code_hash,))}
            if not sites:
                return UNBOUND
            if code["device_id"] is not None and code["device_id"] != device_id:
                return OTHER_DEVICE
            if site_id not in sites:
                return OTHER_SITE
            if db.execute("SELECT 1 FROM devices WHERE device_id = ?", (device_id,)).fetchone():
                return ENROLLED
            db.execute("UPDATE enrol_codes SET uses = uses + 1 WHERE code_hash = ?", (code_hash,))
            db.execute("INSERT INTO devices (device_id, site_id, token_hash, created_at, last_seen)"
                       " VALUES (?,?,?,?,?)", (device_id, site_id, hash_token(token), now, now))
            db.execute("INSERT INTO enrolments VALUES (?,?,?)", (device_id, code_hash, now))
        return "token:" + token
