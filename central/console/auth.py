"""Console accounts: argon2 password hashes, roles, and the sign-in rate limit."""
from __future__ import annotations

from functools import wraps

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import abort
from flask_login import UserMixin, current_user

MIN_PASSWORD = 10
_hasher = PasswordHasher()
# What each role may do; views name the permission they need, never a role.
PERMISSIONS = {
    "admin": {"fleet", "samples", "persons", "results", "export", "audit"},
    "viewer": {"fleet", "samples", "persons", "export"},       # the provincial CDC
    "lab": {"samples", "results"},
}


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_problem(password: str) -> str | None:
    """Why a new password is refused (None: fine), worded for the administrator."""
    if len(password) < MIN_PASSWORD:
        return f"the password must have at least {MIN_PASSWORD} characters"
    if len(password) > 1024:
        return "the password is longer than 1024 characters"
    return None


def check_password(stored_hash: str, password: str) -> tuple[bool, str | None]:
    """(matches, a new hash when the stored one uses outdated parameters)."""
    try:
        _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False, None
    return True, hash_password(password) if _hasher.check_needs_rehash(stored_hash) else None


# A hash to verify against when the account does not exist: the answer then takes as long as for a
# wrong password, so timing does not tell which usernames exist.
DUMMY_HASH = hash_password("not-a-password-anyone-uses")


class User(UserMixin):
    def __init__(self, username: str, role: str):
        self.id = username
        self.role = role

    def may(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, ())


def requires(permission: str):
    """View decorator: signed in (else the sign-in page) and allowed `permission` (else 403)."""
    def decorate(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            if not current_user.is_authenticated:
                from flask import current_app
                return current_app.login_manager.unauthorized()
            if not current_user.may(permission):
                abort(403)
            return view(*args, **kwargs)
        return guarded
    return decorate
