"""The central database's SQL for the web console and exports: accounts, the audit log, fleet counts.

A mixin of `central.db.CentralDB` (it uses its `db` connection and `transaction()`); the schema is
migration 5 in central/db.py, console sessions and repeated audit entries `SESSIONS_SCHEMA` below.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from itertools import groupby, islice
from typing import Iterator

from central import verdict as rule
from central.db_results import _belongs, _sampled

ROLES = ("admin", "viewer", "lab")
# Migration 8: signed-in console sessions, one row each, keyed by the SHA-256 of the random id the
# cookie carries (central/console/sessions.py); an audit entry can stand for repeated ones.
SESSIONS_SCHEMA = """
    CREATE TABLE console_sessions (
        id_hash    TEXT PRIMARY KEY,
        username   TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        seen_ms    BIGINT NOT NULL,
        data       TEXT NOT NULL
    );
    CREATE INDEX console_sessions_user ON console_sessions(username);
    CREATE INDEX console_sessions_seen ON console_sessions(seen_ms);
    ALTER TABLE audit ADD COLUMN times INTEGER NOT NULL DEFAULT 1
    """


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _id_hash(session_id: str) -> str:
    """What the database keeps of a session id: a copy of the table signs nobody in."""
    return hashlib.sha256(session_id.encode("ascii")).hexdigest()


class ConsoleSQL:
    # --- accounts -------------------------------------------------------------------------------

    def add_user(self, username: str, password_hash: str, role: str, *, replace: bool = False) -> bool:
        """Create an account (or, with `replace`, set its password and role and end every session
        it has); False if it exists."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if not username.isprintable():
            raise ValueError("an account name holds no control characters")
        with self.transaction() as db:
            known = db.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone()
            if known and not replace:
                return False
            db.execute("INSERT INTO users (username, password_hash, role, created_at) VALUES (?,?,?,?)"
                       " ON CONFLICT(username) DO UPDATE SET password_hash = excluded.password_hash,"
                       " role = excluded.role, disabled = 0", (username, password_hash, role, _now()))
            db.execute("DELETE FROM console_sessions WHERE username = ?", (username,))
        return True

    def set_user_disabled(self, username: str, disabled: bool) -> bool:
        """Disable an account (ending every session it has) or enable it again; False if unknown."""
        with self.transaction() as db:
            known = db.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone()
            if not known:
                return False
            db.execute("UPDATE users SET disabled = ? WHERE username = ?", (int(disabled), username))
            if disabled:
                db.execute("DELETE FROM console_sessions WHERE username = ?", (username,))
        return True

    def user(self, username: str):
        return self.db.execute("SELECT username, password_hash, role, disabled FROM users "
                               "WHERE username = ?", (username,)).fetchone()

    def set_password_hash(self, username: str, password_hash: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE users SET password_hash = ? WHERE username = ?", (password_hash, username))

    def users(self) -> list:
        return self.db.execute("SELECT username, role, created_at, disabled FROM users "
                               "ORDER BY username").fetchall()

    # --- console sessions (central/console/sessions.py) ----------------------------------------

    def open_console_session(self, session_id: str, username: str, data: str, now_ms: int,
                             oldest_ms: int, replaces: str | None = None) -> None:
        """Store a new signed-in session (ending `replaces`, the one it follows), and forget
        sessions last seen before `oldest_ms`."""
        with self.transaction() as db:
            db.execute("DELETE FROM console_sessions WHERE seen_ms < ?", (oldest_ms,))
            if replaces:
                db.execute("DELETE FROM console_sessions WHERE id_hash = ?", (_id_hash(replaces),))
            db.execute("INSERT INTO console_sessions VALUES (?,?,?,?,?)",
                       (_id_hash(session_id), username, now_ms, now_ms, data))

    def console_session(self, session_id: str, seen_after_ms: int, created_after_ms: int):
        """(username, data, seen_ms) of a session seen and created late enough, else None."""
        return self.db.execute(
            "SELECT username, data, seen_ms FROM console_sessions WHERE id_hash = ? AND seen_ms > ?"
            " AND created_ms > ?", (_id_hash(session_id), seen_after_ms, created_after_ms)).fetchone()

    def save_console_session(self, session_id: str, data: str | None, now_ms: int) -> None:
        """Note that the session was used now (and store its new `data`, unless None)."""
        with self.transaction() as db:
            if data is None:
                db.execute("UPDATE console_sessions SET seen_ms = ? WHERE id_hash = ?",
                           (now_ms, _id_hash(session_id)))
            else:
                db.execute("UPDATE console_sessions SET seen_ms = ?, data = ? WHERE id_hash = ?",
                           (now_ms, data, _id_hash(session_id)))

    def end_console_session(self, session_id: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM console_sessions WHERE id_hash = ?", (_id_hash(session_id),))

    def end_console_sessions(self, username: str) -> int:
        """End every session of an account (sign-out ends them all); returns how many there were."""
        with self.transaction() as db:
            count = db.execute("SELECT COUNT(*) FROM console_sessions WHERE username = ?",
                               (username,)).fetchone()[0]
            db.execute("DELETE FROM console_sessions WHERE username = ?", (username,))
        return int(count)

    def console_key(self, name: str, make) -> str:
        """A secret shared by every worker (the session signing key): created once, then read."""
        with self.transaction() as db:
            row = db.execute("SELECT value FROM console_keys WHERE name = ?", (name,)).fetchone()
            if row:
                return row[0]
            value = make()
            db.execute("INSERT INTO console_keys VALUES (?,?)", (name, value))
            return value

    # --- audit ----------------------------------------------------------------------------------

    def audit(self, username: str, action: str, detail: str = "") -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO audit (at, username, action, detail) VALUES (?,?,?,?)",
                       (_now(), username, action, detail))

    def audit_repeated(self, username: str, action: str, detail: str, window_s: float) -> None:
        """One entry for every (username, action) a window long: a repeat within `window_s` of the
        entry that opened the window counts in its `times` instead of writing another."""
        since = (datetime.now(timezone.utc) - timedelta(seconds=window_s)).isoformat(
            timespec="milliseconds")
        with self.transaction() as db:
            row = db.execute("SELECT id FROM audit WHERE username = ? AND action = ? AND at >= ?"
                             " ORDER BY id DESC LIMIT 1", (username, action, since)).fetchone()
            if row:
                db.execute("UPDATE audit SET times = times + 1 WHERE id = ?", (row[0],))
            else:
                db.execute("INSERT INTO audit (at, username, action, detail) VALUES (?,?,?,?)",
                           (_now(), username, action, detail))

    def audit_log(self, limit: int = 500) -> list:
        return self.db.execute("SELECT at, username, action, detail, times FROM audit ORDER BY id "
                               "DESC LIMIT ?", (limit,)).fetchall()

    def audit_page(self, size: int, *, before: int | None = None, after: int | None = None,
                   action: str | None = None, username: str | None = None) -> tuple[list, bool, bool]:
        """One page of the audit log, newest first: (entries, newer ones exist, older ones exist).

        Pages are keyed by entry id, not by offset, so entries written meanwhile do not shift what
        the next page shows: `before` gives the `size` entries older than that id, `after` the
        `size` entries just newer than it (the newest page when fewer are left); neither, the
        newest. `action` and `username` filter.
        """
        where, args = "1 = 1", ()
        for column, value in (("action", action), ("username", username)):
            if value is not None:
                where, args = f"{where} AND {column} = ?", (*args, value)
        select = f"SELECT id, at, username, action, detail, times FROM audit WHERE {where}"
        rows = []
        if after is not None:
            rows = self.db.execute(select + " AND id > ? ORDER BY id LIMIT ?",
                                   (*args, after, size)).fetchall()[::-1]
        if len(rows) < size:
            older_than = before if after is None else None
            bound, bound_args = (" AND id < ?", (older_than,)) if older_than is not None else ("", ())
            rows = self.db.execute(select + bound + " ORDER BY id DESC LIMIT ?",
                                   (*args, *bound_args, size)).fetchall()
        if not rows:
            return [], False, False

        def beyond(comparison: str, entry_id: int) -> bool:
            return self.db.execute(f"SELECT 1 FROM audit WHERE {where} AND id {comparison} ? LIMIT 1",
                                   (*args, entry_id)).fetchone() is not None
        return rows, beyond(">", rows[0]["id"]), beyond("<", rows[-1]["id"])

    # --- fleet ----------------------------------------------------------------------------------

    def sampling_times(self, start_utc: str, end_utc: str) -> list:
        """(site_id, sampling time) of closed samples taken in [start, end), times as stored text."""
        sampled = _sampled("s", "c")
        return self.db.execute(
            f"SELECT s.site_id, {sampled} AS sampled_at FROM samples s"
            " LEFT JOIN sample_clock c ON c.record_id = s.record_id"
            f" WHERE s.status = 'closed' AND julianday({sampled}) >= julianday(?)"
            f" AND julianday({sampled}) < julianday(?)", (start_utc, end_utc)).fetchall()

    def device_quarantine(self) -> dict[str, int]:
        """Conflicting records (same id, different body) quarantined here, per device."""
        return {r[0]: r[1] for r in self.db.execute(
            "SELECT device_id, COUNT(*) FROM conflicts GROUP BY device_id")}

    def device_clock_offsets(self) -> dict[str, float | None]:
        """Each device's latest measured clock offset in seconds (central minus device)."""
        return {r[0]: r[1] for r in self.db.execute(
            "SELECT s.device_id, c.offset_s FROM samples s JOIN sample_clock c USING (record_id)"
            " WHERE s.received_at = (SELECT MAX(x.received_at) FROM samples x"
            " WHERE x.device_id = s.device_id)")}

    # --- samples --------------------------------------------------------------------------------

    def find_samples(self, code: str, limit: int = 50) -> Iterator[dict]:
        """Samples whose tube code or record id is `code`, as export rows (see export_samples)."""
        yield from self._sample_rows("(s.tube_code = ? OR s.record_id = ?)", (code, code), limit)

    def export_samples(self, since: str | None = None) -> Iterator[dict]:
        """Every sample received at or after `since` (oldest first, streaming), with the verdict of
        its results (central.verdict).

        Each item: the stored body as a dict, plus `received_at`, `sampled_at` (the sampling time
        the central server trusts, docs/results-and-retention.md), `site_name`, `result` (the
        verdict: negative, positive, invalid or conflict) and `result_at` (None when there is no
        result), all times as stored UTC text, and `results`: each result, counted or not.
        """
        where, args = ("s.received_at >= ?", (since,)) if since else ("1 = 1", ())
        yield from self._sample_rows(where, args)

    def _sample_rows(self, where: str, args: tuple, limit: int | None = None) -> Iterator[dict]:
        query = (
            f"SELECT s.record_id, s.body, s.received_at, {_sampled('s', 'c')} AS sampled_at,"
            " st.name AS site_name, r.lab_id, r.result, r.result_at FROM samples s"
            " LEFT JOIN sample_clock c ON c.record_id = s.record_id"
            " LEFT JOIN sites st ON st.site_id = s.site_id"
            f" LEFT JOIN lab_results r ON s.status = 'closed' AND {_belongs('s', 'c', 'r')}"
            f" WHERE {where} ORDER BY s.received_at, s.record_id")
        for _, group in islice(groupby(self.stream(query, args), key=lambda row: row[0]), limit):
            rows = list(group)
            readings = [rule.Reading.stored(r[5], r[7], r[6]) for r in rows if r[6] is not None]
            verdict = rule.tube_verdict(readings)
            first = rows[0]
            yield {"body": json.loads(first[1]), "received_at": first[2], "sampled_at": first[3],
                   "site_name": first[4], "result": verdict.outcome,
                   "result_at": rule.utc_text(verdict.at), "results": rule.listed(readings, verdict)}
