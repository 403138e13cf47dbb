"""Exports of stored samples: CSV with one row per person (for the national platform), or JSON lines."""
from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from typing import IO, Iterable

CSV_COLUMNS = ["record_id", "tube_code", "test_type", "sample_type", "collected_at", "site_id",
               "device_id", "staff_id", "pool_size", "position", "source", "id_number", "full_name",
               "date_of_birth", "gender", "phone", "qid", "declared_on_behalf", "declarer_qid", "status"]
PERSON_COLUMNS = ["source", "id_number", "full_name", "date_of_birth", "gender", "phone", "qid",
                  "declared_on_behalf", "declarer_qid"]
SAMPLE_COLUMNS = [c for c in CSV_COLUMNS if c not in PERSON_COLUMNS and c != "position"]


def csv_safe(value) -> str:
    """Neutralise spreadsheet formula injection: a cell starting with = + - @ (or tab/CR) gets a '."""
    text = "" if value is None else str(value)
    if text and text[0] in "=+-@\t\r":
        return "'" + text
    return text


def since_utc(since: str | None) -> str | None:
    """An ISO time from the command line as the UTC text the database compares against."""
    if not since:
        return None
    moment = datetime.fromisoformat(since)
    if moment.tzinfo is None:
        raise ValueError("--since needs a UTC offset, e.g. 2021-08-20T00:00:00+07:00")
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def write_csv(samples: Iterable[dict], out: IO[str]) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    rows = 0
    for sample in samples:
        for position, person in enumerate(sample.get("persons", []), start=1):
            # Each column from its own level: unknown person fields never shadow the sample's.
            row = {**{c: sample.get(c) for c in SAMPLE_COLUMNS},
                   **{c: person.get(c) for c in PERSON_COLUMNS}, "position": position}
            writer.writerow([csv_safe(row.get(c)) for c in CSV_COLUMNS])
            rows += 1
    return rows


def write_jsonl(samples: Iterable[dict], out: IO[str]) -> int:
    count = 0
    for sample in samples:
        out.write(json.dumps(sample, ensure_ascii=False, sort_keys=True) + "\n")
        count += 1
    return count
