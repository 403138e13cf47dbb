"""A samplepoint device booted under systemd in systemd-nspawn, built the way docs/install-pi.md says.

`golden_image()` builds (and caches) a Debian root file system with mmdebstrap, provisions it with
`samplepoint provision --root` from a built wheel and a wheelhouse, and runs the recorded
`provision-on-device.sh` inside it; `Machine` boots a copy of it as a container in a network namespace
of the test's own (`Link`: a veth pair to the host, so the test's central server and apt repository
answer on the host end, and the device's own ports, SSH 22 and the display's 8080 among them, never
meet the host's or another run's), and inspects it from outside with nsenter. Used by tests/provisioning/test_booted_device.py and benchmarks/bench_booted.py.
"""
from __future__ import annotations

import hashlib
import random
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from provisioning import provision

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("SAMPLEPOINT_TEST_CACHE", "/var/cache/samplepoint-tests"))
# What Raspberry Pi OS Lite brings, plus what provision installs (preinstalled here so that the
# image build does not download chromium on every run; provision's apt step still runs and
# updates the lists first, for python3-picamera2, which Debian does not have).
BASE_PACKAGES = sorted({"systemd", "systemd-sysv", "dbus", "python3", "python3-venv", "iproute2",
                        "ca-certificates", "openssh-server", "procps", *provision.APT_PACKAGES})
TOOLS = ("mmdebstrap", "systemd-nspawn", "nsenter")
REPLAY = "/var/lib/samplepoint-replay"
# Campaign-wide settings a technician keeps in one file; the sites CSV fills in each device.
CAMPAIGN = f"""[camera]
source = 'replay:{REPLAY}'
follow = true
[feedback]
backend = 'mock'
[central]
# Booted devices reach central on their own veth link in plain HTTP: the lab setting (it warns).
allow_insecure_http = true
heartbeat_s = 5.0
backoff_cap_s = 5.0
[site]
tube_pattern = '^[A-Z]{{2}}[0-9]{{8}}$'
"""


def missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None]


def run(command: list[str], timeout: float = 900, **kw) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kw)
    if done.returncode != 0:
        raise RuntimeError(f"`{' '.join(map(str, command))}` exited {done.returncode}:\n"
                           f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def rootfs_tarball(suite: str = "bookworm", arch: str = "amd64", cache: Path = CACHE,
                   packages: list[str] = BASE_PACKAGES) -> tuple[Path, bool]:
    """(tarball, built now) of a minimal Debian system; cached by suite, arch and package list."""
    key = hashlib.sha256(" ".join([suite, arch, *packages]).encode()).hexdigest()[:12]
    tarball = cache / f"rootfs-{suite}-{arch}-{key}.tar"
    if tarball.exists():
        return tarball, False
    cache.mkdir(parents=True, exist_ok=True)
    partial = tarball.with_suffix(".partial.tar")
    run(["mmdebstrap", "--variant=minbase", f"--architectures={arch}",
         "--include=" + ",".join(packages), suite, str(partial)], timeout=1800)
    partial.rename(tarball)
    for stale in cache.glob(f"rootfs-{suite}-{arch}-*.tar"):      # an older package list's
        if stale != tarball:
            stale.unlink()
    return tarball, True


# The Python of each Debian release an image is built from (Raspberry Pi OS follows Debian).
PYTHONS = {"bookworm": "3.11", "trixie": "3.13"}
HOST_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def wheelhouse(cache: Path = CACHE, python: str = HOST_PYTHON) -> Path:
    """Wheels of samplepoint's dependencies, for an offline install into the image (cached by
    setup.py, where the dependencies are listed). For another Python than the host's (a Trixie
    image), binary wheels for it are fetched from the package index, as `make deb` does."""
    key = hashlib.sha256((REPO / "setup.py").read_bytes()).hexdigest()[:12]
    tag = python.replace(".", "")
    folder = cache / f"wheels-py{tag}-{key}"
    if not (folder / ".complete").exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        if python == HOST_PYTHON:
            run([sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(folder), str(REPO)])
        else:
            from provisioning import debpackage
            with tempfile.TemporaryDirectory(prefix="samplepoint-wheel-") as tmp:
                own = build_wheel(Path(tmp))
                debpackage.dependency_wheels(debpackage.requirements(own), debpackage.host_arch(),
                                             [python], folder)
        for own in folder.glob("samplepoint-*.whl"):
            own.unlink()
        (folder / ".complete").touch()
        for stale in cache.glob(f"wheels-py{tag}-*"):
            if stale != folder:
                shutil.rmtree(stale, ignore_errors=True)
    return folder


def build_wheel(out: Path) -> Path:
    """The samplepoint wheel of this checkout, as a release would ship it."""
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out),
         str(REPO)])
    shutil.rmtree(REPO / "build", ignore_errors=True)
    return sorted(out.glob("samplepoint-*.whl"))[-1]


