"""Builds the samplepoint Debian package (`make deb`) from a source checkout with dpkg-deb.

One package per architecture (amd64, arm64), because it carries the wheels of every Python
dependency, and numpy, pillow, zxing-cpp, pyyaml and markupsafe are compiled code. postinst builds
the private environment /opt/samplepoint/venvs/VERSION from those wheels with `pip --no-index`, so
installing or rolling back needs no PyPI and no compiler on the device. System parts (python3,
libzbar0, hostapd, ...) are ordinary Depends on Debian / Raspberry Pi OS packages.

    python -m provisioning.debpackage [--arch arm64] [--version 0.2.0] [--wheels DIR] [--out dist]

SAMPLEPOINT_VERSION in the environment overrides the version of setup.py (the wheel and the
package both carry it, so the heartbeat reports it too).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from samplepoint.debversion import debian_version

TREE = Path(__file__).resolve().parents[1]
SCRIPTS = Path(__file__).with_name("deb")
DEPENDS = ["python3-venv", "libzbar0", "hostapd", "dnsmasq-base", "nftables", "iw", "sqlite3", "mtools"]
RECOMMENDS = ["chromium", "cage", "python3-picamera2", "libusb-1.0-0"]
# Debian architecture -> the machine name in manylinux wheel tags.
MACHINES = {"amd64": "x86_64", "arm64": "aarch64"}
# Bookworm has glibc 2.36: every manylinux wheel up to that runs there.
GLIBC_MINOR = 36
DEFAULT_PYTHONS = ["3.11"]          # Debian 12 / Raspberry Pi OS Bookworm
COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__",
                                     ".pytest_cache", ".hypothesis", "test-artifacts", "apt-repo", "*.deb")


class BuildError(RuntimeError):
    pass


def run(command: list[str], **kw) -> str:
    done = subprocess.run(command, capture_output=True, text=True, **kw)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise BuildError(f"`{' '.join(map(str, command))}` failed: " + " / ".join(tail))
    return done.stdout


def project_version(tree: Path = TREE) -> str:
    """The version in setup.py (samplepoint/__init__.py must say the same)."""
    found = re.findall(r'^\s*version="([^"]+)"', (tree / "setup.py").read_text(encoding="utf-8"), re.M)
    module = re.findall(r'^__version__ = "([^"]+)"', (tree / "samplepoint/__init__.py").read_text(), re.M)
    if len(found) != 1 or module != found:
        raise BuildError(f"setup.py says {found} and samplepoint/__init__.py {module}: make them agree")
    return found[0]


def stage_source(tree: Path, dest: Path, version: str) -> Path:
    """A copy of the checkout with `version` written into setup.py and samplepoint/__init__.py."""
    shutil.copytree(tree, dest, ignore=COPY_IGNORE, symlinks=True)
    current = project_version(dest)
    for name, pattern in (("setup.py", r'^(\s*version=)"[^"]+"'),
                          ("samplepoint/__init__.py", r'^(__version__ = )"[^"]+"')):
        path = dest / name
        text, count = re.subn(pattern, rf'\g<1>"{version}"', path.read_text(encoding="utf-8"), flags=re.M)
        if count != 1:
            raise BuildError(f"cannot set the version in {name} (found {current})")
        path.write_text(text, encoding="utf-8")
    return dest


def platform_tags(arch: str) -> list[str]:
    machine = MACHINES[arch]
    tags = [f"manylinux_2_{minor}_{machine}" for minor in range(GLIBC_MINOR, 16, -1)]
    tags.append(f"manylinux2014_{machine}")
    if machine == "x86_64":
        tags += ["manylinux2010_x86_64", "manylinux1_x86_64"]
    return tags + [f"linux_{machine}"]


def wheel_fits(name: str, arch: str, pythons: list[str]) -> bool:
    """Whether a wheel file installs on `arch` under one of the Python versions."""
    parts = name[:-4].split("-")
    pyver, abi, plat = parts[-3], parts[-2], parts[-1]
    if plat == "any":
        return True
    if not any(p.endswith("_" + MACHINES[arch]) for p in plat.split(".")):
        return False
    tags = {"cp" + p.replace(".", "") for p in pythons}
    return any(t in tags for t in pyver.split(".")) or abi == "abi3"


def requirements(wheel: Path) -> list[str]:
    """The run-time requirements of a wheel (its Requires-Dist lines that no extra guards)."""
    import zipfile
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(name).decode("utf-8")
    return [line.split(":", 1)[1].strip() for line in metadata.splitlines()
            if line.startswith("Requires-Dist:") and "extra ==" not in line]


def dependency_wheels(requires: list[str], arch: str, pythons: list[str], out: Path,
                      wheelhouse: Path | None = None) -> list[Path]:
    """Wheels of every dependency for the target: copied from `wheelhouse`, else fetched from the
    package index for that architecture and Python (binary wheels only: nothing is compiled)."""
    out.mkdir(parents=True, exist_ok=True)
    if wheelhouse:
        for wheel in sorted(wheelhouse.glob("*.whl")):
            if not wheel.name.startswith("samplepoint-"):
                shutil.copyfile(wheel, out / wheel.name)
    else:
        for python in pythons:
            abi = "cp" + python.replace(".", "")
            run([sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
                 *[a for tag in platform_tags(arch) for a in ("--platform", tag)],
                 "--python-version", python, "--implementation", "cp", "--abi", abi,
                 "--dest", str(out), *requires])
    for stray in out.glob("samplepoint-*"):
        stray.unlink()
    wheels = sorted(out.glob("*.whl"))
    wrong = [w.name for w in wheels if not wheel_fits(w.name, arch, pythons)]
    if wrong:
        raise BuildError(f"these wheels do not run on {arch} with Python {'/'.join(pythons)}: "
                         f"{', '.join(wrong)}; pass --wheels with wheels built for it")
    return wheels


def control_text(version: str, arch: str, pythons: list[str], installed_kib: int) -> str:
    low, high = min(pythons, key=_pykey), max(pythons, key=_pykey)
    major, minor = high.split(".")
    depends = [f"python3 (>= {low})", f"python3 (<< {major}.{int(minor) + 1})", *DEPENDS]
    return (f"Package: samplepoint\nVersion: {version}\nArchitecture: {arch}\n"
            "Maintainer: samplepoint maintainers <samplepoint@localhost>\n"
            f"Installed-Size: {installed_kib}\nSection: misc\nPriority: optional\n"
            f"Depends: {', '.join(depends)}\nRecommends: {', '.join(RECOMMENDS)}\n"
            "Description: sampling-point appliance: QR scanning into sample tubes\n"
            " Camera scanning of personal QR codes into pooled sample tubes, a Wi-Fi hotspot with\n"
            " a captive portal, and store-and-forward of the records to a central server.\n"
            " The Python dependencies are installed by postinst, from the wheels in this package,\n"
            " into a private environment under /opt/samplepoint.\n")


def _pykey(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def maintainer_script(name: str, python_version: str) -> str:
    from provisioning import provision
    text = (SCRIPTS / name).read_text(encoding="utf-8")
    return (text.replace("@PYVERSION@", python_version)
            .replace("@LONG_RUNNING@", " ".join(provision.LONG_RUNNING))
            .replace("@ALL_UNITS@", " ".join(provision.DEVICE_UNITS + provision.CENTRAL_UNITS)))


def assemble(root: Path, main_wheel: Path, wheels: list[Path], python_version: str, arch: str,
             pythons: list[str]) -> None:
    """The package's file tree and DEBIAN/ control folder under root."""
    wheel_dir = root / "opt/samplepoint/wheels"
    wheel_dir.mkdir(parents=True)
    for wheel in [main_wheel, *wheels]:
        shutil.copyfile(wheel, wheel_dir / wheel.name)
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/samplepoint").symlink_to("/opt/samplepoint/venv/bin/samplepoint")
    # The udev rules (USB printer access, a radio appearing after boot) where packages keep theirs.
    from provisioning import provision
    rules = root / "lib/udev/rules.d"
    rules.mkdir(parents=True)
    for name in provision.UDEV_RULES:
        shutil.copyfile(provision.udev_source() / name, rules / name)
    doc = root / "usr/share/doc/samplepoint"
    doc.mkdir(parents=True)
    shutil.copyfile(TREE / "docs/updating.md", doc / "updating.md")
    control = root / "DEBIAN"
    control.mkdir()
    sums = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        os.chmod(path, 0o644)
        sums.append(f"{hashlib.md5(path.read_bytes()).hexdigest()}  {path.relative_to(root)}\n")
    for path in root.rglob("*"):
        if path.is_dir():
            os.chmod(path, 0o755)
    (control / "md5sums").write_text("".join(sums))
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) // 1024 + 1
    (control / "control").write_text(control_text(debian_version(python_version), arch, pythons, size))
    for name in ("postinst", "prerm", "postrm"):
        (control / name).write_text(maintainer_script(name, python_version))
        os.chmod(control / name, 0o755)
    os.chmod(control / "md5sums", 0o644)
    os.chmod(control / "control", 0o644)


