"""The central database's SQL for the web console and exports: accounts, the audit log, fleet counts.

A mixin of `central.db.CentralDB` (it uses its `db` connection and `transaction()`); the schema is
migration 4 in central/db.py.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from itertools import groupby, islice
from typing import Iterator

from central import verdict as rule
from central.db_results import _belongs, _sampled

ROLES = ("admin", "viewer", "lab")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class ConsoleSQL:
    # --- accounts -------------------------------------------------------------------------------

    def add_user(self, username: str, password_hash: str, role: str, *, replace: bool = False) -> bool:
        """Create an account (or, with `replace`, set its password and role); False if it exists."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        with self.transaction() as db:
            known = db.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone()
            if known and not replace:
                return False
            db.execute("INSERT INTO users (username, password_hash, role, created_at) VALUES (?,?,?,?)"
                       " ON CONFLICT(username) DO UPDATE SET password_hash = excluded.password_hash,"
                       " role = excluded.role, disabled = 0", (username, password_hash, role, _now()))
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

    def audit_log(self, limit: int = 500) -> list:
        return self.db.execute("SELECT at, username, action, detail FROM audit ORDER BY id DESC "
                               "LIMIT ?", (limit,)).fetchall()

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
        select = f"SELECT id, at, username, action, detail FROM audit WHERE {where}"
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
