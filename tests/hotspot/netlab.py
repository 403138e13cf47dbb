"""Network namespaces for the hotspot end-to-end test: an AP, an internet, and phones, joined by veths.

The AP's "radio" is a bridge whose ports are isolated (what hostapd's ap_isolate does on a real
radio); each phone hangs off one port. Everything created here is removed in `close()`, processes
are ended by pid, and traffic never leaves these namespaces.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

PEER = str(Path(__file__).with_name("netpeer.py"))
UDHCPC_SCRIPT = """#!/bin/sh
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    ip route replace default via "$router"
    echo "$ip $dns" > "{out}"
    ;;
esac
"""


class NetLab:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.tag = uuid.uuid4().hex[:6]
        self.namespaces: list[str] = []
        self.processes: list[subprocess.Popen] = []
        self.etc_folders: list[Path] = []

    def ns(self, role: str) -> str:
        name = f"sp{role}-{self.tag}"
        subprocess.run(["ip", "netns", "add", name], check=True)
        self.namespaces.append(name)
        self.ip(name, "link", "set", "lo", "up")
        return name

    def ip(self, ns: str, *args: str) -> None:
        subprocess.run(["ip", "-n", ns, *args], check=True, capture_output=True)

    def run(self, ns: str, *argv: str, check=True, timeout=30) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", ns, *argv], check=check, capture_output=True,
                              text=True, timeout=timeout)

    def spawn(self, ns: str, *argv: str, ready: str | None = None, log: str = "proc") -> subprocess.Popen:
        out = open(self.tmp / f"{log}.log", "w")
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdout=subprocess.PIPE if ready
                                else out, stderr=out, text=True, start_new_session=True)
        self.processes.append(proc)
        if ready:
            line = proc.stdout.readline()
            assert ready in line, f"{argv[0]} did not start: {line!r}; see {out.name}"
        return proc

    def peer(self, ns: str, *args: str) -> dict:
        done = self.run(ns, sys.executable, PEER, *args, check=False, timeout=20)
        assert done.returncode == 0, f"netpeer {args} failed: {done.stderr[-2000:]}"
        return json.loads(done.stdout)

    def wait_port(self, ns: str, host: str, port: int, seconds: float = 15) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.peer(ns, "connect", host, str(port))["result"] == "connected":
                return
            time.sleep(0.2)
        raise AssertionError(f"nothing listening on {host}:{port} in {ns}")

    def phone(self, ap: str, bridge: str, number: int) -> str:
        """A phone namespace on a new isolated bridge port of the AP."""
        phone = self.ns(f"ph{number}")
        port = f"spport{number}"
        self.ip(ap, "link", "add", port, "type", "veth", "peer", "name", "wlan0", "netns", phone)
        self.ip(ap, "link", "set", port, "master", bridge)
        subprocess.run(["bridge", "-n", ap, "link", "set", "dev", port, "isolated", "on"], check=True)
        self.ip(ap, "link", "set", port, "up")
        self.ip(phone, "link", "set", "wlan0", "up")
        return phone

    def resolv_conf(self, ns: str, nameserver: str) -> None:
        """The namespace's /etc/resolv.conf (`ip netns exec` mounts /etc/netns/NS/ over /etc)."""
        folder = Path("/etc/netns") / ns
        if not folder.parent.exists():
            folder.parent.mkdir()
            self.etc_folders.append(folder.parent)      # removed last, once empty
        folder.mkdir(exist_ok=True)
        self.etc_folders.insert(0, folder)
        (folder / "resolv.conf").write_text(f"nameserver {nameserver}\noptions timeout:5 attempts:1\n")

    def dhcp(self, phone: str) -> tuple[str, str]:
        """Take a DHCP lease with busybox udhcpc; returns (address, DNS server)."""
        out = self.tmp / f"lease-{phone}"
        script = self.tmp / f"udhcpc-{phone}.sh"
        script.write_text(UDHCPC_SCRIPT.format(out=out))
        script.chmod(0o755)
        self.run(phone, "busybox", "udhcpc", "-i", "wlan0", "-f", "-q", "-n", "-t", "5", "-T", "1",
                 "-s", str(script), timeout=30)
        address, dns = out.read_text().split()[:2]
        self.resolv_conf(phone, dns)
        return address, dns

    def close(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in self.processes:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for name in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "delete", name], capture_output=True)
        for folder in self.etc_folders:
            if folder.name == "netns":
                try:
                    folder.rmdir()
                except OSError:
                    pass         # another lab still uses it
            else:
                shutil.rmtree(folder, ignore_errors=True)
