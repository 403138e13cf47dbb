"""`samplepoint provision`: turns a Raspberry Pi OS system (or a directory tree) into a samplepoint device.

Each step first looks at what is there and changes only what differs, so a second run reports no
change. With `--root DIR` nothing runs on the host: users and groups are written into DIR/etc as
text, units are enabled by symlink, and what only the device can do (apt, the venv) is recorded in
DIR/opt/samplepoint/provision-on-device.sh for the image build to run inside the image.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import samplepoint
from provisioning import system
from samplepoint import config as config_module
from samplepoint.durable import write_atomic

USER = "samplepoint"
VENV = "/opt/samplepoint/venv"
DATA_DIR = "/var/lib/samplepoint"
CONFIG = "/etc/samplepoint/samplepoint.toml"
UNIT_DIR = "/etc/systemd/system"
# dnsmasq-base, not dnsmasq: the full package enables a dnsmasq.service of its own on port 53.
APT_PACKAGES = ["python3-venv", "libzbar0", "hostapd", "dnsmasq-base", "nftables", "iw", "chromium",
                "cage", "libusb-1.0-0", "mtools", "sqlite3"]
# Only Raspberry Pi OS's archive has these; elsewhere (a PC test image) they are skipped with a note.
APT_OPTIONAL = ["python3-picamera2"]
DIST = "/opt/samplepoint/dist"
FIRSTBOOT = Path(__file__).with_name("firstboot.sh")
DEVICE_UNITS = ["samplepoint-firstboot.service", "samplepoint-kiosk.service", "samplepoint-forwarder.service",
                "samplepoint-portal.service", "samplepoint-hotspot.service",
                "samplepoint-hostapd.service", "samplepoint-dnsmasq.service",
                "samplepoint-display.service", "samplepoint-enrol.service",
                "samplepoint-admit.service"]
# hostapd and dnsmasq are (re)started by `samplepoint hotspot apply`, not enabled on their own.
ENABLED_UNITS = ["samplepoint-firstboot.service", "samplepoint-kiosk.service", "samplepoint-forwarder.service",
                 "samplepoint-portal.service", "samplepoint-hotspot.service",
                 "samplepoint-display.service", "samplepoint-enrol.service",
                 "samplepoint-admit.service"]
CENTRAL_UNITS = ["samplepoint-central.service"]
# USB printer access for the kiosk (group lp): provisioning/udev/60-samplepoint-printer.rules;
# a radio that appears after boot brings the hotspot up: 70-samplepoint-radio.rules.
UDEV_RULE = "60-samplepoint-printer.rules"
RADIO_RULE = "70-samplepoint-radio.rules"
UDEV_RULES = [UDEV_RULE, RADIO_RULE]
UDEV_DIR = "/etc/udev/rules.d"
# Groups of the service user: camera, GPIO, and USB printers (Debian gives printer nodes to lp).
DEVICE_GROUPS = ("video", "gpio", "lp")
# What a new version must restart into (the oneshots ran once and stay done).
LONG_RUNNING = [u for u in ENABLED_UNITS if u not in ("samplepoint-firstboot.service",
                                                      "samplepoint-enrol.service")]


class StepFailed(RuntimeError):
    def __init__(self, message: str, fix: str):
        super().__init__(message)
        self.fix = fix


@dataclass
class Target:
    """Where provisioning writes, and how it runs (or records) commands."""
    root: Path
    on_host: bool
    run: Callable[[list[str]], str]
    recorded: list[str] = field(default_factory=list)
    changes: int = 0
    # The software came as a Debian package: its postinst installs the units of its own version.
    packaged: bool = False
    # Run by the package's postinst (install or upgrade): units it adds are enabled, others kept.
    package_mode: str = ""
    new_units: list[str] = field(default_factory=list)

    @property
    def systemd_running(self) -> bool:
        return self.on_host and Path("/run/systemd/system").exists()

    def path(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")

    def record(self, command: list[str]) -> None:
        self.recorded.append(shlex.join(command))


def run_command(command: list[str]) -> str:
    try:
        done = subprocess.run(command, check=True, capture_output=True, text=True, timeout=1800)
    except FileNotFoundError:
        raise StepFailed(f"{command[0]} not found", f"install the package that provides {command[0]}")
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or exc.stdout or "").strip().splitlines()[-3:]
        raise StepFailed(f"`{shlex.join(command)}` failed: {' / '.join(tail)}",
                         "read the error above, fix it, and run `samplepoint provision` again")
    return done.stdout


def units_source() -> Path:
    """The shipped unit files: the source tree's systemd/, or the copy pip installed."""
    return _shipped("systemd", "samplepoint-kiosk.service")


