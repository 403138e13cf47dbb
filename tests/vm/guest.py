"""A samplepoint device on a real Linux kernel: the golden image and a prepared card booted in QEMU.

`build()` makes the disks of a virtual Pi from what a technician has: the golden image that
tests/provisioning/booted.py builds (provisioned from the wheel; here with a kernel and the guest
tools added to its package list, cached in a folder of its own) as an ext4 root disk, and a FAT
boot partition written by `samplepoint prepare-sd --image`. `VM` boots it under QEMU's software
emulator (TCG; /dev/kvm on these machines cannot run a stock kernel), with mac80211_hwsim radios
when asked, and talks to it only through the QEMU guest agent (virtio-serial). Its one network is
QEMU's user network with `restrict=on`: the guest reaches the test's central server on the host's
loopback as http://10.0.2.100:8700 (guestfwd), and nothing else. `kill()` is a power cut: the
guest's page cache is lost with the QEMU process.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.provisioning import booted

VM_CACHE = booted.CACHE / "vm"
# The golden image's packages, plus what a Pi's own image has and the PC image lacks: a kernel and
# udev, wpa_supplicant and NetworkManager (Raspberry Pi OS's network manager), fsck for the FAT
# boot partition; busybox's udhcpc is the phones' DHCP client; qemu-guest-agent is how tests
# look inside.
VM_PACKAGES = sorted({*booted.BASE_PACKAGES, "linux-image-amd64", "udev", "kmod", "wpasupplicant",
                      "qemu-guest-agent", "busybox", "e2fsprogs", "dosfstools", "network-manager"})
TOOLS = (*booted.TOOLS, "qemu-system-x86_64", "mke2fs", "e2fsck", "mkfs.vfat", "mcopy", "socat")
CENTRAL_IN_GUEST = "http://10.0.2.100:8700"
# Emulation on a shared 2-core machine is slow and its speed varies with the load: every wait in
# the guest is this many times what a quiet machine needs (never an assertion on speed).
SLOW = float(os.environ.get("SAMPLEPOINT_VM_TIMEOUT_SCALE", "4"))
REPLAY = booted.REPLAY
# A small initramfs (only what mounts the root disk) boots faster under emulation.
INITRD_MODULES = ("virtio_pci", "virtio_blk", "ext4")


def missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None]


@dataclass
class Disks:
    root: Path          # ext4 image of the root file system (/dev/vda)
    boot: Path          # FAT image of the card's boot partition (/dev/vdb, /boot/firmware)
    kernel: Path
    initrd: Path

    def copy(self, folder: Path) -> "Disks":
        """A private copy of both disks (one QEMU may write an image at a time)."""
        folder.mkdir(parents=True, exist_ok=True)
        for image in (self.root, self.boot):
            booted.run(["cp", "--sparse=always", str(image), str(folder / image.name)])
        return Disks(folder / self.root.name, folder / self.boot.name, self.kernel, self.initrd)


def _kernel_files(root: Path) -> tuple[Path, Path]:
    """The guest's kernel and a small initrd, cached beside the root tarball they come from."""
    tarball, _ = booted.rootfs_tarball("bookworm", cache=VM_CACHE, packages=VM_PACKAGES)
    folder = VM_CACHE / f"boot-{tarball.stem}"
    kernel, initrd = folder / "vmlinuz", folder / "initrd.img"
    if not initrd.exists():
        conf = root / "etc/initramfs-tools"
        (conf / "conf.d").mkdir(parents=True, exist_ok=True)
        (conf / "conf.d/samplepoint-vm.conf").write_text("MODULES=list\n")
        (conf / "modules").write_text("".join(f"{m}\n" for m in INITRD_MODULES))
        booted.nspawn_run(root, "update-initramfs", "-u", "-k", "all", timeout=900)
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(sorted((root / "boot").glob("vmlinuz-*"))[-1], folder / "vmlinuz.partial")
        shutil.copy(sorted((root / "boot").glob("initrd.img-*"))[-1], folder / "initrd.partial")
        (folder / "vmlinuz.partial").rename(kernel)
        (folder / "initrd.partial").rename(initrd)
        for stale in VM_CACHE.glob("boot-*"):
            if stale != folder:
                shutil.rmtree(stale, ignore_errors=True)
    return kernel, initrd


FSTAB = """\
/dev/vda  /               ext4  defaults,noatime  0 1
/dev/vdb  /boot/firmware  vfat  defaults          0 2
# the camera's view: frames a test moves in on the host (a 9p share, read-only in the guest)
replay    %s  9p  trans=virtio,version=9p2000.L,ro,nofail  0 0
""" % REPLAY


