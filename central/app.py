"""The reference central server's HTTP API (Flask app factory): idempotent ingest of sample records."""
from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Callable

from flask import Flask, jsonify, request

from central import errors, results_api
from central.clocktrust import SERVER_TIME_HEADER, parse_headers
from central.requests_common import authenticate_device, central_db, json_body
from central.db import CONFLICT, CREATED, CentralDB, utc_now
from samplepoint import wire
from samplepoint.bodylimits import limit_bodies
from samplepoint.config import CentralServerConfig

log = logging.getLogger(__name__)
MAX_BATCH = 1000
# Flask-WTF logs every refused form token at INFO: a line per hostile request, the answer says it.
logging.getLogger("flask_wtf.csrf").setLevel(logging.WARNING)


def create_app(db: CentralDB | str, settings: CentralServerConfig | None = None,
               clock: Callable[[], datetime] | None = None) -> Flask:
    app = Flask(__name__)
    app.extensions["central_db"] = db if isinstance(db, CentralDB) else CentralDB(db)
    # Results and clock trust (docs/results-and-retention.md); the clock is injectable for tests.
    app.extensions["central_settings"] = settings or CentralServerConfig()
    # Each path's body limit, checked before any view or hook reads the body (docs/central.md).
    limit_bodies(app, errors.body_limits(app.extensions["central_settings"]))
    app.extensions["central_clock"] = clock or results_api.utc_clock
    app.register_blueprint(results_api.blueprint)
    if app.extensions["central_settings"].trusted_proxy:
        app.wsgi_app = BehindProxy(app.wsgi_app, app.extensions["central_settings"].trusted_proxy)

    @app.after_request
    def server_time(response):
        # Millisecond server time on every answer: the forwarder measures its clock offset from it.
        response.headers[SERVER_TIME_HEADER] = app.extensions["central_clock"]().isoformat(
            timespec="milliseconds")
        return response

    from central.enrol import blueprint as enrol_blueprint
    app.register_blueprint(enrol_blueprint)

    from central.console import init_console
    init_console(app)

    errors.install(app)

    @app.get("/healthz")
    def healthz():
        return jsonify(ok=True, time=utc_now())

    @app.post("/api/v1/samples")
    def ingest_one():
        device = authenticate_device()
        body = json_body()
        try:
            record = wire.parse_record(body)
        except wire.WireError as exc:
            return _invalid(exc)
        key = request.headers.get("Idempotency-Key")
        if key is not None and key != record.record_id:
            return _invalid(wire.WireError("Idempotency-Key", "must equal record_id"))
        if record.device_id != device["device_id"]:
            return _invalid(wire.WireError("device_id", "does not match the device of this token"))
        (outcome,) = central_db().ingest(device["device_id"], [(record, wire.canonical(body))],
                                  parse_headers(request.headers))
        log.info("record %s from %s: %s", record.record_id, device["device_id"], outcome)
        if outcome == CONFLICT:
            return jsonify(error="conflict", record_id=record.record_id,
                           message="a different record with this id is already stored"), 409
        return jsonify(record_id=record.record_id, duplicate=outcome != CREATED), \
            201 if outcome == CREATED else 200

    @app.post("/api/v1/samples/batch")
    def ingest_batch():
        device = authenticate_device()
        body = json_body()
        items = body.get("records") if isinstance(body, dict) else None
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
            return _invalid(wire.WireError("records", f"must be a list of 1 to {MAX_BATCH} records"))
        results: list[dict | None] = [None] * len(items)
        valid = []
        for index, item in enumerate(items):
            try:
                record = wire.parse_record(item)
                if record.device_id != device["device_id"]:
                    raise wire.WireError("device_id", "does not match the device of this token")
            except wire.WireError as exc:
                rid = item.get("record_id") if isinstance(item, dict) else None
                results[index] = {"record_id": rid if isinstance(rid, str) else None,
                                  "status": "invalid", "field": exc.field, "message": exc.message}
                continue
            valid.append((index, record, wire.canonical(item)))
        outcomes = central_db().ingest(device["device_id"], [(r, b) for _, r, b in valid],
                                parse_headers(request.headers)) if valid else []
        for (index, record, _), outcome in zip(valid, outcomes):
            results[index] = {"record_id": record.record_id, "status": outcome}
        log.info("batch of %d from %s: %s", len(items), device["device_id"],
                 json.dumps({s: sum(r["status"] == s for r in results) for s in
                             {r["status"] for r in results}}, sort_keys=True))
        return jsonify(results=results)

    return app


class BehindProxy:
    """Believe X-Forwarded-For/-Proto only on requests that come from the configured proxy, so the
    sign-in and enrolment limits count clients, not the proxy (docs/central.md)."""

    def __init__(self, wsgi_app, proxy: str):
        from werkzeug.middleware.proxy_fix import ProxyFix
        self.plain, self.proxy = wsgi_app, proxy
        self.fixed = ProxyFix(wsgi_app, x_for=1, x_proto=1)

    def __call__(self, environ, start_response):
        app = self.fixed if environ.get("REMOTE_ADDR") == self.proxy else self.plain
        return app(environ, start_response)


def _invalid(exc: wire.WireError):
    return jsonify(error="invalid", field=exc.field, message=exc.message), 400