def udev_source() -> Path:
    """The shipped udev rules: the source tree's provisioning/udev/, or the copy pip installed."""
    return _shipped("udev", UDEV_RULE)


def _shipped(folder: str, probe: str) -> Path:
    for candidate in (Path(__file__).resolve().parents[1] / folder,
                      Path(__file__).resolve().parent / folder,
                      Path(sys.prefix) / "share/samplepoint" / folder):
        if (candidate / probe).exists():
            return candidate
    raise StepFailed(f"the samplepoint {folder} files are missing",
                     f"reinstall samplepoint (pip install) so share/samplepoint/{folder} exists")


# --- steps: each returns a one-line result and counts its changes on the target ----------------

def _apt_script() -> str:
    """Shell lines for the image: apt-get update first, and only when something is missing."""
    return f"""missing=""; optional=""
# Installed packages and what they provide (Trixie's libzbar0t64 provides libzbar0).
installed="$(dpkg-query -W -f='${{db:Status-Abbrev}} ${{Package}} ${{Provides}}\n' 2>/dev/null \
    | awk '$1 == "ii" {{ $1 = ""; gsub(/\\([^)]*\\)|,/, " "); print }}')"
has() {{ printf '%s\n' $installed | grep -qx "$1"; }}
for p in {' '.join(APT_PACKAGES)}; do
    has "$p" || missing="$missing $p"
done
for p in {' '.join(APT_OPTIONAL)}; do
    has "$p" || optional="$optional $p"
done
if [ -n "$missing$optional" ]; then
    echo "samplepoint: updating the package lists"
    apt-get update -qq
    for p in $optional; do
        # madison: a real candidate (show also succeeds for a name a package only mentions).
        if [ -n "$(apt-cache madison "$p" 2>/dev/null)" ]; then missing="$missing $p"
        else echo "samplepoint: note: $p is not in this system's archive (Raspberry Pi OS has it); skipped"; fi
    done
    if [ -n "$missing" ]; then
        echo "samplepoint: installing$missing"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
    fi
fi
# samplepoint hotspot owns the firewall: Debian's nftables.service would flush it at boot.
systemctl --root=/ --quiet disable nftables.service 2>/dev/null || true"""


def step_packages(t: Target, args) -> str:
    if not t.on_host:
        t.recorded.append(_apt_script())
        return "recorded for the device (apt does not run with --root)"
    installed = _installed_names(t)
    missing = [p for p in APT_PACKAGES if p not in installed]
    optional = [p for p in APT_OPTIONAL if p not in installed]
    if not missing and not optional:
        return "all installed"
    try:
        t.run(["apt-get", "update", "-qq"])
        missing += [p for p in optional if _apt_knows(t, p)]
        if missing:
            t.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing])
    except StepFailed as exc:
        raise StepFailed(str(exc), "check the uplink and /etc/apt/sources.list; python3-picamera2 "
                                   "and cage come from Raspberry Pi OS / Debian bookworm or later") from None
    _disable_debian_firewall(t)
    if not missing:
        return "all installed (" + " ".join(optional) + " not in this system's archive)"
    t.changes += 1
    return "installed " + " ".join(missing)


def _disable_debian_firewall(t: Target) -> None:
    """samplepoint hotspot owns the firewall: Debian's nftables.service would flush it at boot."""
    try:
        t.run(["systemctl", "--quiet", "disable", "nftables.service"])
    except StepFailed:
        pass


