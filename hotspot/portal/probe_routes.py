"""The captive part of the portal: OS probe answers, foreign hosts sent to the portal, the RFC 8908
API, security headers on every answer, and "Done" (which closes the portal and, under policy
`open`, records the phone for the root admit loop to let out)."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from flask import Blueprint, Response, jsonify, request

from hotspot import firewall
from hotspot.portal import probes
from hotspot.portal.site import client, message, page, portal

log = logging.getLogger("hotspot.portal.app")
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")

bp = Blueprint("probes", __name__)


@bp.before_app_request
def captive():
    p = portal()
    if probes.is_probe(request.path):
        status, headers, body = probes.answer(request.path, p.done(client(), p.clock()), p.portal_url)
        return Response(body, status, headers=headers)
    host = request.host.lower()
    if host not in p.own_hosts and host.rsplit(":", 1)[0] not in LOOPBACK_HOSTS:
        return Response("", 302, headers={"Location": p.portal_url, "Cache-Control": "no-store"})
    return None


@bp.after_app_request
def headers(response):
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.post("/done")
def press_done():
    p = portal()
    now = p.clock()
    if not p.csrf.valid(request.form.get("csrf", ""), client(), now):
        return message("bad_form", 403)
    if p.config.hotspot.policy == "open":
        address = firewall.client_address(client())
        if address is None:          # not a phone of the AP network (IPv6, a proxy): nothing to let out
            log.warning("Done from a client without an IPv4 address; not admitted")
            return message("bad_form", 400)
        expires = datetime.fromtimestamp(now + p.done.ttl_s, timezone.utc)
        p.store.admit_client(address, expires.isoformat(timespec="seconds"))
    p.done.mark(client(), now)
    log.info("a client pressed Done")
    config = p.config.portal
    return page("done.html", android_url=config.android_app_url, iphone_url=config.iphone_app_url)


@bp.get("/api/captive")
def captive_api():     # RFC 8908: application/captive+json
    p = portal()
    https_name = p.config.hotspot.https_name
    body = {"captive": not p.done(client(), p.clock()),
            "user-portal-url": f"https://{https_name}/" if https_name else p.portal_url}
    response = jsonify(body)
    response.content_type = "application/captive+json"
    return response
