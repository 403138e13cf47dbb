"""Every error answer of the central server, none needing the database, the session or a template:
JSON for the API, a small page for the console, 413 for a body over its path's limit, and 503 with
Retry-After while the database cannot be reached (logged once per outage window, not per request)."""
from __future__ import annotations

import html
import json
import logging
import threading
import time

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException, InternalServerError

from samplepoint.bodylimits import KIB, MIB, BodyLimits
from samplepoint.config import CentralServerConfig

log = logging.getLogger(__name__)
FORM_BODY = 64 * KIB        # console forms, enrolment, heartbeats
RECORD_BODY = 8 * MIB       # a batch of records or of results (docs/protocol.md)
OUTAGE_WINDOW_S = 60.0
PROBE_EVERY_S = 1.0


def body_limits(settings: CentralServerConfig) -> BodyLimits:
    return BodyLimits(FORM_BODY, {
        "/api/v1/samples": RECORD_BODY, "/api/v1/samples/batch": RECORD_BODY,
        "/api/v1/results": RECORD_BODY, "/console/results": settings.results_upload_max_mib * MIB,
    }, answer=lambda path: too_large_answer(path, settings))


def is_console(path: str) -> bool:
    return path == "/" or path.startswith("/console")


def too_large_answer(path: str, settings: CentralServerConfig) -> tuple[str, bytes]:
    """The 413 of `path` (also sent by waitress, outside the app): console page or API JSON."""
    if is_console(path):
        return "text/html; charset=utf-8", console_page(413, settings.console_language).encode()
    return "application/json", json.dumps({"error": "request-entity-too-large",
                                           "message": "the body is over this path's limit"}).encode()


def console_page(code: int, lang: str) -> str:
    """A page that can always be made: the catalog's words, else the bare status."""
    try:
        from central.console.i18n import translator
        t = translator(lang)
        key = f"error.{code}" if code in (403, 404, 413, 429, 503) else "error.other"
        title, message, back = t("title"), t(key, code=code), t("back")
    except Exception:       # a missing or broken catalog must not turn one error into another
        title, message, back, lang = "samplepoint", f"HTTP {code}", "/console/", "en"
    return ("<!doctype html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<title>{title}</title><link rel=\"stylesheet\" href=\"/console/static/console.css\">"
            "</head><body><main><section class=\"card narrow\"><p class=\"problem\" role=\"alert\">"
            "{message}</p><p><a href=\"/console/\">{back}</a></p></section></main></body></html>\n"
            ).format(lang=html.escape(lang), title=html.escape(title), message=html.escape(message),
                     back=html.escape(back))


class OutageLog:
    """One line when the database stops answering, one per window while it stays away (with how
    many requests got 503), one when it answers again; each worker process keeps its own."""

    def __init__(self, window_s: float = OUTAGE_WINDOW_S, clock=time.monotonic):
        self.window_s, self.clock = window_s, clock
        self.lock = threading.Lock()
        self.since: float | None = None
        self.logged_at = self.probed_at = 0.0
        self.refused = self.refused_total = 0

    def refused_request(self, exc: BaseException) -> None:
        with self.lock:
            now = self.clock()
            self.refused, self.refused_total = self.refused + 1, self.refused_total + 1
            if self.since is None:
                self.since, self.logged_at, self.refused = now, now, 0
                log.error("central database unreachable (%s): answering 503 until it is back",
                          describe(exc))
            elif now - self.logged_at >= self.window_s:
                log.error("central database still unreachable: %d requests answered 503 in the "
                          "last %.0f s (%s)", self.refused, now - self.logged_at, describe(exc))
                self.logged_at, self.refused = now, 0

    def check_recovery(self, db) -> None:
        """During an outage, at most once a second: log and forget it once `db` answers again."""
        if self.since is None or self.clock() - self.probed_at < PROBE_EVERY_S:
            return
        with self.lock:
            self.probed_at = self.clock()
            try:
                db.ping()
            except Exception:
                return
            if self.since is not None:
                log.warning("central database reachable again after %.0f s; %d requests were "
                            "answered 503", self.clock() - self.since, self.refused_total)
            self.since, self.refused_total, self.refused = None, 0, 0


def describe(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    return f"{type(exc).__module__}.{type(exc).__name__}: {first}"


def install(app: Flask) -> None:
    """Register the central app's error handlers (after the console, whose paths get pages)."""
    outage = app.extensions["central_outage"] = OutageLog()
    settings: CentralServerConfig = app.extensions["central_settings"]
    flask_log_exception = app.log_exception

    def log_exception(exc_info) -> None:
        if not _is_outage(exc_info[1]):          # an outage is logged by OutageLog, once
            flask_log_exception(exc_info)
    app.log_exception = log_exception

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        original = getattr(exc, "original_exception", None)
        if isinstance(exc, InternalServerError) and _is_outage(original):
            return unavailable(original)        # raised where no handler of ours could see it
        response = answer(exc.code or 500, exc.name, exc.description or "")
        for name, value in exc.get_headers():          # Allow, Retry-After, WWW-Authenticate
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(RecursionError)
    def too_deep(exc: RecursionError):
        # Whatever slipped past the depth checks is the client's nesting, not a server fault.
        log.warning("request refused: %s nested too deeply", request.path)
        return _json(400, {"error": "invalid", "field": "(body)", "message": "nested too deeply"})

    @app.errorhandler(Exception)
    def database_error(exc: Exception):
        if _is_outage(exc):
            return unavailable(exc)
        raise exc                                # a fault: Flask logs it and answers 500

    def unavailable(exc: BaseException):
        outage.refused_request(exc)
        response = answer(503, "Service Unavailable", "the database cannot be reached; retry later")
        response.headers["Retry-After"] = str(settings.outage_retry_after_s)
        return response

    @app.after_request
    def recovered(response):
        if response.status_code < 500:
            outage.check_recovery(app.extensions["central_db"])
        return response


def answer(code: int, name: str, message: str) -> Response:
    if is_console(request.path):
        lang = request.args.get("lang") if request.args.get("lang") in ("vi", "en") else \
            current_app.extensions["central_settings"].console_language
        response = Response(console_page(code, lang), code, content_type="text/html; charset=utf-8")
        from central.console.views import headers
        return headers(response)
    return _json(code, {"error": name.lower().replace(" ", "-"), "message": message})


def _json(code: int, body: dict) -> Response:
    return Response(json.dumps(body), code, content_type="application/json")


def _is_outage(exc) -> bool:
    db = current_app.extensions.get("central_db")
    return exc is not None and db is not None and db.is_outage(exc)