def _apt_knows(t: Target, package: str) -> bool:
    """Whether the archive has a candidate (`show` also succeeds for a name only mentioned by a
    package, as python3-picamera2 is by samplepoint's Recommends)."""
    try:
        return bool(t.run(["apt-cache", "madison", package]).strip())
    except StepFailed:
        return False


def _installed_names(t: Target) -> set[str]:
    """Names of the installed packages and of what they provide: on Trixie, libzbar0t64 provides
    libzbar0 (the 64-bit time_t renames), so asking for libzbar0 there is already satisfied."""
    try:
        listing = t.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}\t${Package}\t${Provides}\n"])
    except StepFailed:
        return set()
    return installed_names(listing)


def installed_names(listing: str) -> set[str]:
    """`installed` of dpkg-query's "status<TAB>package<TAB>provides" lines (only "ii" counts)."""
    names = set()
    for line in listing.splitlines():
        status, _, rest = line.partition("\t")
        if not status.startswith("ii"):
            continue
        package, _, provides = rest.partition("\t")
        names.add(package.split(":")[0].strip())
        names.update(item.split("(")[0].strip() for item in provides.split(",") if item.strip())
    names.discard("")
    return names


def _dpkg_status(t: Target, package: str) -> str:
    try:
        return t.run(["dpkg-query", "-W", "-f=${Status}", package])
    except StepFailed:
        return ""


def step_user(t: Target, args) -> str:
    if t.on_host:
        return _host_user(t)
    passwd, group = t.path("/etc/passwd"), t.path("/etc/group")
    before = (_read(passwd), _read(group))
    text = before[1]
    for name in DEVICE_GROUPS:
        text, _ = system.ensure_group(text, name, USER)
    text, gid = system.ensure_group(text, USER)
    users, _ = system.ensure_user(before[0], USER, gid, DATA_DIR, "/usr/sbin/nologin",
                                  "samplepoint services")
    if (users, text) == before:
        return f"user {USER} exists"
    write_atomic(passwd, users, mode=0o644)
    write_atomic(group, text, mode=0o644)
    t.changes += 1
    return f"user {USER} written to {passwd.parent}"


def _host_user(t: Target) -> str:
    import grp
    import pwd
    done = []
    for name in DEVICE_GROUPS:
        try:
            grp.getgrnam(name)
        except KeyError:
            t.run(["groupadd", "--system", name])
            done.append(f"group {name}")
    try:
        pwd.getpwnam(USER)
    except KeyError:
        t.run(["useradd", "--system", "--user-group", "--home-dir", DATA_DIR, "--no-create-home",
               "--shell", "/usr/sbin/nologin", "--groups", ",".join(DEVICE_GROUPS), USER])
        done.append(f"user {USER}")
    for name in DEVICE_GROUPS:
        if USER not in grp.getgrnam(name).gr_mem:
            t.run(["usermod", "--append", "--groups", name, USER])
            done.append(f"{USER} in {name}")
    if not done:
        return f"user {USER} exists, in {', '.join(DEVICE_GROUPS)}"
    t.changes += 1
    return "created " + ", ".join(done)


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


def _ids(t: Target) -> tuple[int, int]:
    """uid and gid of the service user on the target."""
    if t.on_host:
        import pwd
        entry = pwd.getpwnam(USER)
        return entry.pw_uid, entry.pw_gid
    return (system.lookup(_read(t.path("/etc/passwd")), USER),
            system.lookup(_read(t.path("/etc/group")), USER))


def _ensure_owned(t: Target, path: Path, mode: int, uid: int, gid: int) -> bool:
    """chmod/chown path when they differ; True when something changed."""
    st = path.stat()
    changed = False
    if st.st_mode & 0o7777 != mode:
        os.chmod(path, mode)
        changed = True
    if (st.st_uid, st.st_gid) != (uid, gid):
        if os.geteuid() != 0:
            raise StepFailed(f"cannot give {path} to {USER} (not root)", "run as root (sudo)")
        os.chown(path, uid, gid)
        changed = True
    return changed


