"""The device's durable store: one SQLite file shared by kiosk, forwarder and portal; all device SQL lives here.

WAL journal with synchronous=FULL, so a commit survives a power cut before the beep confirms it.
A tube becomes a sample record when it is closed or cancelled: in the same transaction its wire
body is frozen into the outbox, where the forwarder picks it up (pending → delivered | quarantined).
"""
from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from samplepoint import wire
from samplepoint.clock import ClockEvidence, current_boot_id

log = logging.getLogger(__name__)

PENDING, DELIVERED, QUARANTINED = "pending", "delivered", "quarantined"


# What went wrong with the database, as far as the device's people need to know.
READ_ONLY, FULL, NO_ACCESS, DAMAGED, OTHER = "read-only", "full", "no-access", "damaged", "other"


class StoreError(RuntimeError):
    """The device database cannot be used; the message says why, for the technician, and `kind`
    (READ_ONLY, FULL, …) lets code choose what staff are told."""

    def __init__(self, message: str, kind: str = OTHER):
        super().__init__(message)
        self.kind = kind


def classify(exc: BaseException, path: str | Path) -> str:
    """The kind of a database failure: READ_ONLY, FULL, NO_ACCESS, DAMAGED or OTHER."""
    import errno
    if isinstance(exc, StoreError):
        return exc.kind
    text = str(exc).lower()
    code = getattr(exc, "errno", None) or getattr(getattr(exc, "__cause__", None), "errno", None)
    try:
        read_only_mount = bool(os.statvfs(Path(path).parent).f_flag & os.ST_RDONLY)
    except OSError:
        read_only_mount = False
    if read_only_mount or code == errno.EROFS or "readonly" in text or "read-only" in text:
        return READ_ONLY
    if code in (errno.ENOSPC, errno.EDQUOT) or "disk is full" in text or "no space" in text:
        return FULL
    if code in (errno.EACCES, errno.EPERM) or "unable to open" in text:
        return NO_ACCESS
    if "malformed" in text or "not a database" in text or code == errno.EIO or "disk i/o" in text:
        return DAMAGED
    return OTHER


def explain(exc: BaseException, path: str | Path) -> str:
    """One line saying what went wrong with the database at path, and what to do about it."""
    if isinstance(exc, StoreError):
        return str(exc)
    folder = Path(path).parent
    kind = classify(exc, path)
    if kind == READ_ONLY:
        return (f"the data directory {folder} is read-only (the SD card is failing or was remounted "
                f"read-only): nothing can be saved; stop sampling, copy the data off and replace the "
                f"card (docs/recovery.md)")
    if kind == FULL:
        return (f"no space left for {Path(path).name} in {folder}: nothing can be saved until space "
                f"is freed (docs/recovery.md); queued records are kept")
    if kind == NO_ACCESS:
        return (f"cannot open {path} ({exc}): run as the samplepoint user, or let `samplepoint "
                f"provision` set the owner of {folder}")
    if kind == DAMAGED:
        return (f"{path} cannot be read ({exc}): the card may be failing; copy the data off "
                f"(docs/recovery.md)")
    return f"{path}: {exc}"


