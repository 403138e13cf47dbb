"""Phones on the virtual Pi's hotspot: an hwsim radio moved into a network namespace of its own in
the guest, wpa_supplicant as the phone's Wi-Fi, busybox udhcpc for its lease, Python's http.client
for its OS's captive-portal probe."""
from __future__ import annotations

import json
import time

from tests.vm.guest import SLOW, VM

HOME = "/root/phones"
SETUP = r"""
set -eu
n=$1; ns=phone$n
if ! ip netns list | grep -qw "$ns"; then
    ip netns add "$ns"; mkdir -p /etc/netns/$ns; : > /etc/netns/$ns/resolv.conf
    phy=$(cat /sys/class/net/wlan$n/phy80211/name)
    iw phy "$phy" set netns name "$ns"
    ip -n "$ns" link set lo up
fi
"""
UDHCPC = r"""#!/bin/sh
case "$1" in
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/$subnet" dev "$interface"
    [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
    [ -n "$dns" ] && echo "nameserver ${dns%% *}" > /etc/resolv.conf ;;
esac
exit 0
"""
# The probe Android sends, then the page it was sent to; times are the guest's (not wall time
# under -icount), so the test measures on the host too.
PROBE = r"""
import http.client, json, sys, time, urllib.parse
out = {"probe_status": None}
try:
    c = http.client.HTTPConnection("connectivitycheck.gstatic.com", 80, timeout=30)
    c.request("GET", "/generate_204")
    r = c.getresponse()
    out["probe_status"], out["location"] = r.status, r.getheader("Location")
    r.read()
    if out["location"]:
        url = urllib.parse.urlsplit(out["location"])
        c = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=30)
        c.request("GET", url.path or "/")
        r = c.getresponse()
        body = r.read()
        out["portal_status"], out["portal_bytes"] = r.status, len(body)
        out["portal_vi"] = b'lang="vi"' in body
except Exception as exc:      # the test shows what the phone saw
    out["error"] = repr(exc)
    out["resolv.conf"] = open("/etc/resolv.conf").read()
print(json.dumps(out))
"""


class Phone:
    def __init__(self, vm: VM, number: int):
        self.vm, self.n, self.ns = vm, number, f"phone{number}"
        self.iface = f"wlan{number}"
        # in /root: /run is mounted noexec, and udhcpc runs its script directly
        if vm.sh(f"test -x {HOME}/udhcpc.script", check=False).returncode != 0:
            vm.sh(f"mkdir -p {HOME}")
            vm.write(f"{HOME}/udhcpc.script", UDHCPC, mode="0755")
            vm.write(f"{HOME}/probe.py", PROBE)
            vm.write(f"{HOME}/phone-setup.sh", SETUP)
        vm.sh(f"sh {HOME}/phone-setup.sh {number}")

    def wpa(self, command: str) -> str:
        return self.vm.sh(f"wpa_cli -p /run/wpa_{self.ns} -i {self.iface} {command}",
                          check=False).stdout

    def status(self) -> dict[str, str]:
        return dict(line.partition("=")[::2] for line in self.wpa("status").splitlines() if "=" in line)

    def join(self, ssid: str, key_mgmt: str, timeout: float = 180) -> tuple[dict, float]:
        """Associate (retrying as a phone does); returns (wpa_supplicant status, seconds)."""
        pmf = "ieee80211w=2\n" if key_mgmt == "OWE" else ""
        self.vm.write(f"/run/{self.ns}.conf", f"ctrl_interface=/run/wpa_{self.ns}\nnetwork={{\n"
                      f'ssid="{ssid}"\nkey_mgmt={key_mgmt}\n{pmf}}}\n')
        start = time.monotonic()
        self.vm.sh(f"ip netns exec {self.ns} wpa_supplicant -B -D nl80211 -i {self.iface} "
                   f"-c /run/{self.ns}.conf -P /run/wpa_{self.ns}.pid -f /run/wpa_{self.ns}.log")
        deadline, last_retry = start + timeout * SLOW, start
        while time.monotonic() < deadline:
            if self.status().get("wpa_state") == "COMPLETED":
                time.sleep(2)        # still associated 2 s later (a re-association restarts it)
                state = self.status()
                if state.get("wpa_state") == "COMPLETED":
                    return state, time.monotonic() - start
            if time.monotonic() - last_retry > 40 * SLOW:
                self.wpa("reassociate")
                last_retry = time.monotonic()
            time.sleep(1)
        log = self.vm.sh(f"tail -30 /run/wpa_{self.ns}.log", check=False).stdout
        raise TimeoutError(f"{self.ns} did not associate with {ssid} ({key_mgmt}): {self.status()}\n{log}")

    def lease(self) -> str:
        done = self.vm.sh(f"ip netns exec {self.ns} busybox udhcpc -i {self.iface} "
                          f"-s {HOME}/udhcpc.script -n -q -t 20 -T 2 -f", timeout=120, check=False)
        address = self.address()
        assert done.returncode == 0 and address, f"{self.ns}: no lease: {done.stdout} {done.stderr}"
        return address

    def address(self) -> str:
        out = self.vm.sh(f"ip -n {self.ns} -4 -br addr show {self.iface}").stdout.split()
        return out[2].split("/")[0] if len(out) > 2 else ""

    def probe(self) -> dict:
        done = self.vm.sh(f"ip netns exec {self.ns} python3 {HOME}/probe.py", timeout=120)
        seen = json.loads(done.stdout)
        if "error" in seen:
            seen["routes"] = self.vm.sh(f"ip -n {self.ns} -4 addr; ip -n {self.ns} route",
                                        check=False).stdout
        return seen

    def can_ping(self, address: str) -> bool:
        return self.vm.sh(f"ip netns exec {self.ns} busybox ping -c 2 -W 3 {address}",
                          check=False, timeout=60).returncode == 0