def step_directories(t: Target, args) -> str:
    uid, gid = _ids(t)
    changed = []
    for absolute, mode, owner in ((DATA_DIR, 0o700, (uid, gid)), ("/etc/samplepoint", 0o750, (0, gid)),
                                  ("/etc/samplepoint/hotspot", 0o750, (0, 0)),
                                  ("/opt/samplepoint", 0o755, (0, 0))):
        path = t.path(absolute)
        created = not path.exists()
        path.mkdir(parents=True, exist_ok=True)
        if _ensure_owned(t, path, mode, *owner) or created:
            changed.append(f"{absolute} {mode:o}")
    if not changed:
        return "data 0700, config 0750: as they should be"
    t.changes += 1
    return "set " + ", ".join(changed)


def _command_link(t: Target) -> bool:
    """/usr/local/bin/samplepoint → the venv's, so technicians can type `samplepoint`."""
    link = t.path("/usr/local/bin/samplepoint")
    if link.is_symlink() and os.readlink(link) == f"{VENV}/bin/samplepoint":
        return False
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(f"{VENV}/bin/samplepoint")
    return True


def _wheel_version(path: Path) -> str:
    """The version in a wheel's file name (samplepoint-0.2.0-py3-none-any.whl -> 0.2.0)."""
    parts = path.name.split("-")
    if len(parts) < 5 or not path.name.endswith(".whl"):
        raise StepFailed(f"{path.name} is not a wheel file name", "pass the .whl as built by pip wheel")
    return parts[1]


def _build_wheel(tree: Path, out: Path) -> Path:
    """A wheel of a source checkout, so that what is installed is a package, never the tree."""
    run_command([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir",
                 str(out), str(tree)])
    wheels = sorted(out.glob("samplepoint-*.whl"))
    if not wheels:
        raise StepFailed(f"no wheel was built from {tree}", "check that pip can build the checkout")
    return wheels[-1]


def software(args, workdir: Path) -> tuple[Path, list[Path], bool]:
    """(the samplepoint wheel, every wheel to carry, offline) for --source/--wheels.

    --source is a wheel, a folder of wheels (a wheelhouse: installed with no index), or a source
    checkout (a wheel is built from it); without it, the checkout provision runs from.
    """
    tree = Path(__file__).resolve().parents[1]
    source = Path(args.source) if args.source else (tree if (tree / "setup.py").exists() else None)
    if source is None:
        raise StepFailed("this copy of samplepoint was installed from a package, and no --source "
                         "was given", "pass --source with the samplepoint .whl to install")
    extra = sorted(Path(args.wheels).glob("*.whl")) if getattr(args, "wheels", None) else []
    if source.is_file():
        main = source
    elif (source / "setup.py").exists() or (source / "pyproject.toml").exists():
        main = _build_wheel(source, workdir)
    elif source.is_dir() and list(source.glob("samplepoint-*.whl")):
        extra += sorted(p for p in source.glob("*.whl") if not p.name.startswith("samplepoint-"))
        main = sorted(source.glob("samplepoint-*.whl"), key=lambda p: p.stat().st_mtime)[-1]
    else:
        raise StepFailed(f"--source {source} is neither a wheel, a folder of wheels nor a source "
                         "checkout", "pass the samplepoint .whl (python -m pip wheel --no-deps .)")
    _wheel_version(main)
    offline = bool(extra)
    return main, [main, *extra], offline