def host_arch() -> str:
    try:
        return run(["dpkg", "--print-architecture"]).strip()
    except (BuildError, FileNotFoundError):
        return {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)


def build(out: Path, version: str | None = None, arch: str | None = None,
          pythons: list[str] | None = None, wheelhouse: Path | None = None, tree: Path = TREE,
          compression: str = "gzip") -> Path:
    """Build samplepoint_<version>_<arch>.deb into out; returns its path."""
    arch = arch or host_arch()
    if arch not in MACHINES:
        raise BuildError(f"no wheels for architecture {arch}; build for one of: {', '.join(MACHINES)}")
    pythons = pythons or DEFAULT_PYTHONS
    version = version or os.environ.get("SAMPLEPOINT_VERSION") or project_version(tree)
    deb_version = debian_version(version)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="samplepoint-deb-") as tmp:
        work = Path(tmp)
        source = stage_source(tree, work / "source", version)
        run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir",
             str(work / "own"), str(source)])
        main_wheel = next((work / "own").glob(f"samplepoint-{version}-*.whl"))
        wheels = dependency_wheels(requirements(main_wheel), arch, pythons, work / "deps", wheelhouse)
        assemble(work / "root", main_wheel, wheels, version, arch, pythons)
        target = out / f"samplepoint_{deb_version}_{arch}.deb"
        run(["dpkg-deb", "--root-owner-group", f"-Z{compression}", "--build", str(work / "root"),
             str(target)])
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m provisioning.debpackage", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="dist", help="folder for the .deb (default dist)")
    parser.add_argument("--version", help="package version (default: SAMPLEPOINT_VERSION, else setup.py)")
    parser.add_argument("--arch", choices=sorted(MACHINES), help="default: this machine's")
    parser.add_argument("--python", action="append", dest="pythons",
                        help="Python version of the target OS, repeatable (default 3.11: Bookworm)")
    parser.add_argument("--wheels", help="folder of dependency wheels to ship instead of downloading")
    parser.add_argument("--compression", default="gzip", choices=["gzip", "xz", "zstd", "none"])
    args = parser.parse_args(argv)
    try:
        deb = build(Path(args.out), args.version, args.arch, args.pythons,
                    Path(args.wheels) if args.wheels else None, compression=args.compression)
    except BuildError as exc:
        print(f"samplepoint deb: {exc}", file=sys.stderr)
        return 1
    print(deb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
