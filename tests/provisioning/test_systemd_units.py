"""Every shipped unit passes `systemd-analyze verify`, and carries the watchdog and hardening it promises."""
from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

from provisioning import provision

UNITS_DIR = Path(__file__).resolve().parents[2] / "systemd"
UNITS = sorted(p.name for p in UNITS_DIR.glob("*.service"))
WATCHED = ["samplepoint-kiosk.service", "samplepoint-forwarder.service",
           "samplepoint-portal.service", "samplepoint-central.service"]
HOTSPOT = ["samplepoint-hotspot.service", "samplepoint-hostapd.service",
           "samplepoint-dnsmasq.service", "samplepoint-admit.service"]


def parse(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(UNITS_DIR / name)
    return parser


def exec_paths(name: str) -> list[str]:
    paths = []
    for line in (UNITS_DIR / name).read_text().splitlines():
        if line.startswith(("ExecStart=", "ExecStartPre=", "ExecStop=")):
            paths.append(line.split("=", 1)[1].lstrip("-@+!").split()[0])
    return paths


@pytest.fixture(scope="module")
def verify_root(tmp_path_factory):
    """A file-system root holding systemd's own units and a stub for each program the units run.

    Verify checks that ExecStart programs exist; the venv and cage exist on a provisioned Pi, not
    on the test machine, so the root stands in for that Pi's file system.
    """
    root = tmp_path_factory.mktemp("verify-root")
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    unit_dir = root / "etc/systemd/system"
    unit_dir.mkdir(parents=True)
    for name in UNITS:
        shutil.copy(UNITS_DIR / name, unit_dir / name)
        for program in exec_paths(name):
            stub = root / program.lstrip("/")
            stub.parent.mkdir(parents=True, exist_ok=True)
            stub.write_text("#!/bin/sh\nexit 0\n")
            stub.chmod(0o755)
    return root


def test_the_expected_units_ship():
    assert set(provision.DEVICE_UNITS + provision.CENTRAL_UNITS) == set(UNITS)


@pytest.mark.parametrize("name", UNITS)
def test_systemd_analyze_verify_passes(verify_root, name):
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", f"--root={verify_root}", name],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr      # warnings (unknown keys...) count as failures


def test_verify_catches_a_broken_unit(verify_root):
    bad = verify_root / "etc/systemd/system/samplepoint-broken.service"
    bad.write_text("[Service]\nTyp=notify\nExecStart=/opt/samplepoint/venv/bin/samplepoint kiosk\n")
    try:
        done = subprocess.run(["systemd-analyze", "verify", "--man=no", f"--root={verify_root}",
                               bad.name], capture_output=True, text=True, timeout=120)
    finally:
        bad.unlink()
    assert "Unknown key" in done.stderr


@pytest.mark.parametrize("name", WATCHED)
def test_long_running_services_are_watched(name):
    service = parse(name)["Service"]
    assert service["Type"] == "notify"
    assert int(service["WatchdogSec"]) > 0
    assert service["Restart"] == "on-failure"
    assert service["ExecStart"].startswith(provision.VENV + "/bin/samplepoint ")


@pytest.mark.parametrize("name", [u for u in UNITS if u != "samplepoint-display.service"])
def test_hardening(name):
    service = parse(name)["Service"]
    assert service["ProtectSystem"] == "strict"
    assert service["NoNewPrivileges"] == "yes" and service["PrivateTmp"] == "yes"
    assert service["ProtectHome"] == "yes"
    assert service["RestrictAddressFamilies"].split()[0] == "AF_UNIX"
    assert "ReadWritePaths" in service
    caps = service.get("CapabilityBoundingSet", "") + service.get("AmbientCapabilities", "")
    assert ("CAP_NET_ADMIN" in caps) == (name in HOTSPOT)


def test_hardware_services_run_as_the_service_user_with_device_groups():
    kiosk = parse("samplepoint-kiosk.service")["Service"]
    assert kiosk["User"] == provision.USER
    assert set(kiosk["SupplementaryGroups"].split()) == {"video", "gpio", "lp"}
    assert "PrivateDevices" not in kiosk           # it would hide the camera and GPIO
    for name in ("samplepoint-forwarder.service", "samplepoint-portal.service"):
        assert parse(name)["Service"]["User"] == provision.USER


def test_display_is_chromium_kiosk_under_cage():
    command = parse("samplepoint-display.service")["Service"]["ExecStart"]
    assert command.startswith("/usr/bin/cage ") and "/usr/bin/chromium --kiosk" in command
    text = (UNITS_DIR / "samplepoint-display.service").read_text()
    assert "SAMPLEPOINT_DISPLAY_URL=http://127.0.0.1:" in text      # the display is loopback-only


def test_display_unit_shows_the_port_the_e2e_test_guards():
    """The netns test checks phones cannot reach the staff display on STAFF_DISPLAY_PORT: the unit
    must open that same port, or the check guards a port nothing listens on."""
    from tests.hotspot.test_e2e_netns import STAFF_DISPLAY_PORT
    text = (UNITS_DIR / "samplepoint-display.service").read_text()
    assert f"SAMPLEPOINT_DISPLAY_URL=http://127.0.0.1:{STAFF_DISPLAY_PORT}/" in text


def test_open_policy_admission_is_the_root_admit_loop_not_the_portal():
    portal = parse("samplepoint-portal.service")["Service"]
    assert portal["User"] == provision.USER and "CAP_NET_ADMIN" not in portal["CapabilityBoundingSet"]
    loop = parse("samplepoint-admit.service")["Service"]
    assert loop["ExecStart"] == (provision.VENV + "/bin/samplepoint hotspot admit --config "
                                 "/etc/samplepoint/samplepoint.toml")
    assert "User" not in loop and "CAP_NET_ADMIN" in loop["CapabilityBoundingSet"].split()
    assert "samplepoint-admit.service" in provision.ENABLED_UNITS


def test_first_boot_runs_before_every_service_that_reads_its_result():
    unit = parse("samplepoint-firstboot.service")["Unit"]
    before = " ".join(v for k, v in parse_multi("samplepoint-firstboot.service", "Before"))
    for name in provision.ENABLED_UNITS:
        if name != "samplepoint-firstboot.service":
            assert name in before.split(), name
    assert "cloud-init.service" in unit["After"].split()
    assert "samplepoint-firstboot.service" in provision.ENABLED_UNITS


def parse_multi(name: str, key: str) -> list[tuple[str, str]]:
    """Every `key=` line of a unit (configparser keeps only the last of repeated keys)."""
    return [(k, v) for k, _, v in (line.partition("=") for line in
                                   (UNITS_DIR / name).read_text().splitlines()) if k == key]


def test_only_root_units_lack_a_user():
    for name in UNITS:
        service = parse(name)["Service"]
        if name not in HOTSPOT + ["samplepoint-firstboot.service"]:
            assert service.get("User") or service.get("DynamicUser") == "yes", name