def step_venv(t: Target, args) -> str:
    import tempfile
    linked = _command_link(t)
    t.changes += linked
    create = ["python3", "-m", "venv", "--system-site-packages", VENV]
    with tempfile.TemporaryDirectory(prefix="samplepoint-wheel-") as tmp:
        main, wheels, offline = software(args, Path(tmp))
        version = _wheel_version(main)
        if not t.on_host:
            carried = _carry(t, wheels)
            index = ["--no-index"] if offline else []
            t.record(create)
            t.record([f"{VENV}/bin/pip", "install", "--quiet", "--upgrade", *index, "--find-links", DIST,
                      f"{DIST}/{main.name}"])
            return (f"samplepoint {version} and {len(wheels) - 1} other wheel(s) carried into {DIST}"
                    f"{' (' + str(carried) + ' new)' if carried else ''}; install recorded"
                    + ("; /usr/local/bin/samplepoint linked" if linked else ""))
        changed = []
        if not Path(VENV, "bin", "python").exists():
            t.run(create)
            changed.append("venv created")
        try:
            installed = t.run([f"{VENV}/bin/python", "-c",
                               "import samplepoint; print(samplepoint.__version__)"]).strip()
        except StepFailed:
            installed = ""
        if installed != version:
            index = ["--no-index"] if offline else []
            links = ["--find-links", str(Path(wheels[-1]).parent)] if offline else []
            try:
                t.run([f"{VENV}/bin/pip", "install", "--upgrade", *index, *links, str(main)])
            except StepFailed as exc:
                raise StepFailed(str(exc), "check the uplink or pass --wheels with a folder of the "
                                           "dependencies' wheels") from None
            changed.append(f"samplepoint {installed or 'none'} -> {version} installed")
            _restart_running(t)
    if not changed:
        return f"samplepoint {version} in {VENV}"
    t.changes += not linked
    return ", ".join(changed)


# --- software as a Debian package (a .deb file, or the apt repository of [update]) ----------------

REPOSITORY = "repository"       # --source repository: apt installs samplepoint from [update]
APT_ENV = "DEBIAN_FRONTEND=noninteractive"


def deb_version(path: Path) -> str:
    """The Version field of a .deb file."""
    return run_command(["dpkg-deb", "-f", str(path), "Version"]).strip()


def target_package_version(t: Target) -> str:
    """The samplepoint package version installed on the target ("" when none): the target's own
    dpkg database, never the version of the samplepoint running this command."""
    if t.on_host:
        status = _dpkg_status(t, "samplepoint")
        if "install ok installed" not in status:
            return ""
        try:
            return t.run(["dpkg-query", "-W", "-f=${Version}", "samplepoint"]).strip()
        except StepFailed:
            return ""
    for stanza in _read(t.path("/var/lib/dpkg/status")).split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line
                      and not line.startswith(" "))
        if fields.get("Package") == "samplepoint" and fields.get("Status") == "install ok installed":
            return fields.get("Version", "")
    return ""


def _apt_install(target: str) -> list[str]:
    return ["apt-get", "install", "-y", "-q", "--allow-downgrades",
            "-o", "Dpkg::Options::=--force-confold", "-o", "Dpkg::Options::=--force-confdef", target]


def step_package(t: Target, args) -> str:
    """--source x.deb or --source repository: apt installs the package; its postinst does the rest."""
    from provisioning.update import ONLY_OUR_LIST
    t.packaged = True
    before = target_package_version(t)
    if args.source == REPOSITORY:
        config = config_module.load(t.path(CONFIG))
        if not config.update.repository_url:
            raise StepFailed("--source repository needs [update] repository_url in the config",
                             "set it in the --config file (docs/updating.md)")
        refresh = ["apt-get", "update", "-qq", *ONLY_OUR_LIST]
        install = _apt_install("samplepoint")
        wanted, what = "", f"samplepoint from {config.update.repository_url}"
    else:
        deb = Path(args.source).resolve()
        wanted = deb_version(deb)
        if not t.on_host:
            _carry(t, [deb])
            deb = Path(DIST) / deb.name
        refresh, install, what = None, _apt_install(str(deb)), f"samplepoint {wanted} ({deb.name})"
    if not t.on_host:
        if refresh:
            t.recorded.append(f"{APT_ENV} {shlex.join(refresh)}")
        t.recorded.append(f"{APT_ENV} {shlex.join(install)}")
        return (f"{what}: install recorded (the image has {before or 'no samplepoint'}; "
                "the package's postinst sets up its units)")
    if wanted and wanted == before:
        return f"samplepoint {before} (package) installed"
    if refresh:
        t.run(refresh)
    try:
        t.run(install)
    except StepFailed as exc:
        raise StepFailed(str(exc), "read apt's message; a refused config is named there") from None
    after = target_package_version(t)
    if after == before:
        return f"samplepoint {after} (package) installed"
    t.changes += 1
    return f"samplepoint {before or 'none'} -> {after} (package; services restarted by it)"


