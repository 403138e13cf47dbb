"""The reference central server's database: devices and their tokens, samples stored exactly once.

All central SQL lives here. Idempotency key = the record id: the same id with the same canonical
body is a duplicate (success); the same id with a different body is a conflict, never overwritten.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from central.clocktrust import DeliveryClock
from central.db_console import SESSIONS_SCHEMA, ConsoleSQL
from central.db_credentials import CredentialsSQL
from central.db_enrol import EnrolSQL
from central.db_fhir import FhirSQL
from central.db_limits import LimitsSQL
from central.db_results import DISPUTES_MIGRATION, ResultsSQL
from samplepoint import wire

CREATED, DUPLICATE, CONFLICT = "created", "duplicate", "conflict"
# SQLite result codes of a database that cannot be used now: no permission, busy or locked past the
# timeout, out of memory, read-only, I/O error, corrupt, full, cannot open, lock protocol, not a database.
SQLITE_OUTAGES = {3, 5, 6, 7, 8, 10, 11, 13, 14, 15, 26}

MIGRATIONS = [
    """
    CREATE TABLE devices (
        device_id  TEXT PRIMARY KEY,
        site_id    TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        last_seen  TEXT
    );
    CREATE TABLE samples (
        record_id    TEXT PRIMARY KEY,
        body_sha256  TEXT NOT NULL,
        body         TEXT NOT NULL,
        device_id    TEXT NOT NULL REFERENCES devices(device_id),
        site_id      TEXT NOT NULL,
        tube_code    TEXT NOT NULL,
        test_type    TEXT NOT NULL,
        status       TEXT NOT NULL,
        collected_at TEXT NOT NULL,
        received_at  TEXT NOT NULL
    );
    CREATE INDEX samples_received ON samples(received_at);
    CREATE INDEX samples_tube ON samples(tube_code);
    CREATE TABLE persons (
        record_id          TEXT NOT NULL REFERENCES samples(record_id),
        position           INTEGER NOT NULL,
        source             TEXT NOT NULL,
        id_number          TEXT NOT NULL,
        full_name          TEXT NOT NULL,
        date_of_birth      TEXT,
        gender             TEXT NOT NULL,
        phone              TEXT,
        qid                TEXT,
        declared_on_behalf INTEGER NOT NULL,
        declarer_qid       TEXT,
        PRIMARY KEY (record_id, position)
    );
    CREATE INDEX persons_qid ON persons(qid);
    CREATE INDEX persons_id_number ON persons(id_number);
    CREATE TABLE conflicts (
        record_id   TEXT NOT NULL,
        device_id   TEXT NOT NULL,
        body        TEXT NOT NULL,
        received_at TEXT NOT NULL
    );
    """,
    # 2: campaign enrolment codes (stored hashed) and each device's latest heartbeat.
    """
    CREATE TABLE enrol_codes (
        code_hash  TEXT PRIMARY KEY,
        campaign   TEXT NOT NULL,
        max_uses   INTEGER NOT NULL,
        uses       INTEGER NOT NULL DEFAULT 0,
        expires_at TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE enrolments (
        device_id   TEXT PRIMARY KEY REFERENCES devices(device_id),
        code_hash   TEXT NOT NULL REFERENCES enrol_codes(code_hash),
        enrolled_at TEXT NOT NULL
    );
    CREATE TABLE heartbeats (
        device_id   TEXT PRIMARY KEY REFERENCES devices(device_id),
        received_at TEXT NOT NULL,
        body        TEXT NOT NULL
    );
    """,
    # 3: results from labs, clock-corrected collection times, retention (docs/results-and-retention.md)
    """
    CREATE TABLE labs (
        lab_id     TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        last_seen  TEXT
    );
    CREATE TABLE results (
        tube_code   TEXT NOT NULL,
        lab_id      TEXT NOT NULL,
        result_at   TEXT NOT NULL,
        test_type   TEXT NOT NULL,
        result      TEXT NOT NULL CHECK (result IN ('negative', 'positive', 'invalid')),
        received_at TEXT NOT NULL,
        PRIMARY KEY (tube_code, lab_id, result_at)
    );
    CREATE TABLE sample_clock (
        record_id    TEXT PRIMARY KEY REFERENCES samples(record_id),
        corrected_at TEXT,
        method       TEXT NOT NULL,
        offset_s     REAL,
        flagged      INTEGER NOT NULL
    );
    CREATE TABLE erased_samples (
        record_id TEXT PRIMARY KEY REFERENCES samples(record_id),
        erased_at TEXT NOT NULL
    );
    """,
    # 4: what `central push-fhir` has delivered to each FHIR server (docs/fhir.md)
    """
    CREATE TABLE fhir_sent (
        destination TEXT NOT NULL,
        unit        TEXT NOT NULL,
        sent_at     TEXT NOT NULL,
        PRIMARY KEY (destination, unit)
    );
    """,
    # 5: the web console (docs/central.md): site names, accounts, the audit log.
    """
    CREATE TABLE sites (
        site_id TEXT PRIMARY KEY,
        name    TEXT NOT NULL
    );
    CREATE TABLE users (
        username      TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        role          TEXT NOT NULL CHECK (role IN ('admin', 'viewer', 'lab')),
        created_at    TEXT NOT NULL,
        disabled      INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE audit (
        id       INTEGER PRIMARY KEY,
        at       TEXT NOT NULL,
        username TEXT NOT NULL,
        action   TEXT NOT NULL,
        detail   TEXT NOT NULL
    );
    CREATE INDEX audit_at ON audit(at);
    CREATE TABLE console_keys (
        name  TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE INDEX samples_site_collected ON samples(site_id, collected_at);
    """,
    # 6: staff credentials (docs/staff-credentials.md): site code keys, badges, PIN entries.
    """
    CREATE TABLE site_keys (
        site_id     TEXT NOT NULL,
        key_hex     TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        retired_at  TEXT,
        valid_until TEXT
    );
    CREATE INDEX site_keys_site ON site_keys(site_id, retired_at);
    CREATE TABLE badges (
        badge_id   BIGINT PRIMARY KEY,
        site_id    TEXT NOT NULL,
        staff_id   TEXT NOT NULL,
        name       TEXT NOT NULL,
        expires    TEXT NOT NULL,
        issued_at  TEXT NOT NULL,
        revoked_at TEXT
    );
    CREATE INDEX badges_site ON badges(site_id);
    CREATE TABLE site_pins (
        site_id    TEXT NOT NULL,
        staff_id   TEXT NOT NULL,
        entry      TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (site_id, staff_id)
    );
    """,
    # 7: rate limits every worker shares (central/rate_limits.py): one row per allowed attempt;
    # the audit log read a page at a time, filtered by action or user.
    """
    CREATE TABLE rate_hits (
        bucket   TEXT NOT NULL,
        until_ms BIGINT NOT NULL
    );
    CREATE INDEX rate_hits_bucket ON rate_hits(bucket);
    CREATE INDEX rate_hits_until ON rate_hits(until_ms);
    CREATE INDEX audit_action ON audit(action, id);
    CREATE INDEX audit_username ON audit(username, id);
    """,
    SESSIONS_SCHEMA,     # 8: console sessions held server-side (central/db_console.py)
    DISPUTES_MIGRATION,  # 9: results a lab sent twice with different values, the view of every result
    # 10: enrolment codes bound to sites (and, per device, to one device id; a code from before
    # names no site and is refused); the key each badge was signed with; badges without a badge id
    # revoked by staff id; devices holding a code key central does not know (docs/central.md).
    """
    ALTER TABLE enrol_codes ADD COLUMN device_id TEXT;
    CREATE TABLE enrol_code_sites (
        code_hash TEXT NOT NULL REFERENCES enrol_codes(code_hash),
        site_id   TEXT NOT NULL,
        PRIMARY KEY (code_hash, site_id)
    );
    ALTER TABLE badges ADD COLUMN key_id TEXT;
    CREATE TABLE unnumbered_revocations (
        site_id    TEXT NOT NULL,
        staff_id   TEXT NOT NULL,
        revoked_at TEXT NOT NULL,
        PRIMARY KEY (site_id, staff_id)
    );
    CREATE TABLE key_mismatches (
        device_id TEXT PRIMARY KEY,
        site_id   TEXT NOT NULL,
        key_id    TEXT NOT NULL,
        seen_at   TEXT NOT NULL
    );
    """,
]


class DeviceExists(ValueError):
    """add_device on an id that is already registered, without asking to re-key it."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class CentralDB(ResultsSQL, FhirSQL, ConsoleSQL, CredentialsSQL, EnrolSQL, LimitsSQL):
    """One connection per thread (waitress serves requests on a thread pool)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        self._local = threading.local()
        with self.transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise RuntimeError(f"{self.path}: database schema {version} is newer than this "
                                   f"software ({len(MIGRATIONS)}); upgrade samplepoint")
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, script.split(";")):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")

    @property
    def db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    @staticmethod
    def is_outage(exc: BaseException) -> bool:
        """Whether `exc` says the database cannot be used now (answer 503), not that a query is wrong."""
        return isinstance(exc, sqlite3.DatabaseError) and \
            (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in SQLITE_OUTAGES

    def ping(self) -> None:
        """Raises unless the database answers a query now."""
        self.db.execute("SELECT 1").fetchone()

    @contextmanager
    def transaction(self):
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # --- devices ------------------------------------------------------------------------------

    def add_device(self, device_id: str, site_id: str, *, rekey: bool = False,
                   site_name: str | None = None) -> str:
        """Register a device, or re-key one when `rekey`; returns its new bearer token (stored hashed).

        Raises DeviceExists for a known id without `rekey`: a silent re-key revokes the token the
        device holds, which then fails with 401 until someone writes the new one onto it.
        """
        token = secrets.token_urlsafe(32)
        with self.transaction() as db:
            known = db.execute("SELECT 1 FROM devices WHERE device_id = ?", (device_id,)).fetchone()
            if known and not rekey:
                raise DeviceExists(device_id)
            db.execute("INSERT INTO devices (device_id, site_id, token_hash, created_at) VALUES (?,?,?,?)"
                       " ON CONFLICT(device_id) DO UPDATE SET site_id = excluded.site_id,"
                       " token_hash = excluded.token_hash",
                       (device_id, site_id, hash_token(token), utc_now()))
            if site_name:
                self._name_site(db, site_id, site_name)
        return token

    @staticmethod
    def _name_site(db, site_id: str, name: str) -> None:
        db.execute("INSERT INTO sites VALUES (?,?) ON CONFLICT(site_id) DO UPDATE SET"
                   " name = excluded.name", (site_id, name))

    def name_site(self, site_id: str, name: str) -> None:
        with self.transaction() as db:
            self._name_site(db, site_id, name)

    def site_names(self) -> dict[str, str]:
        return {r[0]: r[1] for r in self.db.execute("SELECT site_id, name FROM sites")}

    def device_for_token(self, token: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT device_id, site_id FROM devices WHERE token_hash = ?",
                               (hash_token(token),)).fetchone()

    def devices(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT device_id, site_id, created_at, last_seen FROM devices "
                               "ORDER BY device_id").fetchall()

    def record_heartbeat(self, device_id: str, body: str, now: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO heartbeats VALUES (?,?,?) ON CONFLICT(device_id) DO UPDATE SET"
                       " received_at = excluded.received_at, body = excluded.body",
                       (device_id, now, body))
            db.execute("UPDATE devices SET last_seen = ? WHERE device_id = ?", (now, device_id))

    def device_overview(self) -> list[sqlite3.Row]:
        """Every device with its last-seen time and latest heartbeat body (NULL when none yet)."""
        return self.db.execute(
            "SELECT d.device_id, d.site_id, d.created_at, d.last_seen, h.received_at AS heartbeat_at,"
            " h.body AS heartbeat FROM devices d LEFT JOIN heartbeats h USING (device_id)"
            " ORDER BY d.site_id, d.device_id").fetchall()

    # --- samples ------------------------------------------------------------------------------

    def ingest(self, device_id: str, records: list[tuple[wire.SampleRecord, str]],
               delivery: DeliveryClock | None = None) -> list[str]:
        """Store each (record, canonical body) once, in one transaction; return created/duplicate/conflict.

        `delivery` is the forwarder's clock evidence, used to store a corrected collection time.
        """
        now = utc_now()
        outcomes = []
        samples, persons, clocks, conflicts = [], [], [], []
        with self.transaction() as db:
            # A few statements per batch, not per record: PostgreSQL pays a round trip for each.
            known = self._stored_digests(db, {record.record_id for record, _ in records})
            for record, body in records:
                digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
                if record.record_id in known:
                    if known[record.record_id] == digest:
                        outcomes.append(DUPLICATE)
                    else:
                        conflicts.append((record.record_id, device_id, body, now))
                        outcomes.append(CONFLICT)
                    continue
                known[record.record_id] = digest
                samples.append((record.record_id, digest, body, device_id, record.site_id,
                                record.tube_code, record.test_type, record.status,
                                record.collected_at, now))
                persons += [(record.record_id, i + 1, p.source, p.id_number, p.full_name,
                             p.date_of_birth, p.gender, p.phone, p.qid, int(p.declared_on_behalf),
                             p.declarer_qid) for i, p in enumerate(record.persons)]
                clocks.append(self._clock_row(record, delivery, now))
                outcomes.append(CREATED)
            for sql, rows in (("INSERT INTO samples VALUES (?,?,?,?,?,?,?,?,?,?)", samples),
                              ("INSERT INTO persons VALUES (?,?,?,?,?,?,?,?,?,?,?)", persons),
                              ("INSERT INTO sample_clock VALUES (?,?,?,?,?)", clocks),
                              ("INSERT INTO conflicts VALUES (?,?,?,?)", conflicts)):
                if rows:
                    db.executemany(sql, rows)
            db.execute("UPDATE devices SET last_seen = ? WHERE device_id = ?", (now, device_id))
        return outcomes

    @staticmethod
    def _stored_digests(db, record_ids: set[str]) -> dict[str, str]:
        ids, found = sorted(record_ids), {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            found.update((row[0], row[1]) for row in db.execute(
                f"SELECT record_id, body_sha256 FROM samples WHERE record_id IN "
                f"({','.join('?' * len(chunk))})", chunk))
        return found

    def count_samples(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]

    def record_ids(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT record_id FROM samples")]

    def conflicts(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT record_id, device_id, received_at FROM conflicts").fetchall()

    def samples_since(self, since: str | None):
        """Yield stored bodies (as dicts) received at or after `since`, oldest first, streaming."""
        query = "SELECT body FROM samples"
        args: tuple = ()
        if since:
            query += " WHERE received_at >= ?"
            args = (since,)
        for row in self.stream(query + " ORDER BY received_at, record_id", args):
            yield json.loads(row[0])

    def stream(self, query: str, args=()):
        """Rows of a long read (exports), fetched as they are consumed rather than all at once."""
        yield from self.db.execute(query, args)
