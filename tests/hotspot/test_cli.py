"""`samplepoint hotspot render` writes the three files, checks them, and names a bad key."""
from __future__ import annotations

import shutil

import pytest

from samplepoint.cli import main
from tests.conftest import write_config


@pytest.mark.system
def test_render_and_check(tmp_path, capsys):
    if not all(shutil.which(t) for t in ("hostapd", "dnsmasq", "nft")):
        pytest.skip("needs hostapd, dnsmasq and nft")
    config = write_config(tmp_path, hotspot={"uplink_interface": "", "uplink_subnet": "192.168.1.0/24"})
    out = tmp_path / "out"
    assert main(["hotspot", "render", "--config", str(config), "--out", str(out), "--check"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["dnsmasq.conf", "hostapd.conf", "hotspot.nft"]


def test_bad_value_named(tmp_path, capsys):
    config = write_config(tmp_path, hotspot={"channel": 14, "uplink_interface": ""})
    assert main(["hotspot", "render", "--config", str(config), "--out", str(tmp_path)]) == 2
    assert "hotspot.channel = 14" in capsys.readouterr().err
