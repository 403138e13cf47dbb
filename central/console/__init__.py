"""The web console of the central server (docs/central.md): sign-in with roles, the fleet, samples and
results, exports and the audit log, served by the same Flask app as the ingest API."""
from __future__ import annotations

import secrets

from flask import Flask, redirect, url_for
from flask_login import LoginManager

from central.console import auth
from central.console.sessions import ConsoleSessions, raise_unreadable


def init_console(app: Flask) -> None:
    """Configure sessions, sign-in and the console blueprint on the central app."""
    from central.console.views import blueprint

    db = app.extensions["central_db"]
    settings = app.extensions["central_settings"]
    app.config.update(
        SECRET_KEY=db.console_key("session", lambda: secrets.token_urlsafe(48)),
        SESSION_COOKIE_NAME="samplepoint_console",
        WTF_CSRF_TIME_LIMIT=int(settings.console_session_hours * 3600),
    )
    # Signed-in sessions live in the database, so they can be ended (central/console/sessions.py).
    app.session_interface = ConsoleSessions(db, settings, lambda: app.extensions["central_clock"]())
    app.before_request(raise_unreadable)
    manager = LoginManager(app)
    manager.login_view = "console.sign_in"
    manager.login_message = None

    @manager.user_loader
    def load_user(username: str):
        row = app.extensions["central_db"].user(username)
        return auth.User(row["username"], row["role"]) if row and not row["disabled"] else None

    app.register_blueprint(blueprint)

    @app.get("/")
    def root():
        return redirect(url_for("console.fleet"))

