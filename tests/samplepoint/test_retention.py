"""Device retention with an injected clock: delivered records lose personal fields on time, others never."""
from __future__ import annotations

import json
import logging
import random
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings, strategies as st

from kiosk.framegen import fictional_person
from samplepoint.cli import main
from samplepoint.clock import iso
from samplepoint.config import Config, PortalConfig, RetentionConfig, load
from samplepoint.retention import Retention
from samplepoint.store import Store
from samplepoint import wire

VN = timezone(timedelta(hours=7))
T0 = datetime(2021, 8, 20, 9, 0, tzinfo=VN)


def make_tube(store: Store, rng: random.Random, at: datetime, people: int = 2) -> tuple[str, list]:
    sample_id = wire.new_record_id()
    store.open_tube(sample_id=sample_id, tube_code=f"DT{rng.randint(0, 10**8):08d}", pool_size=people,
                    test_type="rt-pcr", sample_type="swab", site_id="S", device_id="D",
                    staff_id="staff", opened_at=iso(at))
    persons = [fictional_person(rng) for _ in range(people)]
    for index, person in enumerate(persons):
        store.add_person(sample_id, f"k{index}", person, iso(at))
    store.finish_tube(sample_id, closed_at=iso(at))
    return sample_id, persons


def states(tmp_path):
    """A store with one delivered, one pending and one quarantined record, all collected at T0."""
    store = Store(tmp_path / "device.db")
    rng = random.Random(3)
    delivered, d_people = make_tube(store, rng, T0)
    pending, _ = make_tube(store, rng, T0)
    quarantined, _ = make_tube(store, rng, T0)
    store.mark_delivered([delivered], iso(T0 + timedelta(minutes=5)))
    store.mark_quarantined(quarantined, "HTTP 409 conflict")
    return store, delivered, pending, quarantined, d_people


def bodies(store: Store) -> dict[str, str]:
    return {r[0]: r[1] for r in store._db.execute("SELECT record_id, body FROM outbox")}


def retention_config(delivered_days=14.0, declaration_days=3, check_interval_s=3600.0) -> Config:
    return Config(retention=RetentionConfig(delivered_days=delivered_days,
                                            check_interval_s=check_interval_s),
                  portal=PortalConfig(retention_days=declaration_days))


def retention(store, now: datetime, days=14.0, uptime_s=10**9) -> Retention:
    return Retention(retention_config(delivered_days=days), store, lambda: now,
                     uptime=lambda: uptime_s)


def test_delivered_personal_fields_are_erased_on_time_and_counts_kept(tmp_path, caplog):
    store, delivered, pending, quarantined, people = states(tmp_path)
    before = bodies(store)
    assert retention(store, T0 + timedelta(days=13, hours=23)).run().records == 0
    assert bodies(store) == before

    caplog.set_level(logging.INFO)
    report = retention(store, T0 + timedelta(days=14, minutes=1)).run()
    assert (report.records, report.people) == (1, 2)
    after = bodies(store)
    assert json.loads(after[delivered])["persons"] == [{"erased": True}, {"erased": True}]
    for person in people:
        assert person.id_number not in after[delivered] and person.full_name not in after[delivered]
    assert after[pending] == before[pending] and after[quarantined] == before[quarantined]
    assert [tuple(r) for r in store.daily_counts()] == [("2021-08-20", "rt-pcr", "closed", 1, 2)]
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "1 delivered records (2 people)" in logged
    assert not any(p.id_number in logged or p.full_name in logged for p in people)

    assert retention(store, T0 + timedelta(days=40)).run().records == 0     # erased only once
    assert store.daily_counts()[0]["tubes"] == 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(days=st.floats(min_value=-1000, max_value=100000), retention_days=st.floats(0.001, 3650))
def test_pending_and_quarantined_are_never_erased_whatever_the_clock(tmp_path_factory, days,
                                                                     retention_days):
    store, _, pending, quarantined, _ = states(tmp_path_factory.mktemp("r"))
    before = bodies(store)
    retention(store, T0 + timedelta(days=days), retention_days).run()
    after = bodies(store)
    assert after[pending] == before[pending] and after[quarantined] == before[quarantined]
    held = {r[0] for r in store._db.execute("SELECT DISTINCT sample_id FROM sample_persons")}
    assert {pending, quarantined} <= held
    store.close()


def test_a_requeued_record_that_is_delivered_later_is_erased_after_delivery(tmp_path):
    store, _, _, quarantined, _ = states(tmp_path)
    late = T0 + timedelta(days=30)
    assert retention(store, late).run().records == 1          # only the delivered one
    store.requeue(quarantined)
    store.mark_delivered([quarantined], iso(late))
    assert retention(store, late).run().records == 1


