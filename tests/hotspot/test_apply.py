"""apply/remove write atomically, run the steps in order, and roll back to the previous state on failure."""
from __future__ import annotations

import pytest

from hotspot.apply import DROP_TABLE, ETC, NM_CONF, ApplyError, Hotspot
from hotspot.render import render
from samplepoint import config as config_module


class FakeSystem:
    """Records commands; fails the first command containing `fail_on`."""

    def __init__(self, fail_on: str | None = None):
        self.commands: list[list[str]] = []
        self.fail_on = fail_on

    def __call__(self, argv):
        self.commands.append(argv)
        if self.fail_on and self.fail_on in " ".join(argv):
            self.fail_on = None          # the rollback's own commands succeed
            raise ApplyError(f"`{' '.join(argv)}` exited 1: boom")


def hotspot(tmp_path, system, **overrides):
    overrides.setdefault("upstream_dns", ["192.0.2.53"])
    config = config_module.from_dict({"hotspot": overrides})
    return config, Hotspot(config, root=tmp_path, run=system, has=lambda name: True)


def test_apply_installs_in_order_and_is_idempotent(tmp_path):
    system = FakeSystem()
    config, spot = hotspot(tmp_path, system)
    files = render(config)
    spot.apply(files)
    spot.apply(files)
    for name, text in files.items():
        path = tmp_path / ETC.relative_to("/") / name
        assert path.read_text() == text
    assert (tmp_path / ETC.relative_to("/") / "hostapd.conf").stat().st_mode & 0o777 == 0o600
    assert "unmanaged-devices=interface-name:wlan0" in (tmp_path / NM_CONF.relative_to("/")).read_text()
    flat = [" ".join(c) for c in system.commands[:len(system.commands) // 2]]
    assert flat[0] == "nmcli general reload" and flat[1] == "rfkill unblock wlan"
    assert flat[2].startswith("nft -f") and flat[3] == "ip addr replace 10.42.0.1/24 dev wlan0"
    assert flat[4:] == ["systemctl restart samplepoint-hostapd.service",
                        "systemctl restart samplepoint-dnsmasq.service"]


def test_without_the_rfkill_tool_the_kernels_switch_of_each_wifi_radio_is_unblocked(tmp_path):
    """A soft-blocked radio (Raspberry Pi OS blocks Wi-Fi until a country is set) cannot be enabled
    by hostapd; the image may lack rfkill(8). Bluetooth is left as it is."""
    switches = tmp_path / "sys/class/rfkill"
    for name, kind, state in (("rfkill0", "wlan", "1"), ("rfkill1", "bluetooth", "1"),
                              ("rfkill2", "wlan", "0")):
        (switches / name).mkdir(parents=True)
        for key, value in (("type", kind), ("soft", state), ("name", f"phy{name[-1]}")):
            (switches / name / key).write_text(value + "\n")
    config = config_module.from_dict({"hotspot": {"upstream_dns": ["192.0.2.53"]}})
    system = FakeSystem()
    Hotspot(config, root=tmp_path, run=system, has=lambda name: name != "rfkill").apply(render(config))
    assert [(switches / n / "soft").read_text().strip() for n in ("rfkill0", "rfkill1", "rfkill2")] \
        == ["0", "1", "0"]
    assert not any(c[0] == "rfkill" for c in system.commands)


def test_apply_makes_the_folder_of_dnsmasqs_lease_file(tmp_path):
    """dnsmasq exits at start ("cannot open or create lease file") when the folder is missing, as it
    is on a device's first boot (shown by tests/vm/test_hotspot_comes_up_unattended.py)."""
    config = config_module.from_dict({"hotspot": {"upstream_dns": ["192.0.2.53"]},
                                      "device": {"data_dir": "/var/lib/samplepoint"}})
    spot = Hotspot(config, root=tmp_path, run=FakeSystem(), has=lambda name: True)
    files = render(config)
    assert "dhcp-leasefile=/var/lib/samplepoint/hotspot/dnsmasq.leases" in files["dnsmasq.conf"]
    spot.apply(files)
    leases = tmp_path / "var/lib/samplepoint/hotspot"
    assert leases.is_dir() and leases.stat().st_mode & 0o777 == 0o750
    spot.apply(files)                                   # again: nothing to do
    assert leases.is_dir()


def test_a_failed_first_apply_removes_the_lease_folder_it_made(tmp_path):
    config = config_module.from_dict({"hotspot": {"upstream_dns": ["192.0.2.53"]},
                                      "device": {"data_dir": "/var/lib/samplepoint"}})
    spot = Hotspot(config, root=tmp_path, run=FakeSystem(fail_on="samplepoint-dnsmasq"),
                   has=lambda name: True)
    with pytest.raises(ApplyError):
        spot.apply(render(config))
    assert not (tmp_path / "var/lib/samplepoint/hotspot").exists()


def test_failure_rolls_back_to_previous_files_and_ruleset(tmp_path):
    old_config, spot = hotspot(tmp_path, FakeSystem())
    old_files = render(old_config)
    spot.apply(old_files)
    system = FakeSystem(fail_on="samplepoint-dnsmasq")
    new_config, spot = hotspot(tmp_path, system, ssid="Moi", channel=11)
    with pytest.raises(ApplyError, match="restart samplepoint-dnsmasq.service failed: .*boom.*restored"):
        spot.apply(render(new_config))
    for name, text in old_files.items():
        assert (tmp_path / ETC.relative_to("/") / name).read_text() == text
    tail = [" ".join(c) for c in system.commands[-4:]]
    assert tail[:2] == ["systemctl restart samplepoint-dnsmasq.service",      # on the old config
                        "systemctl restart samplepoint-hostapd.service"]
    assert tail[2].startswith("nft -f") and tail[3] == "nmcli general reload"


def test_failure_on_first_install_removes_everything(tmp_path):
    system = FakeSystem(fail_on="nft -f")
    config, spot = hotspot(tmp_path, system)
    with pytest.raises(ApplyError, match="load the nftables ruleset failed"):
        spot.apply(render(config))
    assert not (tmp_path / ETC.relative_to("/") / "hotspot.nft").exists()
    assert not (tmp_path / NM_CONF.relative_to("/")).exists()
    assert ["nft", DROP_TABLE] in system.commands


def test_remove(tmp_path):
    system = FakeSystem()
    config, spot = hotspot(tmp_path, system)
    spot.apply(render(config))
    system.commands.clear()
    spot.remove()
    assert not list((tmp_path / ETC.relative_to("/")).iterdir())
    assert not (tmp_path / NM_CONF.relative_to("/")).exists()
    assert ["nft", DROP_TABLE] in system.commands
    assert system.commands[0] == ["systemctl", "stop", "samplepoint-dnsmasq.service"]


def test_owe_apply_puts_the_address_on_the_bridge_of_both_networks(tmp_path):
    system = FakeSystem()
    config, spot = hotspot(tmp_path, system)
    spot.apply(render(config, owe=True))
    flat = [" ".join(c) for c in system.commands]
    assert "ip link add name sphotspot0 type bridge" in flat
    assert flat.index("ip link add name sphotspot0 type bridge") < flat.index(
        "ip addr replace 10.42.0.1/24 dev sphotspot0")
    nm = (tmp_path / NM_CONF.relative_to("/")).read_text()
    assert ("unmanaged-devices=interface-name:wlan0;interface-name:wlan0owe;"
            "interface-name:sphotspot0") in nm


def test_owe_apply_failing_later_deletes_the_bridge_it_made(tmp_path):
    system = FakeSystem(fail_on="systemctl restart samplepoint-hostapd")
    config, spot = hotspot(tmp_path, system)
    with pytest.raises(ApplyError):
        spot.apply(render(config, owe=True))
    assert ["ip", "link", "delete", "sphotspot0"] in system.commands
