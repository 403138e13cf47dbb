"""What every central API endpoint shares: the database, bearer tokens, and reading a JSON body."""
from __future__ import annotations

import json

from flask import abort, current_app, g, jsonify, request

from central.db import CentralDB
from samplepoint.wire import MAX_DEPTH, nesting_depth


def central_db() -> CentralDB:
    return current_app.extensions["central_db"]


def bearer_token() -> str:
    """The token of an `Authorization: Bearer …` header, or "" when there is none."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme == "Bearer" else ""


def refuse_unauthorized(message: str):
    response = jsonify(error="unauthorized", message=message)
    response.status_code = 401
    response.headers["WWW-Authenticate"] = "Bearer"
    abort(response)


def authenticate_device() -> dict:
    """The device row of the request's token; answers 401 (and stops) when it is unknown."""
    token = bearer_token()
    device = central_db().device_for_token(token) if token else None
    if device is None:
        refuse_unauthorized("missing or unknown device token")
    g.device_id = device["device_id"]
    return dict(device)


def json_body():
    """The request body as JSON; answers 400 naming "(body)" (and stops) when it is not."""
    raw = request.get_data(cache=False)
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:     # bad UTF-8 or JSON, or an int over 4300 digits
        refuse_body(f"not JSON: {exc}")
    if nesting_depth(body) > MAX_DEPTH:
        refuse_body(f"nested deeper than {MAX_DEPTH} levels")
    return body


def refuse_body(message: str):
    response = jsonify(error="invalid", field="(body)", message=message)
    response.status_code = 400
    abort(response)
