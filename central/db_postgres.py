"""The central database on PostgreSQL (psycopg 3): the same SQL as SQLite, for a province's server.

`--db postgresql://user@host/dbname` selects it. The SQL of central/db*.py runs unchanged: `?`
placeholders become `%s`, the schema's one SQLite-only type is swapped, and a `julianday()` SQL
function gives PostgreSQL SQLite's time arithmetic. Every write transaction takes one advisory lock,
so several worker processes store records exactly as one SQLite writer does (the same id can
never be inserted twice by two workers at once); reads run in parallel.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

import psycopg

from central.db import MIGRATIONS, CentralDB

WRITE_LOCK = 7_335_001            # pg_advisory_xact_lock key: one writer at a time, like SQLite
SCHEMA_TABLE = "samplepoint_schema"
FUNCTIONS = """
CREATE OR REPLACE FUNCTION julianday(t text) RETURNS double precision
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT extract(epoch FROM t::timestamptz) / 86400.0 + 2440587.5 $$
"""


class NoSchema(RuntimeError):
    """The PostgreSQL database holds no samplepoint schema (and we were not asked to create it)."""


class Row:
    """A result row read by position or by column name, like sqlite3.Row."""
    __slots__ = ("_values", "_index")

    def __init__(self, values, index: dict[str, int]):
        self._values = values
        self._index = index

    def __getitem__(self, key):
        return self._values[key if isinstance(key, int) else self._index[key]]

    def keys(self) -> list[str]:
        return list(self._index)

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def _row_factory(cursor):
    index = {column.name: i for i, column in enumerate(cursor.description or ())}
    return lambda values: Row(values, index)


def translate(sql: str) -> str:
    """SQLite SQL → PostgreSQL: placeholders only (no central SQL holds a literal ? or %)."""
    return sql.replace("%", "%%").replace("?", "%s")


class Connection:
    """What central/db*.py call on a connection: execute() and executemany()."""

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn

    def execute(self, sql: str, params=()):
        cursor = self.conn.cursor(row_factory=_row_factory)
        cursor.execute(translate(sql), tuple(params) or None)
        return cursor

    def executemany(self, sql: str, rows) -> None:
        with self.conn.cursor() as cursor:
            cursor.executemany(translate(sql), list(rows))


class PostgresCentralDB(CentralDB):
    """CentralDB on PostgreSQL: one connection per thread, schema versions in samplepoint_schema."""

    def __init__(self, url: str, *, create: bool = False):
        self.path = url           # what commands and tests pass back as --db
        self.url = url
        self._local = threading.local()
        conn = self._connect()
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            exists = conn.execute("SELECT to_regclass(%s)", (SCHEMA_TABLE,)).fetchone()[0]
            if not exists:
                if not create:
                    raise NoSchema("no samplepoint schema in this PostgreSQL database")
                conn.execute(f"CREATE TABLE {SCHEMA_TABLE} (version INTEGER NOT NULL)")
                conn.execute(f"INSERT INTO {SCHEMA_TABLE} VALUES (0)")
            conn.execute(FUNCTIONS)
            version = conn.execute(f"SELECT version FROM {SCHEMA_TABLE}").fetchone()[0]
            if version > len(MIGRATIONS):
                raise RuntimeError(f"database schema {version} is newer than this software "
                                   f"({len(MIGRATIONS)}); upgrade samplepoint")
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, script.split(";")):
                    conn.execute(statement.replace("INTEGER PRIMARY KEY,", "BIGSERIAL PRIMARY KEY,"))
                conn.execute(f"UPDATE {SCHEMA_TABLE} SET version = %s", (number,))

    @staticmethod
    def is_outage(exc: BaseException) -> bool:
        """Whether `exc` says the server cannot be used now (down, restarting, connection lost)."""
        return isinstance(exc, psycopg.OperationalError)

    def _connect(self) -> psycopg.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = psycopg.connect(self.url, autocommit=True)
            self._local.conn = conn
        return conn

    @property
    def db(self) -> Connection:
        return Connection(self._connect())

    @contextmanager
    def transaction(self):
        conn = self._connect()
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            yield Connection(conn)

    def stream(self, query: str, args=()):
        """A server-side cursor on a connection of its own: an export of a whole province never
        sits in memory, and the thread's connection stays free for other statements meanwhile."""
        with psycopg.connect(self.url) as conn, conn.transaction():
            with conn.cursor(name="samplepoint_stream", row_factory=_row_factory) as cursor:
                cursor.itersize = 2000
                cursor.execute(translate(query), tuple(args) or None)
                yield from cursor

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