def step_software(t: Target, args) -> str:
    source = getattr(args, "source", None) or ""
    if source == REPOSITORY or source.endswith(".deb"):
        return step_package(t, args)
    return step_venv(t, args)


def step_apt_source(t: Target, args) -> str:
    """The samplepoint apt repository of [update], trusted through its own key only."""
    from provisioning.update import SOURCES, write_sources
    update = config_module.load(t.path(CONFIG)).update
    key = t.path(update.keyring)
    done = []
    if getattr(args, "apt_key", None):
        data = Path(args.apt_key).read_bytes()
        if not (b"BEGIN PGP PUBLIC KEY BLOCK" in data or data[:1] in (b"\x98", b"\x99", b"\xc6")):
            raise StepFailed(f"{args.apt_key} is not an OpenPGP public key",
                             "pass the repository's samplepoint.asc (samplepoint apt-repo init prints it)")
        if not key.exists() or key.read_bytes() != data:
            key.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(key, data, mode=0o644)
            done.append(f"key {update.keyring}")
    if not update.repository_url:
        if done:
            t.changes += 1
        return ", ".join(done + ["no repository in [update]: updates by hand"])
    if not key.exists() and t.package_mode:
        return f"WARNING: no key at {update.keyring}: `samplepoint update` will refuse until it is there"
    if not key.exists():
        raise StepFailed(f"[update] repository_url is set but its key {update.keyring} is missing",
                         "pass --apt-key with the repository's public key (samplepoint.asc)")
    if write_sources(t.root, update):
        done.append(f"{SOURCES} -> {update.repository_url}")
    if not done:
        return f"{update.repository_url} ({update.suite}), key in place"
    t.changes += 1
    return "wrote " + ", ".join(done)


def _carry(t: Target, wheels: list[Path]) -> int:
    """Copy the wheels into the image's DIST folder (only they stay there); returns how many were new."""
    import shutil
    dist = t.path(DIST)
    dist.mkdir(parents=True, exist_ok=True)
    names = {w.name for w in wheels}
    for old in [*dist.glob("*.whl"), *dist.glob("*.deb")]:
        if old.name not in names:
            old.unlink()
    new = 0
    for wheel in wheels:
        target = dist / wheel.name
        if not target.exists() or target.stat().st_size != wheel.stat().st_size:
            shutil.copyfile(wheel, target)
            os.chmod(target, 0o644)
            new += 1
    t.changes += bool(new)
    return new


def _restart_running(t: Target) -> None:
    """Services run the new version at once (try-restart leaves stopped ones stopped)."""
    try:
        t.run(["systemctl", "try-restart", *LONG_RUNNING])
    except StepFailed:
        pass        # no systemd (a chroot): nothing runs yet


def _write_if_different(t: Target, path: Path, data: str, mode: int, uid: int, gid: int) -> bool:
    changed = _read(path) != data if path.exists() else True
    if changed:
        write_atomic(path, data, mode=mode)
    return _ensure_owned(t, path, mode, uid, gid) or changed


def step_config(t: Target, args) -> str:
    uid, gid = _ids(t)
    target = t.path(CONFIG)
    if args.config:
        try:
            loaded = config_module.load(args.config)
        except config_module.ConfigError as exc:
            raise StepFailed(str(exc), "fix the config file and run provision again") from None
        text = Path(args.config).read_text(encoding="utf-8")
    elif target.exists():
        try:
            loaded = config_module.load(target)
        except config_module.ConfigError as exc:
            raise StepFailed(str(exc), f"fix {CONFIG} or pass --config FILE") from None
        text = _read(target)
    else:
        loaded, text = config_module.Config(), config_module.example_toml()
    if loaded.device.data_dir != DATA_DIR:
        raise StepFailed(f"device.data_dir is {loaded.device.data_dir}, but the services may write "
                         f"only {DATA_DIR}", f"set data_dir = '{DATA_DIR}' in [device]")
    if _write_if_different(t, target, text, 0o600, uid, gid):
        t.changes += 1
        return f"{CONFIG} written (0600)"
    return f"{CONFIG} unchanged"


