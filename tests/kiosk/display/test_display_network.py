"""The staff display cannot be reached from any address but loopback: checked between namespaces.

The kiosk process runs in a server namespace joined to a client namespace by a veth pair (addresses
from the documentation range, inside namespaces this test creates and deletes).
"""
import os
import subprocess
import sys
import time

import pytest

from kiosk.framegen import write_session
from tests.conftest import write_config

pytestmark = pytest.mark.system
SERVER_IP, CLIENT_IP = "192.0.2.1", "192.0.2.2"
PROBE = """
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
try:
    socket.create_connection((host, port), timeout=3).close()
    print("connected")
except ConnectionRefusedError:
    print("refused")
except OSError as exc:
    print("error", exc)
"""


def run(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True, text=True, timeout=30)


@pytest.fixture
def namespaces():
    tag = f"{os.getpid() % 100000}"
    server, client = f"spd-srv-{tag}", f"spd-cli-{tag}"
    veth_s, veth_c = f"spds{tag}", f"spdc{tag}"
    try:
        run("ip", "netns", "add", server)
        run("ip", "netns", "add", client)
        run("ip", "link", "add", veth_s, "type", "veth", "peer", "name", veth_c)
        run("ip", "link", "set", veth_s, "netns", server)
        run("ip", "link", "set", veth_c, "netns", client)
        for ns, dev, address in ((server, veth_s, SERVER_IP), (client, veth_c, CLIENT_IP)):
            run("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", dev)
            run("ip", "-n", ns, "link", "set", dev, "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")
        yield server, client
    finally:
        for ns in (server, client):
            run("ip", "netns", "del", ns, check=False)
        run("ip", "link", "del", veth_s, check=False)


def probe(ns: str, host: str, port: int) -> str:
    return run("ip", "netns", "exec", ns, sys.executable, "-c", PROBE, host, str(port)).stdout.strip()


def test_display_only_answers_on_loopback(namespaces, tmp_path):
    server, client = namespaces
    write_session(tmp_path / "frames", people=2, pool_size=2)
    # [display] left at its default 127.0.0.1:8080; the replay loops so the kiosk stays up.
    config = write_config(tmp_path, camera={"loop": True})
    kiosk = subprocess.Popen(
        ["ip", "netns", "exec", server, sys.executable, "-m", "samplepoint.cli", "kiosk",
         "--config", str(config)], stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        deadline = time.monotonic() + 20
        while "staff display:" not in line and time.monotonic() < deadline:
            line = kiosk.stderr.readline()
        assert "http://127.0.0.1:8080/" in line
        listening = run("ip", "netns", "exec", server, "ss", "-Hltn", "sport = :8080").stdout
        assert [row.split()[3] for row in listening.splitlines()] == ["127.0.0.1:8080"]
        # From the other namespace, and even from the server's own network address: nothing there.
        assert probe(client, SERVER_IP, 8080) == "refused"
        assert probe(server, SERVER_IP, 8080) == "refused"
        # On loopback inside its own namespace the page is served.
        page = run("ip", "netns", "exec", server, sys.executable, "-c",
                   "import urllib.request; print(urllib.request.urlopen("
                   "'http://127.0.0.1:8080/', timeout=5).status)").stdout.strip()
        assert page == "200"
    finally:
        kiosk.terminate()
        try:
            kiosk.wait(timeout=10)
        except subprocess.TimeoutExpired:
            kiosk.kill()
            kiosk.wait()
