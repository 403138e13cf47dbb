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
