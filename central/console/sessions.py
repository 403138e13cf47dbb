"""Console sessions held in the central database: the cookie of a signed-in user carries only a
random session id (the database keeps its SHA-256), so a session can be ended at once, everywhere.

Before sign-in the cookie is Flask's signed one and holds only the language and the sign-in form's
CSRF token (an anonymous visitor costs the database nothing). Signing in starts a new session id
(no session fixation); signing out, a new password or role and disabling the account end every
session of the account (central/db_console.py). A session ends after `console_idle_minutes`
unused and after `console_session_hours` in all.
"""
from __future__ import annotations

import json
import re
import secrets

from flask import request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")        # secrets.token_urlsafe(32)
BEFORE_SIGN_IN = ("lang", "csrf_token")               # all a signed cookie may carry
TOUCH_MS = 60_000          # a session's last use is written at most once a minute


class ConsoleSession(SecureCookieSession):
    def __init__(self, initial=None, session_id: str | None = None, seen_ms: int = 0,
                 unreadable: BaseException | None = None):
        super().__init__(initial)
        self.session_id, self.seen_ms, self.renew = session_id, seen_ms, False
        # Why the session could not be read (the database is down): nothing is saved, and
        # raise_unreadable() lets the app's error handlers answer 503 (central/errors.py).
        self.unreadable = unreadable

    def regenerate(self) -> None:
        """Sign-in: whatever id the browser came with, the signed-in session gets a new one."""
        self.renew = True
        self.modified = True


class ConsoleSessions(SecureCookieSessionInterface):
    session_class = ConsoleSession

    def __init__(self, db, settings, clock):
        self.db, self.clock = db, clock
        self.idle_ms = int(settings.console_idle_minutes * 60_000)
        self.absolute_ms = int(settings.console_session_hours * 3_600_000)
        self.always_secure = settings.console_secure_cookies

    def _now_ms(self) -> int:
        return int(self.clock().timestamp() * 1000)

    def open_session(self, app, request):
        value = request.cookies.get(self.get_cookie_name(app), "")
        if SESSION_ID.fullmatch(value):
            now = self._now_ms()
            try:
                row = self.db.console_session(value, now - self.idle_ms, now - self.absolute_ms)
            except Exception as exc:
                # Raised here, Flask could neither answer through its handlers nor finish the
                # request (every after-request hook needs a session): hold it for the first hook.
                if not self.db.is_outage(exc):
                    raise
                return ConsoleSession(unreadable=exc)
            if row is None:                      # ended or expired: signed out
                return ConsoleSession()
            return ConsoleSession(json.loads(row["data"]), session_id=value, seen_ms=row["seen_ms"])
        signed = super().open_session(app, request) or {}
        # Never anything that would sign someone in: a cookie signed before sessions were kept in
        # the database still names its user, and must not be believed.
        return ConsoleSession({key: signed[key] for key in BEFORE_SIGN_IN if key in signed})

    def save_session(self, app, session, response) -> None:
        if session.unreadable is not None:
            return
        if session.accessed:
            response.vary.add("Cookie")
        if "_user_id" in session:
            self._save_signed_in(app, session, response)
            return
        if session.session_id:                   # signed out in this request
            self.db.end_console_session(session.session_id)
        kept = {key: session[key] for key in BEFORE_SIGN_IN if key in session}
        if not kept:
            if session.session_id or request.cookies.get(self.get_cookie_name(app)):
                self._delete(app, response)
            return
        if session.modified or session.session_id:
            value = self.get_signing_serializer(app).dumps(kept)
            self._set(app, response, value, self.absolute_ms // 1000)

    def _save_signed_in(self, app, session, response) -> None:
        now = self._now_ms()
        data = json.dumps(dict(session), separators=(",", ":"))
        if session.session_id is None or session.renew:
            session_id = secrets.token_urlsafe(32)
            self.db.open_console_session(session_id, str(session["_user_id"]), data, now,
                                         now - max(self.idle_ms, self.absolute_ms),
                                         replaces=session.session_id)
            self._set(app, response, session_id, self.absolute_ms // 1000)
        elif session.modified:
            self.db.save_console_session(session.session_id, data, now)
        elif now - session.seen_ms >= min(TOUCH_MS, self.idle_ms // 10):
            self.db.save_console_session(session.session_id, None, now)

    def _set(self, app, response, value: str, max_age: int) -> None:
        response.set_cookie(
            self.get_cookie_name(app), value, max_age=max_age, path=self.get_cookie_path(app),
            httponly=True, samesite="Lax", secure=self.always_secure or request.is_secure)

    def _delete(self, app, response) -> None:
        response.delete_cookie(self.get_cookie_name(app), path=self.get_cookie_path(app),
                               httponly=True, samesite="Lax",
                               secure=self.always_secure or request.is_secure)


def raise_unreadable() -> None:
    """First before-request hook: a session the database could not read fails the request here,
    where the error handlers answer it."""
    from flask import session
    unreadable = getattr(session, "unreadable", None)
    if unreadable is not None:
        raise unreadable
