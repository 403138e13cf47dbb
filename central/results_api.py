"""HTTP endpoints for results: labs post them (lab token), devices ask a person's status (device token)."""
from __future__ import annotations

import logging
import re
from collections import Counter
from datetime import datetime, timezone

from flask import Blueprint, current_app, jsonify, request

from central import status as status_module
from central.requests_common import (authenticate_device, bearer_token, central_db, json_body,
                                     refuse_unauthorized)
from central.db_results import CREATED, DUPLICATE, PROBLEMS
from central.rate_limits import SharedRateLimiter
from central.results import validate
from samplepoint.clock import tz_from_offset
from samplepoint.config import CentralServerConfig

log = logging.getLogger(__name__)
MAX_RESULTS = 1000
_QID = re.compile(r"[0-9]{1,24}")
_ID_NUMBER = re.compile(r"[0-9A-Z]{6,20}")

blueprint = Blueprint("results", __name__)


def settings() -> CentralServerConfig:
    return current_app.extensions["central_settings"]


def now() -> datetime:
    return current_app.extensions["central_clock"]()


def _lab() -> str:
    token = bearer_token()
    lab = central_db().lab_for_token(token) if token else None
    if lab is None:
        refuse_unauthorized("missing or unknown lab token")
    return lab


@blueprint.post("/api/v1/results")
def post_results():
    lab = _lab()
    body = json_body()
    items = body.get("results") if isinstance(body, dict) else None
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_RESULTS:
        return jsonify(error="invalid", field="results",
                       message=f"must be a list of 1 to {MAX_RESULTS} results"), 400
    tz, moment = tz_from_offset(settings().results_utc_offset), now()
    answers: list[dict] = [{} for _ in items]
    valid = []
    for index, item in enumerate(items):
        checked = validate(item, tz=tz, now=moment, lab_id=lab) if isinstance(item, dict) else \
            "must be an object"
        if isinstance(item, dict) and item.get("lab") not in (None, lab):
            checked = "lab differs from the lab of this token"
        if isinstance(checked, str):
            answers[index] = {"index": index, "status": "invalid", "message": checked}
        else:
            valid.append((index, checked))
    outcomes = central_db().add_results([r for _, r in valid]) if valid else []
    for (index, _), outcome in zip(valid, outcomes):
        answers[index] = {"index": index, "status": outcome}
        if outcome not in (CREATED, DUPLICATE):
            answers[index]["message"] = PROBLEMS[outcome]
    log.info("results from lab %s: %s", lab, dict(Counter(a["status"] for a in answers)))
    return jsonify(results=answers)


CHECK_MODE_FIELDS = ("state", "valid_until", "result", "needs_individual_test", "conflict")


def _status_limiter():
    per_minute = settings().status_per_device_per_min
    return current_app.extensions.setdefault(
        "status_limiter", SharedRateLimiter(central_db(), "status", per_client=per_minute))


@blueprint.get("/api/v1/persons/status")
def person_status():
    """Check mode's question: only what the kiosk shows, at most N look-ups per device a minute."""
    device = authenticate_device()
    wait = _status_limiter().allow(device["device_id"])
    if wait is not None:
        log.warning("status look-ups from %s over the limit", device["device_id"])
        response = jsonify(error="rate-limited", message="too many status look-ups; wait and retry")
        response.headers["Retry-After"] = str(max(1, int(wait) + 1))
        return response, 429
    answer = lookup(request.args)
    if isinstance(answer, tuple):
        return answer
    log.info("status asked by %s: %s", device["device_id"], answer["state"])
    return jsonify({name: answer[name] for name in CHECK_MODE_FIELDS})


def lookup(args) -> dict | tuple:
    """The full status of the person named by `qid` or `id_number` in `args`, or a 400 answer."""
    qid, id_number = args.get("qid"), args.get("id_number")
    if (qid is None) == (id_number is None):
        return jsonify(error="invalid", field="(query)",
                       message="give exactly one of qid or id_number"), 400
    if qid is not None and not _QID.fullmatch(qid):
        return jsonify(error="invalid", field="qid", message="must be 1 to 24 digits"), 400
    if id_number is not None and not _ID_NUMBER.fullmatch(id_number):
        return jsonify(error="invalid", field="id_number",
                       message="must be 6 to 20 digits or capital letters (not masked)"), 400
    rows = central_db().person_samples(qid=qid, id_number=id_number)
    return status_module.person_status(status_module.from_rows(rows), settings().validity_hours(),
                                       now())


def utc_clock() -> datetime:
    return datetime.now(timezone.utc)
