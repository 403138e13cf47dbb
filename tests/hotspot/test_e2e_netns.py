"""End to end in network namespaces: phones get a lease, the portal pops up, only allowed traffic
leaves, and the portal still pops up with the uplink cut (real dnsmasq, nftables, portal, udhcpc).
The portal runs unprivileged like its unit (User=samplepoint, no CAP_NET_ADMIN); under policy
`open` the root `samplepoint hotspot admit` loop lets phones out."""
from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from hotspot.render import render
from samplepoint import config as config_module
from tests.conftest import write_config
from tests.hotspot.netlab import NetLab

pytestmark = [pytest.mark.system, pytest.mark.slow]
AP_IP, UPLINK_AP, UPLINK_NET = "10.42.0.1", "198.51.100.1", "198.51.100.2"
ALLOWED_IP, FORBIDDEN_IP = "203.0.113.10", "203.0.113.20"
BRIDGE, UPLINK = "spradio0", "spuplink0"
STAFF_DISPLAY_PORT = 8080        # [display] bind's default, the port samplepoint-display.service opens
PROBE_HOSTS = ("connectivitycheck.gstatic.com", "captive.apple.com", "www.msftconnecttest.com",
               "detectportal.firefox.com")
PROBES = {
    "android": ("http://connectivitycheck.gstatic.com/generate_204", 204, ""),
    "iphone": ("http://captive.apple.com/hotspot-detect.html", 200,
               "<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>"),
    "windows": ("http://www.msftconnecttest.com/connecttest.txt", 200, "Microsoft Connect Test"),
}


def _require_tools():
    missing = [t for t in ("ip", "nft", "dnsmasq", "busybox", "bridge", "setpriv") if not shutil.which(t)]
    if missing or not hasattr(__import__("os"), "geteuid") or __import__("os").geteuid() != 0:
        pytest.skip(f"needs root and {', '.join(missing) or 'namespaces'}")


def _lab(tmp_path_factory, policy):
    _require_tools()
    tmp = tmp_path_factory.mktemp("netlab")
    # the portal's config and data, outside pytest's tmp
    shared = Path(tempfile.mkdtemp(prefix="sp-netlab-"))
    lab = NetLab(tmp)
    try:
        _build(lab, shared, policy)
        yield lab
    finally:
        lab.close()
        shutil.rmtree(shared, ignore_errors=True)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    yield from _lab(tmp_path_factory, "walled")


@pytest.fixture(scope="module")
def open_lab(tmp_path_factory):
    yield from _lab(tmp_path_factory, "open")


