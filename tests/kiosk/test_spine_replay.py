"""The kiosk over a replayed folder, as a technician runs it: the CLI, the store, hostile codes."""
from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

from kiosk import codes
from kiosk.framegen import fictional_person, frame_with, qr_image, write_session
from samplepoint.store import Store
from tests.conftest import write_config

PUBLIC_EXAMPLE = ("001093029317|NGUYEN LE KHA HAN|1987-01-18|0|162979388586171100|"
                  "<1<HS4010120878821<0944713700")


def run_kiosk(config_path, frames_dir):
    return subprocess.run([sys.executable, "-m", "samplepoint.cli", "kiosk", "--config",
                           str(config_path), "--camera", f"replay:{frames_dir}", "--exit-when-done",
                           "--fast"], capture_output=True, text=True, timeout=120)


def test_replay_folder_becomes_the_expected_records(tmp_path):
    session = write_session(tmp_path / "frames", people=7, pool_size=3)
    config = write_config(tmp_path)
    result = run_kiosk(config, tmp_path / "frames")
    assert result.returncode == 0, result.stderr
    store = Store(tmp_path / "device" / "samplepoint.db")
    records = [json.loads(item.body) for item in store.pending(100)]
    assert [(r["tube_code"], [p["qid"] for p in r["persons"]]) for r in records] == \
        [(code, [p.qid for p in persons]) for code, persons in session.tubes]
    assert all(p["full_name"] and p["id_number"] not in result.stderr
               for r in records for p in r["persons"]), "ID numbers must not reach the logs"


def test_held_code_counts_once_and_repeat_in_tube_is_refused(tmp_path):
    rng = random.Random(3)
    folder = tmp_path / "frames"
    folder.mkdir()
    person = fictional_person(rng)
    from kiosk.framegen import code128_image
    sequence = [code128_image("DT12345678")] * 3 + [None] * 2 + \
               [qr_image(codes.format_personal_qr(person))] * 40 + [None] * 35 + \
               [qr_image(codes.format_personal_qr(person))] * 2
    for n, image in enumerate(sequence):
        frame_with(image, rng).save(folder / f"{n:04d}.png")
    result = run_kiosk(write_config(tmp_path), folder)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["people"] == 1 and summary["refused"] == 0
    (item,) = Store(tmp_path / "device" / "samplepoint.db").pending(10)
    assert len(json.loads(item.body)["persons"]) == 1


def test_missing_replay_folder_is_a_clear_error(tmp_path):
    result = run_kiosk(write_config(tmp_path), tmp_path / "nowhere")
    assert result.returncode == 2
    assert "replay folder" in result.stderr and "Traceback" not in result.stderr


def test_public_example_parses():
    scan = codes.classify(PUBLIC_EXAMPLE.encode(), r"^DT\d{8}$")
    assert isinstance(scan, codes.PersonScan)
    p = scan.person
    assert (p.id_number, p.full_name, p.date_of_birth, p.gender, p.phone, p.qid) == (
        "001093029317", "NGUYEN LE KHA HAN", "1987-01-18", "male", "0944713700", "162979388586171100")


@pytest.mark.parametrize("payload", [
    bytes(range(256)),
    b"A" * 100_000,
    b"|" * 500,
    b"<script>alert(1)</script>|X|1990-01-01|0|1|",
    b"001093029317|NGUYEN\x00VAN|1990-01-01|0|1|",
    b"001093029317|NGUYEN\x1b[31mVAN|1990-01-01|0|1|",
    "001093029317|NGUYỄN VĂN A|1990-13-40|0|1|".encode(),
    b"001093029317|NGUYEN VAN A|1990-01-01|7|1|",
    b"",
])
def test_hostile_payloads_are_refused_with_a_reason(payload):
    scan = codes.classify(payload, r"^DT\d{8}$")
    assert isinstance(scan, codes.Refused) and scan.reason and scan.message


def test_tube_code_longer_than_the_wire_allows_is_refused():
    scan = codes.classify(b"DT" + b"1" * 100, r"^DT\d+$")
    assert isinstance(scan, codes.Refused)
