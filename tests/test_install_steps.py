"""Every program the tests drive for real comes from a package the Makefile's install steps name, so
a fresh clone's `make test` installs it: no test may pass only where a developer installed it by hand."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# program → the Debian package that ships it (util-linux, bash, tar and coreutils are essential).
PROGRAMS = {
    "cage": "cage", "chromium": "chromium", "chromedriver": "chromium-driver",
    "hostapd": "hostapd", "dnsmasq": "dnsmasq-base", "nft": "nftables", "ip": "iproute2",
    "bridge": "iproute2", "busybox": "busybox", "mcopy": "mtools", "mtype": "mtools",
    "mdir": "mtools", "mkfs.fat": "dosfstools", "systemd-analyze": "systemd",
    "systemd-nspawn": "systemd-container", "mmdebstrap": "mmdebstrap", "openssl": "openssl",
    "pdftoppm": "poppler-utils", "pdftotext": "poppler-utils", "pdfinfo": "poppler-utils",
    "pg_ctl": "postgresql", "initdb": "postgresql", "pg_dump": "postgresql",
    "aptly": "aptly", "gpg": "gnupg", "udevadm": "udev",
}
ESSENTIAL = {"unshare", "nsenter", "setpriv", "mount", "tar", "bash", "rm", "cp", "dd"}


def makefile_packages() -> set[str]:
    text = (REPO / "Makefile").read_text()
    packages = set()
    for name in ("APT_RUNTIME", "APT_TEST"):
        line = re.search(rf"^{name}\s*:=(.*)$", text, re.M)
        assert line, f"the Makefile lost its {name} list"
        packages |= set(line.group(1).split())
    return packages


def programs_used_by_tests() -> set[str]:
    used = set()
    for path in (REPO / "tests").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        for program in PROGRAMS:
            if re.search(rf"""["'/]{re.escape(program)}["'\s]""", source):
                used.add(program)
    return used


def test_every_program_a_test_runs_is_installed_by_make_test():
    packages = makefile_packages()
    missing = {p: PROGRAMS[p] for p in programs_used_by_tests()
               if PROGRAMS[p] is not None and PROGRAMS[p] not in packages}
    assert not missing, f"name these packages in the Makefile's APT_TEST: {missing}"


@pytest.mark.parametrize("program", sorted(p for p in PROGRAMS if PROGRAMS[p]))
def test_the_named_programs_are_there_after_make_test(program):
    if PROGRAMS[program] not in makefile_packages():
        return
    import glob
    assert shutil.which(program) or Path("/usr/sbin", program).exists() or \
        glob.glob(f"/usr/lib/postgresql/*/bin/{program}"), \
        f"{program} ({PROGRAMS[program]}) is named in the Makefile but not installed: run make test"


def test_the_scan_finds_what_the_display_unit_test_runs():
    """The check itself works: the display unit test drives cage, so cage must be found."""
    assert {"cage", "chromium", "mmdebstrap", "systemd-nspawn"} <= programs_used_by_tests()