def step_secrets(t: Target, args) -> str:
    uid, gid = _ids(t)
    done = []
    code_file = t.path(DATA_DIR + "/enrol-code")
    if args.enrol_code_file:
        code = Path(args.enrol_code_file).read_text(encoding="utf-8").strip() + "\n"
        if _write_if_different(t, code_file, code, 0o600, uid, gid):
            done.append("enrolment code placed")
    loaded = config_module.load(t.path(CONFIG))
    for secret in (t.path(loaded.central.token_file), code_file):
        if secret.exists() and _ensure_owned(t, secret, 0o600, uid, gid):
            done.append(f"{secret.name} made 0600")
    if not done:
        return "token and enrolment code: present ones are 0600"
    t.changes += 1
    return ", ".join(done)


PRESET = "/etc/systemd/system-preset/10-samplepoint.preset"
# Daemons whose Debian packages enable them, but which samplepoint runs its own way (or not at all).
PRESET_DISABLED = ["nftables.service", "hostapd.service", "dnsmasq.service"]


def preset_text(central: bool) -> str:
    """systemd applies presets to every unit at a card's first boot (machine-id "uninitialized"):
    this file decides what that enables, before Debian's "enable *" does."""
    enabled = ENABLED_UNITS + (CENTRAL_UNITS if central else [])
    disabled = [u for u in DEVICE_UNITS + CENTRAL_UNITS if u not in enabled] + PRESET_DISABLED
    return ("# Written by samplepoint provision: what a card's first boot enables (systemctl preset-all).\n"
            + "".join(f"enable {u}\n" for u in enabled) + "".join(f"disable {u}\n" for u in disabled))


def step_units(t: Target, args) -> str:
    if t.packaged:
        return "the package's own (its postinst installs them)"
    source = units_source()
    central = getattr(args, "central", False)
    names = DEVICE_UNITS + (CENTRAL_UNITS if central else [])
    written = []
    for name in names:
        path = t.path(f"{UNIT_DIR}/{name}")
        existed = path.exists()
        if _write_if_different(t, path, (source / name).read_text(encoding="utf-8"), 0o644, 0, 0):
            written.append(name)
            if not existed:
                t.new_units.append(name)
    if _write_if_different(t, t.path(PRESET), preset_text(central), 0o644, 0, 0):
        written.append(Path(PRESET).name)
    if not written:
        return f"{len(names)} units up to date"
    if t.on_host and (t.systemd_running or not t.package_mode):
        t.run(["systemctl", "daemon-reload"])
    t.changes += 1
    return f"installed {len(written)}: " + " ".join(written)


def step_udev(t: Target, args) -> str:
    """The udev rules: the kiosk may open a USB slip printer (group lp, 0660); a Wi-Fi radio that
    appears after boot starts the hotspot units that stood down without one."""
    if t.packaged:
        return "the package's own (in /lib/udev/rules.d)"
    written = []
    for name in UDEV_RULES:
        path = t.path(f"{UDEV_DIR}/{name}")
        if _write_if_different(t, path, (udev_source() / name).read_text(encoding="utf-8"),
                               0o644, 0, 0):
            written.append(str(path))
    if not written:
        return "udev rules up to date"
    t.changes += 1
    if t.on_host and Path("/run/udev/control").exists():
        # A printer plugged in before this rule existed gets its new group now.
        t.run(["udevadm", "control", "--reload"])
        t.run(["udevadm", "trigger", "--subsystem-match=usb", "--action=change"])
    return "installed " + " ".join(written)


def _wanted_by(unit_text: str) -> list[str]:
    targets = []
    for line in unit_text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "WantedBy":
            targets += value.split()
    return targets


