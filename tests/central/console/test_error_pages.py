"""Error answers never raise: they need neither the database, the session nor a template, so a
body over the limit, a database outage or a fault is a small page (console) or JSON (API)."""
from __future__ import annotations

import logging
import os
import sqlite3

import pytest

from central import errors


def unreachable(self, *args, **kwargs):
    """What each engine raises when the database cannot be reached."""
    if getattr(self, "url", None):
        import psycopg
        raise psycopg.OperationalError("connection refused")
    exc = sqlite3.OperationalError("unable to open database file")
    exc.sqlite_errorcode = 14                   # SQLITE_CANTOPEN, as sqlite3 itself sets it
    raise exc


def test_an_oversized_sign_in_is_a_413_page_not_a_500(console):
    answer = console.client().post("/console/sign-in", data={"username": "a" * 9_000_000})
    assert answer.status_code == 413 and "quá lớn" in answer.get_data(as_text=True)
    english = console.client().post("/console/sign-in?lang=en", data={"username": "a" * 100_000})
    assert english.status_code == 413 and "too large" in english.get_data(as_text=True)


def test_a_signed_in_page_during_an_outage_is_a_503_page_with_retry_after(console, monkeypatch):
    client = console.client("admin")
    monkeypatch.setattr(type(console.db), "user", unreachable)     # the session's user loader
    answer = client.get("/console/")
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "30"
    assert "cơ sở dữ liệu" in answer.get_data(as_text=True)
    assert answer.headers["Cache-Control"] == "no-store"


def test_an_outage_is_logged_once_per_window_and_its_end_once(console, monkeypatch, caplog):
    client = console.client()
    monkeypatch.setattr(type(console.db), "device_for_token", unreachable)
    caplog.set_level(logging.INFO)
    for _ in range(50):
        answer = client.get("/api/v1/device", headers={"Authorization": "Bearer x"})
        assert answer.status_code == 503 and answer.get_json()["error"] == "service-unavailable"
    assert [r.getMessage()[:30] for r in caplog.records] == ["central database unreachable ("]
    assert not any(r.exc_info for r in caplog.records)
    monkeypatch.undo()
    console.app.extensions["central_outage"].probed_at = 0
    assert client.get("/healthz").status_code == 200
    assert "reachable again" in caplog.records[-1].getMessage()


def test_a_fault_is_a_500_and_a_logged_traceback_not_a_503(console, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise ValueError("a bug")
    monkeypatch.setattr(type(console.db), "device_for_token", broken)
    api = console.client().get("/api/v1/device", headers={"Authorization": "Bearer x"})
    assert api.status_code == 500 and api.get_json()["error"] == "internal-server-error"
    assert any(r.exc_info and "a bug" in str(r.exc_info[1]) for r in caplog.records)
    page = console.client().get("/console/nothing")
    assert page.status_code == 404 and "Không tìm thấy" in page.get_data(as_text=True)


@pytest.mark.sqlite_only
def test_a_real_sqlite_file_that_cannot_be_opened_is_an_outage(console, tmp_path):
    db = console.db
    db._local.conn.close()
    del db._local.conn                             # the next request opens a new connection
    os.rename(db.path, tmp_path / "away")
    os.mkdir(db.path)
    try:
        answer = console.app.test_client().get("/api/v1/device", headers={"Authorization": "Bearer x"})
        assert answer.status_code == 503
    finally:
        os.rmdir(db.path)
        os.rename(tmp_path / "away", db.path)
    assert console.app.test_client().get("/api/v1/device", headers={
        "Authorization": "Bearer x"}).status_code == 401


def test_the_console_page_survives_a_broken_catalog(monkeypatch):
    import central.console.i18n as i18n
    monkeypatch.setattr(i18n, "translator", lambda lang: 1 / 0)
    page = errors.console_page(503, "vi")
    assert "HTTP 503" in page and page.startswith("<!doctype html>")

