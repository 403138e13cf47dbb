"""Fixtures of the virtual-Pi tests: the disks built once per run, a card and a central per test."""
from __future__ import annotations

import os
import sys

import pytest

from central.enrol import issue_code
from tests.provisioning import booted
from tests.vm import guest

DEVICE, SITE, HOSTNAME, SSID = "DEV-VM-01", "SITE-VM-01", "sp-vm-1", "DiemLayMau-VM"
# Campaign-wide settings: the replay camera and mock feedback stand in for the camera board and
# the buzzer; the hotspot is as a site runs it, Enhanced Open in transition mode.
CAMPAIGN = booted.CAMPAIGN + """[workflow]
require_sign_in = false
[hotspot]
enhanced_open = 'on'
"""


def cli() -> list[str]:
    return [sys.executable, "-m", "samplepoint.cli"]


@pytest.fixture(scope="session", autouse=True)
def _teardown_on_sigterm():
    """A run stopped with SIGTERM (a CI timeout) still stops its virtual machines and removes its
    disks: the signal becomes an interrupt, which pytest unwinds through every fixture."""
    import signal

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    previous = signal.signal(signal.SIGTERM, interrupt)
    yield
    signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="session")
def vm_disks(tmp_path_factory):
    """The golden image as a root disk and a fresh card's boot partition (no site on it yet)."""
    if os.geteuid() != 0:
        pytest.skip("needs root (mke2fs -d keeps owners; make test runs as root in CI)")
    if guest.missing_tools():
        pytest.skip(f"needs {', '.join(guest.missing_tools())} (make test installs them)")
    work = tmp_path_factory.mktemp("vm-disks")
    disks, times = guest.build(work, lambda boot: None)
    print(f"virtual Pi disks built: {times}")
    yield disks


@pytest.fixture
def vm_central(tmp_path):
    """A reference central server on the host's loopback (the guest reaches it by guestfwd)."""
    server = booted.start_central(tmp_path, host="127.0.0.1")
    yield server
    server.stop()


def prepare_card(disks: guest.Disks, central, tmp_path) -> None:
    """The technician's step: a sites CSV and `prepare-sd --image` onto the card's boot partition."""
    code, _ = issue_code(central.db, "VM campaign", uses=2, valid_hours=24)
    sites = tmp_path / "sites.csv"
    sites.write_text("device_id,site_id,site_name,hotspot_ssid,pool_size,test_type,central_url,hostname\n"
                     f"{DEVICE},{SITE},Trạm Y tế ảo,{SSID},5,rt-pcr,{guest.CENTRAL_IN_GUEST},"
                     f"{HOSTNAME}\n", encoding="utf-8")
    campaign = tmp_path / "campaign.toml"
    campaign.write_text(CAMPAIGN, encoding="utf-8")
    booted.run([*cli(), "prepare-sd", "--sites", str(sites), "--device", DEVICE, "--enrol-code",
                code, "--base-config", str(campaign), "--image", str(disks.boot)], cwd=booted.REPO)


@pytest.fixture
def device(vm_disks, vm_central, tmp_path):
    """(disks, central): a private copy of the disks with this test's card written for central."""
    disks = vm_disks.copy(tmp_path / "disks")
    prepare_card(disks, vm_central, tmp_path)
    yield disks, vm_central
    for image in (disks.root, disks.boot):
        image.unlink(missing_ok=True)
