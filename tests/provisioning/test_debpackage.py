"""`make deb`: the package's control fields, maintainer scripts, version handling and the check
that every wheel inside runs on the package's architecture."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from provisioning import debpackage, provision

TREE = Path(debpackage.__file__).resolve().parents[1]


def test_setup_py_and_the_module_agree_on_the_version():
    version = debpackage.project_version()
    import samplepoint
    assert version == samplepoint.__version__


def test_a_staged_copy_carries_the_overridden_version(tmp_path):
    staged = debpackage.stage_source(TREE, tmp_path / "src", "7.8.9.1")
    assert debpackage.project_version(staged) == "7.8.9.1"
    assert not (staged / ".venv").exists() and not (staged / ".git").exists()
    assert debpackage.project_version() != "7.8.9.1", "the checkout itself is left alone"


@pytest.mark.parametrize("name, arch, fits", [
    ("flask-3.1.3-py3-none-any.whl", "arm64", True),
    ("numpy-2.4.6-cp311-cp311-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl", "arm64", True),
    ("numpy-2.4.6-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl", "arm64", False),
    ("numpy-2.4.6-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl", "amd64", True),
    ("numpy-2.4.6-cp313-cp313-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl", "amd64", False),
    ("pillow-13.0.0-cp311-abi3-manylinux_2_28_aarch64.whl", "arm64", True),
])
def test_wheels_are_checked_against_architecture_and_python(name, arch, fits):
    assert debpackage.wheel_fits(name, arch, ["3.11"]) is fits


def test_platform_tags_cover_every_manylinux_up_to_bookworms_glibc():
    tags = debpackage.platform_tags("arm64")
    assert "manylinux_2_36_aarch64" in tags and "manylinux_2_17_aarch64" in tags
    assert "manylinux2014_aarch64" in tags and not any("x86_64" in t for t in tags)


def test_control_pins_the_python_the_wheels_were_made_for():
    control = debpackage.control_text("0.2.0~rc1", "arm64", ["3.11", "3.13"], 40000)
    assert "Depends: python3 (>= 3.11), python3 (<< 3.14), python3-venv, libzbar0, hostapd, " \
           "dnsmasq-base, nftables, iw, sqlite3, mtools\n" in control
    assert "Recommends: chromium, cage, python3-picamera2, libusb-1.0-0\n" in control
    assert "Architecture: arm64\n" in control and "Version: 0.2.0~rc1\n" in control


@pytest.mark.parametrize("name", ["postinst", "prerm", "postrm"])
def test_maintainer_scripts_are_valid_shell_with_every_unit_filled_in(name):
    script = debpackage.maintainer_script(name, "0.1.0.1")
    assert "@" not in re.sub(r"[\w.-]+@[\w.-]+", "", script), "a placeholder was left"
    subprocess.run(["sh", "-n"], input=script, text=True, check=True)
    if name == "postinst":
        assert 'VERSION="0.1.0.1"' in script
        assert f'LONG_RUNNING="{" ".join(provision.LONG_RUNNING)}"' in script
        assert "systemctl try-restart $LONG_RUNNING" in script
        assert "--no-index --find-links" in script and "/var/lib/samplepoint" not in \
            script.split("set -e", 1)[1], "postinst never touches the data"
    if name == "postrm":
        assert not re.search(r"^\s*rm .*/var/lib", script, re.M), "purge keeps the records"
        assert "KEPT /var/lib/samplepoint" in script


def test_a_package_is_built_from_given_wheels_and_refuses_wrong_ones(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "flask-3.1.3-py3-none-any.whl").write_bytes(b"PK stand-in")
    deb = debpackage.build(tmp_path / "out", version="0.1.0.7", arch="arm64", wheelhouse=wheels)
    assert deb.name == "samplepoint_0.1.0.7_arm64.deb"
    fields = subprocess.run(["dpkg-deb", "--field", str(deb)], capture_output=True, text=True).stdout
    assert "Version: 0.1.0.7\n" in fields and "Architecture: arm64\n" in fields
    files = subprocess.run(["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True).stdout
    assert "./opt/samplepoint/wheels/samplepoint-0.1.0.7-py3-none-any.whl" in files
    assert "./opt/samplepoint/wheels/flask-3.1.3-py3-none-any.whl" in files
    assert "root/root" in files and "/var/lib" not in files and "/etc/" not in files
    (wheels / "numpy-2.4.6-cp311-cp311-manylinux_2_28_x86_64.whl").write_bytes(b"PK")
    with pytest.raises(debpackage.BuildError, match="do not run on arm64"):
        debpackage.build(tmp_path / "out", version="0.1.0.7", arch="arm64", wheelhouse=wheels)