def build(work: Path, write_card) -> tuple[Disks, dict]:
    """The disks of a virtual Pi: the golden image (booted.golden_image, with VM_PACKAGES) as the
    root disk, and a FAT boot partition holding a fresh card on which `write_card(boot_image)`
    runs prepare-sd. Returns (disks, timings in seconds)."""
    root = work / "root"
    times = booted.golden_image(root, work, cache=VM_CACHE, packages=VM_PACKAGES)
    try:
        start = time.monotonic()
        kernel, initrd = _kernel_files(root)
        (root / "etc/fstab").write_text(FSTAB)
        # The agent logs every call; the console carries the journal, and those would drown it.
        quiet = root / "etc/systemd/system/qemu-guest-agent.service.d"
        quiet.mkdir(parents=True, exist_ok=True)
        (quiet / "quiet.conf").write_text("[Service]\nLogLevelMax=warning\n")
        headless(root)
        (root / REPLAY.lstrip("/")).mkdir(parents=True, exist_ok=True)
        os.chmod(root / REPLAY.lstrip("/"), 0o755)
        # The card's boot partition: what the Imager left in /boot/firmware, on a FAT image.
        boot_image = work / "boot.img"
        booted.run(["mkfs.vfat", "-n", "bootfs", "-C", str(boot_image), str(128 * 1024)])
        firmware = root / "boot/firmware"
        files = [str(p) for p in firmware.iterdir()]
        if files:
            booted.run(["mcopy", "-s", "-i", str(boot_image), *files, "::/"])
        shutil.rmtree(firmware)
        firmware.mkdir()
        write_card(boot_image)
        used = int(booted.run(["du", "-sxm", str(root)]).stdout.split()[0])
        root_image = work / "root.img"
        booted.run(["mke2fs", "-q", "-t", "ext4", "-L", "rootfs", "-d", str(root), str(root_image),
                    f"{used + 1536}M"], timeout=1200)
        times["image_s"] = time.monotonic() - start
    finally:
        booted.run(["rm", "-rf", "--one-file-system", str(root)])
    return Disks(root_image, boot_image, kernel, initrd), times


# Debian's housekeeping timers fire at a first boot (Persistent=, never run) and would take the
# emulated CPU from the device's own work; a virtual Pi has no use for them.
IDLE_TIMERS = ("apt-daily.timer", "apt-daily-upgrade.timer", "man-db.timer", "dpkg-db-backup.timer",
               "e2scrub_all.timer", "fstrim.timer")


def headless(root: Path) -> None:
    """A Pi with no screen attached: QEMU gives it no display (-vga none), so no /dev/fb0, and the
    staff display stands down as on a Pi without its touchscreen; the idle timers are masked."""
    dropin = root / "etc/systemd/system/samplepoint-display.service.d"
    dropin.mkdir(parents=True, exist_ok=True)
    (dropin / "no-screen.conf").write_text("[Unit]\nConditionPathExists=/dev/fb0\n")
    for timer in IDLE_TIMERS:
        link = root / "etc/systemd/system" / timer
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")


def _die_with_parent() -> None:
    """In QEMU's child before exec: killed with the test run, even one killed by SIGKILL."""
    import ctypes
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class AgentError(RuntimeError):
    pass


