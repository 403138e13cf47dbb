"""The central database's SQL for staff credentials: one code key per site (rotated with a grace
period), issued badges and their revocation, staff PIN entries (docs/staff-credentials.md).

A mixin of `central.db.CentralDB`; the schema is migration 6 in central/db.py.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from samplepoint import signed_codes


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


class CredentialsSQL:
    # --- site keys ------------------------------------------------------------------------------

    def site_key(self, site_id: str) -> bytes:
        """The site's current code key, made on first need."""
        with self.transaction() as db:
            return self._current_key(db, site_id)

    @staticmethod
    def _current_key(db, site_id: str) -> bytes:
        row = db.execute("SELECT key_hex FROM site_keys WHERE site_id = ? AND retired_at IS NULL",
                         (site_id,)).fetchone()
        if row:
            return bytes.fromhex(row[0])
        key_hex = signed_codes.new_key()
        db.execute("INSERT INTO site_keys (site_id, key_hex, created_at) VALUES (?,?,?)",
                   (site_id, key_hex, _iso(_now())))
        return bytes.fromhex(key_hex)

    def rotate_site_key(self, site_id: str, grace_hours: float, now: datetime | None = None) -> str:
        """A new current key for the site; the old one verifies until now + grace. Returns the end
        of the grace period (ISO UTC)."""
        now = now or _now()
        until = _iso(now + timedelta(hours=grace_hours))
        with self.transaction() as db:
            self._current_key(db, site_id)
            db.execute("UPDATE site_keys SET retired_at = ?, valid_until = ? WHERE site_id = ? AND"
                       " retired_at IS NULL", (_iso(now), until, site_id))
            db.execute("INSERT INTO site_keys (site_id, key_hex, created_at) VALUES (?,?,?)",
                       (site_id, signed_codes.new_key(), _iso(now)))
        return until

    def site_credentials(self, site_id: str, now: datetime | None = None) -> dict:
        """What a device of the site receives (samplepoint/site_credentials.py describes it)."""
        now_text = _iso(now or _now())
        with self.transaction() as db:
            current = self._current_key(db, site_id)
            previous = db.execute(
                "SELECT key_hex, valid_until FROM site_keys WHERE site_id = ? AND retired_at IS NOT"
                " NULL AND valid_until > ? ORDER BY retired_at DESC LIMIT 15",
                (site_id, now_text)).fetchall()
            pins = [r[0] for r in db.execute("SELECT entry FROM site_pins WHERE site_id = ?"
                                             " ORDER BY staff_id", (site_id,))]
            revoked = [str(r[0]) for r in db.execute(
                "SELECT badge_id FROM badges WHERE site_id = ? AND revoked_at IS NOT NULL"
                " AND expires >= ? ORDER BY badge_id", (site_id, now_text[:10]))]
        return {"site_id": site_id,
                "keys": [{"key": current.hex(), "valid_until": None}]
                + [{"key": r[0], "valid_until": r[1]} for r in previous],
                "pins": pins, "revoked_badges": revoked}

    # --- badges ---------------------------------------------------------------------------------

    def add_badge(self, site_id: str, staff_id: str, name: str, expires: str) -> tuple[int, bytes]:
        """Record a new badge; returns (badge id, the site's current key to sign it with)."""
        with self.transaction() as db:
            key = self._current_key(db, site_id)
            badge_id = db.execute("SELECT COALESCE(MAX(badge_id), 0) + 1 FROM badges").fetchone()[0]
            db.execute("INSERT INTO badges (badge_id, site_id, staff_id, name, expires, issued_at)"
                       " VALUES (?,?,?,?,?,?)", (badge_id, site_id, staff_id, name, expires,
                                                  _iso(_now())))
        return int(badge_id), key

    def revoke_badge(self, badge_id: int) -> str | None:
        """Revoke a badge; returns its site, or None when no such badge was issued."""
        with self.transaction() as db:
            row = db.execute("SELECT site_id FROM badges WHERE badge_id = ?", (badge_id,)).fetchone()
            if row is None:
                return None
            db.execute("UPDATE badges SET revoked_at = ? WHERE badge_id = ? AND revoked_at IS NULL",
                       (_iso(_now()), badge_id))
        return row[0]

    def badges(self, site_id: str | None = None) -> list:
        where, args = ("WHERE site_id = ?", (site_id,)) if site_id else ("", ())
        return self.db.execute("SELECT badge_id, site_id, staff_id, name, expires, issued_at,"
                               f" revoked_at FROM badges {where} ORDER BY badge_id", args).fetchall()

    # --- PINs -----------------------------------------------------------------------------------

    def set_pin(self, site_id: str, staff_id: str, entry: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO site_pins VALUES (?,?,?,?) ON CONFLICT(site_id, staff_id) DO"
                       " UPDATE SET entry = excluded.entry, updated_at = excluded.updated_at",
                       (site_id, staff_id, entry, _iso(_now())))

    def remove_pin(self, site_id: str, staff_id: str) -> bool:
        with self.transaction() as db:
            found = db.execute("SELECT 1 FROM site_pins WHERE site_id = ? AND staff_id = ?",
                               (site_id, staff_id)).fetchone()
            db.execute("DELETE FROM site_pins WHERE site_id = ? AND staff_id = ?", (site_id, staff_id))
        return bool(found)
