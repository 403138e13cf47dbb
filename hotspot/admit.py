"""`samplepoint hotspot admit`: the root loop that copies the portal's admissions into the firewall.

Under policy `open` the portal (unprivileged) records each phone that pressed "Done" in the device
store; this loop, run by samplepoint-admit.service with CAP_NET_ADMIN, adds those addresses to the
ruleset's admitted set with their time left and removes the expired ones. The store is the only
contract between the two. nft also times elements out by itself, so a stopped loop never leaves a
phone admitted for longer than the portal allowed.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from hotspot import firewall
from samplepoint.config import Config

log = logging.getLogger(__name__)
INTERVAL_S = 1.0


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")


def seconds_left(admitted: dict[str, str], now: float) -> dict[str, float]:
    """{address: seconds until expiry} from the store's {address: ISO expiry}; unreadable → left out."""
    left = {}
    for address, expires_at in admitted.items():
        try:
            left[address] = datetime.fromisoformat(expires_at).timestamp() - now
        except ValueError:
            continue
    return left


def sync_once(store, now: float, nft=firewall) -> int | None:
    """One pass; the number of changes made, or None when nft could not be read or written."""
    present = nft.present_elements()
    if present is None:
        return None
    add, remove = firewall.plan(seconds_left(store.admitted_clients(_iso(now)), now), present)
    if not add and not remove:
        return 0
    if not nft.apply_script(firewall.nft_script(add, remove)):
        return None
    log.info("admitted set: %d added, %d removed", len(add), len(remove))
    return len(add) + len(remove)


def run(config: Config, stop: threading.Event | None = None, clock=time.time, nft=firewall) -> int:
    """Sync every second until stopped. Exits at once (0) when the policy is not `open`."""
    if config.hotspot.policy != "open":
        log.info("hotspot.policy is %s: no phones to admit", config.hotspot.policy)
        return 0
    from samplepoint.store import Store
    stop = stop or threading.Event()
    db, store = Path(config.db_path), None
    while not stop.is_set():
        # the portal creates the database as the service user; root must not create it first
        if store is None and db.exists():
            store = Store(db)
        if store is not None:
            sync_once(store, clock(), nft)
        stop.wait(INTERVAL_S)
    if store is not None:
        store.close()
    return 0