def declare(store: Store, ident: str, created: datetime) -> None:
    """A portal declaration as the portal writes it (created_at in UTC, to the second)."""
    stamp = created.astimezone(timezone.utc).isoformat(timespec="seconds")
    store.add_declaration({"id": ident, "created_at": stamp, "declarer_relation": "self",
                           "declarer_name": None, "declarer_phone": None, "province_code": 87,
                           "ward_code": 30001, "street": "1 Đường A", "consent_at": stamp},
                          [(f"C-{ident}", {"full_name": "NGUYEN VAN AN"})])


def test_declarations_are_erased_after_the_portal_limit(tmp_path):
    store = Store(tmp_path / "device.db")
    declare(store, "old", T0)
    declare(store, "new", T0 + timedelta(days=2, hours=12))
    summary = store.personal_data_summary()
    assert summary["declarations"] == 2 and summary["oldest_declaration_at"].startswith("2021-08-20T02")
    report = retention(store, T0 + timedelta(days=3, hours=1)).run()
    assert report.declarations == 1
    assert store.declared_person("C-old") is None and store.declared_person("C-new") is not None


def test_declarations_of_this_young_boot_survive_a_clock_that_jumped_forward(tmp_path):
    """Off for weeks, the Pi boots on a stale time; people declare; NTP then corrects the clock."""
    store = Store(tmp_path / "device.db")
    declare(store, "stale", T0)                          # made minutes ago, stamped weeks back
    declare(store, "previous-boot", T0)
    store._db.execute("UPDATE declarations SET boot_id = 'an-earlier-boot' WHERE id LIKE '%previous-boot%'")
    later = T0 + timedelta(days=30)
    report = retention(store, later, uptime_s=600).run()
    assert report.declarations == 1
    assert store.declared_person("C-stale") is not None
    assert store.declared_person("C-previous-boot") is None
    assert retention(store, later, uptime_s=4 * 86400).run().declarations == 1   # boot now old enough


def test_runs_only_when_due(tmp_path):
    store, *_ = states(tmp_path)
    ticks = iter([0.0, 100.0, 4000.0])
    job = Retention(retention_config(check_interval_s=3600), store, lambda: T0 + timedelta(days=30),
                    monotonic=lambda: next(ticks))
    assert job.run_if_due().records == 1
    assert job.run_if_due() is None
    assert job.run_if_due().records == 0


def test_status_and_purge_commands_show_personal_data(tmp_path, capsys):
    path = tmp_path / "samplepoint.toml"
    path.write_text(f"[device]\ndata_dir = '{tmp_path / 'device'}'\n", encoding="utf-8")
    config = load(path)
    store = Store(config.db_path)
    rng = random.Random(5)
    sample_id, _ = make_tube(store, rng, datetime.now(VN) - timedelta(days=20), people=3)
    store.mark_delivered([sample_id], iso(datetime.now(VN)))
    assert main(["status", "--config", str(path), "--json"]) == 0
    personal = json.loads(capsys.readouterr().out)["personal_data"]
    assert personal["people"] == 3 and personal["records"] == 1 and personal["oldest_scanned_at"]
    assert main(["status", "--config", str(path)]) == 0
    text = capsys.readouterr().out
    assert "personal data held: 3 people in 1 records, since" in text
    assert "portal declarations held: 0" in text
    assert main(["purge", "--config", str(path)]) == 0
    assert json.loads(capsys.readouterr().out) == {"records": 1, "people": 3, "declarations": 0,
                                                   "slips": 0}
    assert store.personal_data_summary()["people"] == 0


def test_the_retention_run_prunes_slips_kept_for_reprint(tmp_path, caplog):
    """Unprinted slips hold names: the hourly run deletes those older than a day, counts only logged."""
    import os
    import time
    from dataclasses import replace

    from samplepoint import print_spool
    from samplepoint.config import DeviceConfig
    store, *_ = states(tmp_path)
    config = replace(retention_config(), device=DeviceConfig(data_dir=str(tmp_path)))
    folder = print_spool.kept_dir(tmp_path)
    folder.mkdir()
    (folder / "20261101T000000-aaaaaa.json").write_text('{"kind": "TubeReceipt"}')
    old = time.time() - 30 * 3600
    os.utime(folder / "20261101T000000-aaaaaa.json", (old, old))
    (folder / "fresh.json").write_text("{}")
    caplog.set_level("INFO")
    report = Retention(config, store, lambda: T0 + timedelta(days=1), uptime=lambda: 10**9).run()
    assert report.slips == 1 and [p.name for p in folder.iterdir()] == ["fresh.json"]
    assert "1 unprinted slips" in caplog.text
