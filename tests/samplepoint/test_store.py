"""The device store: durability settings, file modes, migrations, tube lifecycle and the outbox."""
from __future__ import annotations

import sqlite3
import stat

import pytest

from samplepoint import wire
from samplepoint.store import MIGRATIONS, Store

PERSON = wire.Person(source="personal-qr", id_number="001093029317", full_name="NGUYEN VAN AN",
                     date_of_birth="1990-01-01", gender="male", qid="123")


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "data" / "samplepoint.db")
    yield s
    s.close()


def open_tube(store, sample_id="00000000-0000-4000-8000-000000000001", code="DT00000001"):
    store.open_tube(sample_id=sample_id, tube_code=code, pool_size=3, test_type="rt-pcr",
                    sample_type="swab", site_id="S", device_id="D", staff_id="NV",
                    opened_at="2021-08-20T09:00:00.000+07:00")
    return sample_id


def test_durability_pragmas_and_private_file(store):
    db = sqlite3.connect(store.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2      # FULL
    assert store._db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert store.schema_version() == len(MIGRATIONS)


def test_reopening_does_not_migrate_again(tmp_path):
    Store(tmp_path / "x.db").close()
    again = Store(tmp_path / "x.db")
    assert again.schema_version() == len(MIGRATIONS)


def test_newer_schema_is_refused(tmp_path):
    db = sqlite3.connect(tmp_path / "x.db")
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(RuntimeError, match="newer than this software"):
        Store(tmp_path / "x.db")


def test_tube_lifecycle_queues_one_frozen_record(store):
    sid = open_tube(store)
    assert store.add_person(sid, "k1", PERSON, "2021-08-20T09:01:00.000+07:00") == 1
    record = store.finish_tube(sid, closed_at="2021-08-20T09:02:00.000+07:00")
    assert record.persons == (PERSON,) and record.status == "closed"
    (item,) = store.pending(10)
    assert wire.parse_record(__import__("json").loads(item.body)) == record
    assert store.outbox_counts() == {"pending": 1, "delivered": 0, "quarantined": 0}
    assert store.open_tube_state() is None
    with pytest.raises(LookupError):
        store.finish_tube(sid, closed_at="2021-08-20T09:03:00.000+07:00")


def test_only_one_tube_open_and_same_person_once(store):
    sid = open_tube(store)
    with pytest.raises(sqlite3.IntegrityError):
        open_tube(store, "00000000-0000-4000-8000-000000000002", "DT00000002")
    store.add_person(sid, "k1", PERSON, "t")
    with pytest.raises(sqlite3.IntegrityError):
        store.add_person(sid, "k1", PERSON, "t")


def test_open_tube_survives_reopen(tmp_path):
    first = Store(tmp_path / "x.db")
    sid = open_tube(first)
    first.add_person(sid, "k1", PERSON, "t")
    first.close()
    state = Store(tmp_path / "x.db").open_tube_state()
    assert state.sample_id == sid and state.persons == [("k1", PERSON)]


def test_undo_removes_only_the_last_person(store):
    sid = open_tube(store)
    store.add_person(sid, "k1", PERSON, "t")
    store.add_person(sid, "k2", PERSON, "t")
    assert store.remove_last_person(sid)
    assert [k for k, _ in store.open_tube_state().persons] == ["k1"]


def test_outbox_states(store):
    ids = []
    for n in range(3):
        sid = open_tube(store, f"00000000-0000-4000-8000-00000000000{n}", f"DT0000000{n}")
        store.add_person(sid, "k", PERSON, "t")
        store.finish_tube(sid, closed_at=f"2021-08-20T09:0{n}:00.000+07:00")
        ids.append(sid)
    store.mark_delivered([ids[0]], "2021-08-20T10:00:00.000+07:00")
    store.mark_quarantined(ids[1], "HTTP 400 persons: bad")
    assert store.outbox_counts() == {"pending": 1, "delivered": 1, "quarantined": 1}
    assert [i.record_id for i in store.pending(10)] == [ids[2]]
    assert store.quarantined()[0]["quarantine_reason"] == "HTTP 400 persons: bad"
    assert store.requeue(ids[1]) and store.outbox_counts()["pending"] == 2
    # A delivered record is never put back to pending or quarantined.
    store.mark_quarantined(ids[0], "late")
    assert store.outbox_counts()["delivered"] == 1
