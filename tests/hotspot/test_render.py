"""Rendered configs pass hostapd's, dnsmasq's and nft's own checks; bad values are refused by key."""
from __future__ import annotations

import shutil

import pytest

from hotspot import verify
from hotspot.render import render
from samplepoint import config as config_module
from samplepoint.config import ConfigError


def build(**hotspot):
    hotspot.setdefault("upstream_dns", ["192.0.2.53"])
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
    assert "reject with tcp reset" in nft
    assert 'iifname "wlan0" oifname "wlan0" counter name phone_to_phone drop' in nft
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
    ({"address": "10.42.0.1/28"}, "hotspot.max_clients"),          # 5 leases for 15 phones
    ({"address": "10.42.0.1/28", "max_clients": 6}, "hotspot.address"),
    ({"dhcp_lease": "0m"}, "hotspot.dhcp_lease"),
    ({"dhcp_lease": "1m"}, "hotspot.dhcp_lease"),
    ({"dhcp_lease": "0h"}, "hotspot.dhcp_lease"),
    ({"portal_port": 22}, "hotspot.portal_port"),                  # would open SSH to phones
    ({"portal_port": 53}, "hotspot.portal_port"),
    ({"uplink_tcp_ports": [8009]}, "hotspot.uplink_tcp_ports"),     # the portal, from the venue LAN
    ({"uplink_tcp_ports": [0]}, "hotspot.uplink_tcp_ports"),
    ({"enhanced_open": "yes"}, "hotspot.enhanced_open"),
])
def test_bad_values_refused_naming_the_key(overrides, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        render(build(**overrides))


def test_detected_uplink_overlap_refused():
    with pytest.raises(ConfigError, match=r"hotspot\.address .*overlaps the uplink network 10\.42\.0\.0/23"):
        render(build(), ["10.42.1.5/23"])


def test_a_28_network_fits_as_many_phones_as_it_has_leases():
    text = render(build(address="10.42.0.1/28", max_clients=5))["dnsmasq.conf"]
    assert "dhcp-range=10.42.0.10,10.42.0.14,255.255.255.240,2h" in text


def test_probe_hosts_and_portal_name_answer_every_query_type_locally():
    dnsmasq = render(build(https_name="portal.example.vn"))["dnsmasq.conf"].splitlines()
    for host in ("connectivitycheck.gstatic.com", "captive.apple.com", "www.msftconnecttest.com",
                 "detectportal.firefox.com", "portal.example.vn"):
        # address= answers A; local= makes AAAA, HTTPS, TXT... NODATA here instead of upstream
        assert f"address=/{host}/10.42.0.1" in dnsmasq and f"local=/{host}/" in dnsmasq


def test_walled_dns_forwards_only_allow_listed_names():
    lines = render(build(allow_domains=["a.example", "b.example"],
                         upstream_dns=["192.0.2.53", "192.0.2.54"]))["dnsmasq.conf"].splitlines()
    assert "no-resolv" in lines and "address=/#/" in lines
    assert [line for line in lines if line.startswith("server=")] == [
        "server=/a.example/192.0.2.53", "server=/a.example/192.0.2.54",
        "server=/b.example/192.0.2.53", "server=/b.example/192.0.2.54"]


def test_walled_dns_uses_the_uplinks_resolvers_when_none_configured():
    config = build(upstream_dns=[], allow_domains=["a.example"])
    lines = render(config, resolvers=["10.42.0.1", "192.168.1.1"])["dnsmasq.conf"].splitlines()
    assert [line for line in lines if line.startswith("server=")] == ["server=/a.example/192.168.1.1"]


def test_walled_dns_falls_back_to_public_resolvers_when_none_known():
    # at boot the uplink may not be up: the hotspot starts anyway
    lines = render(build(upstream_dns=[], allow_domains=["a.example"]))["dnsmasq.conf"].splitlines()
    assert [line for line in lines if line.startswith("server=")] == [
        "server=/a.example/1.1.1.1", "server=/a.example/8.8.8.8"]


def test_open_policy_forwards_every_name():
    lines = render(build(policy="open"))["dnsmasq.conf"].splitlines()
    assert "address=/#/" not in lines and "server=192.0.2.53" in lines


def test_garden_opens_only_web_ports_and_quic_on_request():
    nft = render(build())["hotspot.nft"]
    assert 'oifname "eth0" ip daddr @allow4 tcp dport { 80, 443 } accept' in nft
    assert "udp dport 443" not in nft
    assert 'ip daddr @allow4 udp dport 443 accept' in render(build(allow_quic=True))["hotspot.nft"]


def test_uplink_side_reaches_only_the_configured_ports():
    nft = render(build())["hotspot.nft"]
    assert "iifname != " not in nft                       # nothing accepted just for not being a phone
    assert "\t\ttcp dport 22 accept\n" in nft
    sealed = render(build(uplink_tcp_ports=[]))["hotspot.nft"]
    assert "tcp dport 22" not in sealed and "counter name uplink_to_device reject" in sealed
    assert "tcp dport { 22, 2222 } accept" in render(build(uplink_tcp_ports=[22, 2222]))["hotspot.nft"]


def test_owe_transition_networks_share_one_bridge():
    files = render(build(), owe=True)
    hostapd = files["hostapd.conf"].splitlines()
    assert hostapd.count("bridge=sphotspot0") == 2 and "bss=wlan0owe" in hostapd
    assert "wpa_key_mgmt=OWE" in hostapd and "ieee80211w=2" in hostapd
    assert "owe_transition_ifname=wlan0owe" in hostapd and "owe_transition_ifname=wlan0" in hostapd
    assert "interface=sphotspot0" in files["dnsmasq.conf"].splitlines()
    assert 'iifname "sphotspot0" tcp dport 80 redirect to :8009' in files["hotspot.nft"]
    assert 'iifname { "wlan0", "wlan0owe" } oifname { "wlan0", "wlan0owe" }' in files["hotspot.nft"]
    # a passphrase means WPA2: no OWE, no bridge
    wpa = render(build(passphrase="12345678"), owe=True)["hostapd.conf"]
    assert "OWE" not in wpa and "bridge=" not in wpa


def test_owe_hidden_network_name_stays_valid_utf8():
    ssid = "Wi-Fi điểm lấy mẫu số"             # 31 bytes; cutting at 28 would split "ố"
    hostapd = render(build(ssid=ssid), owe=True)["hostapd.conf"].splitlines()
    hidden = [line for line in hostapd if line.startswith("ssid2=")][1].removeprefix("ssid2=")
    name = bytes.fromhex(hidden).decode("utf-8")
    assert name.endswith("-OWE") and len(name.encode()) <= 32


@pytest.mark.system
@pytest.mark.parametrize("overrides", [{}, {"isolate_clients": False, "allow_quic": True},
                                       {"ssid": "Wi-Fi miễn phí \"Điểm\" #1", "uplink_tcp_ports": []}])
def test_owe_configuration_passes_hostapds_parser(tmp_path, overrides):
    missing = [t for t in ("hostapd", "dnsmasq", "nft", "unshare") if not shutil.which(t)]
    if missing:
        pytest.skip(f"needs {missing}")
    for name, text in render(build(**overrides), ["192.168.1.0/24"], owe=True).items():
        (tmp_path / name).write_text(text)
    assert verify.all_files(tmp_path) == {"hostapd.conf": [], "dnsmasq.conf": [], "hotspot.nft": []}
