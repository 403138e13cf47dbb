"""Which protection the hotspot uses: OWE where the radio and hostapd can, WPA2 with a passphrase,
open otherwise; read back from an installed hostapd.conf for doctor."""
from __future__ import annotations

import shutil

import pytest

from hotspot import security
from hotspot.render import render
from samplepoint import config as config_module

MT76 = """Wiphy phy1
	Supported Ciphers:
		* WEP40 (00-0f-ac:1)
		* CCMP-128 (00-0f-ac:4)
		* CMAC (00-0f-ac:6)
		* GCMP-128 (00-0f-ac:8)
	valid interface combinations:
		 * #{ IBSS } <= 1, #{ managed, AP, mesh point } <= 16,
		   total <= 16, #channels <= 1, STA/AP BI must match
	HT Capability overrides:
"""
BRCMFMAC = """Wiphy phy0
	Supported Ciphers:
		* WEP40 (00-0f-ac:1)
		* TKIP (00-0f-ac:2)
		* CCMP-128 (00-0f-ac:4)
		* CMAC (00-0f-ac:6)
	valid interface combinations:
		 * #{ managed } <= 1, #{ P2P-device } <= 1, #{ P2P-client, P2P-GO } <= 1,
		   total <= 3, #channels <= 2
		 * #{ managed } <= 1, #{ AP } <= 1, #{ P2P-client } <= 1, #{ P2P-device } <= 1,
		   total <= 4, #channels <= 1
"""
ONE_AP = MT76.replace("<= 16,\n\t\t   total <= 16", "<= 16,\n\t\t   total <= 1")
NO_PMF = MT76.replace("\t\t* CMAC (00-0f-ac:6)\n", "")


def build(**hotspot):
    return config_module.from_dict({"hotspot": {"upstream_dns": ["192.0.2.53"], **hotspot}})


@pytest.mark.parametrize("text, driver, ok", [
    (MT76, "mt76x2u", True), (BRCMFMAC, "brcmfmac", False),
    (BRCMFMAC + "\t\t* [ OWE_OFFLOAD_AP ]: OWE offload\n", "brcmfmac", False),   # still one AP
    (ONE_AP, "mt76x2u", False), (NO_PMF, "mt76x2u", False), ("", None, False),
])
def test_owe_support_from_iw(text, driver, ok):
    assert security.owe_support(text, driver)[0] is ok


def test_ap_interfaces_counted_with_the_total():
    assert security.ap_interfaces_allowed(MT76) == 16
    assert security.ap_interfaces_allowed(BRCMFMAC) == 1
    assert security.ap_interfaces_allowed(ONE_AP) == 1


@pytest.mark.parametrize("keys, radio, hostapd_owe, mode", [
    ({}, (True, "ok"), True, "owe"),
    ({}, (False, "one AP only"), True, "open"),
    ({}, (True, "ok"), False, "open"),
    ({"enhanced_open": "off"}, (True, "ok"), True, "open"),
    ({"enhanced_open": "on"}, (False, "?"), True, "owe"),
    ({"passphrase": "mat khau 2021"}, (True, "ok"), True, "wpa2"),
])
def test_decide(keys, radio, hostapd_owe, mode):
    assert security.decide(build(**keys), radio, hostapd_owe).mode == mode


def test_installed_file_says_what_is_in_use():
    assert security.installed(render(build(), owe=True)["hostapd.conf"]).mode == "owe"
    assert security.installed(render(build())["hostapd.conf"]).mode == "open"
    assert security.installed(render(build(passphrase="12345678"))["hostapd.conf"]).mode == "wpa2"


def test_resolvers_from_resolv_conf():
    text = "# generated\nnameserver 192.168.1.1\nnameserver  fe80::1\nnameserver 999.1.1.1\nsearch lan\n"
    assert security.resolvers(text) == ["192.168.1.1"]


@pytest.mark.system
def test_this_hostapd_knows_owe():
    if not (shutil.which("hostapd") and shutil.which("unshare")):
        pytest.skip("needs hostapd")
    assert security.hostapd_knows_owe()


@pytest.mark.system
def test_a_hostapd_without_owe_is_noticed(monkeypatch):
    if not shutil.which("hostapd"):
        pytest.skip("needs hostapd")
    monkeypatch.setattr(security, "OWE_PROBE_CONF", security.OWE_PROBE_CONF.replace("=OWE", "=OWEX"))
    assert not security.hostapd_knows_owe()