MIGRATIONS = [
    # 1: tubes, the people in them, and the outbox of records to forward.
    """
    CREATE TABLE samples (
        id            TEXT PRIMARY KEY,
        tube_code     TEXT NOT NULL,
        pool_size     INTEGER NOT NULL CHECK (pool_size BETWEEN 1 AND 50),
        test_type     TEXT NOT NULL,
        sample_type   TEXT NOT NULL,
        site_id       TEXT NOT NULL,
        device_id     TEXT NOT NULL,
        staff_id      TEXT NOT NULL,
        state         TEXT NOT NULL CHECK (state IN ('open', 'closed', 'cancelled')),
        opened_at     TEXT NOT NULL,
        closed_at     TEXT,
        cancel_reason TEXT
    );
    CREATE UNIQUE INDEX one_open_tube ON samples(state) WHERE state = 'open';
    CREATE INDEX samples_tube ON samples(tube_code);
    CREATE TABLE sample_persons (
        sample_id   TEXT NOT NULL REFERENCES samples(id),
        position    INTEGER NOT NULL,
        person_key  TEXT NOT NULL,
        person_json TEXT NOT NULL,
        scanned_at  TEXT NOT NULL,
        PRIMARY KEY (sample_id, position),
        UNIQUE (sample_id, person_key)
    );
    CREATE TABLE outbox (
        record_id         TEXT PRIMARY KEY REFERENCES samples(id),
        body              TEXT NOT NULL,
        state             TEXT NOT NULL DEFAULT 'pending'
                          CHECK (state IN ('pending', 'delivered', 'quarantined')),
        created_at        TEXT NOT NULL,
        attempts          INTEGER NOT NULL DEFAULT 0,
        last_error        TEXT,
        delivered_at      TEXT,
        quarantine_reason TEXT
    );
    CREATE INDEX outbox_pending ON outbox(state, created_at);
    """,
    # 2: find a person's recent tubes quickly (the "already in another tube" warning).
    """
    CREATE INDEX sample_persons_key ON sample_persons(person_key, scanned_at);
    """,
    # 3: health declarations made on the captive portal; each person gets a short code.
    """
    CREATE TABLE declarations (
        id                TEXT PRIMARY KEY,
        created_at        TEXT NOT NULL,
        declarer_relation TEXT NOT NULL CHECK (declarer_relation IN ('self', 'relative', 'volunteer')),
        declarer_name     TEXT,
        declarer_phone    TEXT,
        province_code     INTEGER NOT NULL,
        ward_code         INTEGER NOT NULL,
        street            TEXT NOT NULL,
        consent_at        TEXT NOT NULL
    );
    CREATE INDEX declarations_created ON declarations(created_at);
    CREATE TABLE declared_persons (
        short_code     TEXT PRIMARY KEY,
        declaration_id TEXT NOT NULL REFERENCES declarations(id) ON DELETE CASCADE,
        position       INTEGER NOT NULL,
        person_json    TEXT NOT NULL,
        UNIQUE (declaration_id, position)
    );
    """,
    # 4: retention (docs/results-and-retention.md): when a delivered record lost its personal
    # fields, and the per-day counts that outlive them.
    """
    ALTER TABLE outbox ADD COLUMN personal_erased_at TEXT;
    CREATE TABLE daily_counts (
        day       TEXT NOT NULL,
        test_type TEXT NOT NULL,
        status    TEXT NOT NULL,
        tubes     INTEGER NOT NULL,
        people    INTEGER NOT NULL,
        PRIMARY KEY (day, test_type, status)
    );
    """,
    # 5: phones that pressed "Done" under hotspot.policy open: written by the (unprivileged) portal,
    # copied into the firewall's admitted set by the root `samplepoint hotspot admit` loop.
    """
    CREATE TABLE admitted_clients (
        address    TEXT PRIMARY KEY,
        expires_at TEXT NOT NULL
    );
    """,
    # 6: the boot a declaration was made in. A Pi has no battery clock: a declaration made before
    # NTP corrected the time carries a stale created_at and must not look old enough to erase.
    """
    ALTER TABLE declarations ADD COLUMN boot_id TEXT;
    """,
]


def _clock_fields(clock: ClockEvidence | None) -> dict:
    if clock is None:
        return {}
    return {"clock_synchronised": clock.synchronised, "monotonic_s": round(clock.monotonic_s, 3),
            "boot_id": clock.boot_id}


@dataclass(frozen=True)
class OpenTube:
    sample_id: str
    tube_code: str
    pool_size: int
    test_type: str
    sample_type: str
    staff_id: str
    opened_at: str
    persons: list[tuple[str, wire.Person]]   # (person_key, person) in scan order


@dataclass(frozen=True)
class OutboxItem:
    record_id: str
    body: str


