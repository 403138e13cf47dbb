"""Rendered configs pass hostapd's, dnsmasq's and nft's own checks; bad values are refused by key."""
from __future__ import annotations

import shutil

import pytest

from hotspot import verify
from hotspot.render import render
from samplepoint import config as config_module
from samplepoint.config import ConfigError


def build(**hotspot):
    return config_module.from_dict({"hotspot": hotspot})


VARIANTS = [
    {},
    {"passphrase": "mat khau wifi 2021", "band": "5", "channel": 149, "policy": "open"},
    {"ssid": "Wi-Fi miễn phí \"Điểm\" #1", "isolate_clients": False, "uplink_interface": "",
     "https_name": "portal.example.vn", "upstream_dns": ["192.0.2.53"]},
    {"address": "172.20.0.1/16", "allow_domains": ["a.example", "b.example"]},
]


@pytest.mark.system
@pytest.mark.parametrize("overrides", VARIANTS)
def test_rendered_files_pass_the_programs_checks(tmp_path, overrides):
    missing = [t for t in ("hostapd", "dnsmasq", "nft", "unshare") if not shutil.which(t)]
    if missing:
        pytest.skip(f"needs {missing}")
    for name, text in render(build(**overrides), ["192.168.1.0/24"]).items():
        (tmp_path / name).write_text(text)
    assert verify.all_files(tmp_path) == {"hostapd.conf": [], "dnsmasq.conf": [], "hotspot.nft": []}


@pytest.mark.system
def test_checks_catch_a_bad_line(tmp_path):
    files = render(build())
    (tmp_path / "hostapd.conf").write_text(files["hostapd.conf"] + "no_such_item=1\n")
    (tmp_path / "dnsmasq.conf").write_text(files["dnsmasq.conf"] + "no-such-option\n")
    (tmp_path / "hotspot.nft").write_text(files["hotspot.nft"] + "table inet x { chain c { nonsense } }\n")
    errors = verify.all_files(tmp_path)
    assert any(line.startswith("Line ") for line in errors["hostapd.conf"]), errors
    assert errors["dnsmasq.conf"] and errors["hotspot.nft"]


def test_contents():
    files = render(build(passphrase="12345678", https_name="portal.example.vn"))
    hostapd, dnsmasq, nft = files["hostapd.conf"], files["dnsmasq.conf"], files["hotspot.nft"]
    for line in ("country_code=VN", "max_num_sta=15", "ap_isolate=1", "ap_max_inactivity=300",
                 "wpa=2", "wpa_passphrase=12345678"):
        assert line in hostapd.splitlines()
    assert "address=/use-application-dns.net/" in dnsmasq
    assert "address=/captive.apple.com/10.42.0.1" in dnsmasq
    assert 'dhcp-option=114,"https://portal.example.vn/api/captive"' in dnsmasq
    assert "nftset=/play.google.com/4#inet#samplepoint_hotspot#allow4" in dnsmasq
    assert "dhcp-range=10.42.0.10,10.42.0.254,255.255.255.0,2h" in dnsmasq
    assert 'tcp dport 80 redirect to :8009' in nft and "masquerade" in nft
    assert "reject with tcp reset" in nft and 'iifname "wlan0" oifname "wlan0" drop' in nft
    assert "dhcp-option=114" not in render(build())["dnsmasq.conf"]


def test_ssid_is_hex_encoded_so_nothing_can_inject_a_line():
    ssid = "a\"b=c'd"
    text = render(build(ssid=ssid))["hostapd.conf"]
    assert "ssid2=" + ssid.encode().hex() in text.splitlines()


@pytest.mark.parametrize("overrides, key", [
    ({"ssid": "x" * 33}, "hotspot.ssid"),
    ({"ssid": "Điểm lấy mẫu xét nghiệm Đồng Tháp"}, "hotspot.ssid"),
    ({"ssid": ""}, "hotspot.ssid"),
    ({"channel": 14}, "hotspot.channel"),
    ({"band": "5", "channel": 6}, "hotspot.channel"),
    ({"band": "5", "channel": 52}, "hotspot.channel"),
    ({"passphrase": "short"}, "hotspot.passphrase"),
    ({"address": "8.8.8.1/24"}, "hotspot.address"),
    ({"address": "10.42.0.200/24"}, "hotspot.address"),
    ({"address": "nonsense"}, "hotspot.address"),
    ({"uplink_subnet": "10.42.0.0/16"}, "hotspot.address"),
    ({"uplink_subnet": "bad"}, "hotspot.uplink_subnet"),
    ({"uplink_interface": "wlan0"}, "hotspot.uplink_interface"),
    ({"interface": "wlan0;reboot"}, "hotspot.interface"),
    ({"allow_domains": ["evil.example/#inet#x"]}, "hotspot.allow_domains"),
    ({"upstream_dns": ["1.2.3"]}, "hotspot.upstream_dns"),
    ({"https_name": "bad name"}, "hotspot.https_name"),
    ({"policy": "everything"}, "hotspot.policy"),
])
def test_bad_values_refused_naming_the_key(overrides, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        render(build(**overrides))


def test_detected_uplink_overlap_refused():
    with pytest.raises(ConfigError, match=r"hotspot\.address .*overlaps the uplink network 10\.42\.0\.0/23"):
        render(build(), ["10.42.1.5/23"])
