"""Console sessions held by the central server: a copied cookie stops working after sign-out, a
password or role reset and disabling the account; the cookie carries only a random id (stored
hashed); a new id at sign-in; the CSRF token belongs to its session; idle and absolute lifetimes.
Through a real `central serve` (PostgreSQL: 3 worker processes), on SQLite and PostgreSQL."""
from __future__ import annotations

import hashlib
import io
import re
from datetime import datetime, timedelta, timezone

import requests

from samplepoint.cli import main
from tests.central.console.conftest import PASSWORD, csrf, sign_in

COOKIE = "samplepoint_console"
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")          # 256 random bits, nothing else


def signed_in(served, username: str = "admin") -> requests.Session:
    browser = requests.Session()
    answer = served.sign_in(browser, username, PASSWORD)
    assert answer.status_code == 302, answer.text[:300]
    assert served.page(browser).status_code == 200
    return browser


def copy_of(browser: requests.Session) -> requests.Session:
    """Another machine holding the same cookie (copied from a shared PC, a proxy log...)."""
    thief = requests.Session()
    thief.cookies.set(COOKIE, browser.cookies[COOKIE], domain="127.0.0.1", path="/")
    return thief


def sent_to_sign_in(served, browser) -> bool:
    answer = served.page(browser)
    return answer.status_code == 302 and "/console/sign-in" in answer.headers["Location"]


def test_a_copied_cookie_stops_working_when_its_owner_signs_out(served):
    owner = signed_in(served)
    elsewhere = signed_in(served)                         # the same account on another PC
    thief = copy_of(owner)
    assert served.page(thief).status_code == 200
    token = csrf(served.page(owner).text)
    assert owner.post(served.base + "/console/sign-out", data={"csrf_token": token},
                      timeout=90).status_code == 200
    assert sent_to_sign_in(served, thief) and sent_to_sign_in(served, owner)
    assert sent_to_sign_in(served, elsewhere)             # sign-out ends every session
    assert [e["action"] for e in served.db.audit_log()][0] == "sign-out"


def test_a_new_password_or_role_ends_every_session_of_the_account(served, monkeypatch):
    thief, other = copy_of(signed_in(served, "cdc")), signed_in(served, "lab")
    monkeypatch.setattr("sys.stdin", io.StringIO("another long password\n"))
    assert main(["central", "add-user", "--db", str(served.db.path), "--username", "cdc",
                 "--role", "lab", "--password-stdin", "--reset"]) == 0
    assert sent_to_sign_in(served, thief)
    assert served.page(other).status_code == 200          # other accounts keep theirs
    assert served.sign_in(requests.Session(), "cdc", "another long password").status_code == 302
    assert ("-", "reset-user") in [(e["username"], e["action"]) for e in served.db.audit_log()]


def test_a_disabled_account_is_signed_out_everywhere_and_cannot_sign_in(served, capsys):
    thief = copy_of(signed_in(served, "cdc"))
    assert main(["central", "disable-user", "--db", str(served.db.path), "cdc"]) == 0
    assert sent_to_sign_in(served, thief)
    refused = served.sign_in(requests.Session(), "cdc", PASSWORD)
    assert refused.status_code == 401 and "Sai tên đăng nhập" in refused.text
    assert served.db.user("cdc")["disabled"]
    assert main(["central", "enable-user", "--db", str(served.db.path), "--username", "cdc"]) == 0
    assert served.sign_in(requests.Session(), "cdc", PASSWORD).status_code == 302
    assert main(["central", "disable-user", "--db", str(served.db.path), "nobody"]) == 2
    assert "no console account nobody" in capsys.readouterr().err
    actions = [(e["action"], e["detail"]) for e in served.db.audit_log()]
    assert ("disable-user", "cdc") in actions and ("enable-user", "cdc") in actions


