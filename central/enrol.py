"""Device enrolment and heartbeats at the central server: campaign codes in, device tokens out.

A technician prints a code (`samplepoint central enrol-code`) for one site or a few, good for N
devices until it expires, or a code for one named device. Each device spends one use to get its own
bearer token and its site's credentials; a code never enrols a device for a site it was not issued
for, so it cannot fetch another site's keys or PINs. The code is stored only hashed, wrong guesses
are rate-limited per client address and overall, and a device id that already exists is never
re-keyed through a code (that would let anyone holding the code take over a device). A device that
already holds a code key central does not know keeps it: the answer then carries no credentials.
"""
from __future__ import annotations

import hashlib
import json
import re
import secrets
from datetime import datetime, timedelta, timezone
from typing import Callable

from flask import Blueprint, current_app, jsonify, request

from central.requests_common import authenticate_device, central_db, json_body
from central.db import utc_now
from central.rate_limits import SharedRateLimiter
from samplepoint import wire

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"     # no 0/O, 1/I: read aloud and typed by hand
ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
KEY_ID_RE = re.compile(r"[0-9a-f]{16}")
KEY_UNKNOWN = ("central does not know the code key this device holds; it keeps its key until the "
               "operator brings it in (samplepoint central import-site-key)")
HEARTBEAT_FIELDS = {"queue_depth": int, "quarantined": int, "last_scan_at": (str, type(None)),
                    "version": str, "disk_free_bytes": int, "disk_total_bytes": int, "sent_at": str}
OPTIONAL_HEARTBEAT_FIELDS = {"oldest_pending_at": (str, type(None)),     # newer devices send these
                             "key_id": (str, type(None))}


def new_code(rng: Callable[[int], int] = secrets.randbelow) -> str:
    """SP-XXXX-XXXX-XXXX: 60 random bits, grouped for reading over the phone."""
    chars = "".join(CODE_ALPHABET[rng(len(CODE_ALPHABET))] for _ in range(12))
    return "SP-" + "-".join(chars[i:i + 4] for i in (0, 4, 8))


def normalise_code(text: str) -> str | None:
    """The code's 12 characters, whatever the dashes, spaces and case; None when it cannot be one."""
    if not isinstance(text, str) or len(text) > 64:
        return None
    compact = re.sub(r"[\s-]", "", text.upper())
    if compact.startswith("SP"):
        compact = compact[2:]
    if len(compact) != 12 or any(c not in CODE_ALPHABET for c in compact):
        return None
    return compact


def hash_code(compact: str) -> str:
    return hashlib.sha256(("enrol:" + compact).encode()).hexdigest()


def issue_code(db, campaign: str, uses: int, valid_hours: float, now: datetime | None = None, *,
               sites: list[str], device_id: str | None = None) -> tuple[str, str]:
    """Create a code for devices of `sites` (for `device_id` alone when given); returns (code,
    expiry as ISO UTC). Only its hash is stored."""
    code = new_code()
    expires = ((now or datetime.now(timezone.utc)) + timedelta(hours=valid_hours))
    expires_at = expires.isoformat(timespec="milliseconds")
    db.add_enrol_code(hash_code(normalise_code(code)), campaign, uses, expires_at, sites, device_id)
    return code, expires_at


def parse_heartbeat(body) -> dict:
    """The heartbeat fields, type-checked; raises ValueError naming the first bad field."""
    if not isinstance(body, dict):
        raise ValueError("(body): must be a JSON object")
    clean = {}
    for name, kind in {**HEARTBEAT_FIELDS, **OPTIONAL_HEARTBEAT_FIELDS}.items():
        if name in OPTIONAL_HEARTBEAT_FIELDS and name not in body:
            continue
        value = body.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(f"{name}: missing or of the wrong type")
        if isinstance(value, int) and not 0 <= value < 2 ** 53:
            raise ValueError(f"{name}: out of range")
        if isinstance(value, str) and len(value) > 64:
            raise ValueError(f"{name}: too long")
        clean[name] = value
    return clean


blueprint = Blueprint("enrol", __name__)


def _limiter() -> SharedRateLimiter:
    """Wrong guesses per client address and overall, counted in the database for every worker."""
    return current_app.extensions.setdefault(
        "enrol_limiter", SharedRateLimiter(central_db(), "enrol", per_client=10, overall=300))


def _refuse(status: int, error: str, message: str, **headers):
    response = jsonify(error=error, message=message)
    response.status_code = status
    response.headers.update(headers)
    return response


REFUSALS = {
    "unknown": (403, "enrolment code unknown; check it against the campaign sheet"),
    "unbound": (410, "enrolment code from before codes named their site; ask for a new one "
                     "(samplepoint central enrol-code --site SITE-ID)"),
    "other-site": (403, "enrolment code not issued for site SITE-ID; check site.id in the device's "
                        "config against the campaign sheet, or ask for a code for this site "
                        "(samplepoint central enrol-code --site SITE-ID)"),
    "other-device": (403, "enrolment code issued for another device; check device.id in the "
                          "device's config against the campaign sheet, or ask for a code for this "
                          "one (samplepoint central enrol-code --site SITE-ID --device DEVICE-ID)"),
    "expired": (410, "enrolment code expired; ask for a new one (samplepoint central enrol-code)"),
    "used": (410, "enrolment code used up; ask for a new one (samplepoint central enrol-code)"),
    "enrolled": (409, "device id already enrolled; a campaign code never re-keys a device: "
                      + wire.rekey_advice()),
}


