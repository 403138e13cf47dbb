"""The kiosk end to end: commit before feedback, restart restores the open tube, replayed sessions."""
import io
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import segno
from PIL import Image

from kiosk import workflow
from kiosk.cccd import CccdCard, format_cccd
from kiosk.codes import format_personal_qr
from kiosk.decode import make_decoder
from kiosk.feedback import FeedbackSink
from kiosk.framegen import code128_image, fictional_person, frame_with, qr_image, write_session
from kiosk.pipeline import Kiosk
from kiosk.staff import badge_code
from samplepoint import config as config_module
from samplepoint.clock import system_clock
from samplepoint.signed_codes import load_key, make_code, new_key
from samplepoint.store import Store
from tests.conftest import write_config


def device(tmp_path, **sections):
    key_file = tmp_path / "code-key"
    key_file.write_text(new_key() + "\n")
    sections.setdefault("scan", {}).update(code_key_file=str(key_file), repeat_frames=2)
    sections.setdefault("feedback", {}).update(backend="none")
    sections.setdefault("workflow", {}).update(require_sign_in=True)
    path = write_config(tmp_path, **sections)
    return path, config_module.load(path), load_key(key_file)


class CheckingSink(FeedbackSink):
    """Asserts, at the moment of each beep, that what it confirms is already in the database."""

    def __init__(self, db_path):
        self.db_path, self.kinds = db_path, []

    def signal(self, kind, message, detail=""):
        self.kinds.append(kind)
        db = sqlite3.connect(self.db_path)
        people = db.execute("SELECT COUNT(*) FROM sample_persons").fetchone()[0]
        queued = db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        db.close()
        if kind in ("accepted", "warning"):
            assert people == self.kinds.count("accepted") + self.kinds.count("warning")
        if kind == "tube-closed":
            assert queued == self.kinds.count("tube-closed")


def test_every_confirmation_follows_its_commit(tmp_path):
    _, config, key = device(tmp_path, site={"pool_size": 2, "tube_pattern": r"^DT\d{8}$"})
    store = Store(config.db_path)
    sink = CheckingSink(config.db_path)
    kiosk = Kiosk(config, store, make_decoder(), sink, system_clock(), code_key=key)
    rng = random.Random(3)
    for data in [badge_code("NV01", "Hoa", key), "DT00000001"] + \
            [format_personal_qr(fictional_person(rng)) for _ in range(4)]:
        kiosk.on_code(data.encode())
    kiosk.on_code(b"DT00000002")
    assert sink.kinds.count("accepted") == 2 and sink.kinds.count("tube-closed") == 1
    assert store.outbox_counts()["pending"] == 1


def test_restart_restores_open_tube_and_gpio_button_dispatches(tmp_path):
    _, config, key = device(tmp_path, site={"pool_size": 5, "tube_pattern": r"^DT\d{8}$"})
    store = Store(config.db_path)
    kiosk = Kiosk(config, store, make_decoder(), FeedbackSink.__new__(CheckingSink), system_clock(),
                  code_key=key)
    kiosk.feedback = CheckingSink(config.db_path)
    rng = random.Random(4)
    people = [format_personal_qr(fictional_person(rng)).encode() for _ in range(3)]
    for data in [badge_code("NV01", "", key).encode(), b"DT00000001", people[0], people[1]]:
        kiosk.on_code(data)
    again = Kiosk(config, store, make_decoder(), CheckingSink(config.db_path), system_clock(), code_key=key)
    assert again.state.tube.tube_code == "DT00000001" and len(again.state.tube.person_keys) == 2
    again.on_code(people[1])
    assert again.feedback.kinds == ["duplicate"]
    again.on_code(people[2])
    again.dispatch(workflow.CloseRequested(again.clock()))      # what the close button does
    record = json.loads(store.pending(10)[0].body)
    assert len(record["persons"]) == 3 and record["staff_id"] == "NV01"


def _kiosk_cmd(config_path, *extra):
    return [sys.executable, "-m", "samplepoint.cli", "kiosk", "--config", str(config_path), *extra]


