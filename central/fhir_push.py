"""Sending what a FHIR server has not yet accepted, as transaction Bundles, resuming where it stopped.

A unit (a sample, or one of its results) is recorded as sent only once the server answered the
Bundle that carried it with a transaction-response whose every entry succeeded; a run that fails
stops there and the next run starts from the first unit not recorded. A Bundle whose answer was lost
after the server committed it is sent again by the next run, and its conditional creates then match
what exists, so nothing is stored twice. Logs carry counts and record ids only.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

import requests

from central import fhir

log = logging.getLogger(__name__)
FHIR_JSON = "application/fhir+json"


class PushError(Exception):
    """Why a Bundle was not accepted, for the operator; never holds a person's data."""


@dataclass
class PushReport:
    bundles: int = 0
    samples: int = 0
    results: int = 0
    skipped_erased: int = 0
    failed: str | None = None
    sent_units: list[str] = field(default_factory=list, repr=False)

    def summary(self) -> dict:
        return {"bundles": self.bundles, "samples": self.samples, "results": self.results,
                "skipped_erased": self.skipped_erased, "failed": self.failed}


def check_answer(response: requests.Response, sent_entries: int) -> None:
    """Raise PushError unless this is a transaction-response accepting every entry."""
    if response.status_code != 200:
        codes = _issue_codes(response)
        raise PushError(f"the FHIR server answered HTTP {response.status_code}"
                        + (f" (issues: {', '.join(codes)})" if codes else ""))
    try:
        body = response.json()
    except ValueError:
        raise PushError("the FHIR server answered 200 without a JSON Bundle") from None
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle" or \
            body.get("type") != "transaction-response":
        raise PushError("the FHIR server's answer is not a transaction-response Bundle")
    entries = body.get("entry") or []
    if len(entries) != sent_entries:
        raise PushError(f"the FHIR server answered {len(entries)} entries for {sent_entries} sent")
    for index, entry in enumerate(entries):
        status = str(((entry or {}).get("response") or {}).get("status", ""))
        if not status[:1] == "2":
            raise PushError(f"the FHIR server refused entry {index}: status {status[:40]!r}")


def _issue_codes(response: requests.Response) -> list[str]:
    """OperationOutcome issue codes only: diagnostics may quote the data, so they are not shown."""
    try:
        body = response.json()
        return sorted({str(i.get("code"))[:40] for i in body.get("issue", []) if isinstance(i, dict)})
    except (ValueError, AttributeError):
        return []


class Pusher:
    """Push a database's unsent units to one FHIR server (`destination` = its base URL)."""

    def __init__(self, db, url: str, session: requests.Session, *, systems: fhir.Systems,
                 samples_per_bundle: int = 20, timeout: float = 60.0,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.db, self.url, self.session = db, url.rstrip("/"), session
        self.systems, self.size, self.timeout, self.now = systems, samples_per_bundle, timeout, now

    def run(self, limit_bundles: int | None = None) -> PushReport:
        report = PushReport(skipped_erased=self.db.fhir_erased_unsent(self.url))
        while limit_bundles is None or report.bundles < limit_bundles:
            chunk = self.db.fhir_unsent(self.url, self.size)
            if not chunk:
                break
            if set(u for data in chunk for u in fhir.units(data)) <= set(report.sent_units):
                report.failed = "units accepted by the server were offered again; stopping"
                break
            try:
                self._send(chunk, report)
            except PushError as exc:
                report.failed = str(exc)
                log.warning("push-fhir: stopped after %d bundles: %s (first record %s)",
                            report.bundles, exc, chunk[0].body["record_id"])
                break
        return report

    def _send(self, chunk: list[fhir.SampleData], report: PushReport) -> None:
        bundle = fhir.bundle(chunk, self.systems)
        fhir.validate(bundle)
        try:
            response = self.session.post(self.url, data=json.dumps(bundle, ensure_ascii=False)
                                         .encode("utf-8"), timeout=self.timeout,
                                         headers={"Content-Type": FHIR_JSON, "Accept": FHIR_JSON})
        except requests.exceptions.InvalidURL as exc:      # the transport rule refused the URL
            raise PushError(str(exc)) from None
        except requests.RequestException as exc:
            raise PushError(f"cannot reach the FHIR server ({type(exc).__name__})") from None
        check_answer(response, len(bundle["entry"]))
        units = [u for data in chunk for u in fhir.units(data)]
        self.db.mark_fhir_sent(self.url, units, self.now().isoformat(timespec="milliseconds"))
        report.bundles += 1
        report.samples += sum(1 for data in chunk if data.include_sample)
        report.results += sum(len(data.results) for data in chunk)
        report.sent_units += units
        log.info("push-fhir: bundle %d accepted: %d samples, %d results", report.bundles,
                 sum(1 for data in chunk if data.include_sample), sum(len(d.results) for d in chunk))


class PushLock:
    """One push per database at a time: a second run would send the same units concurrently."""

    def __init__(self, db_path):
        target = str(db_path)
        if target.startswith(("postgresql://", "postgres://")):
            # No file beside a PostgreSQL database: a name from its URL in the temp folder (the
            # lock guards runs on this machine).
            import hashlib
            import tempfile
            digest = hashlib.sha256(target.encode("utf-8")).hexdigest()[:16]
            target = os.path.join(tempfile.gettempdir(), f"samplepoint-central-{digest}")
        self.path = f"{target}.push-fhir.lock"

    def __enter__(self):
        self.fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise PushError("another `central push-fhir` is running on this database") from None
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def session_from(settings, url: str) -> requests.Session:
    """A session for `url` with the bearer token and/or client certificate of [central_server]:
    verified TLS (or loopback, or the lab setting), redirects never followed."""
    from samplepoint import transport
    from samplepoint.durable import read_secret

    session = transport.SecureSession(transport.FHIR, url, ca_bundle=settings.fhir_ca_bundle,
                                      allow_insecure=settings.fhir_allow_insecure_http)
    if settings.fhir_token_file:
        session.headers["Authorization"] = "Bearer " + read_secret(settings.fhir_token_file)
    if settings.fhir_client_cert:
        session.cert = (settings.fhir_client_cert, settings.fhir_client_key or None)
    return session
