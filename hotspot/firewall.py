"""Lets one phone out through the uplink (policy `open`) by adding it to the ruleset's admitted set."""
from __future__ import annotations

import ipaddress
import logging
import subprocess

from hotspot.render import ADMITTED_SET, TABLE

log = logging.getLogger(__name__)


def admit_client(address: str) -> bool:
    """Add address to the admitted set; False (logged) when the ruleset is absent or nft fails."""
    ip = ipaddress.IPv4Address(address)      # never pass anything but an address to nft
    done = subprocess.run(["nft", "add", "element", "inet", TABLE, ADMITTED_SET, f"{{ {ip} }}"],
                          capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        log.warning("could not admit a client to %s: %s", ADMITTED_SET, done.stderr.strip()[:200])
    return done.returncode == 0
