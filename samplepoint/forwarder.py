"""The forwarder process: drains the outbox to the central system, exactly once, whatever the link does.

Records stay pending until the server confirms them (created or duplicate), so a crash between
send and commit only causes a resend, which the server recognises by the record id. Transient
failures back off exponentially with full jitter, honouring Retry-After; a record the server
refuses is quarantined with the server's reason and never blocks the records behind it.
"""
from __future__ import annotations

import logging
import random
import signal
import sqlite3
import threading
import time
from typing import Callable

from samplepoint.central_client import DELIVERED, CentralClient, TransientError
from samplepoint.clock import Clock, ClockEvidence, iso, system_evidence
from samplepoint.config import Config
from samplepoint.retention import Retention
from samplepoint.store import Store, StoreError, explain
from samplepoint.wire import HEADER_BOOT_ID, HEADER_DEVICE_TIME, HEADER_MONOTONIC, HEADER_OFFSET

log = logging.getLogger(__name__)
MAX_RETRY_AFTER = 3600.0


class Backoff:
    """Exponential backoff with full jitter; a server's Retry-After is a floor, not a suggestion."""

    def __init__(self, base: float, cap: float, rng: random.Random | None = None):
        self.base, self.cap = base, cap
        self.failures = 0
        self.rng = rng or random.Random()

    def next_delay(self, retry_after: float | None = None) -> float:
        self.failures += 1
        delay = self.rng.uniform(0, min(self.cap, self.base * 2 ** min(self.failures - 1, 30)))
        if retry_after is not None:
            delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
        return delay

    def reset(self) -> None:
        self.failures = 0


class Forwarder:
    def __init__(self, config: Config, store: Store, client: CentralClient, clock: Clock,
                 sleep: Callable[[float], None] | None = None,
                 on_tick: Callable[[], None] | None = None,
                 evidence: Callable[[], ClockEvidence] = system_evidence):
        self.config = config
        self.evidence = evidence
        self.retention = Retention(config, store, clock)
        self.store = store
        self.client = client
        self.clock = clock
        self.stopping = threading.Event()
        self.sleep = sleep or self.stopping.wait
        self.backoff = Backoff(config.central.backoff_base_s, config.central.backoff_cap_s)
        # Called once per loop turn: the systemd watchdog ping and the heartbeat hang off it.
        self.on_tick = on_tick or (lambda: None)

    def step(self) -> int:
        """Send one batch; return how many records left the pending state (0 when idle or failing)."""
        items = self.store.pending(self.config.central.batch_size)
        if not items:
            return 0
        ids = [item.record_id for item in items]
        try:
            outcomes = self.client.send(items, self.clock_headers())
        except Exception as exc:     # any failure to hear back keeps the records pending
            if not isinstance(exc, TransientError):
                log.exception("unexpected error while sending %d records; retrying later", len(ids))
                exc = TransientError(f"unexpected {type(exc).__name__}")
            self.store.note_failure(ids, str(exc))
            delay = self.backoff.next_delay(exc.retry_after)
            log.warning("central unreachable for %d records (%s); retry %d in %.1f s",
                        len(ids), exc, self.backoff.failures, delay)
            self.sleep(delay)
            return 0
        self.backoff.reset()
        delivered = [o.record_id for o in outcomes if o.result == DELIVERED]
        self.store.mark_delivered(delivered, iso(self.clock()))
        for outcome in outcomes:
            if outcome.result == DELIVERED:
                log.info("record %s delivered (%s)", outcome.record_id, outcome.reason)
            else:
                self.store.mark_quarantined(outcome.record_id, outcome.reason)
                log.error("record %s quarantined: %s", outcome.record_id, outcome.reason)
        return len(outcomes)

    def clock_headers(self) -> dict[str, str]:
        """The device's clock evidence for this delivery, with the offset measured on the last answer.

        Without a recent measurement (first delivery, long outage) the server estimates the offset
        from Samplepoint-Device-Time and its own receive time.
        """
        recent = getattr(self.client, "recent_offset", None)     # other adapters may not measure
        offset = recent() if recent else None
        now, evidence = self.clock(), self.evidence()
        headers = {HEADER_DEVICE_TIME: iso(now), HEADER_MONOTONIC: f"{evidence.monotonic_s:.3f}"}
        if evidence.boot_id:
            headers[HEADER_BOOT_ID] = evidence.boot_id
        if offset is not None:
            headers[HEADER_OFFSET] = f"{offset:.3f}"
        return headers

    def run(self, until_drained: bool = False) -> None:
        log.info("forwarder started: %s, %s", self.config.central.url, self.store.outbox_counts())
        refused = getattr(self.client, "refused", None)       # other adapters may not check
        if refused:
            log.error("nothing will be sent to central (records stay queued): %s", refused)
        while not self.stopping.is_set():
            try:
                self.retention.run_if_due()
                moved = self.step()
            except (sqlite3.Error, OSError, StoreError) as exc:
                # A full or failing card: records stay pending (a resend is recognised by its id).
                delay = self.backoff.next_delay()
                log.error("store: %s; retry %d in %.1f s", explain(exc, self.store.path),
                          self.backoff.failures, delay)
                self.on_tick()
                self.sleep(delay)
                continue
            self.on_tick()
            if moved == 0 and self.backoff.failures == 0:
                if until_drained and not self.store.pending(1):
                    break
                self.sleep(self.config.central.poll_s)
        log.info("forwarder stopped: %s", self.store.outbox_counts())

    def stop_on_signals(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stopping.set())