class Store:
    """A connection to the device database. Safe to share between threads of one process."""

    def __init__(self, path: str | Path, readonly: bool = False):
        """Open (creating and migrating) the database; StoreError says why it cannot be used.

        `readonly` opens an existing file without writing anything, not even a lock (for reading
        what a failing, read-only card still holds); every write then fails.
        """
        self.path = Path(path)
        self.readonly = readonly
        self._lock = threading.RLock()
        self._depth = 0          # transaction nesting of the thread holding the lock
        try:
            self._db = self._open_readonly() if readonly else self._open()
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(explain(exc, self.path), classify(exc, self.path)) from None

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            # Create the file 0600 before SQLite does, so personal data is never world-readable.
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        if self.path.stat().st_mode & 0o077:
            os.chmod(self.path, 0o600)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()
        return self._db

    def _open_readonly(self) -> sqlite3.Connection:
        if not self.path.exists():
            raise FileNotFoundError(2, "no database", str(self.path))
        uri = self.path.resolve().as_uri()
        try:
            # Reads the write-ahead log too, where the last records may still be.
            db = self._check_schema(sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None,
                                                    check_same_thread=False))
        except sqlite3.Error:
            # Without a usable -shm file next to it, only the main file can be read.
            log.warning("%s: reading without its write-ahead log (records still only in it are not "
                        "shown)", self.path)
            db = self._check_schema(sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True,
                                                    isolation_level=None, check_same_thread=False))
        return db

    @staticmethod
    def _check_schema(db: sqlite3.Connection) -> sqlite3.Connection:
        db.row_factory = sqlite3.Row
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version != len(MIGRATIONS):
            db.close()
            raise sqlite3.DatabaseError(f"schema {version} (this software reads {len(MIGRATIONS)})")
        return db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self):
        """BEGIN IMMEDIATE … COMMIT; rolled back on any exception.

        Nested use joins the outer transaction, so a caller can make several store calls (the
        last person of a tube and its closing) one atomic commit.
        """
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._db
                finally:
                    self._depth -= 1
                return
            self._db.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")
            finally:
                self._depth = 0

    def _migrate(self) -> None:
        with self.transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise StoreError(f"{self.path}: database schema {version} is newer than this "
                                   f"software ({len(MIGRATIONS)}); upgrade samplepoint")
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, script.split(";")):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")
                log.info("database %s migrated to schema %d", self.path, number)
        for suffix in ("-wal", "-shm"):
            side = Path(str(self.path) + suffix)
            if side.exists():
                os.chmod(side, 0o600)

    def schema_version(self) -> int:
        with self._lock:
            return self._db.execute("PRAGMA user_version").fetchone()[0]

    # --- tubes --------------------------------------------------------------------------------

    def open_tube(self, *, sample_id, tube_code, pool_size, test_type, sample_type, site_id,
                  device_id, staff_id, opened_at) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO samples (id, tube_code, pool_size, test_type, sample_type, site_id,"
                " device_id, staff_id, state, opened_at) VALUES (?,?,?,?,?,?,?,?, 'open', ?)",
                (sample_id, tube_code, pool_size, test_type, sample_type, site_id, device_id,
                 staff_id, opened_at))

    def add_person(self, sample_id: str, person_key: str, person: wire.Person, scanned_at: str) -> int:
        """Append a person to an open tube; returns their position (1-based)."""
        with self.transaction() as db:
            position = db.execute("SELECT COALESCE(MAX(position), 0) + 1 FROM sample_persons "
                                  "WHERE sample_id = ?", (sample_id,)).fetchone()[0]
            db.execute("INSERT INTO sample_persons VALUES (?,?,?,?,?)",
                       (sample_id, position, person_key, json.dumps(person.__dict__), scanned_at))
            return position

    def remove_last_person(self, sample_id: str) -> bool:
        with self.transaction() as db:
            cursor = db.execute(
                "DELETE FROM sample_persons WHERE sample_id = ? AND position = "
                "(SELECT MAX(position) FROM sample_persons WHERE sample_id = ?)", (sample_id, sample_id))
            return cursor.rowcount == 1

    def open_tube_state(self) -> OpenTube | None:
        """The tube left open (after a restart or power cut), with its people, or None."""
        with self._lock:
            row = self._db.execute("SELECT * FROM samples WHERE state = 'open'").fetchone()
            if row is None:
                return None
            persons = self._db.execute(
                "SELECT person_key, person_json FROM sample_persons WHERE sample_id = ? "
                "ORDER BY position", (row["id"],)).fetchall()
        return OpenTube(row["id"], row["tube_code"], row["pool_size"], row["test_type"],
                        row["sample_type"], row["staff_id"], row["opened_at"],
                        [(p["person_key"], wire.Person(**json.loads(p["person_json"]))) for p in persons])

    def set_pool_size(self, sample_id: str, pool_size: int) -> None:
        """Change the pool size of the open tube (never below the people already in it)."""
        with self.transaction() as db:
            count = db.execute("SELECT COUNT(*) FROM sample_persons WHERE sample_id = ?",
                               (sample_id,)).fetchone()[0]
            if pool_size < count:
                raise ValueError(f"record {sample_id} already holds {count} people")
            if db.execute("UPDATE samples SET pool_size = ? WHERE id = ? AND state = 'open'",
                          (pool_size, sample_id)).rowcount != 1:
                raise LookupError(f"no open tube {sample_id}")

    def person_in_other_tube(self, person_key: str, since: str, sample_id: str | None) -> str | None:
        """The tube code of another (not cancelled) tube holding this person scanned at or after since."""
        with self._lock:
            row = self._db.execute(
                "SELECT s.tube_code FROM sample_persons p JOIN samples s ON s.id = p.sample_id "
                "WHERE p.person_key = ? AND p.scanned_at >= ? AND s.state != 'cancelled' "
                "AND s.id IS NOT ? ORDER BY p.scanned_at DESC LIMIT 1",
                (person_key, since, sample_id)).fetchone()
        return row[0] if row else None

    def tube_code_used(self, tube_code: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM samples WHERE tube_code = ? LIMIT 1",
                                    (tube_code,)).fetchone() is not None

    def finish_tube(self, sample_id: str, *, closed_at: str, cancel_reason: str | None = None,
                    clock: ClockEvidence | None = None) -> wire.SampleRecord:
        """Close (or cancel, with a reason) the open tube and queue its record, in one transaction."""
        state = "cancelled" if cancel_reason else "closed"
        with self.transaction() as db:
            row = db.execute("SELECT * FROM samples WHERE id = ? AND state = 'open'",
                             (sample_id,)).fetchone()
            if row is None:
                raise LookupError(f"no open tube {sample_id}")
            persons = tuple(wire.Person(**json.loads(p[0])) for p in db.execute(
                "SELECT person_json FROM sample_persons WHERE sample_id = ? ORDER BY position",
                (sample_id,)))
            record = wire.SampleRecord(
                record_id=sample_id, tube_code=row["tube_code"], pool_size=row["pool_size"],
                test_type=row["test_type"], sample_type=row["sample_type"], collected_at=closed_at,
                site_id=row["site_id"], device_id=row["device_id"], staff_id=row["staff_id"],
                persons=persons, status=state, cancel_reason=cancel_reason,
                **_clock_fields(clock))
            db.execute("UPDATE samples SET state = ?, closed_at = ?, cancel_reason = ? WHERE id = ?",
                       (state, closed_at, cancel_reason, sample_id))
            db.execute("INSERT INTO outbox (record_id, body, created_at) VALUES (?,?,?)",
                       (sample_id, wire.canonical(record.to_json()), closed_at))
        log.info("record %s queued: tube %s %s with %d people", sample_id, row["tube_code"], state,
                 len(persons))
        return record

    # --- outbox -------------------------------------------------------------------------------

    def pending(self, limit: int) -> list[OutboxItem]:
        with self._lock:
            rows = self._db.execute("SELECT record_id, body FROM outbox WHERE state = 'pending' "
                                    "ORDER BY created_at, record_id LIMIT ?", (limit,)).fetchall()
        return [OutboxItem(r[0], r[1]) for r in rows]

    def mark_delivered(self, record_ids: list[str], at: str) -> None:
        with self.transaction() as db:
            db.executemany("UPDATE outbox SET state = 'delivered', delivered_at = ?, last_error = NULL, "
                           "attempts = attempts + 1 WHERE record_id = ? AND state = 'pending'",
                           [(at, rid) for rid in record_ids])

    def mark_quarantined(self, record_id: str, reason: str) -> None:
        """Set a record aside with the server's reason; it is kept and shown, never deleted."""
        with self.transaction() as db:
            db.execute("UPDATE outbox SET state = 'quarantined', quarantine_reason = ?, "
                       "attempts = attempts + 1 WHERE record_id = ? AND state = 'pending'",
                       (reason[:500], record_id))

    def note_failure(self, record_ids: list[str], error: str) -> None:
        with self.transaction() as db:
            db.executemany("UPDATE outbox SET attempts = attempts + 1, last_error = ? "
                           "WHERE record_id = ?", [(error[:500], rid) for rid in record_ids])

    def requeue(self, record_id: str) -> bool:
        """Put a quarantined record back in the queue (after the cause was fixed)."""
        with self.transaction() as db:
            return db.execute("UPDATE outbox SET state = 'pending', quarantine_reason = NULL "
                              "WHERE record_id = ? AND state = 'quarantined'",
                              (record_id,)).rowcount == 1

    def outbox_counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall()
        counts = {PENDING: 0, DELIVERED: 0, QUARANTINED: 0}
        counts.update({r[0]: r[1] for r in rows})
        return counts

    def oldest_pending_at(self) -> datetime | None:
        with self._lock:
            row = self._db.execute("SELECT MIN(created_at) FROM outbox WHERE state = 'pending'").fetchone()
        return datetime.fromisoformat(row[0]) if row[0] else None

    def quarantined(self) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute("SELECT record_id, quarantine_reason, last_error FROM outbox "
                                    "WHERE state = 'quarantined' ORDER BY created_at").fetchall()

    def all_record_ids(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT record_id FROM outbox")]

    def last_delivery_at(self) -> datetime | None:
        with self._lock:
            row = self._db.execute("SELECT MAX(delivered_at) FROM outbox").fetchone()
        return datetime.fromisoformat(row[0]) if row[0] else None

    # --- portal declarations --------------------------------------------------------------------

    def add_declaration(self, declaration: dict, persons: list[tuple[str, dict]]) -> None:
        """Commit one declaration and its people [(short_code, person)] in one transaction."""
        with self.transaction() as db:
            db.execute("INSERT INTO declarations (id, created_at, declarer_relation, declarer_name,"
                       " declarer_phone, province_code, ward_code, street, consent_at, boot_id)"
                       " VALUES (:id, :created_at, :declarer_relation, :declarer_name,"
                       " :declarer_phone, :province_code, :ward_code, :street, :consent_at,"
                       " :boot_id)", {"boot_id": current_boot_id(), **declaration})
            db.executemany("INSERT INTO declared_persons VALUES (?,?,?,?)",
                           [(code, declaration["id"], position, json.dumps(person, ensure_ascii=False))
                            for position, (code, person) in enumerate(persons, start=1)])

    def short_code_taken(self, short_code: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM declared_persons WHERE short_code = ?",
                                    (short_code,)).fetchone() is not None

    def declared_person(self, short_code: str) -> dict | None:
        """The person declared under short_code, with the declaration's address, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT p.person_json, d.id, d.province_code, d.ward_code, d.street, d.created_at"
                " FROM declared_persons p JOIN declarations d ON d.id = p.declaration_id"
                " WHERE p.short_code = ?", (short_code,)).fetchone()
        if row is None:
            return None
        return {**json.loads(row[0]), "declaration_id": row[1], "province_code": row[2],
                "ward_code": row[3], "street": row[4], "declared_at": row[5]}

    def declaration_count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM declarations").fetchone()[0]

    def purge_declarations(self, created_before: str, *, keep_boot: str | None = None) -> int:
        """Delete declarations made before the ISO time created_before; returns how many.

        keep_boot: a boot id whose declarations are kept whatever their created_at says (the
        current boot, while it has not lasted the retention period: its early times may be stale).
        """
        with self.transaction() as db:
            ids = [r[0] for r in db.execute(
                "SELECT id FROM declarations WHERE created_at < ? AND boot_id IS NOT ?",
                (created_before, keep_boot))]
            db.executemany("DELETE FROM declared_persons WHERE declaration_id = ?", [(i,) for i in ids])
            db.executemany("DELETE FROM declarations WHERE id = ?", [(i,) for i in ids])
            return len(ids)

    # --- hotspot phones admitted after "Done" (policy open) ---------------------------------------

    def admit_client(self, address: str, expires_at: str) -> None:
        """Let address out through the uplink until the ISO time expires_at (renewed if present)."""
        with self.transaction() as db:
            db.execute("INSERT INTO admitted_clients VALUES (?, ?) ON CONFLICT(address)"
                       " DO UPDATE SET expires_at = excluded.expires_at", (address, expires_at))

    def admitted_clients(self, now: str) -> dict[str, str]:
        """{address: expires_at} of the admissions still running at the ISO time now; the
        expired ones are deleted."""
        with self.transaction() as db:
            db.execute("DELETE FROM admitted_clients WHERE expires_at <= ?", (now,))
            return {row[0]: row[1] for row in db.execute("SELECT address, expires_at FROM admitted_clients")}

    def last_scan_at(self) -> str | None:
        """When a tube was last opened or a person last scanned (ISO text), for the heartbeat."""
        with self._lock:
            row = self._db.execute("SELECT MAX(t) FROM (SELECT MAX(scanned_at) AS t FROM sample_persons"
                                   " UNION ALL SELECT MAX(opened_at) FROM samples)").fetchone()
        return row[0]

    # --- retention (docs/results-and-retention.md) --------------------------------------------

    def erase_delivered_personal_data(self, cutoff: str, now: str) -> tuple[int, int]:
        """Erase the people of delivered records collected before cutoff; return (records, people).

        Only `delivered` records qualify: pending and quarantined ones keep every field whatever
        the clock says. Per-day counts are added to daily_counts in the same transaction.
        """
        with self.transaction() as db:
            rows = db.execute(
                "SELECT o.record_id, o.body, s.closed_at, s.test_type, s.state FROM outbox o "
                "JOIN samples s ON s.id = o.record_id WHERE o.state = 'delivered' AND "
                "o.personal_erased_at IS NULL AND julianday(o.created_at) < julianday(?)",
                (cutoff,)).fetchall()
            people = 0
            for row in rows:
                body = json.loads(row["body"])
                count = len(body.get("persons", []))
                people += count
                body["persons"] = [{"erased": True} for _ in range(count)]
                db.execute("UPDATE outbox SET body = ?, personal_erased_at = ? WHERE record_id = ?",
                           (wire.canonical(body), now, row["record_id"]))
                db.execute("DELETE FROM sample_persons WHERE sample_id = ?", (row["record_id"],))
                db.execute("INSERT INTO daily_counts VALUES (?,?,?,1,?) ON CONFLICT (day, test_type, status) DO UPDATE SET "
                           "tubes = tubes + 1, people = people + excluded.people",
                           (row["closed_at"][:10], row["test_type"], row["state"], count))
        return len(rows), people

    def personal_data_summary(self) -> dict:
        """How much personal data the device holds, and since when (for `samplepoint status`)."""
        with self._lock:
            people, oldest = self._db.execute(
                "SELECT COUNT(*), MIN(scanned_at) FROM sample_persons").fetchone()
            records = self._db.execute(
                "SELECT COUNT(DISTINCT sample_id) FROM sample_persons").fetchone()[0]
            declarations, oldest_declaration = self._db.execute(
                "SELECT COUNT(*), MIN(created_at) FROM declarations").fetchone()
        return {"records": records, "people": people, "oldest_scanned_at": oldest,
                "declarations": declarations, "oldest_declaration_at": oldest_declaration}

    def daily_counts(self) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute("SELECT * FROM daily_counts ORDER BY day, test_type, status"
                                    ).fetchall()

    def day_counts(self, since: str) -> dict[str, int]:
        """People scanned and tubes closed since `since` (ISO time, the local midnight), not cancelled."""
        with self._lock:
            people = self._db.execute(
                "SELECT COUNT(*) FROM sample_persons p JOIN samples s ON s.id = p.sample_id "
                "WHERE p.scanned_at >= ? AND s.state != 'cancelled'", (since,)).fetchone()[0]
            tubes = self._db.execute("SELECT COUNT(*) FROM samples WHERE state = 'closed' "
                                     "AND closed_at >= ?", (since,)).fetchone()[0]
        return {"people": people, "tubes": tubes}

    def latest_person(self) -> wire.Person | None:
        """The person most recently added to any tube (the one an 'accepted' signal is about)."""
        with self._lock:
            row = self._db.execute("SELECT person_json FROM sample_persons "
                                   "ORDER BY rowid DESC LIMIT 1").fetchone()
        return wire.Person(**json.loads(row[0])) if row else None
