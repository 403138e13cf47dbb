"""Counters for the operator (`samplepoint hotspot stats`, doctor): phones on the air, DHCP leases,
admitted phones, and what the ruleset refused, by reason. Only counts: no address is kept or shown.

The parsers are pure (command output in, numbers out); `collect` is the thin edge running hostapd_cli
and nft and reading the lease file.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hotspot import security
from hotspot.render import BLOCK_COUNTERS, OWE_BRIDGE, TABLE, owe_interface
from samplepoint.config import Config

ETC = Path("/etc/samplepoint/hotspot")
MAC_LINE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$", re.I | re.M)
# what each refusal counter means, for a person reading the stats
REASONS = {
    "phone_to_device": "phones trying the device's other services (SSH, staff display, ...)",
    "phone_ipv6": "IPv6 packets from phones (the hotspot is IPv4 only)",
    "phone_to_phone": "phones trying to reach each other",
    "garden_port": "allowed addresses on a port other than 80/443",
    "outside_garden": "addresses outside the allow list",
    "uplink_to_device": "the uplink side trying the device",
    "uplink_to_phones": "the uplink side trying to reach phones",
}


@dataclass
class Stats:
    security: str = "not applied"
    associated: int | None = None        # phones associated with the radio(s) now
    leases: int | None = None            # DHCP leases not yet expired
    admitted: int | None = None          # phones let out after Done (policy open)
    blocked: dict[str, int] | None = field(default=None)    # packets refused, by counter

    def as_dict(self) -> dict:
        return asdict(self)


def stations(all_sta: str) -> int:
    """Stations in `hostapd_cli all_sta` output: each block starts with the station's MAC line."""
    return len(MAC_LINE.findall(all_sta))


def live_leases(lease_file_text: str, now: float) -> int:
    """dnsmasq lease lines (`EXPIRY MAC IP NAME CLIENT-ID`) not expired at `now` (0 = infinite)."""
    count = 0
    for line in lease_file_text.splitlines():
        expiry = line.split(" ", 1)[0]
        if expiry.isdigit() and (int(expiry) == 0 or int(expiry) > now):
            count += 1
    return count


def counters(nft_json: str) -> dict[str, int]:
    """{counter name: packets} of our table from `nft -j list counters table inet|bridge TABLE`."""
    found: dict[str, int] = {}
    for item in json.loads(nft_json or "{}").get("nftables", []):
        counter = item.get("counter") if isinstance(item, dict) else None
        if isinstance(counter, dict) and counter.get("name") in BLOCK_COUNTERS:
            name = counter["name"]
            found[name] = found.get(name, 0) + int(counter.get("packets", 0))
    return found


def render_text(stats: Stats) -> str:
    def show(value):
        return "unknown" if value is None else str(value)
    lines = [f"security:   {stats.security}", f"associated: {show(stats.associated)}",
             f"leases:     {show(stats.leases)}", f"admitted:   {show(stats.admitted)}"]
    if stats.blocked is None:
        lines.append("blocked:    unknown (ruleset not loaded, or not root)")
    else:
        lines.append("blocked (packets, by reason):")
        lines += [f"  {name:<17} {stats.blocked.get(name, 0):>9}  {REASONS[name]}"
                  for name in BLOCK_COUNTERS]
    return "\n".join(lines)


def summary(stats: Stats) -> str:
    """One line for doctor."""
    blocked = "unknown" if stats.blocked is None else str(sum(stats.blocked.values()))
    return (f"{stats.security}; phones on air {stats.associated if stats.associated is not None else '?'}, "
            f"leases {stats.leases if stats.leases is not None else '?'}, "
            f"admitted {stats.admitted if stats.admitted is not None else '?'}, "
            f"packets refused {blocked}")


# --- edges ------------------------------------------------------------------------------------

def _run(argv: list[str]) -> str | None:
    if not shutil.which(argv[0]):
        return None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def collect(config: Config, now: float, etc: Path = ETC) -> Stats:
    from hotspot import firewall
    h = config.hotspot
    stats = Stats()
    conf = etc / "hostapd.conf"
    if conf.exists():
        text = conf.read_text(encoding="utf-8", errors="replace")
        stats.security = security.installed(text).describe().split(":")[0]
        radios = [h.interface] + ([owe_interface(h.interface)] if f"bridge={OWE_BRIDGE}" in text else [])
        outputs = [_run(["hostapd_cli", "-p", "/run/hostapd", "-i", r, "all_sta"]) for r in radios]
        if all(o is not None for o in outputs):
            stats.associated = sum(stations(o) for o in outputs)
    lease_file = Path(config.device.data_dir) / "hotspot" / "dnsmasq.leases"
    if lease_file.exists():
        stats.leases = live_leases(lease_file.read_text(errors="replace"), now)
    found = {}
    for family in ("inet", "bridge"):
        out = _run(["nft", "-j", "list", "counters", "table", family, TABLE])
        if out is None and family == "inet":
            break
        for name, packets in counters(out or "").items():
            found[name] = found.get(name, 0) + packets
    else:
        stats.blocked = found
        present = firewall.present_elements()
        stats.admitted = len(present) if present is not None else None
    return stats