def test_kill_mid_tube_then_restart_loses_and_doubles_nothing(tmp_path):
    path, config, key = device(tmp_path, site={"pool_size": 5, "tube_pattern": r"^DT\d{8}$"},
                               camera={"fps": 30.0})
    session = write_session(tmp_path / "frames", people=8, pool_size=5, seed=9,
                            badge=badge_code("NV01", "", key))
    proc = subprocess.Popen(_kiosk_cmd(path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.05)
            if config.db_path.exists():
                db = sqlite3.connect(config.db_path, timeout=5)
                try:
                    count = db.execute("SELECT COUNT(*) FROM sample_persons").fetchone()[0]
                except sqlite3.OperationalError:
                    count = 0
                db.close()
                if count >= 2:
                    break
        os.kill(proc.pid, signal.SIGKILL)          # the power cut
    finally:
        proc.kill()
        proc.wait()
    store = Store(config.db_path)
    tube = store.open_tube_state()
    assert tube is not None and 2 <= len(tube.persons) < 5
    store.close()
    done = subprocess.run(_kiosk_cmd(path, "--exit-when-done", "--fast"), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    store = Store(config.db_path)
    records = [json.loads(item.body) for item in store.pending(100)]
    assert sorted(r["tube_code"] for r in records) == sorted(code for code, _ in session.tubes)
    ids = [p["id_number"] for r in records for p in r["persons"]]
    assert sorted(ids) == sorted(p.id_number for _, ps in session.tubes for p in ps)


def test_mixed_replay_folder_gives_exactly_the_expected_records(tmp_path):
    path, config, key = device(tmp_path, site={"pool_size": 3, "tube_pattern": r"^DT\d{8}$"})
    rng = random.Random(11)
    folder = tmp_path / "frames"
    folder.mkdir()
    p1, p2, p3, p4 = (fictional_person(rng) for _ in range(4))
    card = CccdCard("079203001234", None, "Nguyễn Văn An", "2003-06-15", "male", "Số 1", None)
    codes = [
        ("qr", make_code("staff", {"staff_id": "NV09"}, b"f" * 32)),        # forged badge
        ("qr", format_personal_qr(p1)),                                     # before sign-in
        ("qr", badge_code("NV01", "Lê Hoa", key)),
        ("qr", "https://example.com/<script>"), ("qr", "hello|world"),        # junk
        ("bar", "DT00000001"), ("qr", format_personal_qr(p1)), ("qr", format_cccd(card)),
        ("qr", format_personal_qr(p1)),                                      # duplicate
        ("bar", "DT00000002"),                                               # another tube while open
        ("qr", format_personal_qr(p2)),                                      # fills DT..01 (3)
        ("bar", "DT00000001"),                                               # already used
        ("bar", "DT00000003"), ("qr", format_personal_qr(p3)), ("qr", format_personal_qr(p4)),
    ]
    index = 0
    for kind, text in codes:
        image = qr_image(text) if kind == "qr" else code128_image(text)
        for frame in (image, image, None, None, None):
            frame_with(frame, rng).save(folder / f"f{index:04d}.png")
            index += 1
    done = subprocess.run(_kiosk_cmd(path, "--camera", f"replay:{folder}", "--exit-when-done", "--fast"),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["tubes_closed"] == 2, done.stderr
    assert summary["refused"] == 6, done.stderr
    assert summary["tubes_closed"] == 2 and summary["people"] == 5 and summary["refused"] == 6
    store = Store(config.db_path)
    records = {r["tube_code"]: r for r in (json.loads(i.body) for i in store.pending(10))}
    assert set(records) == {"DT00000001", "DT00000003"}
    first = records["DT00000001"]
    assert [p["source"] for p in first["persons"]] == ["personal-qr", "cccd", "personal-qr"]
    assert first["staff_id"] == "NV01" and first["status"] == "closed"
    assert [p["id_number"] for p in records["DT00000003"]["persons"]] == [p3.id_number, p4.id_number]


def test_odd_extras_are_accepted_and_logged_without_personal_data(tmp_path, caplog):
    _, config, key = device(tmp_path, site={"pool_size": 5, "tube_pattern": r"^DT\d{8}$"})
    store = Store(config.db_path)
    kiosk = Kiosk(config, store, make_decoder(), CheckingSink(config.db_path), system_clock(),
                  code_key=key)
    odd = "001093029317|NGUYEN LE KHA HAN|1987-01-18|0|162979388586171100|<1<HS4010120878821<09447-13700<x"
    with caplog.at_level("INFO", logger="kiosk.pipeline"):
        for data in [badge_code("NV01", "", key).encode(), b"DT00000001", odd]:
            kiosk.on_code(data)
    assert kiosk.feedback.kinds[-1] == "accepted"
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "ext-extra" in logged and "001093029317" not in logged and "0944" not in logged
    store.close()


def test_the_kiosk_reads_a_code_in_the_encoding_its_symbol_names(tmp_path):
    """A QR in ISO-8859-1 (the QR default, no ECI) reaches the parser as the right text."""
    _, config, key = device(tmp_path, site={"pool_size": 5, "tube_pattern": r"^DT\d{8}$"})
    store = Store(config.db_path)
    kiosk = Kiosk(config, store, make_decoder(), CheckingSink(config.db_path), system_clock(),
                  code_key=key)
    kiosk.on_code(badge_code("NV01", "", key).encode())
    kiosk.on_code(b"DT00000001")
    text = "001093029317|JOSÉ MÜLLER|1987-01-18|0||"
    qr = segno.make_qr(text, encoding="iso-8859-1")
    buffer = io.BytesIO()
    qr.save(buffer, kind="png", scale=4, border=4)
    code = Image.open(io.BytesIO(buffer.getvalue())).convert("L")
    kiosk.on_frame(np.asarray(frame_with(code, random.Random(1))))
    assert kiosk.feedback.kinds[-1] == "accepted"
    assert store.open_tube_state().persons[0][1].full_name == "JOSÉ MÜLLER"
    store.close()
