"""The ruleset's admitted set (policy `open`): which phone addresses it may hold, and nft edits to it.

Pure planning (`plan`, `nft_script`) plus two thin nft calls. Only the root admit loop
(`hotspot.admit`) calls nft; the portal never does, it only records admissions in the store.
"""
from __future__ import annotations

import ipaddress
import json
import logging
import subprocess

from hotspot.render import ADMITTED_SET, TABLE

log = logging.getLogger(__name__)


def client_address(text: str | None) -> str | None:
    """The phone's address as nft may take it (IPv4 only: the set is ipv4_addr), else None."""
    try:
        return str(ipaddress.IPv4Address(text or ""))
    except ValueError:
        return None


def plan(wanted: dict[str, float], present: set[str]) -> tuple[list[tuple[str, int]], list[str]]:
    """(addresses to add with their seconds left, addresses to delete) to turn present into wanted.
    Anything not a clean IPv4 address is left out, so nothing else ever reaches an nft command."""
    wanted = {a: s for a, s in wanted.items() if client_address(a) == a and s >= 1}
    add = [(a, int(s)) for a, s in sorted(wanted.items()) if a not in present]
    remove = sorted(a for a in present if a not in wanted and client_address(a) == a)
    return add, remove


def nft_script(add: list[tuple[str, int]], remove: list[str]) -> str:
    lines = [f"add element inet {TABLE} {ADMITTED_SET} {{ {a} timeout {s}s }}" for a, s in add]
    lines += [f"delete element inet {TABLE} {ADMITTED_SET} {{ {a} }}" for a in remove]
    return "".join(line + "\n" for line in lines)


def present_elements() -> set[str] | None:
    """The addresses now in the admitted set; None when the ruleset is absent or nft fails."""
    done = subprocess.run(["nft", "-j", "list", "set", "inet", TABLE, ADMITTED_SET],
                          capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        log.warning("cannot read %s: %s", ADMITTED_SET, done.stderr.strip()[:200])
        return None
    found = set()
    for item in json.loads(done.stdout).get("nftables", []):
        for element in item.get("set", {}).get("elem", []):
            value = element.get("elem", {}).get("val") if isinstance(element, dict) else element
            if isinstance(value, str):
                found.add(value)
    return found


def apply_script(script: str) -> bool:
    """Run the edits as one nft transaction; False (logged) when nft refuses them."""
    done = subprocess.run(["nft", "-f", "-"], input=script, capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        log.warning("could not update %s: %s", ADMITTED_SET, done.stderr.strip()[:200])
    return done.returncode == 0
