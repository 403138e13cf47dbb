"""The central database's SQL for staff credentials: one code key per site (rotated with a grace
period), issued badges and their revocation, staff PIN entries (docs/staff-credentials.md).

A mixin of `central.db.CentralDB`; the schema is migrations 6 and 8 in central/db.py. A key central
holds for a site is never replaced behind a device's back: a device that reports a key central does
not know keeps it (and is flagged) until the operator imports it (`central import-site-key`).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from samplepoint import pins as pin_rules
from samplepoint import signed_codes


HAND_BADGE_IDS = 10**11          # `samplepoint staff badge` draws its ids from here up


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
            entries = [r[0] for r in db.execute("SELECT entry FROM site_pins WHERE site_id = ?"
                                                " ORDER BY staff_id", (site_id,))]
            revoked = [str(r[0]) for r in db.execute(
                "SELECT badge_id FROM badges WHERE site_id = ? AND revoked_at IS NOT NULL"
                " AND expires >= ? ORDER BY badge_id", (site_id, now_text[:10]))]
            unnumbered = [r[0] for r in db.execute(
                "SELECT staff_id FROM unnumbered_revocations WHERE site_id = ? ORDER BY staff_id",
                (site_id,))]
        # Old PBKDF2 entries are never sent (they fall to brute force in minutes): only who must
        # be issued a new PIN. "pins" stays empty so that older devices accept the answer.
        strong = [e for e in entries if pin_rules.entry_kind(e) == "argon2id"]
        return {"site_id": site_id,
                "keys": [{"key": current.hex(), "valid_until": None}]
                + [{"key": r[0], "valid_until": r[1]} for r in previous],
                "pins": [], "pin_entries": strong,
                "reissue_pins": pin_rules.reissue_ids(pin_rules.parse_pin_entries(entries)),
                "revoked_badges": revoked, "revoked_unnumbered": unnumbered}

    def credentials_for_device(self, device_id: str, site_id: str,
                               key_id: str | None) -> tuple[dict | None, bool]:
        """(the site's credentials, False) for a device holding no key or one central knows for
        the site (current or retired); else (None, whether this is news) with the device flagged.
        Reads only, unless the flag changes: every heartbeat comes through here."""
        known = {signed_codes.key_id(bytes.fromhex(r[0])) for r in self.db.execute(
            "SELECT key_hex FROM site_keys WHERE site_id = ?", (site_id,))}
        flagged = self.db.execute("SELECT key_id FROM key_mismatches WHERE device_id = ?",
                                  (device_id,)).fetchone()
        if key_id is None or key_id in known:
            if flagged:
                with self.transaction() as db:
                    db.execute("DELETE FROM key_mismatches WHERE device_id = ?", (device_id,))
            return self.site_credentials(site_id), False
        if flagged is None or flagged[0] != key_id:
            with self.transaction() as db:
                db.execute("INSERT INTO key_mismatches VALUES (?,?,?,?) ON CONFLICT(device_id) DO"
                           " UPDATE SET site_id = excluded.site_id, key_id = excluded.key_id,"
                           " seen_at = excluded.seen_at", (device_id, site_id, key_id, _iso(_now())))
            return None, True
        return None, False

    def key_mismatches(self) -> dict[str, str]:
        """device id → the unknown key id it reported (shown by `central devices`)."""
        return {r[0]: r[1] for r in self.db.execute("SELECT device_id, key_id FROM key_mismatches")}

    def import_site_key(self, site_id: str, key: bytes, replace: bool = False,
                        grace_hours: float = 72.0, now: datetime | None = None) -> str:
        """Make `key` the site's current key. Returns "imported" (the site had none), "same" (it
        is already current), "replaced" (with `replace`: the old current key verifies for
        `grace_hours` more), or a refusal: "differs" (without `replace`), "retired" (a key
        central retired is not brought back)."""
        now = now or _now()
        with self.transaction() as db:
            rows = db.execute("SELECT key_hex, retired_at FROM site_keys WHERE site_id = ?",
                              (site_id,)).fetchall()
            current = [r[0] for r in rows if r[1] is None]
            if key.hex() in current:
                return "same"
            if any(r[0] == key.hex() for r in rows):
                return "retired"
            if current and not replace:
                return "differs"
            db.execute("UPDATE site_keys SET retired_at = ?, valid_until = ? WHERE site_id = ? AND"
                       " retired_at IS NULL", (_iso(now), _iso(now + timedelta(hours=grace_hours)),
                                               site_id))
            db.execute("INSERT INTO site_keys (site_id, key_hex, created_at) VALUES (?,?,?)",
                       (site_id, key.hex(), _iso(now)))
        return "replaced" if current else "imported"

    # --- badges ---------------------------------------------------------------------------------

    def add_badge(self, site_id: str, staff_id: str, name: str, expires: str) -> tuple[int, bytes]:
        """Record a new badge; returns (badge id, the site's current key to sign it with)."""
        with self.transaction() as db:
            key = self._current_key(db, site_id)
            badge_id = db.execute("SELECT COALESCE(MAX(badge_id), 0) + 1 FROM badges WHERE"
                                  " badge_id < ?", (HAND_BADGE_IDS,)).fetchone()[0]
            db.execute("INSERT INTO badges (badge_id, site_id, staff_id, name, expires, issued_at,"
                       " key_id) VALUES (?,?,?,?,?,?,?)", (badge_id, site_id, staff_id, name, expires,
                                                           _iso(_now()), signed_codes.key_id(key)))
        return int(badge_id), key

    def badges_signed(self, badge_ids: list[int], key: bytes) -> None:
        """Note that these badges were printed again, signed with `key` (central badge-sheet)."""
        with self.transaction() as db:
            db.executemany("UPDATE badges SET key_id = ? WHERE badge_id = ?",
                           [(signed_codes.key_id(key), b) for b in badge_ids])

    def revoke_unnumbered(self, site_id: str, staff_id: str) -> None:
        """Refuse, at the site, every badge of staff_id that carries no badge id (older badges)."""
        with self.transaction() as db:
            db.execute("INSERT INTO unnumbered_revocations VALUES (?,?,?) ON CONFLICT(site_id,"
                       " staff_id) DO NOTHING", (site_id, staff_id, _iso(_now())))

    def revoke_badge(self, badge_id: int, site_id: str | None = None) -> str | None:
        """Revoke a badge; returns its site, or None when central issued no such badge. With
        `site_id`, a badge central did not issue (`samplepoint staff badge` at a site keyed by
        hand) is revoked at that site all the same."""
        with self.transaction() as db:
            row = db.execute("SELECT site_id FROM badges WHERE badge_id = ?", (badge_id,)).fetchone()
            if row is None and site_id is not None:
                db.execute("INSERT INTO badges (badge_id, site_id, staff_id, name, expires,"
                           " issued_at, revoked_at) VALUES (?,?,?,?,?,?,?)",
                           (badge_id, site_id, "-", "(not issued by central)", "9999-12-31",
                            _iso(_now()), _iso(_now())))
                return site_id
            if row is None:
                return None
            db.execute("UPDATE badges SET revoked_at = ? WHERE badge_id = ? AND revoked_at IS NULL",
                       (_iso(_now()), badge_id))
        return row[0]

    def badges(self, site_id: str | None = None) -> list:
        where, args = ("WHERE site_id = ?", (site_id,)) if site_id else ("", ())
        return self.db.execute("SELECT badge_id, site_id, staff_id, name, expires, issued_at,"
                               f" revoked_at, key_id FROM badges {where} ORDER BY badge_id",
                               args).fetchall()

    def badge_states(self, site_id: str | None = None, now: datetime | None = None) -> list[tuple]:
        """(badge row, state) for each badge: "revoked DAY", "expired", "key retired" (signed with
        a key past its grace period: reprint it with `central badge-sheet`) or "valid"."""
        now_text = _iso(now or _now())
        where, args = ("WHERE site_id = ?", (site_id,)) if site_id else ("", ())
        keys: dict[str, list] = {}
        for r in self.db.execute("SELECT site_id, key_hex, created_at, valid_until, retired_at FROM"
                                 f" site_keys {where} ORDER BY created_at", args):
            keys.setdefault(r[0], []).append((signed_codes.key_id(bytes.fromhex(r[1])), r[2],
                                              r[4] is None or r[3] > now_text))
        return [(row, _badge_state(row, keys.get(row["site_id"], []), now_text))
                for row in self.badges(site_id)]

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


def _badge_state(row, keys: list[tuple[str, str, bool]], now_text: str) -> str:
    """keys: (key id, created at, still verifies), oldest first. A badge from before key ids were
    noted was signed with the key current when it was issued."""
    if row["revoked_at"]:
        return f"revoked {row['revoked_at'][:10]}"
    if row["expires"] < now_text[:10]:
        return "expired"
    signed = [k for k in keys if k[0] == row["key_id"]] if row["key_id"] else \
        [k for k in keys if k[1] <= row["issued_at"]][-1:]
    if signed and not signed[0][2]:
        return "key retired"
    return "valid"
