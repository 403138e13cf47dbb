"""Backups restore into a working central server, as docs/central.md says: `central backup` of a
SQLite database while it serves, and pg_dump / pg_restore for PostgreSQL. After a restore the
devices' tokens still work, a resent record is a duplicate, and console accounts still sign in."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import requests

from central.app import create_app
from central.db import CentralDB
from central.db_postgres import PostgresCentralDB
from samplepoint import wire
from samplepoint.cli import main
from samplepoint.httpserver import BackgroundServer
from tests.central.console.conftest import PASSWORD, PASSWORD_HASH, sign_in
from tests.samplepoint.test_wire import record


def fill(db) -> tuple[str, list[dict]]:
    token = db.add_device("DEV-1", "SITE-1", site_name="Trạm 1")
    db.add_user("cdc", PASSWORD_HASH, "viewer")
    bodies = []
    for _ in range(5):
        body = record()
        body.update(device_id="DEV-1", site_id="SITE-1", record_id=wire.new_record_id())
        bodies.append(body)
    return token, bodies


def post_all(url: str, token: str, bodies: list[dict]) -> list[str]:
    answer = requests.post(url + "/api/v1/samples/batch", json={"records": bodies}, timeout=10,
                           headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    return [r["status"] for r in answer.json()["results"]]


def check_restored(db, token: str, bodies: list[dict]) -> None:
    app = create_app(db)
    with BackgroundServer(app) as server:
        assert post_all(server.url, token, bodies) == ["duplicate"] * len(bodies)
    assert sorted(db.record_ids()) == sorted(b["record_id"] for b in bodies)
    assert db.site_names() == {"SITE-1": "Trạm 1"}
    assert sign_in(app.test_client(), "cdc", PASSWORD).status_code == 302


@pytest.mark.sqlite_only
def test_sqlite_backup_while_serving_restores(tmp_path, capsys):
    db = CentralDB(tmp_path / "central.db")
    token, bodies = fill(db)
    with BackgroundServer(create_app(db)) as server:
        assert post_all(server.url, token, bodies[:3]) == ["created"] * 3
        backup = tmp_path / "backups" / "central-2021-08-20.db"
        backup.parent.mkdir()
        assert main(["central", "backup", "--db", str(db.path), str(backup)]) == 0
        assert json.loads(capsys.readouterr().out)["samples"] == 3
        assert post_all(server.url, token, bodies[3:]) == ["created"] * 2    # after the backup
    assert oct(backup.stat().st_mode & 0o777) == "0o600"
    assert main(["central", "backup", "--db", str(db.path), str(backup)]) == 2   # never overwrites

    # Restore: the server is stopped, the backup copied in place of the lost database.
    restored = tmp_path / "restored" / "central.db"
    restored.parent.mkdir()
    shutil.copy2(backup, restored)
    check_restored(CentralDB(restored), token, bodies[:3])
    # The two records sent after the backup arrive again from the devices, once each.
    with BackgroundServer(create_app(CentralDB(restored))) as server:
        assert post_all(server.url, token, bodies) == ["duplicate"] * 3 + ["created"] * 2


@pytest.mark.postgresql_only
def test_postgresql_dump_restores_into_a_new_database(pg_cluster, tmp_path):
    source_url = pg_cluster.database()
    db = PostgresCentralDB(source_url)
    token, bodies = fill(db)
    with BackgroundServer(create_app(db)) as server:
        assert post_all(server.url, token, bodies) == ["created"] * 5
    db.close()
    dump = tmp_path / "central.pgdump"
    subprocess.run([str(pg_cluster.bin / "pg_dump"), "--format=custom", "--no-owner",
                    f"--file={dump}", source_url], check=True, timeout=120)
    pg_cluster.admin("CREATE DATABASE sp_restored")
    try:
        target = pg_cluster.url("sp_restored")
        subprocess.run([str(pg_cluster.bin / "pg_restore"), "--no-owner", "--exit-on-error",
                        f"--dbname={target}", str(dump)], check=True, timeout=120)
        restored = PostgresCentralDB(target)
        check_restored(restored, token, bodies)
        restored.close()
    finally:
        pg_cluster.drop(pg_cluster.url("sp_restored"))
        pg_cluster.drop(source_url)