def test_the_cookie_is_a_random_id_the_database_keeps_only_hashed(served):
    browser = requests.Session()
    answer = served.sign_in(browser, "admin", PASSWORD)
    value = browser.cookies[COOKIE]
    assert SESSION_ID.fullmatch(value)
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    stored = [tuple(r) for r in served.db.db.execute(
        "SELECT id_hash, username FROM console_sessions")]
    assert stored == [(hashlib.sha256(value.encode()).hexdigest(), "admin")]
    assert value not in str(stored)
    # Behind a TLS proxy the cookie is Secure even where console_secure_cookies is off.
    over_tls = served.sign_in(requests.Session(), "admin", PASSWORD,
                              headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in over_tls.headers["Set-Cookie"]


def test_signing_in_gives_a_new_session_id(served):
    # Session fixation: an id planted in the victim's browser (the attacker's own session, or a
    # made-up one) is never the id the victim's signed-in session gets.
    attacker = signed_in(served, "lab")
    planted = attacker.cookies[COOKIE]
    victim = requests.Session()
    victim.cookies.set(COOKIE, planted, domain="127.0.0.1", path="/")
    assert served.sign_in(victim, "admin", PASSWORD).status_code == 302
    assert victim.cookies[COOKIE] != planted
    assert sent_to_sign_in(served, attacker)              # the id it replaced is ended, not admin
    made_up = requests.Session()
    made_up.cookies.set(COOKIE, "A" * 43, domain="127.0.0.1", path="/")
    assert served.sign_in(made_up, "admin", PASSWORD).status_code == 302
    assert made_up.cookies[COOKIE] != "A" * 43


def test_a_csrf_token_works_only_in_its_own_session(served):
    first, second = signed_in(served), signed_in(served, "cdc")
    stolen = csrf(served.page(first).text)
    second.post(served.base + "/console/sign-out", data={"csrf_token": stolen}, timeout=90)
    assert served.page(second).status_code == 200          # not signed out by a foreign token
    anonymous = requests.Session()
    answer = anonymous.post(served.base + "/console/sign-in", timeout=20, allow_redirects=False,
                            data={"username": "admin", "password": PASSWORD, "csrf_token": stolen})
    assert answer.status_code == 401


def test_a_cookie_signed_with_the_console_key_signs_nobody_in(console):
    """Before sessions were kept in the database the signed cookie named its user: such a cookie
    (an old one, or one made with a leaked key) is no session now."""
    app = console.app
    forged = app.session_interface.get_signing_serializer(app).dumps(
        {"_user_id": "admin", "_fresh": True, "lang": "en"})
    client = app.test_client()
    client.set_cookie(COOKIE, forged)
    answer = client.get("/console/")
    assert answer.status_code == 302 and "/console/sign-in" in answer.headers["Location"]
    assert 'lang="en"' in client.get("/console/sign-in").get_data(as_text=True)  # language kept


def test_a_session_ends_when_idle_and_after_its_absolute_lifetime(console):
    now = [datetime(2021, 8, 20, 8, 0, tzinfo=timezone.utc)]
    console.app.extensions["central_clock"] = lambda: now[0]
    client = console.client("cdc")

    def later(**delta) -> int:
        now[0] += timedelta(**delta)
        return client.get("/console/").status_code
    # Used every 25 minutes (under the 30-minute idle limit): it lives, until 8 hours in all.
    assert [later(minutes=25) for _ in range(19)] == [200] * 19         # 7 h 55 min
    assert later(minutes=6) == 302                                      # past 8 hours
    assert sign_in(client, "cdc", PASSWORD).status_code == 302
    assert later(minutes=29) == 200 and later(minutes=31) == 302        # idle too long


def test_sign_out_keeps_the_language_and_leaves_no_session_behind(console):
    client = console.client("admin")
    client.get("/console/?lang=en")
    token = csrf(client.get("/console/").get_data(as_text=True))
    client.post("/console/sign-out", data={"csrf_token": token})
    assert console.db.db.execute("SELECT COUNT(*) FROM console_sessions").fetchone()[0] == 0
    assert 'lang="en"' in client.get("/console/sign-in").get_data(as_text=True)
    assert re.search("Sign in", client.get("/console/sign-in").get_data(as_text=True))
