"""The central database's SQL for rate limits: attempts counted in one table every worker shares.

A mixin of `central.db.CentralDB` (it uses its `transaction()`); the schema is migration 7 in
central/db.py. Each allowed attempt is one row that lives until its window has passed; a bucket is
a fixed-length hash, so whatever a client sends as a name or address, the table holds only that.
"""
from __future__ import annotations


class LimitsSQL:
    def take_rate_slot(self, buckets: list[tuple[str, int]], window_ms: int, now_ms: int) -> int | None:
        """Count one attempt in every (bucket, limit) when none is full: None when allowed, else the
        milliseconds until the fullest bucket frees a slot.

        One write transaction: on SQLite and on PostgreSQL (its advisory write lock) no two workers
        count at once, so together they never let more than `limit` attempts through a window.
        """
        with self.transaction() as db:
            db.execute("DELETE FROM rate_hits WHERE until_ms <= ?", (now_ms,))
            for bucket, limit in buckets:
                count, oldest = db.execute(
                    "SELECT COUNT(*), MIN(until_ms) FROM rate_hits WHERE bucket = ?",
                    (bucket,)).fetchone()
                if count >= limit:
                    return max(1, int(oldest) - now_ms)
            db.executemany("INSERT INTO rate_hits (bucket, until_ms) VALUES (?,?)",
                           [(bucket, now_ms + window_ms) for bucket, _ in buckets])
        return None

    def clear_rate_limits(self) -> int:
        """Forget every counted attempt (all limiters); returns how many were counted."""
        with self.transaction() as db:
            count = db.execute("SELECT COUNT(*) FROM rate_hits").fetchone()[0]
            db.execute("DELETE FROM rate_hits")
        return int(count)