def extract(tarball: Path, root: Path) -> None:
    root.mkdir(parents=True)
    run(["tar", "-C", str(root), "-xf", str(tarball)], timeout=600)


def nspawn_run(root: Path, *command: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """A command inside the tree with systemd-nspawn, not booted (as an image build does)."""
    return run(["systemd-nspawn", "--quiet", "--register=no", "--keep-unit", "--console=pipe",
                "-D", str(root), *command], timeout=timeout)


# What the Raspberry Pi Imager leaves on a Trixie card (cloud-init seeds): a login user and SSH.
IMAGER_USER_DATA = """#cloud-config
manage_resolv_conf: false
users:
- name: tech
  groups: users,adm,dialout,audio,netdev,video,plugdev,cdrom,games,input,gpio,spi,i2c,render,sudo
  shell: /bin/bash
  lock_passwd: false
  passwd: $5$abcdefgh$0123456789012345678901234567890123456789012
enable_ssh: true
ssh_pwauth: true
"""


def fresh_card(boot: Path, suite: str) -> None:
    """The boot partition (/boot/firmware) of a card just written with Raspberry Pi OS: Bookworm's
    cmdline runs its firstboot; Trixie's asks for resize and the Imager wrote cloud-init seeds."""
    boot.mkdir(parents=True, exist_ok=True)
    common = "console=serial0,115200 console=tty1 root=PARTUUID=1234-02 rootfstype=ext4 fsck.repair=yes rootwait quiet"
    if suite == "bookworm":
        (boot / "cmdline.txt").write_text(common + " init=/usr/lib/raspberrypi-sys-mods/firstboot\n")
        return
    (boot / "cmdline.txt").write_text(common + " resize cfg80211.ieee80211_regdom=VN\n")
    (boot / "user-data").write_text(IMAGER_USER_DATA)
    (boot / "meta-data").write_text("dsmode: local\ninstance_id: rpios-image\n")


def golden_image(root: Path, workdir: Path, suite: str = "bookworm", cache: Path = CACHE,
                 packages: list[str] = BASE_PACKAGES) -> dict:
    """docs/install-pi.md part B in a folder: a root file system provisioned from the wheel, the
    recorded on-device script run inside it. Returns timings (seconds) of each stage. A virtual
    machine's image (tests/vm) passes its own package list and cache folder."""
    times = {}
    start = time.monotonic()
    tarball, built = rootfs_tarball(suite, cache=cache, packages=packages)
    times["rootfs_build_s" if built else "rootfs_cached_s"] = time.monotonic() - start
    start = time.monotonic()
    extract(tarball, root)
    times["extract_s"] = time.monotonic() - start
    start = time.monotonic()
    wheels = wheelhouse(python=PYTHONS[suite])
    wheel = build_wheel(workdir / "dist")
    times["wheels_s"] = time.monotonic() - start
    fresh_card(root / "boot/firmware", suite)
    start = time.monotonic()
    cli = [sys.executable, "-m", "samplepoint.cli"]
    provisioned = run([*cli, "provision", "--root", str(root), "--source", str(wheel),
                       "--wheels", str(wheels)], cwd=REPO)
    script = nspawn_run(root, "/opt/samplepoint/provision-on-device.sh", timeout=1800)
    times["provision_s"] = time.monotonic() - start
    times["provision_out"] = provisioned.stdout + script.stdout
    return times


class Camera:
    """Frames moved into the device's replay folder, as its camera would see them."""

    def __init__(self, root: Path):
        self.folder = root / REPLAY.lstrip("/")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.rng = random.Random(7)
        self.count = 0

    def show(self, code_image, frames: int = 3, blanks: int = 2) -> None:
        from kiosk.framegen import frame_with
        for image in [code_image] * frames + [None] * blanks:
            tmp = self.folder / f".{self.count:06d}.tmp"
            frame_with(image, self.rng).save(tmp, format="PNG", compress_level=1)
            tmp.chmod(0o644)
            tmp.rename(self.folder / f"{self.count:06d}.png")
            self.count += 1

    def tube(self, code: str) -> None:
        from kiosk.framegen import code128_image
        self.show(code128_image(code))

    def full_tube(self, rng: random.Random, people: int = 5) -> str:
        """A tube and a full pool of fictional people (it closes by itself after the last);
        returns the tube code."""
        from kiosk.framegen import fictional_person, tube_code
        code = tube_code(rng)
        self.tube(code)
        for _ in range(people):
            self.person(fictional_person(rng))
        return code

    def person(self, person) -> None:
        from kiosk.codes import format_personal_qr
        from kiosk.framegen import qr_image
        self.show(qr_image(format_personal_qr(person)))


class Link:
    """A network namespace for one booted machine at a time, joined to the host by a veth pair:
    the host end is `host_ip` (where the test's servers listen), the device end `device_ip`.
    Nothing else is routed. Use as a context manager: what it created is removed on exit, whatever
    happened, and nothing it did not create. Runs started together take turns choosing their
    subnet (a lock file), so two never share one."""

    LOCK = Path("/run/lock/samplepoint-booted-link")

    def __init__(self):
        tag = f"{os.getpid()}{random.randrange(100):02d}"
        self.name = f"spboot{tag}"
        self.host_if = f"spb{tag}"[:15]
        self.host_ip = self.device_ip = ""
        self._made: list[list[str]] = []            # undo commands of what was created, in order

    def __enter__(self) -> "Link":
        import fcntl
        self.LOCK.parent.mkdir(parents=True, exist_ok=True)
        with open(self.LOCK, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                used = run(["ip", "-4", "-o", "addr"]).stdout
                third = next(n for n in range(256) if f" 10.213.{n}." not in used)
                self.host_ip, self.device_ip = f"10.213.{third}.1", f"10.213.{third}.2"
                run(["ip", "netns", "add", self.name])
                self._made.append(["ip", "netns", "del", self.name])
                run(["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", "eth0",
                     "netns", self.name])
                self._made.append(["ip", "link", "del", self.host_if])
                run(["ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if])
                run(["ip", "link", "set", self.host_if, "up"])
                run(["ip", "-n", self.name, "addr", "add", f"{self.device_ip}/30", "dev", "eth0"])
                run(["ip", "-n", self.name, "link", "set", "eth0", "up"])
                run(["ip", "-n", self.name, "link", "set", "lo", "up"])
            except BaseException:
                self.__exit__()
                raise
        return self

    @property
    def path(self) -> str:
        return f"/run/netns/{self.name}"

    def __exit__(self, *exc) -> None:
        for undo in reversed(self._made):
            subprocess.run(undo, capture_output=True)
        self._made = []


def start_central(folder: Path, host: str = "127.0.0.1"):
    """A reference central server listening on `host` (a Link's host end for a booted device),
    with a new database in folder; `server.db` is its CentralDB. Stop it with `server.stop()`."""
    from central.app import create_app
    from central.db import CentralDB
    from samplepoint.httpserver import BackgroundServer
    db = CentralDB(folder / "central.db")
    server = BackgroundServer(create_app(db), host=host).start()
    server.db = db
    return server


class Machine:
    """One boot of a root file system under systemd-nspawn."""

    def __init__(self, root: Path, log: Path, link: Link | None = None):
        self.root, self.log, self.link = root, log, link
        self.process: subprocess.Popen | None = None
        self.leader = 0

    def boot(self, timeout: float = 120) -> float:
        """Start the container; returns seconds until systemd reports the boot finished."""
        start = time.monotonic()
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                ["systemd-nspawn", "-b", "-D", str(self.root), "--register=no", "--keep-unit",
                 "--console=read-only",
                 *([f"--network-namespace-path={self.link.path}"] if self.link else [])], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        deadline = start + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the container exited ({self.process.returncode}); see {self.log}")
            self.leader = self.leader or self._find_leader()
            if self.leader:
                state = self.sh("systemctl is-system-running", check=False).stdout.strip()
                if state in ("running", "degraded"):
                    return time.monotonic() - start
            time.sleep(0.2)
        raise TimeoutError(f"the container did not finish booting in {timeout:.0f} s; see {self.log}")

    def _find_leader(self) -> int:
        """The container's PID 1 as the host sees it: nspawn's descendant whose NSpid ends in 1."""
        todo = [self.process.pid]
        while todo:
            pid = todo.pop()
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                children = " ".join(Path(p).read_text() for p in Path(f"/proc/{pid}/task").glob("*/children"))
            except OSError:
                continue
            nspid = next((line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:")), [])
            if pid != self.process.pid and len(nspid) > 1 and nspid[-1] == "1":
                return pid
            todo += [int(c) for c in children.split()]
        return 0

    def sh(self, command: str, check: bool = True, timeout: float = 120,
           user: str | None = None) -> subprocess.CompletedProcess:
        """A shell command inside the running container (all its namespaces), as root or `user`."""
        prefix = ["nsenter", "-t", str(self.leader), "-a"]
        if user:
            uid, gid = self.ids(user)
            prefix += ["-S", str(uid), "-G", str(gid)]
        done = subprocess.run([*prefix, "/bin/sh", "-c", command], capture_output=True, text=True,
                              timeout=timeout)
        if check and done.returncode != 0:
            raise RuntimeError(f"in the device, `{command}` exited {done.returncode}: "
                               f"{done.stdout[-2000:]} {done.stderr[-2000:]}")
        return done

    def ids(self, user: str) -> tuple[int, int]:
        for line in (self.root / "etc/passwd").read_text().splitlines():
            fields = line.split(":")
            if fields[0] == user:
                return int(fields[2]), int(fields[3])
        raise KeyError(user)

    def unit(self, name: str) -> dict[str, str]:
        props = self.sh(f"systemctl show {name}").stdout
        return dict(line.partition("=")[::2] for line in props.splitlines())

    def journal(self, unit: str) -> str:
        return self.sh(f"journalctl --no-pager -o cat -u {unit}", check=False).stdout

    def wait(self, what: str, predicate, timeout: float = 90, every: float = 0.5):
        return wait_for(what, predicate, timeout, every)

    def stop(self, timeout: float = 60) -> None:
        """A clean shutdown (SIGTERM to nspawn asks systemd to power off)."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.leader = 0

    def kill(self) -> None:
        """A power cut: SIGKILL to nspawn and everything in the container."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)
        # Killing a PID namespace's PID 1 kills everything in it, as a power cut would.
        if self.leader:
            try:
                os.kill(self.leader, signal.SIGKILL)
            except ProcessLookupError:
                pass
            for _ in range(100):
                if not Path(f"/proc/{self.leader}").exists():
                    break
                time.sleep(0.1)
        self.leader = 0

    def doctor(self) -> dict:
        done = self.sh("/opt/samplepoint/venv/bin/samplepoint doctor --json "
                       "--config /etc/samplepoint/samplepoint.toml", check=False, timeout=180)
        return json.loads(done.stdout)

    def query(self, sql: str) -> list[list[str]]:
        """Rows of a read-only query of the device database, as the service user (never root:
        a file SQLite creates as root would lock the services out)."""
        done = self.sh(f"sqlite3 -readonly -separator '|' /var/lib/samplepoint/samplepoint.db \"{sql}\"",
                       user="samplepoint")
        return [line.split("|") for line in done.stdout.splitlines()]


def wait_for(what: str, predicate, timeout: float, every: float, see: str = ""):
    """predicate()'s first true value, polled every `every` s; TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}" + (f"; see {see}" if see else ""))
        time.sleep(every)
