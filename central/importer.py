"""`samplepoint central import-results`: a lab's CSV into the results table, in batches, problems by line.

Rows stream from central.results.read_csv and are stored a batch at a time, so memory does not grow
with the file. Every row that is not imported is passed to `on_problem(line, text, tube_code)`, in
line order; the same file
imported twice stores nothing new (each result is keyed by tube, lab and result time).
"""
from __future__ import annotations

import csv
from collections import Counter
from datetime import datetime, tzinfo
from typing import IO, BinaryIO, Callable

from central.db_results import PROBLEMS
from central.export import csv_safe
from central.results import read_csv

BATCH = 1000
PROBLEM_COLUMNS = ["line", "problem", "tube_code"]


def import_csv(db, stream: BinaryIO, *, tz: tzinfo, now: datetime,
               on_problem: Callable[[int, str, str], None]) -> Counter:
    """Import every good row; return counts per outcome (created, duplicate, problems...)."""
    counts: Counter = Counter()
    batch: list = []          # (line, LabResult | problem text), reported in line order at flush

    def flush():
        results = [item for _, item in batch if not isinstance(item, str)]
        outcomes = iter(db.add_results(results) if results else [])
        for line, item in batch:
            if isinstance(item, str):
                counts["bad-row"] += 1
                on_problem(line, item, "")
                continue
            outcome = next(outcomes)
            counts[outcome] += 1
            if outcome in PROBLEMS:
                on_problem(line, PROBLEMS[outcome], item.tube_code)
        batch.clear()

    for line, item in read_csv(stream, tz=tz, now=now):
        batch.append((line, item))
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    return counts


class ProblemReport:
    """Problems as CSV (line, problem, tube code), cells neutralised against formula injection."""

    def __init__(self, out: IO[str]):
        self.writer = csv.writer(out, lineterminator="\n")
        self.writer.writerow(PROBLEM_COLUMNS)

    def __call__(self, line: int, problem: str, tube_code: str) -> None:
        self.writer.writerow([line, csv_safe(problem), csv_safe(tube_code)])
