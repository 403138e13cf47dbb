"""A lab file of one million rows imports streaming, in bounded memory, with bad rows by line."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from central.db import CentralDB
from samplepoint import wire

TUBES = 1000
PROBE = ("import json, resource, sys; from samplepoint.cli import main; code = main(sys.argv[1:]); "
         "print(json.dumps({'maxrss_kib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}), "
         "file=sys.stderr); sys.exit(code)")

pytestmark = pytest.mark.sqlite_only   # about SQLite files; see test_postgres.py


def write_lab_file(path, rows: int) -> None:
    with open(path, "w", encoding="utf-8") as out:
        out.write("tube_code,test_type,result,result_time,lab\n")
        for n in range(rows):
            if n % 100_000 == 99_999:
                out.write(f"DT{n % TUBES:08d},rt-pcr,maybe,2021-08-20T12:00:00+07:00,LAB-1\n")
                continue
            minute, second = divmod(n // TUBES, 60)
            out.write(f"DT{n % TUBES:08d},rt-pcr,negative,2021-08-20T{12 + minute // 60:02d}:"
                      f"{minute % 60:02d}:{second:02d}+07:00,LAB-1\n")


def run_import(db, path):
    done = subprocess.run([sys.executable, "-c", PROBE, "central", "import-results", "--db", str(db),
                           "--show", "20", str(path)], capture_output=True, text=True, timeout=900)
    probe = json.loads(done.stderr.strip().splitlines()[-1])
    return done.returncode, json.loads(done.stdout), done.stderr, probe["maxrss_kib"]


@pytest.mark.slow
def test_one_million_rows_stream_in_bounded_memory(central, tmp_path):
    person = wire.Person("cccd", "001093029317", "NGUYEN VAN AN")
    records = [wire.SampleRecord(
        record_id=wire.new_record_id(), tube_code=f"DT{t:08d}", pool_size=1, test_type="rt-pcr",
        sample_type="swab", collected_at="2021-08-20T09:00:00+07:00", site_id="SITE-TEST",
        device_id="DEV-TEST-01", staff_id="s", persons=(person,)) for t in range(TUBES)]
    central.db.ingest("DEV-TEST-01", [(r, wire.canonical(r.to_json())) for r in records])

    small, big = tmp_path / "small.csv", tmp_path / "big.csv"
    write_lab_file(small, 1000)
    write_lab_file(big, 1_000_000)
    CentralDB(tmp_path / "scratch.db")
    _, _, _, baseline_kib = run_import(tmp_path / "scratch.db", small)

    code, counts, stderr, big_kib = run_import(central.db.path, big)
    assert code == 1 and counts == {"bad-row": 10, "created": 999_990}
    assert "line 100001: result must be" in stderr
    assert central.db.count_results() == 999_990
    growth_mib = (big_kib - baseline_kib) / 1024
    print(f"1M-row import: peak RSS {big_kib / 1024:.0f} MiB vs {baseline_kib / 1024:.0f} MiB for "
          f"1k rows; file {big.stat().st_size / 2**20:.0f} MiB")
    assert growth_mib < 40, f"memory grew by {growth_mib:.0f} MiB"
