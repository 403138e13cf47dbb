"""`samplepoint prepare-sd`: writes one device's site settings onto an SD card's boot partition.

The card holds a golden image (`samplepoint provision --root`, docs/install-pi.md); its
samplepoint-firstboot.service applies `samplepoint/` from the boot partition before any samplepoint
service starts: config (the campaign's `--base-config` with the site's row over it), enrolment
code (0600, moved off the card at once) and hostname. The Raspberry Pi Imager's own first-boot
files (Bookworm `firstrun.sh`, Trixie cloud-init `user-data`: login user, SSH) are kept: on a
cloud-init card only the hostname is merged into `user-data`, since cloud-init sets it at every boot.
The boot partition is a mounted folder or a FAT image file written with mtools (no mount, no root).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from provisioning import sites as sites_module

CODE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 -]{3,63}")
STYLES = ("bookworm", "trixie")
CLOUD_SEEDS = ("user-data", "meta-data", "network-config")
OURS = "# samplepoint"          # marks files an older prepare-sd wrote itself
CARD_CA = "samplepoint/central-ca.pem"         # prepare-sd --central-ca; first boot installs it as
DEVICE_CA = "/etc/samplepoint/central-ca.pem"  # this, the device's central.ca_bundle


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


def detect_style(boot) -> tuple[str | None, str]:
    """(style, evidence) read off the boot partition alone; style None when it cannot tell.

    Trixie images from 2025-11 carry cloud-init seed files, and their cmdline.txt asks for `resize`;
    Bookworm's cmdline.txt starts `init=/usr/lib/raspberrypi-sys-mods/firstboot` until first boot.
    """
    seeds = [name for name in CLOUD_SEEDS if boot.read(name) is not None]
    if seeds:
        return "trixie", f"cloud-init files on the card ({', '.join(seeds)})"
    cmdline = boot.read("cmdline.txt")
    if cmdline is None:
        raise SdError("no cmdline.txt on the boot partition; write Raspberry Pi OS to the card first")
    tokens = cmdline.split()
    if "init=/usr/lib/raspberrypi-sys-mods/firstboot" in tokens:
        return "bookworm", "cmdline.txt runs raspberrypi-sys-mods/firstboot (Bookworm)"
    if "resize" in tokens:
        return "trixie", "cmdline.txt asks for resize (Trixie)"
    return None, "a card that has booted before, or an image this tool does not know"


def choose_style(boot, asked: str | None) -> str:
    found, evidence = detect_style(boot)
    if asked and found and asked != found:
        raise SdError(f"--style {asked} given, but this card is {found}: {evidence}; "
                      f"use --style {found}, or write the image you meant to the card")
    style = asked or found
    if style is None:
        raise SdError(f"cannot tell Bookworm from Trixie on this card ({evidence}); pass --style")
    return style


def _merge_user_data(text: str | None, hostname: str) -> str:
    """Cloud-init user-data with this device's hostname; the Imager's user, SSH, Wi-Fi… are kept."""
    import yaml
    data = {}
    if text is not None and text.strip():
        if not text.lstrip().startswith("#cloud-config"):
            raise SdError("the card's user-data is not a #cloud-config file; write the card again "
                          "with Raspberry Pi Imager (or delete user-data) and run prepare-sd again")
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise SdError(f"the card's user-data is not valid YAML ({str(exc).splitlines()[0]}); "
                          "write the card again with Raspberry Pi Imager") from None
        if not isinstance(data, dict):
            raise SdError("the card's user-data is not a cloud-config mapping; write it again")
    data["hostname"] = hostname
    data.setdefault("manage_etc_hosts", True)
    data.setdefault("timezone", "Asia/Ho_Chi_Minh")
    # An older prepare-sd ran first boot from runcmd; the golden image's unit does it now.
    if isinstance(data.get("runcmd"), list):
        data["runcmd"] = [c for c in data["runcmd"] if "samplepoint/firstboot.sh" not in str(c)]
        if not data["runcmd"]:
            del data["runcmd"]
    body = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, default_flow_style=False)
    return "#cloud-config\n" + body


NETWORK_CONFIG = """# samplepoint: uplink by Ethernet (or a USB modem showing as Ethernet); the radio is the hotspot's.
network:
  version: 2
  ethernets:
    eth0:
      dhcp4: true
      optional: true