class VM:
    """One boot of a virtual Pi. `radios` hwsim radios are loaded at boot (0: none, until the test
    loads them); `central_port` is a server on the host's 127.0.0.1 the guest reaches as
    CENTRAL_IN_GUEST. Logs (console with the journal forwarded, so they survive a power cut) go
    to `folder`."""

    def __init__(self, disks: Disks, folder: Path, central_port: int | None = None,
                 radios: int = 0, append: str = "", memory: int = 768, replay: Path | None = None):
        self.disks, self.folder = disks, folder
        self.replay = replay or folder / "replay"
        self.central_port, self.radios, self.append, self.memory = central_port, radios, append, memory
        self.process: subprocess.Popen | None = None
        self.sockets = Path(tempfile.mkdtemp(prefix="spvm-"))     # short paths for AF_UNIX
        self.agent: socket.socket | None = None
        self._buffer = b""
        self.boots = 0
        self.started = 0.0

    @property
    def console(self) -> Path:
        return self.folder / f"console-{self.boots}.log"

    def command(self) -> list[str]:
        # quiet, no boot status: every console character costs the emulated CPU an I/O exit
        append = ["console=ttyS0", "root=/dev/vda", "ro", "fsck.repair=yes", "rootwait", "quiet",
                  "systemd.show_status=false", "net.ifnames=0",
                  "systemd.journald.forward_to_console=1", "panic=0"]
        if self.radios:
            append += ["modules-load=mac80211_hwsim", f"mac80211_hwsim.radios={self.radios}"]
        net = "user,id=n0,restrict=on"
        if self.central_port:
            net += (f",guestfwd=tcp:10.0.2.100:8700-cmd:socat STDIO TCP:127.0.0.1:{self.central_port}")
        return [
            "qemu-system-x86_64", "-accel", "tcg", "-icount", "shift=0", "-cpu", "max",
            "-m", str(self.memory), "-smp", "1", "-display", "none", "-vga", "none",
            "-monitor", "none",
            "-no-reboot", "-kernel", str(self.disks.kernel), "-initrd", str(self.disks.initrd),
            "-append", " ".join(append + self.append.split()),
            "-drive", f"file={self.disks.root},if=virtio,format=raw,cache=writeback",
            "-drive", f"file={self.disks.boot},if=virtio,format=raw,cache=writeback",
            "-netdev", net, "-device", "virtio-net-pci,netdev=n0",
            "-virtfs", f"local,path={self.replay},mount_tag=replay,security_model=none,readonly=on",
            "-device", "virtio-serial-pci",
            "-chardev", f"socket,id=qga0,path={self.sockets / 'qga'},server=on,wait=off",
            "-device", "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0",
            "-serial", f"file:{self.console}",
        ]

    def boot(self, timeout: float = 1800) -> float:
        """Start QEMU; returns seconds until the guest agent answers and systemd finished booting."""
        self.boots += 1
        self.folder.mkdir(parents=True, exist_ok=True)
        self.replay.mkdir(parents=True, exist_ok=True)
        self.started = time.monotonic()
        with open(self.folder / f"qemu-{self.boots}.log", "wb") as out:
            self.process = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True,
                                            preexec_fn=_die_with_parent)
        deadline = self.started + timeout
        self._connect(deadline)
        state = self.sh("systemctl is-system-running --wait", check=False,
                        timeout=max(30, deadline - time.monotonic()) / SLOW).stdout.strip()
        if state not in ("running", "degraded"):
            raise RuntimeError(f"the guest finished booting as {state!r}; see {self.console}")
        return time.monotonic() - self.started

    # --- the guest agent --------------------------------------------------------------------

    def _connect(self, deadline: float) -> None:
        self._close_agent()
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"QEMU exited ({self.process.returncode}); see "
                                   f"{self.folder}/qemu-{self.boots}.log and {self.console}")
            try:
                agent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                agent.connect(str(self.sockets / "qga"))
            except OSError:
                time.sleep(0.5)
                continue
            self.agent, self._buffer = agent, b""
            sync = int.from_bytes(os.urandom(4), "big") & 0x7fffffff
            try:
                # 0xff resets the agent's JSON parser after a half-read request
                agent.sendall(b"\xff" + json.dumps({"execute": "guest-sync-delimited",
                                                    "arguments": {"id": sync}}).encode())
                while True:
                    reply = self._read(time.monotonic() + 5)
                    if reply.get("return") == sync:
                        return
            except (OSError, AgentError, TimeoutError):
                self._close_agent()
                time.sleep(1)
        raise TimeoutError(f"the guest agent did not answer; see {self.console}")

    def _close_agent(self) -> None:
        if self.agent:
            self.agent.close()
        self.agent = None

    def _read(self, deadline: float) -> dict:
        while True:
            line, newline, rest = self._buffer.partition(b"\n")
            if newline:
                self._buffer = rest
                line = line.lstrip(b"\xff").strip()
                if line:
                    return json.loads(line)
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no answer from the guest agent")
            self.agent.settimeout(remaining)
            try:
                chunk = self.agent.recv(65536)
            except socket.timeout:
                raise TimeoutError("no answer from the guest agent") from None
            if not chunk:
                raise AgentError("the guest agent closed its socket")
            self._buffer += chunk

    def call(self, command: str, timeout: float = 60, **arguments):
        if self.agent is None:
            raise AgentError("not connected to the guest agent")
        self.agent.sendall(json.dumps({"execute": command, "arguments": arguments}).encode())
        reply = self._read(time.monotonic() + timeout)
        if "error" in reply:
            raise AgentError(f"{command}: {reply['error']}")
        return reply.get("return")

    def sh(self, command: str, check: bool = True, timeout: float = 120,
           stdin: bytes | None = None) -> subprocess.CompletedProcess:
        """A shell command in the guest as root; its output and exit status."""
        extra = {"input-data": base64.b64encode(stdin).decode()} if stdin is not None else {}
        pid = self.call("guest-exec", path="/bin/sh", arg=["-c", command], **{"capture-output": True},
                        **extra)["pid"]
        timeout *= SLOW
        deadline = time.monotonic() + timeout
        while True:
            status = self.call("guest-exec-status", pid=pid)
            if status["exited"]:
                break
            if time.monotonic() > deadline:
                self.call("guest-exec", path="/bin/kill", arg=["-9", str(pid)])
                raise TimeoutError(f"in the guest, `{command}` ran over {timeout:.0f} s")
            time.sleep(min(1.0, 0.1 + (time.monotonic() - deadline + timeout) / 10))
        out = base64.b64decode(status.get("out-data", "")).decode(errors="replace")
        err = base64.b64decode(status.get("err-data", "")).decode(errors="replace")
        done = subprocess.CompletedProcess(command, status.get("exitcode", -1), out, err)
        if check and done.returncode != 0:
            raise RuntimeError(f"in the guest, `{command}` exited {done.returncode}: "
                               f"{out[-2000:]} {err[-2000:]}")
        return done

    def write(self, path: str, data: bytes | str, mode: str = "0644") -> None:
        data = data.encode() if isinstance(data, str) else data
        self.sh(f"umask 022; cat > {path}.tmp && chmod {mode} {path}.tmp && mv -f {path}.tmp {path}",
                stdin=data)

    def unit(self, name: str) -> dict[str, str]:
        props = self.sh(f"systemctl show {name}").stdout
        return dict(line.partition("=")[::2] for line in props.splitlines())

    def journal(self, unit: str) -> str:
        return self.sh(f"journalctl --no-pager -o cat -u {unit}", check=False).stdout

    def query(self, sql: str) -> list[list[str]]:
        """Rows of a read-only query of the device database, as the service user."""
        done = self.sh(f"runuser -u samplepoint -- sqlite3 -readonly -separator '|' "
                       f"/var/lib/samplepoint/samplepoint.db \"{sql}\"")
        return [line.split("|") for line in done.stdout.splitlines()]

    def wait(self, what: str, predicate, timeout: float = 180, every: float = 1.0):
        return booted.wait_for(what, predicate, timeout * SLOW, every, see=str(self.console))

    # --- power ------------------------------------------------------------------------------

    def kill(self) -> None:
        """A power cut: SIGKILL to QEMU, so the guest's page cache is gone."""
        self._close_agent()
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(30)

    def shutdown(self, timeout: float = 180) -> None:
        """A clean power-off; a power cut if it does not finish in time."""
        if self.process and self.process.poll() is None:
            try:
                self.sh("systemctl --no-block poweroff", check=False, timeout=30)
            except (OSError, AgentError, TimeoutError):
                pass
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.sockets, ignore_errors=True)