def step_enable(t: Target, args) -> str:
    if t.packaged:
        return "by the package (its postinst)"
    names = ENABLED_UNITS + (CENTRAL_UNITS if getattr(args, "central", False) else [])
    if t.package_mode == "upgrade":
        # An upgrade keeps what the technician enabled or disabled; only units new in it are enabled.
        names = [n for n in names if n in t.new_units]
        if not names:
            return "kept as they were (upgrade)"
    enabled = []
    for name in names:
        if t.on_host:
            state = _enabled_state(t, name)
            if state != "enabled":
                t.run(["systemctl", "enable", name])
                enabled.append(name)
            continue
        for target in _wanted_by(_read(t.path(f"{UNIT_DIR}/{name}"))):
            link = t.path(f"{UNIT_DIR}/{target}.wants/{name}")
            if not link.is_symlink():
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(f"{UNIT_DIR}/{name}")
                enabled.append(name)
    if not enabled:
        return f"{len(names)} units enabled"
    t.changes += 1
    return "enabled " + " ".join(enabled)


def _enabled_state(t: Target, name: str) -> str:
    try:
        return t.run(["systemctl", "is-enabled", name]).strip()
    except StepFailed:
        return "disabled"


SEAL = """# Every card written from this image must become its own machine: systemd makes a new
# machine-id at first boot (and runs ConditionFirstBoot units), samplepoint-firstboot makes new SSH
# host keys. Nothing that identifies this build machine stays in the image.
echo uninitialized > /etc/machine-id
if [ -f /var/lib/dbus/machine-id ] && [ ! -L /var/lib/dbus/machine-id ]; then
    ln -sf /etc/machine-id /var/lib/dbus/machine-id
fi
rm -f /etc/ssh/ssh_host_*key /etc/ssh/ssh_host_*key.pub
echo 'samplepoint: image sealed (machine-id uninitialized, no SSH host keys)'"""


def step_record(t: Target, args) -> str:
    """Root mode: what only the device can do goes into a script the image build runs."""
    if t.on_host:
        return "nothing recorded"
    script = ("#!/bin/sh\n# Written by `samplepoint provision --root`. Run inside the image (chroot or\n"
              "# systemd-nspawn -D ROOT) before writing it to cards: installs what provision could not.\n"
              "set -e\n")
    script += "".join(line + "\n" for line in [*t.recorded, SEAL])
    path = t.path("/opt/samplepoint/provision-on-device.sh")
    if _write_if_different(t, path, script, 0o755, 0, 0):
        t.changes += 1
        return f"{len(t.recorded)} steps written to {path}"
    return f"{len(t.recorded)} steps already in {path}"


STEPS = [("system packages", step_packages), ("service user and groups", step_user),
         ("directories", step_directories), ("configuration", step_config),
         ("apt repository", step_apt_source), ("software", step_software),
         ("secrets", step_secrets), ("systemd units", step_units), ("udev rules", step_udev),
         ("enable services", step_enable), ("deferred commands", step_record)]
# What the package's postinst asks for: apt installed the system packages and the software.
PACKAGE_STEPS = [s for s in STEPS if s[1] not in (step_packages, step_software, step_record)]


def provision(args, run: Callable[[list[str]], str] = run_command, out=print) -> int:
    """Run every step, printing progress; returns 0 when done, 1 at the first failure."""
    on_host = not args.root
    if on_host and os.geteuid() != 0:
        out("samplepoint provision: must run as root; try: sudo samplepoint provision")
        return 1
    mode = getattr(args, "package", None) or ""
    target = Target(Path(args.root or "/"), on_host, run, package_mode=mode)
    where = "this system" if on_host else f"the tree {target.root}"
    out(f"provisioning {where}" + (f" (package {mode})" if mode else ""))
    steps = PACKAGE_STEPS if mode else STEPS
    for number, (title, step) in enumerate(steps, start=1):
        prefix = f"[{number}/{len(steps)}] {title}"
        try:
            result = step(target, args)
        except (StepFailed, OSError) as exc:
            fix = getattr(exc, "fix", "check the path and permissions, then run provision again")
            out(f"{prefix}: FAILED: {exc}")
            out(f"      fix: {fix}")
            return 1
        out(f"{prefix}: {result}")
    out(f"provision: {target.changes} step(s) changed" if target.changes
        else "provision: no change (already provisioned)")
    return 0


def main(args) -> int:
    return provision(args)
