"""The health declaration: household shape, the form (checked, rate-limited, CSRF-guarded), the
declaration committed before its QR codes are shown, and one person's QR again by link."""
from __future__ import annotations

import hmac
import logging
import re
import uuid
from datetime import datetime, timedelta, timezone

from flask import Blueprint, abort, request

from hotspot.portal import declaration as checks
from hotspot.portal import divisions
from hotspot.portal.codes import issue_codes, link_token, qr_svg
from hotspot.portal.site import client, message, page, portal, volunteer_session
from samplepoint.wire import CONTROL_CHARS

log = logging.getLogger("hotspot.portal.app")
INLINE_QR = 3          # QR codes shown on the result page itself; more would pass 30 KB

bp = Blueprint("declarations", __name__)


def _utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")


@bp.get("/declare")
def declare_start():
    return page("declare_start.html", provinces=divisions.provinces(),
                max_household=portal().config.portal.max_household, relations=checks.RELATIONS)


@bp.get("/declare/code/<short_code>")
def declared_code(short_code):
    """One person's QR again (from the result page's link; the token makes it unguessable)."""
    p = portal()
    token = request.args.get("t", "")
    if len(short_code) != 9 or not hmac.compare_digest(link_token(p.key, short_code), token):
        abort(404)
    person = p.store.declared_person(short_code)
    if person is None or "code" not in person:
        abort(404)
    return page("declare_code.html", person={
        "name": person["full_name"], "short_code": short_code, "svg": qr_svg(person["code"])})


def _echo(form) -> dict[str, str]:
    """Values to put back into the form after an error: no control characters, bounded length."""
    return {k: CONTROL_CHARS.sub("", v)[:checks.MAX_FIELD] for k, v in form.items()}


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


@bp.route("/declare/form", methods=["GET", "POST"])
def declare_form():
    p = portal()
    shape = _form_shape(request.values, p.config.portal.max_household)
    if shape is None:
        abort(404)
    province, people, relation = shape

    def form_page(form, errors, status=200):
        return page("declare_form.html", status, form=form, errors=errors, province=province,
                    people=people, relation=relation, province_name=divisions.provinces()[province],
                    wards=divisions.wards(province), genders=checks.GENDERS, id_kinds=checks.ID_KINDS)

    if request.method == "GET":
        return form_page({}, {})
    now, volunteer = p.clock(), volunteer_session()
    if not p.limit.may_post(client(), now, volunteer):
        log.warning("declaration rate limit reached for a client")
        return message("too_many", 429)
    if not p.csrf.valid(request.form.get("csrf", ""), client(), now):
        return message("bad_form", 403)
    today = (datetime.fromtimestamp(now, timezone.utc) + timedelta(hours=7)).date()
    checked = checks.check_form(request.form, people=people, province=province,
                                relation=relation, today=today)
    if checked.errors:
        return form_page(_echo(request.form), checked.errors, 400)
    if not p.limit.accept(client(), now, volunteer):       # only accepted declarations count
        log.warning("declaration rate limit reached for a client")
        return message("too_many", 429)
    declaration = {**checked.declaration, "id": str(uuid.uuid4()), "created_at": _utc(now),
                   "consent_at": _utc(now)}
    issued = issue_codes(p.store, p.key, checked.persons, relation)
    p.store.add_declaration(declaration, [(c.short_code, {**person, "code": c.code})
                                          for c, person in zip(issued, checked.persons)])
    log.info("declaration %s saved with %d person(s)", declaration["id"], len(issued))
    return page("declare_done.html", persons=issued, inline=INLINE_QR)
