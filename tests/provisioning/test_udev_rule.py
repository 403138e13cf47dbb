"""The udev rules (printer access; a radio appearing after boot) are read by udev itself without a complaint, in a private mount namespace
whose /etc/udev/rules.d holds only it (the host's rules are never touched)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from provisioning import provision

RULES = Path(provision.__file__).with_name("udev")
RULE = RULES / provision.UDEV_RULE
RADIO_RULE = RULES / provision.RADIO_RULE


def udev_reads(rules: Path) -> str:
    """What `udevadm test` says while reading the rules of the folder `rules`."""
    script = ('mount -t tmpfs none /etc/udev/rules.d && cp "$1"/*.rules /etc/udev/rules.d/ && '
              'udevadm test --action=add /sys/class/net/lo 2>&1')
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script,
                           "sh", str(rules)], capture_output=True, text=True, timeout=60)
    return done.stdout + done.stderr


@pytest.fixture
def root_only():
    if os.geteuid() != 0:
        pytest.skip("needs root for a private mount namespace (CI runs as root)")


@pytest.mark.parametrize("rule", [RULE, RADIO_RULE], ids=lambda p: p.name)
def test_udev_reads_the_rule_without_a_complaint(root_only, tmp_path, rule):
    (tmp_path / rule.name).write_text(rule.read_text())
    said = udev_reads(tmp_path)
    assert f"Reading rules file: /etc/udev/rules.d/{rule.name}" in said, said
    complaints = [line for line in said.splitlines() if rule.name + ":" in line]
    assert complaints == [], complaints


def test_a_radio_appearing_starts_every_unit_that_stood_down_without_one():
    """The units whose ConditionPathExistsGlob is the radio are started when a Wi-Fi interface is
    added (tests/vm/test_hotspot_comes_up_unattended.py shows it on a real kernel)."""
    units = Path(provision.units_source())
    needing_radio = {u.name for u in units.glob("samplepoint-*.service")
                     if "ConditionPathExistsGlob=/sys/class/ieee80211/*" in u.read_text()}
    # hostapd and dnsmasq are started by `hotspot apply`, not by udev
    started_by_apply = {"samplepoint-hostapd.service", "samplepoint-dnsmasq.service"}
    lines = [line for line in RADIO_RULE.read_text().splitlines() if line and not line.startswith("#")]
    assert len(lines) == 1 and 'SUBSYSTEM=="net"' in lines[0] and 'ENV{DEVTYPE}=="wlan"' in lines[0]
    wanted = set(lines[0].split('ENV{SYSTEMD_WANTS}+="')[1].split('"')[0].split())
    assert wanted == needing_radio - started_by_apply


def test_a_broken_rule_would_be_reported(root_only, tmp_path):
    """The check above can fail: udev names a bad key with its file and line."""
    (tmp_path / RULE.name).write_text(RULE.read_text() + 'SUBSYSTEM=="usb", BOGUS{x}=="1", GROUP="lp"\n')
    said = udev_reads(tmp_path)
    assert f"{RULE.name}:" in said and "BOGUS" in said, said


def test_the_rule_gives_printers_to_lp_read_write_and_leaves_ipp_usb_alone():
    lines = [line for line in RULE.read_text().splitlines() if line and not line.startswith("#")]
    assert lines and all('GROUP="lp", MODE="0660"' in line for line in lines)
    assert any('ENV{ID_USB_INTERFACES}=="*:0701??:*"' in line and '!="*:070104:*"' in line
               for line in lines)
    from samplepoint.config import PrinterConfig
    ids = PrinterConfig()
    config_default = f'ATTR{{idVendor}}=="{ids.usb_vendor_id:04x}", ATTR{{idProduct}}=="{ids.usb_product_id:04x}"'
    assert any(config_default in line for line in lines), "the [printer] default ids"
