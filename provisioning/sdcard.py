"""`samplepoint prepare-sd`: writes one device's first-boot files onto an SD card's boot partition.

The boot partition is a mounted folder or a FAT image file written with mtools (no mount, no
root). Both Raspberry Pi OS styles are written: Bookworm runs `firstrun.sh` from cmdline.txt;
Trixie reads cloud-init's `user-data`, `network-config` and `meta-data`. Either way the shared
`samplepoint/firstboot.sh` moves the config and the enrolment code off the boot partition (which
the Pi mounts world-readable) into /etc/samplepoint and /var/lib/samplepoint with mode 0600.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from provisioning import sites as sites_module

FIRSTBOOT = Path(__file__).with_name("firstboot.sh")
CODE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 -]{3,63}")
CMDLINE_RUN = (" systemd.run=/boot/firmware/firstrun.sh systemd.run_success_action=reboot"
               " systemd.unit=kernel-command-line.target")


class SdError(RuntimeError):
    """The card could not be written; the message says what to do."""


class FolderBoot:
    """A mounted boot partition (or any folder standing for one)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not self.root.is_dir():
            raise SdError(f"{root} is not a folder; mount the card's boot partition and pass its path")

    def read(self, name: str) -> str | None:
        path = self.root / name
        return path.read_text(encoding="utf-8") if path.exists() else None

    def write(self, name: str, text: str, secret: bool = False) -> None:
        from samplepoint.durable import fsync_dir, write_atomic
        path = self.root / name
        try:
            write_atomic(path, text, mode=0o600 if secret else 0o644)
        except PermissionError:
            # A mounted FAT partition refuses chmod: its modes come from the mount options
            # (fmask). The file is still created without group/other bits where it can be,
            # and first boot moves the secret off the card.
            tmp = path.with_name(f".{path.name}.tmp")
            fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600 if secret else 0o644)
            with os.fdopen(fd, "wb") as handle:
                handle.write(text.encode("utf-8"))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
            fsync_dir(path.parent)


