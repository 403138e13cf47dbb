"""The central database's SQL for rate limits: attempts counted in one table every worker shares.

A mixin of `central.db.CentralDB` (it uses its `transaction()`); the schema is migration 7 in
central/db.py. Each counted attempt is one row that lives until its window has passed; a bucket is
a fixed-length hash, so whatever a client sends as a name or address, the table holds only that.
"""
from __future__ import annotations

from typing import Callable

# What a rule is shown of each bucket: (attempts counted, earliest and latest end of their window).
Counts = dict[str, tuple[int, int | None, int | None]]


class LimitsSQL:
    def take_rate_slot(self, buckets: list[tuple[str, int]], window_ms: int, now_ms: int) -> int | None:
        """Count one attempt in every (bucket, limit) when none is full: None when allowed, else the
        milliseconds until the fullest bucket frees a slot."""
        limits = dict(buckets)

        def full(counts: Counts) -> int | None:
            waits = [oldest - now_ms for name, (count, oldest, _) in counts.items()
                     if count >= limits[name]]
            return max(waits) if waits else None
        return self.count_rate_slot(list(limits), full, window_ms, now_ms)

    def count_rate_slot(self, buckets: list[str], rule: Callable[[Counts], int | None],
                        window_ms: int, now_ms: int) -> int | None:
        """Show `rule` what each bucket holds; when it answers None count one attempt in each (they
        end at now + window), else return its answer (milliseconds to wait, at least 1).

        One write transaction: on SQLite and on PostgreSQL (its advisory write lock) no two workers
        count at once, so together they never let more than a rule allows through a window.
        """
        with self.transaction() as db:
            db.execute("DELETE FROM rate_hits WHERE until_ms <= ?", (now_ms,))
            counts = {name: tuple(db.execute(
                "SELECT COUNT(*), MIN(until_ms), MAX(until_ms) FROM rate_hits WHERE bucket = ?",
                (name,)).fetchone()) for name in dict.fromkeys(buckets)}
            wait = rule({name: (int(c), o, n) for name, (c, o, n) in counts.items()})
            if wait is not None:
                return max(1, int(wait))
            db.executemany("INSERT INTO rate_hits (bucket, until_ms) VALUES (?,?)",
                           [(name, now_ms + window_ms) for name in counts])
        return None

    def uncount_rate_slot(self, buckets: list[str], until_ms: int) -> None:
        """Take back an attempt counted by count_rate_slot (one that turned out not to count). An
        attempt in the same bucket counted in the same millisecond goes too: at worst one fewer."""
        with self.transaction() as db:
            db.executemany("DELETE FROM rate_hits WHERE bucket = ? AND until_ms = ?",
                           [(name, until_ms) for name in dict.fromkeys(buckets)])

    def clear_rate_limits(self) -> int:
        """Forget every counted attempt (all limiters); returns how many were counted."""
        with self.transaction() as db:
            count = db.execute("SELECT COUNT(*) FROM rate_hits").fetchone()[0]
            db.execute("DELETE FROM rate_hits")
        return int(count)