"""


def _cloud_init_files(boot, row: sites_module.DeviceRow, notes: list[str]) -> dict[str, str]:
    files = {"user-data": _merge_user_data(boot.read("user-data"), row.hostname)}
    network = boot.read("network-config")
    if network is None or not re.search(r"^\s*network\s*:", network, re.M):
        files["network-config"] = NETWORK_CONFIG
    elif re.search(r"^\s*wifis\s*:", network, re.M):
        notes.append("the card's network-config joins a Wi-Fi network: the radio is needed for the "
                     "hotspot; use Ethernet or a USB modem for the uplink")
    if boot.read("meta-data") is None:
        files["meta-data"] = f"instance-id: samplepoint-{row.device_id.lower()}\n"
    return files


def _drop_old_firstrun(boot, written: list[str]) -> None:
    """Undo an older prepare-sd's own firstrun.sh (never the Imager's)."""
    firstrun = boot.read("firstrun.sh")
    if firstrun is None or "samplepoint/firstboot.sh" not in firstrun or "userconf" in firstrun \
            or "imager_custom" in firstrun:
        return
    boot.write("firstrun.sh", "#!/bin/sh\n# samplepoint: first boot is done by samplepoint-firstboot.service\n"
                              "rm -f /boot/firmware/firstrun.sh /boot/firstrun.sh\n"
                              "sed -i 's| systemd.run.*||g' /boot/firmware/cmdline.txt /boot/cmdline.txt\n")
    written.append("firstrun.sh (an older samplepoint one, neutralised)")


def read_central_ca(path: str | Path) -> str:
    """The PEM CA certificate(s) central's certificate must chain to, checked before a card is written."""
    import ssl
    try:
        text = Path(path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise SdError(f"--central-ca {path}: cannot read a PEM file ({exc})") from None
    if "PRIVATE KEY" in text:
        raise SdError(f"--central-ca {path} holds a private key; pass the CA certificate only")
    try:
        ssl.create_default_context(cafile=str(path))
    except ssl.SSLError:
        text = ""
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise SdError(f"--central-ca {path} is not a PEM CA certificate (-----BEGIN CERTIFICATE-----)")
    return text


def _with_pinned_ca(base: dict | None) -> dict:
    """The base config with central.ca_bundle naming the CA file first boot installs."""
    import copy
    pinned = copy.deepcopy(base or {})
    if not isinstance(pinned.setdefault("central", {}), dict):
        raise SdError("the base config's central must be a [central] table")
    pinned["central"]["ca_bundle"] = DEVICE_CA
    return pinned


def write_card(boot, row: sites_module.DeviceRow, code: str, style: str,
               base: dict | None = None, notes: list[str] | None = None,
               central_ca: str | None = None) -> list[str]:
    """Write one device's first-boot files; returns the names written. `central_ca`: PEM text of
    the CA pinned for central (first boot installs it as DEVICE_CA)."""
    notes = notes if notes is not None else []
    code = check_code(code)
    config = sites_module.device_config(row, _with_pinned_ca(base) if central_ca else base)
    files = {"samplepoint/samplepoint.toml": sites_module.config_toml(config),
             "samplepoint/hostname": row.hostname + "\n"}
    if central_ca:
        files[CARD_CA] = central_ca
    if style == "trixie":
        files.update(_cloud_init_files(boot, row, notes))
    for name, text in files.items():
        boot.write(name, text)
    boot.write("samplepoint/enrol-code", code + "\n", secret=True)
    written = [*files, "samplepoint/enrol-code"]
    _drop_old_firstrun(boot, written)
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


def _base(args) -> dict | None:
    if not args.base_config:
        return None
    from samplepoint import config as config_module
    raw = config_module.load_raw(args.base_config)
    config_module.from_dict(raw, args.base_config)       # the base alone must be valid too
    return raw


def _allows_insecure_http(base: dict | None) -> bool:
    """The base config's central.allow_insecure_http (the base is validated before this is read)."""
    return bool(((base or {}).get("central") or {}).get("allow_insecure_http", False))


def _rows(args, base: dict | None):
    text = sites_module.decode_csv(Path(args.sites).read_bytes())
    return sites_module.parse_sites(text, allow_insecure_http=_allows_insecure_http(base))


def check(args) -> int:
    """`prepare-sd --check`: the sites CSV (and base config, and --central-ca) validated, with no card."""
    base = _base(args)
    rows = _rows(args, base)
    if getattr(args, "central_ca", None):
        read_central_ca(args.central_ca)
        base = _with_pinned_ca(base)
    for row in rows:
        config = sites_module.device_config(row, base)
        print(f"ok  {row.device_id:<16} {row.site_id:<14} pool {config.site.pool_size:<3} "
              f"{config.site.test_type:<14} {row.hostname:<20} {config.central.url}")
    print(f"{len(rows)} device(s): the CSV is ready for prepare-sd")
    return 0


def main(args) -> int:
    from samplepoint.config import ConfigError
    try:
        if args.check:
            return check(args)
        base = _base(args)
        row = _pick(_rows(args, base), args.device)
        central_ca = read_central_ca(args.central_ca) if args.central_ca else None
        code = args.enrol_code
        if code is None and args.enrol_code_file:
            code = Path(args.enrol_code_file).read_text(encoding="utf-8")
        if code is None:
            raise SdError("pass --enrol-code or --enrol-code-file")
        if not (args.boot or args.image):
            raise SdError("pass --boot FOLDER (the mounted boot partition) or --image FILE")
        boot = FolderBoot(args.boot) if args.boot else FatImage(args.image, args.image_offset)
        style = choose_style(boot, args.style)
        notes: list[str] = []
        written = write_card(boot, row, code, style, base, notes, central_ca)
    except (SdError, sites_module.SitesError, ConfigError, UnicodeDecodeError) as exc:
        print(f"samplepoint prepare-sd: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"samplepoint prepare-sd: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"{row.device_id} ({row.site_id}, {style}): wrote {', '.join(written)}")
    return 0