# ext4 keeps the superblock's free block and inode totals lazily; e2fsck recounts them after
# any unclean stop. Those two lines are not damage.
SUMMARY_COUNTS = re.compile(r"^Free (blocks|inodes) count wrong \(\d+, counted=\d+\)\.$")


def fsck(image: Path) -> list[str]:
    """What `e2fsck -fn` finds in a copy of `image` once its journal is replayed (as the next
    mount would): the lines that report damage, none for a sound file system."""
    copy = image.with_name(image.name + ".fsck")
    try:
        booted.run(["cp", "--sparse=always", str(image), str(copy)])
        subprocess.run(["e2fsck", "-E", "journal_only", "-p", str(copy)], capture_output=True,
                       text=True, timeout=600)
        done = subprocess.run(["e2fsck", "-fn", str(copy)], capture_output=True, text=True,
                              timeout=600)
    finally:
        copy.unlink(missing_ok=True)
    lines = [line.strip() for line in (done.stdout + done.stderr).splitlines()]
    damage = [line for line in lines if line and line != "Fix? no"
              and not line.startswith(("Pass ", "e2fsck ", "rootfs: "))
              and not SUMMARY_COUNTS.match(line)]
    if done.returncode not in (0, 4):          # 4: what -n leaves unfixed (the counts above)
        damage.append(f"e2fsck -fn exited {done.returncode}")
    return damage
