"""Device retention: erases personal data the device no longer needs, on a schedule, logging counts only.

Delivered records lose their people's personal fields `retention.delivered_days` after collection
(the per-day counts stay); portal declarations go after `portal.retention_days` (the portal also
purges them when it starts; here they go even while it is not running); slips kept for reprint go
after a day, printer configured or not. Pending and quarantined records are never touched: the store only
erases records in the delivered state. Runs inside the forwarder and as `samplepoint purge`.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta, timezone
from typing import Callable

from samplepoint import print_spool
from samplepoint.clock import Clock, current_boot_id, iso
from samplepoint.config import Config
from samplepoint.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PurgeReport:
    records: int
    people: int
    declarations: int
    slips: int = 0


def boot_to_keep(retention_days: float,
                 uptime: Callable[[], float] = lambda: time.clock_gettime(time.CLOCK_BOOTTIME),
                 boot_id: Callable[[], str | None] = current_boot_id) -> str | None:
    """This boot's id while it is younger than the retention period, else None: declarations
    made in it may carry a stale time from before NTP and must not be judged by it."""
    if uptime() >= retention_days * 86400:
        return None
    return boot_id()


class Retention:
    def __init__(self, config: Config, store: Store, clock: Clock,
                 monotonic: Callable[[], float] = time.monotonic,
                 uptime: Callable[[], float] = lambda: time.clock_gettime(time.CLOCK_BOOTTIME),
                 boot_id: Callable[[], str | None] = current_boot_id):
        self.config = config.retention
        self.declaration_days = config.portal.retention_days
        self.kept_slips = print_spool.kept_dir(config.device.data_dir)
        self.store = store
        self.clock = clock
        self.monotonic = monotonic
        self.uptime, self.boot_id = uptime, boot_id
        self._last_run: float | None = None

    def run(self) -> PurgeReport:
        now = self.clock()
        records, people = self.store.erase_delivered_personal_data(
            iso(now - timedelta(days=self.config.delivered_days)), iso(now))
        # The portal writes created_at as UTC to the second; the cutoff must compare as text.
        declarations = self.store.purge_declarations(
            (now - timedelta(days=self.declaration_days)).astimezone(timezone.utc)
            .isoformat(timespec="seconds"), keep_boot=self.boot_to_keep())
        slips = print_spool.prune_kept(self.kept_slips)
        report = PurgeReport(records, people, declarations, slips)
        if records or declarations or slips:
            log.info("retention: erased personal fields of %d delivered records (%d people), "
                     "%d portal declarations and %d unprinted slips older than %d h", records, people,
                     declarations, slips, print_spool.KEEP_HOURS)
        return report

    def boot_to_keep(self) -> str | None:
        return boot_to_keep(self.declaration_days, self.uptime, self.boot_id)

    def run_if_due(self) -> PurgeReport | None:
        """Run when check_interval_s has passed since the last run (measured on the monotonic clock)."""
        moment = self.monotonic()
        if self._last_run is not None and moment - self._last_run < self.config.check_interval_s:
            return None
        self._last_run = moment
        try:
            return self.run()
        except Exception:       # a failed purge must never stop the deliveries around it
            log.exception("retention run failed; will retry at the next interval")
            return None
