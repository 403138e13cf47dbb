"""The forwarder's heartbeat: queue depth, last scan, software version and disk space, once a minute.

A heartbeat that fails is only logged: it must never delay or stop the forwarding of records.
"""
from __future__ import annotations

import json
import logging
import shutil
import time
from typing import Callable

import requests

from samplepoint import __version__
from samplepoint.clock import Clock, iso
from samplepoint.store import Store
from samplepoint.transport import InsecureTransport

log = logging.getLogger(__name__)


def build(store: Store, data_dir: str, clock: Clock, key_file: str | None = None) -> dict:
    """The heartbeat body (no personal data: counts, times, version, bytes, and the id of the site
    key the device holds, so that central never replaces a key it does not know)."""
    from samplepoint.site_credentials import held_key_id
    counts = store.outbox_counts()
    disk = shutil.disk_usage(data_dir)
    oldest = store.oldest_pending_at()
    return {"queue_depth": counts["pending"], "quarantined": counts["quarantined"],
            "oldest_pending_at": iso(oldest) if oldest else None,
            "last_scan_at": store.last_scan_at(), "version": __version__,
            "disk_free_bytes": disk.free, "disk_total_bytes": disk.total, "sent_at": iso(clock()),
            "key_id": held_key_id(data_dir, key_file)}


def credentials_keeper(config) -> Callable[[dict], None]:
    """Keeps the site credentials that central's heartbeat answer carries (docs/staff-credentials.md)."""
    from samplepoint import site_credentials

    withheld = []

    def keep(answer: dict) -> None:
        if "credentials" in answer:
            site_credentials.store(config.device.data_dir, answer["credentials"], config.site.id)
            withheld.clear()
        elif "credentials_withheld" in answer and not withheld:
            withheld.append(True)          # said once, not every minute
            log.warning("central sent no site credentials: it does not know the code key this "
                        "device holds, which stays in use (docs/staff-credentials.md)")
    return keep


class Heartbeat:
    """Sends `build()` to POST /api/v1/heartbeat when `every_s` has passed; call `maybe_send()` often."""

    def __init__(self, session: requests.Session, base_url: str, body: Callable[[], dict],
                 every_s: float = 60.0, timeout: float = 10.0,
                 monotonic: Callable[[], float] = time.monotonic,
                 on_answer: Callable[[dict], None] | None = None):
        self.on_answer = on_answer       # given central's JSON answer (the site credentials ride on it)
        self.session, self.url = session, base_url.rstrip("/") + "/api/v1/heartbeat"
        self.body, self.every_s, self.timeout = body, every_s, timeout
        self.monotonic = monotonic
        self.last_attempt = float("-inf")
        self.sent = 0

    def maybe_send(self) -> bool:
        now = self.monotonic()
        if now - self.last_attempt < self.every_s:
            return False
        self.last_attempt = now
        try:
            payload = json.dumps(self.body())
        except Exception:        # a heartbeat is never worth stopping the forwarder for
            log.exception("heartbeat not built")
            return False
        try:
            # The forwarder's session: verified TLS (or loopback) only, redirects never followed.
            response = self.session.post(self.url, data=payload, timeout=self.timeout)
        except InsecureTransport as exc:
            log.error("heartbeat not sent: %s", exc)
            return False
        except (requests.RequestException, OSError) as exc:
            log.warning("heartbeat not sent (%s)", type(exc).__name__)
            return False
        if response.status_code != 200:
            log.warning("heartbeat refused: HTTP %d", response.status_code)
            return False
        self.sent += 1
        if self.on_answer is not None:
            try:
                answer = response.json()
                if isinstance(answer, dict):
                    self.on_answer(answer)
            except Exception:     # a bad answer never stops the forwarder; the last good one stays
                log.warning("heartbeat answer not usable", exc_info=True)
        return True
