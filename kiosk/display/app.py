"""The staff display web app (Flask app factory): the page, its live event stream, the preview and the buttons.

Served on loopback only. Every request is checked again here (peer address and Host header), so
neither a misconfigured proxy nor DNS rebinding from a browser on the hotspot can reach it, and a
button press must carry a header that cross-site pages cannot send without asking first.
"""
from __future__ import annotations

import ipaddress
import json
import logging
import time

from flask import Flask, Response, abort, jsonify, render_template, request

from kiosk.display import actions, i18n
from kiosk.display.preview import BOUNDARY
from samplepoint.bodylimits import KIB, BodyLimits, limit_bodies

log = logging.getLogger(__name__)
BUTTON_HEADER = "X-Samplepoint-Display"
KEEPALIVE_S = 15.0
STREAM_MAX_S = 300.0        # the page reconnects by itself; bounded streams free server threads


def too_large_answer(path: str) -> tuple[str, bytes]:
    return "application/json", json.dumps({"ok": False, "error": "too-large"}).encode()


# A button press is a few bytes of JSON; nothing else takes a body.
BODY_LIMITS = BodyLimits(4 * KIB, answer=too_large_answer)


def _is_loopback(address: str | None) -> bool:
    try:
        return ipaddress.ip_address((address or "").split("%")[0]).is_loopback
    except ValueError:
        return False


def _host_allowed(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name.strip("[]") in ("localhost", "127.0.0.1", "::1") or _is_loopback(name.strip("[]"))


def create_app(hub, language: str = "vi") -> Flask:
    """The display app around a DisplayHub; `language` is shown first unless the page asks otherwise."""
    app = Flask(__name__)
    app.config["JSON_AS_ASCII"] = False
    limit_bodies(app, BODY_LIMITS)

    @app.errorhandler(413)
    def too_large(_):
        content_type, body = too_large_answer(request.path)
        return Response(body, 413, content_type=content_type)

    @app.before_request
    def loopback_only():
        if not _is_loopback(request.remote_addr) or not _host_allowed(request.host):
            log.warning("display: refused a request from a non-loopback address or host")
            abort(403)

    @app.after_request
    def headers(response):
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @app.get("/")
    def page():
        lang = i18n.pick(request.args.get("lang") or request.cookies.get("lang"), language)
        translations = i18n.translations(lang)
        response = Response(render_template(
            "index.html", _=translations.gettext, lang=lang, other="en" if lang == "vi" else "vi",
            catalog=i18n.script_catalog(lang), cancel_reasons=actions.CANCEL_REASONS,
            kiosk=request.args.get("kiosk") == "1"))
        if request.args.get("lang") == lang:
            response.set_cookie("lang", lang, max_age=365 * 86400, samesite="Strict")
        return response

    _add_live_routes(app, hub)
    _add_buttons(app, hub)
    return app


def _add_live_routes(app: Flask, hub) -> None:
    @app.get("/state")
    def state():
        return jsonify(hub.snapshot()[1])

    @app.get("/events")
    def events():
        return Response(_event_stream(hub), mimetype="text/event-stream",
                        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @app.get("/preview.mjpg")
    def preview():
        if hub.preview is None:
            abort(404)
        return Response(hub.preview.stream(),
                        mimetype=f"multipart/x-mixed-replace; boundary={BOUNDARY.decode()}",
                        headers={"Cache-Control": "no-store"})

    @app.get("/preview.jpg")
    def preview_still():
        if hub.preview is None:
            abort(404)
        return Response(hub.preview.jpeg()[1], mimetype="image/jpeg",
                        headers={"Cache-Control": "no-store"})


def _add_buttons(app: Flask, hub) -> None:
    @app.post("/action/<button>")
    def press(button):
        if request.headers.get(BUTTON_HEADER) != "1":
            abort(403)
        body = request.get_json(silent=True)
        reason = body.get("reason") if isinstance(body, dict) else None
        on = body.get("on") if isinstance(body, dict) else None
        try:
            hub.press(button, reason if isinstance(reason, str) else None,
                      on if isinstance(on, bool) else None)
        except actions.ActionUnavailable:
            return jsonify(ok=False, error="unavailable"), 501
        except actions.ActionError as exc:
            return jsonify(ok=False, error=str(exc)), 400
        return jsonify(ok=True)


def _event_stream(hub):
    """Server-sent events: the current snapshot at once, then each new one; comments keep it alive."""
    yield "retry: 1000\n\n"
    version, snapshot = hub.snapshot()
    yield _sse(version, snapshot)
    deadline = time.monotonic() + STREAM_MAX_S
    while not hub.stopped and time.monotonic() < deadline:
        newer, snapshot = hub.wait(version, KEEPALIVE_S)
        if newer != version:
            version = newer
            yield _sse(version, snapshot)
        else:
            yield ": keepalive\n\n"


def _sse(version: int, snapshot: dict) -> str:
    return f"id: {version}\ndata: {json.dumps(snapshot, ensure_ascii=False)}\n\n"
