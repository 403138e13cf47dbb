"""Console fixtures: a central app with one account per role, and a test client that signs in."""
from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from central.app import create_app
from central.console.auth import hash_password
from central.db import CentralDB

PASSWORD = "mật-khẩu-đủ-dài-2021"
USERS = {"admin": "admin", "cdc": "viewer", "lab": "lab"}
PASSWORD_HASH = hash_password(PASSWORD)      # argon2 is slow on purpose: hash once per session


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


@dataclass
class Console:
    db: CentralDB
    app: object

    def client(self, username: str | None = None):
        client = self.app.test_client()
        if username:
            answer = sign_in(client, username, PASSWORD)
            assert answer.status_code == 302, answer.get_data(as_text=True)
        return client


def sign_in(client, username: str, password: str, **extra):
    token = csrf(client.get("/console/sign-in").get_data(as_text=True))
    return client.post("/console/sign-in", data={"username": username, "password": password,
                                                 "csrf_token": token}, **extra)


def form_token(client, path: str) -> str:
    return csrf(client.get(path).get_data(as_text=True))


@pytest.fixture
def console(tmp_path):
    db = CentralDB(tmp_path / "central.db")
    for username, role in USERS.items():
        db.add_user(username, PASSWORD_HASH, role)
    app = create_app(db)
    return Console(db, app)


# --- the console served by a real `central serve` ----------------------------------------------

@dataclass
class Served:
    """`samplepoint central serve` (PostgreSQL: with 3 worker processes) behind a trusted proxy at
    127.0.0.1, so `address` in sign_in() is the client address the server counts."""
    base: str
    db: CentralDB
    config: str

    def sign_in(self, browser, username: str, password: str, address: str = "192.0.2.1", **kw):
        # One connection per request: a test keeps its answers, and they would keep theirs open
        # up to the server's connection limit.
        headers = {"X-Forwarded-For": address, "Connection": "close", **kw.pop("headers", {})}
        page = browser.get(self.base + "/console/sign-in", headers=headers, timeout=90)
        return browser.post(self.base + "/console/sign-in", headers=headers, timeout=90,
                            allow_redirects=False, data={"username": username, "password": password,
                                                         "csrf_token": csrf(page.text)}, **kw)

    def page(self, browser, path: str = "/console/samples", **kw):
        return browser.get(self.base + path, allow_redirects=False, timeout=90, **kw)


@pytest.fixture
def served(tmp_path, central_backend):
    from tests.central.test_postgres import Workers
    db = CentralDB(tmp_path / "central.db")
    for username, role in USERS.items():
        db.add_user(username, PASSWORD_HASH, role)
    config = tmp_path / "central.toml"
    # Plain HTTP in the test: cookies without Secure (a proxy's https sets it, see the tests).
    config.write_text('[central_server]\ntrusted_proxy = "127.0.0.1"\n'
                      "console_secure_cookies = false\n", encoding="utf-8")
    server = Workers(str(db.path), 3 if central_backend == "postgresql" else 1,
                     "--config", str(config))
    try:
        yield Served(server.base, db, str(config))
    finally:
        server.stop()
