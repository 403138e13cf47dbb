"""Volunteer sessions on the portal: a volunteer signs in with the site's volunteer PIN, may print a
declaration slip for a citizen without a phone, and is not held to the per-phone declaration limit.

The session is a cookie "ID.EXPIRY.MAC" (HMAC with the site key, bound to the phone's address and
checked against the configured volunteer entries on every request, so removing an entry ends it).
Printing drops a request in the print spool; the kiosk owns the printer (samplepoint.print_spool).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from datetime import datetime, timedelta, timezone
from functools import lru_cache

from flask import Blueprint, abort, current_app, make_response, redirect, request

from hotspot.portal.codes import link_token
from hotspot.portal.guards import RateLimit
from hotspot.portal.i18n import pick, translator
from hotspot.portal.site import client, message, page, portal
from samplepoint import print_spool
from samplepoint.pins import REISSUE, check_pin, needs_reissue, parse_pin_entries

log = logging.getLogger("hotspot.portal.volunteer")
COOKIE = "sp_volunteer"
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
ATTEMPTS = "samplepoint_volunteer_attempts"

bp = Blueprint("volunteer", __name__)


@lru_cache(maxsize=8)
def _pins(entries: tuple[str, ...]) -> dict:
    return parse_pin_entries(list(entries))


def _mac(key: bytes, volunteer: str, expiry: int, address: str) -> str:
    inner = hashlib.sha256(b"samplepoint-volunteer\0" + key).digest()
    digest = hmac.new(inner, f"{volunteer}|{expiry}|{address}".encode(), hashlib.sha256).digest()[:18]
    return base64.urlsafe_b64encode(digest).decode()


def session_token(key: bytes, volunteer: str, address: str, now: float, hours: float) -> str:
    expiry = int(now + hours * 3600)
    return f"{volunteer}.{expiry}.{_mac(key, volunteer, expiry, address)}"


def volunteer_of(token: str, key: bytes, address: str, now: float, known) -> str | None:
    """The volunteer a session token belongs to, or None (forged, expired, other phone, revoked)."""
    volunteer, _, rest = (token or "").partition(".")
    expiry, _, mac = rest.partition(".")
    if not _ID.fullmatch(volunteer) or not re.fullmatch(r"[0-9]{1,12}", expiry) or len(mac) > 40:
        return None
    if int(expiry) < now or volunteer not in known:
        return None
    return volunteer if hmac.compare_digest(_mac(key, volunteer, int(expiry), address), mac) else None


def current_volunteer() -> str | None:
    """The signed-in volunteer of this request, or None."""
    p = portal()
    known = {v for v, entry in _pins(tuple(p.config.portal.volunteer_pins)).items()
             if entry != REISSUE}        # a session begun with an old PIN entry ends too
    if not known:
        return None
    return volunteer_of(request.cookies.get(COOKIE, ""), p.key, client(), p.clock(), known)


@bp.route("/volunteer", methods=["GET", "POST"])
def sign_in():
    p = portal()
    lang = pick(request.values.get("lang"))
    if not p.config.portal.volunteer_pins:
        return message("volunteer_none", 404)
    if request.method == "GET":
        return page("volunteer.html", volunteer=current_volunteer(), error="")
    if not p.csrf.valid(request.form.get("csrf", ""), client(), p.clock()):
        return message("bad_form", 403)
    attempts = current_app.extensions.setdefault(ATTEMPTS, RateLimit(5, window_s=900.0))
    if not attempts.allow(client(), p.clock()):         # 5 PIN tries per phone per 15 minutes
        log.warning("volunteer PIN attempts limit reached for a client")
        return message("too_many", 429)
    volunteer = request.form.get("volunteer", "").strip()[:64]
    pin = request.form.get("pin", "")[:12]
    known = _pins(tuple(p.config.portal.volunteer_pins))
    if not _ID.fullmatch(volunteer) or not check_pin(known, volunteer, pin):
        log.info("volunteer sign-in refused")
        error = "volunteer_reissue_pin" if needs_reissue(known, volunteer) else "volunteer_bad_pin"
        return page("volunteer.html", 403, volunteer=None, error=translator(lang)(error))
    log.info("volunteer %s signed in", volunteer)
    response = make_response(redirect(f"/declare?lang={lang}", 303))
    response.set_cookie(COOKIE, session_token(p.key, volunteer, client(), p.clock(),
                                              p.config.portal.volunteer_session_h),
                        max_age=int(p.config.portal.volunteer_session_h * 3600), httponly=True,
                        samesite="Strict")
    return response


@bp.post("/volunteer/sign-out")
def sign_out():
    p = portal()
    if not p.csrf.valid(request.form.get("csrf", ""), client(), p.clock()):
        return message("bad_form", 403)
    response = make_response(redirect(f"/?lang={pick(request.values.get('lang'))}", 303))
    response.delete_cookie(COOKIE)
    return response


@bp.post("/declare/print")
def print_slip():
    """A volunteer prints a declared person's slip at the table's printer."""
    p = portal()
    if not p.csrf.valid(request.form.get("csrf", ""), client(), p.clock()):
        return message("bad_form", 403)
    volunteer = current_volunteer()
    if volunteer is None:
        return message("volunteer_only", 403)
    short_code = request.form.get("short_code", "")
    token = request.form.get("t", "")
    if not print_spool.SHORT_CODE.fullmatch(short_code) or \
            not hmac.compare_digest(link_token(p.key, short_code), token) or \
            p.store.declared_person(short_code) is None:
        abort(404)
    at = datetime.fromtimestamp(p.clock(), timezone.utc) + timedelta(hours=7)
    sent = print_spool.request_declaration(print_spool.spool_dir(p.config.device.data_dir),
                                           short_code, volunteer, at.isoformat(timespec="seconds"))
    if not sent:
        log.warning("print spool full; slip not requested")
        return message("print_failed", 503)
    log.info("volunteer %s asked for a declaration slip", volunteer)
    t = translator(pick(request.values.get("lang")))
    return page("message.html", heading=t("print_sent"), text=t("print_sent_text", code=short_code))