@blueprint.post("/api/v1/enrol")
def enrol():
    wait = _limiter().allow(request.remote_addr or "?")
    if wait is not None:
        return _refuse(429, "rate-limited", "too many enrolment attempts; wait and retry",
                       **{"Retry-After": str(max(1, int(wait) + 1))})
    body = json_body()
    if not isinstance(body, dict):
        return _refuse(400, "invalid", "body must be a JSON object")
    device_id, site_id = body.get("device_id"), body.get("site_id")
    for name, value in (("device_id", device_id), ("site_id", site_id)):
        if not isinstance(value, str) or not ID_RE.fullmatch(value):
            return _refuse(400, "invalid", f"{name} must be 1-64 letters, digits, '.', '_' or '-'")
    key_id = body.get("key_id")
    if key_id is not None and (not isinstance(key_id, str) or not KEY_ID_RE.fullmatch(key_id)):
        return _refuse(400, "invalid", "key_id must be 16 lowercase hex digits")
    compact = normalise_code(body.get("code"))
    outcome = central_db().enrol_with_code(hash_code(compact), device_id, site_id, utc_now()) \
        if compact else "unknown"
    if not outcome.startswith("token:"):
        status, message = REFUSALS[outcome]
        message = message.replace("DEVICE-ID", device_id).replace("SITE-ID", site_id)
        current_app.logger.warning("enrolment of %s refused: %s", device_id, outcome)
        return _refuse(status, outcome, message)
    current_app.logger.info("device %s enrolled for site %s", device_id, site_id)
    answer = {"device_id": device_id, "site_id": site_id, "token": outcome[len("token:"):]}
    return jsonify(**answer, **_credentials_answer(device_id, site_id, key_id)), 201


def _credentials_answer(device_id: str, site_id: str, key_id: str | None) -> dict:
    """The site's credentials for a device holding key `key_id`; when central does not know that
    key for the site, none (the device keeps its own) and the mismatch is flagged and logged."""
    credentials, first_time = central_db().credentials_for_device(device_id, site_id, key_id)
    if credentials is not None:
        return {"credentials": credentials}
    if first_time:
        current_app.logger.warning(
            "device %s of site %s holds a code key (id %s) central does not know; its credentials "
            "are withheld so it keeps that key: bring the key in with `samplepoint central "
            "import-site-key` (docs/staff-credentials.md)", device_id, site_id, key_id)
    return {"credentials_withheld": KEY_UNKNOWN}


@blueprint.post("/api/v1/heartbeat")
def heartbeat():
    device = authenticate_device()
    try:
        clean = parse_heartbeat(json_body())
    except ValueError as exc:
        return _refuse(400, "invalid", str(exc))
    key_id = clean.get("key_id")
    if key_id is not None and not KEY_ID_RE.fullmatch(key_id):
        return _refuse(400, "invalid", "key_id must be 16 lowercase hex digits")
    central_db().record_heartbeat(device["device_id"], json.dumps(clean, sort_keys=True), utc_now())
    # The site's code keys, PIN entries and revoked badges ride on every answer (docs/staff-credentials.md).
    return jsonify(ok=True, time=utc_now(),
                   **_credentials_answer(device["device_id"], device["site_id"], key_id))


@blueprint.get("/api/v1/device")
def whoami():
    """Lets a device (and `samplepoint doctor`) check that its token is valid."""
    device = authenticate_device()
    return jsonify(device_id=device["device_id"], site_id=device["site_id"], time=utc_now())


def device_report(rows, now: datetime, silent_after_s: float,
                  unknown_keys: dict[str, str] | None = None) -> list[dict]:
    """One dict per device: last seen, latest heartbeat fields, whether it has gone silent, and the
    id of a code key it holds that central does not know (None when none)."""
    unknown_keys = unknown_keys or {}
    report = []
    for row in rows:
        last_seen = row["last_seen"]
        age = (now - datetime.fromisoformat(last_seen)).total_seconds() if last_seen else None
        beat = json.loads(row["heartbeat"]) if row["heartbeat"] else {}
        report.append({"device_id": row["device_id"], "site_id": row["site_id"],
                       "last_seen": last_seen, "last_seen_age_s": None if age is None else round(age),
                       "silent": age is None or age > silent_after_s, **beat,
                       "unknown_key_id": unknown_keys.get(row["device_id"])})
    return report


def devices_table(report: list[dict]) -> str:
    """The device list as a fixed-width table, silent devices flagged at the end of their line."""
    lines = [f"{'device':<20} {'site':<16} {'last seen':<10} {'queue':>5} {'quar.':>5} "
             f"{'last scan':<25} {'version':<8} disk free"]
    for d in report:
        age = "never" if d["last_seen_age_s"] is None else f"{d['last_seen_age_s']} s"
        free = f"{d['disk_free_bytes'] // 2**20} MiB" if "disk_free_bytes" in d else "-"
        lines.append(f"{d['device_id']:<20} {d['site_id']:<16} {age:<10} {d.get('queue_depth', '-'):>5} "
                     f"{d.get('quarantined', '-'):>5} {d.get('last_scan_at') or '-':<25} "
                     f"{d.get('version', '-'):<8} {free}" + ("  SILENT" if d["silent"] else "")
                     + ("  KEY UNKNOWN (import-site-key)" if d.get("unknown_key_id") else ""))
    return "\n".join(lines)
