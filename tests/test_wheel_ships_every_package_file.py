"""The wheel (what a device installs, alone or inside the Debian package) carries every file of the
packages: the portal's pages and message catalogs, the staff display's, the console's. Without
them the installed portal answered every page with an error (found on the virtual Pi)."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("samplepoint", "kiosk", "hotspot", "central", "provisioning")


def package_files() -> set[str]:
    """Files git tracks inside the packages, but for Python sources (those are never missed)."""
    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", *PACKAGES], capture_output=True,
                            text=True, check=True).stdout.split()
    return {p for p in listed if not p.endswith(".py")
            and not p.startswith(("provisioning/udev/", "provisioning/deb/"))   # data_files / deb
            and p != "provisioning/firstboot.sh"}


@pytest.mark.slow
def test_the_wheel_carries_every_page_style_and_catalog(tmp_path):
    """Built from a clean copy, as `make deb` stages it: an egg-info folder left by an editable
    install lists the files itself and would hide what setup.py forgets."""
    import shutil

    from provisioning.debpackage import COPY_IGNORE
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=COPY_IGNORE, symlinks=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir",
                    str(tmp_path / "dist"), str(source)], check=True, capture_output=True, timeout=600)
    wheel = next((tmp_path / "dist").glob("samplepoint-*.whl"))
    shipped = set(zipfile.ZipFile(wheel).namelist())
    wanted = package_files()
    assert any(p.startswith("hotspot/portal/templates/") for p in wanted)
    assert sorted(wanted - shipped) == []
