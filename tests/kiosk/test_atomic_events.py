"""One workflow event commits all its data or none: the last person of a tube and its closing."""
from __future__ import annotations

import random
import sqlite3

from kiosk import workflow
from kiosk.codes import format_personal_qr
from kiosk.decode import make_decoder
from kiosk.feedback import LogFeedback
from kiosk.framegen import fictional_person
from kiosk.pipeline import Kiosk
from kiosk.staff import badge_code
from samplepoint.clock import system_clock
from samplepoint.store import Store
from tests.kiosk.test_pipeline import device


def make_kiosk(tmp_path, store=None):
    _, config, key = device(tmp_path, site={"pool_size": 2, "tube_pattern": r"^DT\d{8}$"})
    store = store or Store(config.db_path)
    feedback = LogFeedback()
    return Kiosk(config, store, make_decoder(), feedback, system_clock(), code_key=key), key


def test_failed_close_takes_back_the_last_person_and_signals_an_error(tmp_path, monkeypatch):
    kiosk, key = make_kiosk(tmp_path)
    rng = random.Random(5)
    first, second = fictional_person(rng), fictional_person(rng)
    kiosk.on_code(badge_code("NV01", "Hoa", key).encode())
    kiosk.on_code(b"DT00000001")
    kiosk.on_code(format_personal_qr(first).encode())

    real_finish = kiosk.store.finish_tube

    def disk_full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")
    monkeypatch.setattr(kiosk.store, "finish_tube", disk_full)
    kiosk.on_code(format_personal_qr(second).encode())
    assert kiosk.feedback.history[-1][0] == workflow.ERROR
    assert kiosk.feedback.history[-1][1] == "store-full", "staff are told the card is full"
    assert (kiosk.summary.people, kiosk.summary.tubes_closed) == (1, 0), "only what committed counts"
    tube = kiosk.store.open_tube_state()
    assert len(tube.persons) == 1, "the second person must not stay committed without the close"
    assert len(kiosk.state.tube.person_keys) == 1
    assert kiosk.state.staff_id == "NV01", "a store error must not sign the staff member out"

    monkeypatch.setattr(kiosk.store, "finish_tube", real_finish)
    kiosk.on_code(format_personal_qr(second).encode())
    assert kiosk.store.open_tube_state() is None
    assert kiosk.store.outbox_counts()["pending"] == 1
    assert (kiosk.summary.people, kiosk.summary.tubes_closed) == (2, 1)


def test_a_commit_that_fails_at_commit_time_counts_nothing(tmp_path, monkeypatch):
    """The failure can come at COMMIT itself (the WAL cannot grow): nothing of the event counts."""
    from contextlib import contextmanager
    kiosk, key = make_kiosk(tmp_path)
    kiosk.on_code(badge_code("NV01", "Hoa", key).encode())
    real = kiosk.store.transaction

    @contextmanager
    def failing_commit():
        with real() as db:
            yield db
            raise sqlite3.OperationalError("attempt to write a readonly database")
    monkeypatch.setattr(kiosk.store, "transaction", failing_commit)
    kiosk.on_code(b"DT00000009")
    kiosk.on_code(format_personal_qr(fictional_person(random.Random(9))).encode())
    assert kiosk.summary.people == 0 and kiosk.state.tube is None
    assert kiosk.feedback.history[-1][0] == workflow.ERROR
    assert kiosk.feedback.history[-1][1] == "store-readonly"


def test_full_tube_found_open_at_start_is_closed_not_overfilled(tmp_path):
    kiosk, key = make_kiosk(tmp_path)
    rng = random.Random(6)
    kiosk.on_code(badge_code("NV01", "Hoa", key).encode())
    kiosk.on_code(b"DT00000002")
    sample_id = kiosk.state.tube.sample_id
    for _ in range(2):      # as an older version could leave it: full, still open
        person = fictional_person(rng)
        kiosk.store.add_person(sample_id, f"qid:{person.qid}", person, "2021-08-20T09:00:00+07:00")
    restarted, _ = make_kiosk(tmp_path, store=kiosk.store)
    assert restarted.state.tube is None
    assert restarted.store.open_tube_state() is None
    (item,) = restarted.store.pending(10)
    assert item.record_id == sample_id


def test_nested_store_transactions_roll_back_together(tmp_path):
    store = Store(tmp_path / "x.db")
    try:
        with store.transaction():
            store.open_tube(sample_id="00000000-0000-4000-8000-000000000009", tube_code="DT1",
                            pool_size=1, test_type="rt-pcr", sample_type="s", site_id="S",
                            device_id="D", staff_id="N", opened_at="2021-08-20T09:00:00+07:00")
            raise RuntimeError("power cut")
    except RuntimeError:
        pass
    assert store.open_tube_state() is None


def test_tube_opened_without_sign_in_does_not_sign_anyone_in_after_restart(tmp_path):
    from samplepoint import config as config_module
    from tests.conftest import write_config
    config = config_module.load(write_config(tmp_path, site={"pool_size": 3,
                                                             "tube_pattern": r"^DT\d{8}$"}))
    assert not config.workflow.require_sign_in
    store, key = Store(config.db_path), b"k" * 32
    first = Kiosk(config, store, make_decoder(), LogFeedback(), system_clock(), code_key=key)
    first.on_code(b"DT00000003")
    assert store.open_tube_state().staff_id == config.scan.default_staff
    restarted = Kiosk(config, store, make_decoder(), LogFeedback(), system_clock(), code_key=key)
    assert restarted.state.tube is not None and restarted.state.staff_id is None
