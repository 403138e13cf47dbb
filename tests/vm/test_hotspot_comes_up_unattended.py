"""The hotspot of a virtual Pi on a real kernel, from the card prepare-sd wrote: with the radio there
at boot, and with a radio that appears only after boot (a USB adapter, slow firmware), the access
point, DHCP/DNS, the firewall and the portal come up with no one touching the device; phones
(wpa_supplicant in namespaces of their own) associate on the Enhanced Open (OWE) network and on its
open transition network, get a lease, and their captive-portal probe lands on the portal; one phone
cannot reach the other. NetworkManager runs, as on Raspberry Pi OS, and the radio at boot starts
soft-blocked by rfkill."""
from __future__ import annotations

import time

import pytest

from tests.vm import guest
from tests.vm.conftest import SSID
from tests.vm.phones import Phone

pytestmark = [pytest.mark.system, pytest.mark.slow]

HOTSPOT_UNITS = ["samplepoint-hotspot.service", "samplepoint-hostapd.service",
                 "samplepoint-dnsmasq.service", "samplepoint-portal.service"]


def hotspot_up(vm: guest.VM) -> bool:
    states = [vm.unit(u)["ActiveState"] for u in HOTSPOT_UNITS]
    if states != ["active"] * len(HOTSPOT_UNITS):
        return False
    ap = vm.sh("iw dev wlan0 info", check=False).stdout
    table = vm.sh("nft list tables", check=False).stdout
    return "type AP" in ap and "samplepoint" in table


def describe(vm: guest.VM) -> str:
    """What a technician would look at when the hotspot is not up."""
    return "\n".join(vm.sh(c, check=False).stdout + vm.sh(c, check=False).stderr for c in (
        "systemctl --no-pager status " + " ".join(HOTSPOT_UNITS) + " samplepoint-admit.service",
        "journalctl --no-pager -b -n 60 -u samplepoint-hotspot.service -u samplepoint-hostapd.service "
        "-u samplepoint-dnsmasq.service -u NetworkManager.service",
        "iw dev", "rfkill list 2>/dev/null || cat /sys/class/rfkill/*/soft"))


def wait_hotspot(vm: guest.VM, timeout: float = 300) -> float:
    try:
        vm.wait("the hotspot up", lambda: hotspot_up(vm), timeout=timeout, every=2)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{describe(vm)}") from None
    return time.monotonic() - vm.started


def phones_reach_the_portal(vm: guest.VM, figures: dict) -> None:
    owe, legacy = Phone(vm, 1), Phone(vm, 2)
    state, figures["owe_association_s"] = owe.join(SSID, "OWE")
    assert state["key_mgmt"] == "OWE" and state.get("pmf") != "0", state
    start = time.monotonic()
    assert owe.lease().startswith("10.42.0.")
    probe = owe.probe()
    figures["owe_association_to_portal_s"] = time.monotonic() - start
    assert probe["probe_status"] == 302 and probe["location"].startswith("http://10.42.0.1"), probe
    assert probe["portal_status"] == 200 and probe["portal_vi"], probe

    state, figures["open_association_s"] = legacy.join(SSID, "NONE")
    assert state["key_mgmt"] == "NONE" and state["ssid"] == SSID, state
    assert legacy.lease().startswith("10.42.0.")
    assert legacy.probe()["probe_status"] == 302
    # Client isolation as configured: the device answers, the other phone does not.
    assert owe.can_ping("10.42.0.1")
    assert not owe.can_ping(legacy.address()), "one phone reached the other"


def test_radio_present_at_boot(device, tmp_path):
    """As on a Raspberry Pi OS card, Wi-Fi starts soft-blocked (rfkill) and the image has no
    rfkill tool; NetworkManager runs and has taken wlan0 before the hotspot applies."""
    disks, central = device
    vm = guest.VM(disks, tmp_path / "vm", central_port=central.port, radios=3,
                  append="rfkill.default_state=0")
    figures = {}
    try:
        figures["boot_s"] = vm.boot()
        figures["boot_to_hotspot_s"] = wait_hotspot(vm)
        vm.wait("enrolment", lambda: central.db.devices(), timeout=240)
        card = vm.sh("ls /boot/firmware/samplepoint").stdout.split()
        assert "samplepoint.toml.applied" in card and "enrol-code" not in card, card
        phones_reach_the_portal(vm, figures)
    finally:
        print(f"radio at boot: {figures}")
        vm.close()


def test_radio_appearing_after_boot(device, tmp_path):
    disks, central = device
    vm = guest.VM(disks, tmp_path / "vm", central_port=central.port, radios=0)
    figures = {}
    try:
        figures["boot_s"] = vm.boot()
        assert vm.unit("samplepoint-hotspot.service")["ActiveState"] == "inactive"
        loaded = time.monotonic()
        vm.sh("modprobe mac80211_hwsim radios=3")
        wait_hotspot(vm)
        figures["radio_to_hotspot_s"] = time.monotonic() - loaded
        phone = Phone(vm, 1)
        phone.join(SSID, "OWE")
        assert phone.lease().startswith("10.42.0.")
        assert phone.probe()["probe_status"] == 302
    finally:
        print(f"radio after boot: {figures}")
        vm.close()
