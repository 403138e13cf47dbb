"""Console sign-in: argon2 hashes, hardened session cookie, CSRF on the form, a rate limit, the audit
log, `samplepoint central add-user`, and no open redirect."""
from __future__ import annotations

import io

from central.console import auth
from samplepoint.cli import main
from tests.central.console.conftest import PASSWORD, csrf, sign_in


def test_the_console_needs_signing_in_and_starts_in_vietnamese(console):
    client = console.client()
    assert client.get("/").headers["Location"].endswith("/console/")
    answer = client.get("/console/")
    assert answer.status_code == 302 and "/console/sign-in" in answer.headers["Location"]
    page = client.get("/console/sign-in").get_data(as_text=True)
    assert "Đăng nhập" in page and 'lang="vi"' in page
    english = client.get("/console/sign-in?lang=en").get_data(as_text=True)
    assert "Sign in" in english and 'lang="en"' in english
    assert 'lang="en"' in client.get("/console/sign-in").get_data(as_text=True)   # remembered


def test_sign_in_sets_a_secure_httponly_samesite_cookie_and_is_audited(console):
    client = console.client()
    answer = sign_in(client, "cdc", PASSWORD)
    assert answer.status_code == 302
    cookie = answer.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/console/").status_code == 200
    (entry,) = [e for e in console.db.audit_log() if e["action"] == "sign-in"]
    assert entry["username"] == "cdc"


def test_passwords_are_stored_as_argon2_hashes(console):
    stored = console.db.user("admin")["password_hash"]
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert auth.check_password(stored, PASSWORD)[0] and not auth.check_password(stored, "x")[0]


def test_wrong_password_and_unknown_user_get_the_same_answer(console):
    client = console.client()
    wrong = sign_in(client, "admin", "not the password")
    unknown = sign_in(client, "nobody", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Sai tên đăng nhập hoặc mật khẩu" in wrong.get_data(as_text=True)
    assert [e["action"] for e in console.db.audit_log()][:2] == ["sign-in-refused"] * 2


def test_a_form_without_its_csrf_token_is_refused(console):
    client = console.client()
    client.get("/console/sign-in")
    answer = client.post("/console/sign-in", data={"username": "admin", "password": PASSWORD})
    assert answer.status_code == 401
    assert client.get("/console/").status_code == 302          # still signed out


def test_sign_in_attempts_are_rate_limited(console):
    client = console.client()
    answers = [sign_in(client, "admin", "wrong password").status_code for _ in range(10)]
    assert answers == [401] * 10
    limited = sign_in(client, "admin", PASSWORD)
    assert limited.status_code == 429 and "phút" in limited.get_data(as_text=True)
    assert client.get("/console/").status_code == 302


def test_sign_in_only_redirects_within_the_console(console):
    client = console.client()
    token = csrf(client.get("/console/sign-in").get_data(as_text=True))
    answer = client.post("/console/sign-in?next=//evil.example/x", data={
        "username": "admin", "password": PASSWORD, "csrf_token": token})
    assert answer.headers["Location"] == "/console/"


def test_sign_out_needs_the_form_token(console):
    client = console.client("admin")
    assert client.post("/console/sign-out").status_code == 302
    assert client.get("/console/").status_code == 200         # a forged sign-out did nothing
    token = csrf(client.get("/console/").get_data(as_text=True))
    client.post("/console/sign-out", data={"csrf_token": token})
    assert client.get("/console/").status_code == 302


def test_add_user_command_hashes_the_password_and_refuses_duplicates(tmp_path, monkeypatch, capsys):
    db = str(tmp_path / "c.db")
    assert main(["central", "init", "--db", db]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["central", "add-user", "--db", db, "--username", "cdc-1", "--role", "viewer",
                 "--password-stdin"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["central", "add-user", "--db", db, "--username", "cdc-1", "--role", "viewer",
                 "--password-stdin"]) == 2
    assert "--reset" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["central", "add-user", "--db", db, "--username", "x", "--role", "lab",
                 "--password-stdin"]) == 2
    from central.db import CentralDB
    row = CentralDB(db).user("cdc-1")
    assert row["role"] == "viewer" and row["password_hash"].startswith("$argon2")
