"""Lab results import throughput and memory, and the person-status lookup time, at the central server."""
from __future__ import annotations

import resource
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from central import status
from central.db import CentralDB
from central.importer import import_csv
from samplepoint import wire

# Peak RSS growth over the import: ru_maxrss only rises, so growth shows memory the import added.
TITLE = "Lab results import and status lookup"
TUBES, ROWS = 1000, 200_000
VN = timezone(timedelta(hours=7))


def _write_lab_file(path: Path, rows: int) -> None:
    with open(path, "w", encoding="utf-8") as out:
        out.write("tube_code,test_type,result,result_time,lab\n")
        for n in range(rows):
            minute, second = divmod(n // TUBES, 60)
            out.write(f"DT{n % TUBES:08d},rt-pcr,negative,2021-08-20T{12 + minute // 60:02d}:"
                      f"{minute % 60:02d}:{second:02d}+07:00,LAB-1\n")


def run() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        db = CentralDB(Path(tmp) / "central.db")
        db.add_device("D", "S")
        records = [wire.SampleRecord(
            record_id=wire.new_record_id(), tube_code=f"DT{t:08d}", pool_size=1, test_type="rt-pcr",
            sample_type="swab", collected_at="2021-08-20T09:00:00+07:00", site_id="S", device_id="D",
            staff_id="s", persons=(wire.Person("cccd", f"0010930{t:05d}", "NGUYEN VAN AN",
                                               qid=str(10**17 + t)),)) for t in range(TUBES)]
        db.ingest("D", [(r, wire.canonical(r.to_json())) for r in records])
        lab_file = Path(tmp) / "results.csv"
        _write_lab_file(lab_file, ROWS)
        size_mib = lab_file.stat().st_size / 2**20
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        with open(lab_file, "rb") as stream:
            counts = import_csv(db, stream, tz=VN, now=datetime.now(timezone.utc),
                                on_problem=lambda *a: None)
        elapsed = time.perf_counter() - started
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        lookups = []
        for t in range(0, TUBES, 10):
            started_lookup = time.perf_counter()
            rows = db.person_samples(qid=str(10**17 + t))
            status.person_status(status.from_rows(rows), {"rt-pcr": 72.0}, datetime.now(timezone.utc))
            lookups.append(time.perf_counter() - started_lookup)
    lookups.sort()
    return (f"| measure | value | target |\n|---|---|---|\n"
            f"| import of {ROWS:,} rows ({size_mib:.0f} MiB) | {elapsed:.1f} s, "
            f"{counts['created'] / elapsed:,.0f} rows/s | 1M rows in under 10 min |\n"
            f"| peak memory growth during import | {grown:.1f} MiB | bounded (< 40 MiB) |\n"
            f"| status lookup, median / worst of {len(lookups)} (person with 200 results) | "
            f"{lookups[len(lookups) // 2] * 1000:.1f} ms / {lookups[-1] * 1000:.1f} ms | < 100 ms |\n")
