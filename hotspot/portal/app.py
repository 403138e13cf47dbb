"""The captive portal's Flask app factory: probe answers, pages, the declaration form and RFC 8908 API."""
from __future__ import annotations

import hmac
import logging
import re
import time
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

from flask import Flask, Response, abort, jsonify, render_template, request

from hotspot.portal import declaration as checks
from hotspot.portal import divisions, i18n, probes
from hotspot.portal.codes import issue_codes, link_token, qr_svg
from hotspot.portal.guards import Csrf, DoneClients, RateLimit
from samplepoint.config import Config
from samplepoint import signed_codes
from samplepoint.durable import write_atomic
from samplepoint.store import Store

log = logging.getLogger(__name__)
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
INLINE_QR = 3          # QR codes shown on the result page itself; more would pass 30 KB
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def create_app(config: Config, store: Store | None = None, admit=None, clock=time.time) -> Flask:
    """The portal for this config. `admit(ip)` lets a phone out after "Done" (policy open)."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    store = store or Store(config.db_path)
    key = _code_key(config.scan.code_key_file)
    ap_ip = config.hotspot.address.split("/")[0]
    portal_url = f"http://{ap_ip}/"
    own_hosts = {ap_ip, f"{ap_ip}:{config.hotspot.portal_port}", config.hotspot.https_name}
    csrf, done = Csrf(key), DoneClients()
    limit = RateLimit(config.portal.declare_limit_per_hour)
    store.purge_declarations(_utc(clock() - config.portal.retention_days * 86400))

    def client() -> str:
        return request.remote_addr or "?"

    def page(template, status=200, **values):
        lang = i18n.pick(request.values.get("lang"))
        other = "en" if lang == "vi" else "vi"

        def u(path, **params):
            return path + "?" + urlencode({**params, "lang": lang})
        query = {k: v for k, v in request.args.items() if k != "lang"}
        html = render_template(template, lang=lang, other=other, t=i18n.translator(lang), u=u,
                               switch_url=request.path + "?" + urlencode({**query, "lang": other}),
                               csrf=csrf.token(client(), clock()),
                               retention_days=config.portal.retention_days, **values)
        return Response(html, status, content_type="text/html; charset=utf-8")

    @app.before_request
    def captive():
        if probes.is_probe(request.path):
            status, headers, body = probes.answer(request.path, done(client(), clock()), portal_url)
            return Response(body, status, headers=headers)
        host = request.host.lower()
        if host not in own_hosts and host.rsplit(":", 1)[0] not in LOOPBACK_HOSTS:
            return Response("", 302, headers={"Location": portal_url, "Cache-Control": "no-store"})
        return None

    @app.after_request
    def headers(response):
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.get("/")
    def index():
        return page("index.html")

    @app.get("/install")
    def install():
        return page("install.html", android_url=config.portal.android_app_url,
                    iphone_url=config.portal.iphone_app_url)

    @app.get("/howto")
    def howto():
        return page("howto.html")

    @app.get("/privacy")
    def privacy():
        return page("privacy.html")

    @app.post("/done")
    def press_done():
        if not csrf.valid(request.form.get("csrf", ""), client(), clock()):
            return _message(page, "bad_form", 403)
        done.mark(client(), clock())
        if admit:
            admit(client())
        log.info("a client pressed Done")
        return page("message.html", heading=i18n.translator(i18n.pick(request.values.get("lang")))(
            "done_title"), text=i18n.translator(i18n.pick(request.values.get("lang")))("done_text"))

    @app.get("/api/captive")
    def captive_api():     # RFC 8908: application/captive+json
        body = {"captive": not done(client(), clock()),
                "user-portal-url": (f"https://{config.hotspot.https_name}/"
                                    if config.hotspot.https_name else portal_url)}
        response = jsonify(body)
        response.content_type = "application/captive+json"
        return response

    @app.get("/declare")
    def declare_start():
        return page("declare_start.html", provinces=divisions.provinces(),
                    max_household=config.portal.max_household, relations=checks.RELATIONS)

    @app.route("/declare/form", methods=["GET", "POST"])
    def declare_form():
        return _declare(config, store, key, page, csrf, limit, client, clock)

    @app.get("/declare/code/<short_code>")
    def declared_code(short_code):
        """One person's QR again (from the result page's link; the token makes it unguessable)."""
        token = request.args.get("t", "")
        if len(short_code) != 9 or not hmac.compare_digest(link_token(key, short_code), token):
            abort(404)
        person = store.declared_person(short_code)
        if person is None or "code" not in person:
            abort(404)
        return page("declare_code.html", person={
            "name": person["full_name"], "short_code": short_code, "svg": qr_svg(person["code"])})

    @app.errorhandler(404)
    def not_found(_):
        return _message(page, "not_found", 404)

    @app.errorhandler(413)
    def too_large(_):       # the body is not read again: no page() here
        return Response(i18n.translator("vi")("bad_form"), 413, content_type="text/plain; charset=utf-8")

    return app


def _code_key(path: str) -> bytes:
    """The site key shared with the kiosk; a new one is written (0600) when none exists yet."""
    try:
        return signed_codes.load_key(path)
    except FileNotFoundError:
        write_atomic(path, signed_codes.new_key() + "\n", mode=0o600)
        log.warning("no code key at %s: wrote a new one; copy it to every device of the site", path)
        return signed_codes.load_key(path)


def _utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")


def _message(page, key: str, status: int):
    t = i18n.translator(i18n.pick(request.values.get("lang")))
    return page("message.html", status, heading=t(key), text="")


def _echo(form) -> dict[str, str]:
    """Values to put back into the form after an error: no control characters, bounded length."""
    return {k: checks._CONTROL.sub("", v)[:checks.MAX_FIELD] for k, v in form.items()}


def _form_shape(values, max_household):
    """(province, people, relation) from the step-1 choices, or None when tampered with."""
    province, people = values.get("province", ""), values.get("people", "")
    if not re.fullmatch(r"[0-9]{1,3}", province) or not re.fullmatch(r"[0-9]{1,2}", people):
        return None
    province, people = int(province), int(people)
    relation = values.get("relation", "self")
    if province not in divisions.provinces() or not 1 <= people <= max_household \
            or relation not in checks.RELATIONS:
        return None
    return province, people, relation


def _declare(config, store, key, page, csrf, limit, client, clock):
    shape = _form_shape(request.values, config.portal.max_household)
    if shape is None:
        abort(404)
    province, people, relation = shape

    def form_page(form, errors, status=200):
        return page("declare_form.html", status, form=form, errors=errors, province=province,
                    people=people, relation=relation, province_name=divisions.provinces()[province],
                    wards=divisions.wards(province), genders=checks.GENDERS, id_kinds=checks.ID_KINDS)

    if request.method == "GET":
        return form_page({}, {})
    if not limit.allow(client(), clock()):
        log.warning("declaration rate limit reached for a client")
        return _message(page, "too_many", 429)
    if not csrf.valid(request.form.get("csrf", ""), client(), clock()):
        return _message(page, "bad_form", 403)
    now = clock()
    today = (datetime.fromtimestamp(now, timezone.utc) + timedelta(hours=7)).date()
    checked = checks.check_form(request.form, people=people, province=province,
                                relation=relation, today=today)
    if checked.errors:
        return form_page(_echo(request.form), checked.errors, 400)
    declaration = {**checked.declaration, "id": str(uuid.uuid4()), "created_at": _utc(now),
                   "consent_at": _utc(now)}
    issued = issue_codes(store, key, checked.persons, relation)
    store.add_declaration(declaration, [(c.short_code, {**p, "code": c.code})
                                        for c, p in zip(issued, checked.persons)])
    log.info("declaration %s saved with %d person(s)", declaration["id"], len(issued))
    return page("declare_done.html", persons=issued, inline=INLINE_QR)