def _build(lab: NetLab, tmp: Path, policy: str) -> None:
    ap, net = lab.ns("ap"), lab.ns("inet")
    lab.ap, lab.inet = ap, net
    lab.ip(ap, "link", "add", BRIDGE, "type", "bridge")
    lab.ip(ap, "addr", "add", f"{AP_IP}/24", "dev", BRIDGE)
    lab.ip(ap, "link", "set", BRIDGE, "up")
    lab.ip(ap, "link", "add", UPLINK, "type", "veth", "peer", "name", "eth0", "netns", net)
    lab.ip(ap, "addr", "add", f"{UPLINK_AP}/24", "dev", UPLINK)
    lab.ip(ap, "link", "set", UPLINK, "up")
    lab.ip(net, "addr", "add", f"{UPLINK_NET}/24", "dev", "eth0")
    lab.ip(net, "link", "set", "eth0", "up")
    lab.ip(ap, "route", "add", "default", "via", UPLINK_NET)
    lab.run(ap, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    for address in (ALLOWED_IP, FORBIDDEN_IP):
        lab.ip(net, "addr", "add", f"{address}/32", "dev", "lo")
    # the internet: one DNS server knowing both domains, a web server for each (HTTP and 443)
    # (it logs every query it gets: the test checks what left the device)
    lab.upstream_log = tmp / "upstream-queries.log"
    lab.spawn(net, "dnsmasq", "-k", "--no-resolv", "--no-hosts", "--bind-interfaces", "--pid-file=",
              f"--listen-address={UPLINK_NET}", f"--address=/allowed.example/{ALLOWED_IP}",
              f"--address=/forbidden.example/{FORBIDDEN_IP}", "--log-queries",
              f"--log-facility={lab.upstream_log}", log="inet-dns")
    lab.spawn(net, sys.executable, str(Path(__file__).with_name("netpeer.py")), "serve",
              f"{ALLOWED_IP}:80:ALLOWED SITE", f"{FORBIDDEN_IP}:80:FORBIDDEN SITE",
              f"{ALLOWED_IP}:443:-", f"{FORBIDDEN_IP}:443:-", f"{ALLOWED_IP}:22:-",
              ready="ready", log="inet-web")
    # the venue LAN can route to the AP network through the device: the uplink-side test uses it
    lab.ip(net, "route", "add", "10.42.0.0/24", "via", UPLINK_AP)
    # the device: stand-ins for SSH, the staff display and the central port, listening everywhere
    lab.spawn(ap, sys.executable, str(Path(__file__).with_name("netpeer.py")), "serve",
              "0.0.0.0:22:-", f"0.0.0.0:{STAFF_DISPLAY_PORT}:STAFF DISPLAY", "0.0.0.0:8700:CENTRAL",
              ready="ready", log="ap-services")
    config_path = write_config(tmp, hotspot={
        "interface": BRIDGE, "uplink_interface": UPLINK, "address": f"{AP_IP}/24",
        "upstream_dns": [UPLINK_NET], "allow_domains": ["allowed.example"], "policy": policy},
        scan={"code_key_file": str(tmp / "code-key")})
    config = config_module.load(config_path)
    lab.config_path = config_path
    files = render(config, [f"{UPLINK_AP}/24"])
    for name, text in files.items():
        (tmp / name).write_text(text)
    (Path(config.device.data_dir) / "hotspot").mkdir(exist_ok=True)
    lab.run(ap, "nft", "-f", str(tmp / "hotspot.nft"))        # before dnsmasq: it fills allow4
    lab.spawn(ap, "dnsmasq", "-k", "-C", str(tmp / "dnsmasq.conf"), "--pid-file=", "--user=root",
              log="ap-dnsmasq")
    samplepoint = str(Path(sys.executable).with_name("samplepoint"))
    # As samplepoint-portal.service: without CAP_NET_ADMIN (no capabilities at all), so it cannot
    # touch nftables itself. The uid stays 0 so the checkout is readable wherever CI cloned it.
    lab.spawn(ap, "setpriv", "--bounding-set=-all", "--inh-caps=-all", "--no-new-privs",
              samplepoint, "portal", "--config", str(config_path), log="ap-portal")
    lab.wait_port(ap, AP_IP, config.hotspot.portal_port)
    if policy == "open":             # as samplepoint-admit.service: root, after the portal made the db
        lab.spawn(ap, samplepoint, "hotspot", "admit", "--config", str(config_path), log="ap-admit")
    lab.phone1 = lab.phone(ap, BRIDGE, 1)
    lab.lease1 = lab.dhcp(lab.phone1)


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _done(lab, phone, dns):
    page = lab.peer(phone, "http", f"http://{AP_IP}/", dns)
    assert page["status"] == 200, page
    token = re.search(r'name="csrf" value="([^"]+)"', page["body"]).group(1)
    pressed = lab.peer(phone, "http", f"http://{AP_IP}/done", dns, f"csrf={token}", "done=1")
    assert pressed["status"] == 200, pressed


def test_phone_gets_lease_from_rendered_dnsmasq(lab):
    address, dns = lab.lease1
    assert address.startswith("10.42.0.") and dns == AP_IP


def test_probes_pop_up_portal_then_close_after_done(lab):
    phone, (_, dns) = lab.phone1, lab.lease1
    for os_name, (url, _, _) in PROBES.items():
        before = lab.peer(phone, "http", url, dns)
        assert before["status"] == 302 and before["location"] == f"http://{AP_IP}/", (os_name, before)
        portal = lab.peer(phone, "http", before["location"], dns)
        assert portal["status"] == 200 and "Xong" in portal["body"], os_name
    _done(lab, phone, dns)
    for os_name, (url, status, body) in PROBES.items():
        after = lab.peer(phone, "http", url, dns)
        assert (after["status"], after["body"]) == (status, body), (os_name, after)


def test_allowed_domain_loads_forbidden_does_not(lab):
    phone, (_, dns) = lab.phone1, lab.lease1
    allowed = lab.peer(phone, "http", "http://allowed.example/", dns)
    assert allowed.get("body") == "ALLOWED SITE", allowed
    assert lab.peer(phone, "connect", ALLOWED_IP, "443")["result"] == "connected"
    forbidden = lab.peer(phone, "http", "http://forbidden.example/", dns)
    assert forbidden["error"].startswith("dns:"), forbidden        # walled: the name is not resolved
    by_address = lab.peer(phone, "http", f"http://{FORBIDDEN_IP}/", dns)
    assert by_address.get("body") != "FORBIDDEN SITE" and by_address.get("status") == 302, by_address
    https = lab.peer(phone, "connect", FORBIDDEN_IP, "443")
    assert https["result"] == "refused" and https["elapsed"] < 1.0, https


def test_allowed_address_answers_on_443_and_is_reset_on_22(lab):
    phone, (_, dns) = lab.phone1, lab.lease1
    assert lab.peer(phone, "http", "http://allowed.example/", dns).get("body") == "ALLOWED SITE"
    assert lab.peer(phone, "connect", ALLOWED_IP, "443")["result"] == "connected"
    ssh = lab.peer(phone, "connect", ALLOWED_IP, "22")
    assert ssh["result"] == "refused" and ssh["elapsed"] < 1.0, ssh
    # the server really listens on 22: from the internet side it answers
    assert lab.peer(lab.inet, "connect", ALLOWED_IP, "22")["result"] == "connected"


def test_dns_for_names_outside_the_allow_list_never_leaves_the_device(lab):
    phone, (_, dns) = lab.phone1, lab.lease1
    tunnel = f"{uuid.uuid4().hex}.tunnel.example"
    answer = lab.peer(phone, "dns", tunnel, "TXT", dns)
    assert answer["rcode"] == 3 and answer["elapsed"] < 0.1, answer          # NXDOMAIN at once
    allowed = f"{uuid.uuid4().hex}.allowed.example"
    lab.peer(phone, "dns", allowed, "TXT", dns)
    deadline = time.monotonic() + 5           # dnsmasq writes its log line after answering
    while allowed not in _read(lab.upstream_log) and time.monotonic() < deadline:
        time.sleep(0.1)
    upstream = _read(lab.upstream_log)
    assert allowed in upstream, "the upstream log does not show the allowed query"
    assert tunnel not in upstream


def test_uplink_side_reaches_only_what_the_configuration_opens(lab):
    net = lab.inet                # the venue LAN, in front of the device's uplink
    assert lab.peer(net, "connect", UPLINK_AP, "22")["result"] == "connected"   # uplink_tcp_ports
    for host, port in ((UPLINK_AP, STAFF_DISPLAY_PORT), (UPLINK_AP, 8700), (UPLINK_AP, 8009),
                       (AP_IP, 8009), (AP_IP, 53), (AP_IP, STAFF_DISPLAY_PORT)):
        outcome = lab.peer(net, "connect", host, str(port))
        assert outcome["result"] != "connected", (host, port, outcome)
    for server in (UPLINK_AP, AP_IP):
        assert lab.peer(net, "dns", "captive.apple.com", "A", server)["rcode"] is None, server
    # the portal is there for phones
    assert lab.peer(lab.phone1, "connect", AP_IP, "8009")["result"] == "connected"


def test_probe_hosts_resolve_at_once_when_the_uplink_dns_is_silent(lab):
    silence = ("table inet silent_dns {\n chain input {\n  type filter hook input priority 0;\n"
               "  udp dport 53 drop\n  tcp dport 53 drop\n }\n}\n")
    (lab.tmp / "silent.nft").write_text(silence)
    lab.run(lab.inet, "nft", "-f", str(lab.tmp / "silent.nft"))      # a 4G dongle with no data
    try:
        phone = lab.phone(lab.ap, BRIDGE, 3)
        _, dns = lab.dhcp(phone)
        stuck = lab.peer(phone, "dns", f"{uuid.uuid4().hex}.allowed.example", "A", dns)
        assert stuck["rcode"] is None or stuck["elapsed"] > 1, stuck        # the uplink DNS is silent
        for host in PROBE_HOSTS:
            for qtype in ("A", "AAAA", "HTTPS"):
                answer = lab.peer(phone, "dns", host, qtype, dns)
                assert answer["rcode"] == 0 and answer["elapsed"] < 0.1, (host, qtype, answer)
            looked_up = lab.peer(phone, "getaddrinfo", host)           # A and AAAA, as apps ask
            assert looked_up["addresses"] == [AP_IP] and looked_up["elapsed"] < 0.1, (host, looked_up)
        for url, _, _ in PROBES.values():
            probe = lab.peer(phone, "http", url, dns)
            assert probe["status"] == 302 and probe["elapsed"] < 1.0, (url, probe)
            page = lab.peer(phone, "http", probe["location"], dns)
            assert page["status"] == 200 and "Xong" in page["body"] and page["elapsed"] < 1.0, page
    finally:
        lab.run(lab.inet, "nft", "delete", "table", "inet", "silent_dns")


def test_doh_canary_is_refused(lab):
    phone, (_, dns) = lab.phone1, lab.lease1
    answer = lab.peer(phone, "http", "http://use-application-dns.net/", dns)
    assert answer["error"].startswith("dns:"), answer


def test_device_services_unreachable_from_phone(lab):
    phone = lab.phone1
    for host, port in ((AP_IP, 22), (AP_IP, STAFF_DISPLAY_PORT), (AP_IP, 8700), (UPLINK_AP, 22),
                       (UPLINK_AP, STAFF_DISPLAY_PORT)):
        outcome = lab.peer(phone, "connect", host, str(port))
        assert outcome["result"] != "connected", (host, port, outcome)
    # the same services are really there: reachable from inside the device
    assert lab.peer(lab.ap, "connect", AP_IP, str(STAFF_DISPLAY_PORT))["result"] == "connected"


def test_second_phone_cannot_reach_first(lab):
    lab.phone2 = lab.phone(lab.ap, BRIDGE, 2)
    lab.lease2 = lab.dhcp(lab.phone2)
    first_ip = lab.lease1[0]
    lab.spawn(lab.phone1, sys.executable, str(Path(__file__).with_name("netpeer.py")), "serve",
              f"{first_ip}:9000:PHONE ONE", ready="ready", log="phone1-web")
    assert lab.peer(lab.phone1, "connect", first_ip, "9000")["result"] == "connected"
    assert lab.peer(lab.phone2, "connect", first_ip, "9000")["result"] != "connected"


def test_stats_count_what_was_refused_by_reason_and_keep_no_address(lab):
    samplepoint = str(Path(sys.executable).with_name("samplepoint"))
    command = [samplepoint, "hotspot", "stats", "--config", str(lab.config_path)]
    found = json.loads(lab.run(lab.ap, *command, "--json").stdout)
    assert found["leases"] >= 2 and found["admitted"] == 0, found
    blocked = found["blocked"]
    for reason in ("outside_garden", "garden_port", "uplink_to_device", "phone_to_device"):
        assert blocked[reason] > 0, (reason, blocked)
    text = lab.run(lab.ap, *command).stdout
    assert "outside_garden" in text
    for output in (text, json.dumps(found)):
        assert not re.search(r"\b(10\.42|198\.51\.100|203\.0\.113)\.", output), output


def test_portal_pops_up_with_uplink_cut(lab):
    if not hasattr(lab, "phone2"):
        lab.phone2 = lab.phone(lab.ap, BRIDGE, 2)
        lab.lease2 = lab.dhcp(lab.phone2)
    lab.ip(lab.ap, "link", "set", UPLINK, "down")
    phone, (_, dns) = lab.phone2, lab.lease2
    for os_name, (url, _, _) in PROBES.items():
        probe = lab.peer(phone, "http", url, dns)
        assert probe["status"] == 302 and probe["location"] == f"http://{AP_IP}/", (os_name, probe)
    assert "Xong" in lab.peer(phone, "http", f"http://{AP_IP}/", dns)["body"]
    _done(lab, phone, dns)
    for os_name, (url, status, body) in PROBES.items():
        after = lab.peer(phone, "http", url, dns)
        assert (after["status"], after["body"]) == (status, body), (os_name, after)


def test_open_policy_lets_a_phone_out_after_done(open_lab):
    lab, phone, (_, dns) = open_lab, open_lab.phone1, open_lab.lease1
    before = lab.peer(phone, "http", "http://forbidden.example/", dns)
    assert before.get("status") == 302, before
    assert lab.peer(phone, "connect", FORBIDDEN_IP, "443")["result"] == "refused"
    _done(lab, phone, dns)
    deadline = time.monotonic() + 10          # the admit loop syncs the store every second
    while True:
        after = lab.peer(phone, "http", "http://forbidden.example/", dns)
        if after.get("body") == "FORBIDDEN SITE" or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert after.get("body") == "FORBIDDEN SITE", (after, (lab.tmp / "ap-admit.log").read_text()[-2000:])
    assert lab.peer(phone, "connect", FORBIDDEN_IP, "443")["result"] == "connected"
    assert lab.peer(phone, "connect", AP_IP, "22")["result"] != "connected"   # the device stays closed


def test_open_policy_answers_probe_hosts_locally_for_every_query_type(open_lab):
    lab, phone, (_, dns) = open_lab, open_lab.phone1, open_lab.lease1
    for host in PROBE_HOSTS:
        for qtype in ("AAAA", "HTTPS", "TXT"):
            answer = lab.peer(phone, "dns", host, qtype, dns)
            assert (answer["rcode"], answer["answers"]) == (0, 0), (host, qtype, answer)
    assert lab.peer(phone, "dns", "forbidden.example", "A", dns)["answers"] == 1   # open: forwarded
    time.sleep(0.3)
    upstream = _read(lab.upstream_log)
    assert "forbidden.example" in upstream
    assert not any(host in upstream for host in PROBE_HOSTS), upstream[-2000:]