class FatImage:
    """A FAT file system image, read and written with mtools without mounting it."""

    def __init__(self, image: str | Path, offset: int = 0):
        self.image = Path(image)
        if not self.image.is_file():
            raise SdError(f"{image} is not a file; pass the boot partition image (or use --boot)")
        self.spec = f"{self.image}@@{offset}" if offset else str(self.image)
        self.env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
        self._mtools("mdir", "-i", self.spec, "::/")      # fails early on a non-FAT file

    def _mtools(self, *command: str, stdin: bytes | None = None) -> bytes:
        try:
            done = subprocess.run(command, input=stdin, capture_output=True, env=self.env, timeout=60)
        except FileNotFoundError:
            raise SdError("mtools is not installed; apt-get install mtools") from None
        if done.returncode != 0:
            raise SdError(f"{command[0]} on {self.image} failed: "
                          f"{done.stderr.decode(errors='replace').strip()[:300]}")
        return done.stdout

    def read(self, name: str) -> str | None:
        try:
            return self._mtools("mtype", "-i", self.spec, f"::/{name}").decode("utf-8")
        except SdError:
            return None

    def write(self, name: str, text: str, secret: bool = False) -> None:
        if "/" in name:
            folder = name.rsplit("/", 1)[0]
            if self.read_dir(folder) is None:
                self._mtools("mmd", "-i", self.spec, f"::/{folder}")
        # The bytes pass through a private temp folder (0700, file 0600) and are deleted at once.
        with tempfile.TemporaryDirectory(prefix="samplepoint-sd-") as tmp:
            local = Path(tmp, "data")
            fd = os.open(local, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(text.encode("utf-8"))
            self._mtools("mcopy", "-o", "-i", self.spec, str(local), f"::/{name}")

    def read_dir(self, folder: str) -> bytes | None:
        try:
            return self._mtools("mdir", "-b", "-i", self.spec, f"::/{folder}")
        except SdError:
            return None


def check_code(code: str) -> str:
    code = (code or "").strip()
    if not CODE_RE.fullmatch(code):
        raise SdError("the enrolment code looks wrong; copy it as printed by "
                      "`samplepoint central enrol-code` (for example SP-ABCD-EFGH-JKLM)")
    return code


def bookworm_files(row: sites_module.DeviceRow) -> dict[str, str]:
    script = f"""#!/bin/bash
# First boot on Raspberry Pi OS Bookworm (started from cmdline.txt by systemd.run).
set +e
BOOT=/boot/firmware
[ -d "$BOOT/samplepoint" ] || BOOT=/boot
bash "$BOOT/samplepoint/firstboot.sh" {shlex.quote(row.hostname)} "$BOOT" > /var/log/samplepoint-firstboot.log 2>&1
rm -f "$BOOT/firstrun.sh"
sed -i 's| systemd.run.*||g' "$BOOT/cmdline.txt"
exit 0
"""
    return {"firstrun.sh": script}


def trixie_files(row: sites_module.DeviceRow) -> dict[str, str]:
    user_data = f"""#cloud-config
# First boot on Raspberry Pi OS Trixie (cloud-init, NoCloud data source on the boot partition).
hostname: {row.hostname}
manage_etc_hosts: true
timezone: Asia/Ho_Chi_Minh
runcmd:
  - [bash, /boot/firmware/samplepoint/firstboot.sh, {row.hostname}, /boot/firmware]
"""
    network = """# Uplink by Ethernet (or a USB modem showing as Ethernet); the hotspot radio is left alone.
network:
  version: 2
  ethernets:
    eth0:
      dhcp4: true
      optional: true
"""
    meta = f"instance-id: samplepoint-{row.device_id.lower()}\nlocal-hostname: {row.hostname}\n"
    return {"user-data": user_data, "network-config": network, "meta-data": meta}


def write_card(boot, row: sites_module.DeviceRow, code: str, style: str) -> list[str]:
    """Write every first-boot file for one device; returns the names written."""
    config = sites_module.device_config(row)
    files = {"samplepoint/samplepoint.toml": sites_module.config_toml(config),
             "samplepoint/firstboot.sh": FIRSTBOOT.read_text(encoding="utf-8")}
    files.update(bookworm_files(row) if style == "bookworm" else trixie_files(row))
    for name, text in files.items():
        boot.write(name, text)
    boot.write("samplepoint/enrol-code", check_code(code) + "\n", secret=True)
    written = [*files, "samplepoint/enrol-code"]
    if style == "bookworm":
        cmdline = boot.read("cmdline.txt")
        if cmdline is None:
            raise SdError("no cmdline.txt on the boot partition; write Raspberry Pi OS to the card first")
        if "systemd.run=" not in cmdline:
            boot.write("cmdline.txt", cmdline.rstrip("\n") + CMDLINE_RUN + "\n")
            written.append("cmdline.txt")
    return written


def _pick(rows, device_id: str | None):
    if device_id is None:
        if len(rows) != 1:
            raise SdError(f"the CSV has {len(rows)} devices; choose one with --device ID")
        return rows[0]
    for row in rows:
        if row.device_id == device_id:
            return row
    raise SdError(f"no device {device_id} in the CSV")


def main(args) -> int:
    try:
        text = Path(args.sites).read_text(encoding="utf-8")
        row = _pick(sites_module.parse_sites(text), args.device)
        code = args.enrol_code
        if code is None and args.enrol_code_file:
            code = Path(args.enrol_code_file).read_text(encoding="utf-8")
        if code is None:
            raise SdError("pass --enrol-code or --enrol-code-file")
        boot = FolderBoot(args.boot) if args.boot else FatImage(args.image, args.image_offset)
        written = write_card(boot, row, code, args.style)
    except (SdError, sites_module.SitesError, OSError, UnicodeDecodeError) as exc:
        print(f"samplepoint prepare-sd: {exc}", file=sys.stderr)
        return 1
    if "hotspot" not in sites_module.device_config(row).__dataclass_fields__:
        print("note: this build has no [hotspot] section; hotspot_ssid was not written",
              file=sys.stderr)
    print(f"{row.device_id} ({row.site_id}, {args.style}): wrote {', '.join(written)}")
    return 0
