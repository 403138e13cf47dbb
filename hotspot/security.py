"""Which Wi-Fi protection the hotspot uses: WPA2 (passphrase), Enhanced Open (OWE) with an open
transition network, or open, and whether this radio and hostapd can do OWE (`hotspot.enhanced_open`).

`owe_support` and `decide` are pure (text in, verdict out); `detect` is the thin edge that asks
`iw` and hostapd's own parser.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from samplepoint.config import Config

# Drivers whose firmware does the AP's authentication itself (FullMAC): OWE needs the firmware to
# offer it, which `iw` then lists as the OWE_OFFLOAD_AP extended feature.
FULLMAC_DRIVERS = {"brcmfmac", "mwifiex_sdio", "mwifiex_usb", "mwifiex_pcie", "qtnfmac"}
OWE_PROBE_CONF = ("interface=spowe-probe0\ndriver=nl80211\nssid=probe\nwpa=2\nwpa_key_mgmt=OWE\n"
                  "rsn_pairwise=CCMP\nieee80211w=2\n")


@dataclass(frozen=True)
class Security:
    mode: str          # "wpa2", "owe" (Enhanced Open + open transition) or "open"
    reason: str        # why, for doctor and the render/apply output

    @property
    def owe(self) -> bool:
        return self.mode == "owe"

    def describe(self) -> str:
        return {"wpa2": "WPA2 with a passphrase",
                "owe": "Enhanced Open (OWE) with an open transition network",
                "open": "open (unencrypted)"}[self.mode] + f": {self.reason}"


def ap_interfaces_allowed(iw_text: str) -> int:
    """How many AP interfaces the phy allows at once, from `iw phy PHY info`'s combinations."""
    best = 0
    for combo in re.split(r"\n\s*\*\s*#\{", iw_text.split("valid interface combinations:", 1)[-1]):
        total = re.search(r"total <= (\d+)", combo)
        for types, limit in re.findall(r"\{?([^{}#]*)\}\s*<=\s*(\d+)", combo):
            if "AP" in [t.strip() for t in types.split(",")]:
                allowed = int(limit) if not total else min(int(limit), int(total[1]))
                best = max(best, allowed)
    return best


def owe_support(iw_text: str, driver: str | None) -> tuple[bool, str]:
    """(can this radio run OWE transition mode, why) from `iw phy` text and the kernel driver."""
    if not iw_text:
        return False, "no radio information (`iw` missing or no wireless interface)"
    if driver in FULLMAC_DRIVERS and "OWE_OFFLOAD_AP" not in iw_text:
        return False, f"the {driver} radio's firmware does not offer OWE in AP mode"
    if not re.search(r"\bCMAC\b", iw_text):
        return False, "the radio lacks protected management frames (CMAC), which OWE requires"
    if ap_interfaces_allowed(iw_text) < 2:
        return False, "the radio runs only one AP network; OWE transition needs two"
    return True, "the radio and hostapd support it"


def decide(config: Config, radio: tuple[bool, str], hostapd_owe: bool) -> Security:
    h = config.hotspot
    if h.passphrase:
        return Security("wpa2", "hotspot.passphrase is set")
    if h.enhanced_open == "off":
        return Security("open", "hotspot.enhanced_open = off")
    if h.enhanced_open == "on":
        return Security("owe", "hotspot.enhanced_open = on")
    if not hostapd_owe:
        return Security("open", "this hostapd was built without OWE")
    ok, why = radio
    return Security("owe" if ok else "open", why)


# --- edges ------------------------------------------------------------------------------------

def _iw_phy(interface: str, sys_class_net: Path = Path("/sys/class/net")) -> tuple[str, str | None]:
    phy = sys_class_net / interface / "phy80211" / "name"
    driver_link = sys_class_net / interface / "device" / "driver"
    driver = driver_link.resolve().name if driver_link.exists() else None
    if not phy.exists() or not shutil.which("iw"):
        return "", driver
    done = subprocess.run(["iw", "phy", phy.read_text().strip(), "info"], capture_output=True,
                          text=True, timeout=10)
    return (done.stdout if done.returncode == 0 else ""), driver


def hostapd_knows_owe() -> bool:
    """hostapd's own parser accepts wpa_key_mgmt=OWE (a build option). It parses a config for an
    interface that does not exist, so it stops right after parsing; no namespace is needed (the
    apply unit may not create one)."""
    if not shutil.which("hostapd"):
        return False
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "owe.conf"
        path.write_text(OWE_PROBE_CONF)
        try:
            done = subprocess.run(["hostapd", str(path)], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            return False
    out = done.stdout + done.stderr
    return not re.search(r"^Line [0-9]+:|errors found in configuration", out, re.M)


def detect(config: Config) -> Security:
    """The protection `render`/`apply` use for this config on this device."""
    h = config.hotspot
    if h.passphrase or h.enhanced_open != "auto":
        return decide(config, (False, ""), True)
    iw_text, driver = _iw_phy(h.interface)
    return decide(config, owe_support(iw_text, driver), hostapd_knows_owe())


def installed(hostapd_conf: str) -> Security:
    """What an installed hostapd.conf provides (for doctor and `hotspot stats`)."""
    if re.search(r"^wpa_key_mgmt=.*OWE", hostapd_conf, re.M):
        return Security("owe", "installed hostapd.conf")
    if re.search(r"^wpa_passphrase=", hostapd_conf, re.M):
        return Security("wpa2", "installed hostapd.conf")
    return Security("open", "installed hostapd.conf")


def resolvers(resolv_conf: str) -> list[str]:
    """IPv4 nameservers of a resolv.conf text (the uplink's DNS when hotspot.upstream_dns is empty)."""
    found = re.findall(r"^\s*nameserver\s+(\d{1,3}(?:\.\d{1,3}){3})\s*$", resolv_conf, re.M)
    return [a for a in found if all(int(p) <= 255 for p in a.split("."))]
