"""Installs the rendered hotspot (files, ruleset, services) as root, and rolls back on any failure.

Every step has an undo. `apply` runs the steps in order; when one fails, the undos of the steps done
so far run in reverse, so the device is back in its previous working state, and the error says
which step failed. Commands go through one `run` callable, which tests replace.
"""
from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from hotspot import render as render_module
from samplepoint.config import Config
from samplepoint.durable import write_atomic

log = logging.getLogger(__name__)

ETC = Path("/etc/samplepoint/hotspot")
NM_CONF = Path("/etc/NetworkManager/conf.d/90-samplepoint-hotspot.conf")
# add-then-delete: removes our table whether or not it exists
DROP_TABLE = (f"add table inet {render_module.TABLE}; delete table inet {render_module.TABLE}; "
              f"add table bridge {render_module.TABLE}; delete table bridge {render_module.TABLE}")
UNITS = ("samplepoint-hostapd.service", "samplepoint-dnsmasq.service")


class ApplyError(RuntimeError):
    """A step of apply/remove failed; the message names the step and what the command said."""


def run_command(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise ApplyError(f"`{' '.join(argv)}` exited {done.returncode}: "
                         f"{(done.stderr or done.stdout).strip()[:400]}")


@dataclass
class Hotspot:
    """The installed hotspot under `root` (/ on a device; a temp folder in tests)."""
    config: Config
    root: Path = Path("/")
    run: Callable[[list[str]], None] = run_command
    has: Callable[[str], bool] = lambda name: shutil.which(name) is not None
    undo: list[tuple[str, Callable[[], None]]] = field(default_factory=list)

    def path(self, p: Path) -> Path:
        return self.root / p.relative_to("/")

    # --- steps --------------------------------------------------------------------------------

    def _write(self, target: Path, text: str | None, mode: int = 0o644) -> None:
        """Write (or, for None, delete) target, remembering how to put the old content back."""
        target = self.path(target)
        old = target.read_bytes() if target.exists() else None
        if text is None:
            target.unlink(missing_ok=True)
        else:
            write_atomic(target, text, mode=mode)
        self.undo.append((f"restore {target}", lambda: write_atomic(target, old, mode=mode)
                          if old is not None else target.unlink(missing_ok=True)))

    def _ruleset(self, text: str | None, previous: str | None) -> None:
        """Load (or, for None, delete) our table; undo reloads the ruleset that was installed."""
        installed = self.path(ETC / "hotspot.nft")

        def back():
            if previous is not None:
                write_atomic(installed, previous)
                self.run(["nft", "-f", str(installed)])
            else:
                self.run(["nft", DROP_TABLE])
        self.undo.append(("restore the previous ruleset", back))    # nft -f is atomic either way
        self.run(["nft", "-f", str(installed)] if text is not None else ["nft", DROP_TABLE])

    def _installed_ruleset(self) -> str | None:
        old = self.path(ETC / "hotspot.nft")
        return old.read_text() if old.exists() else None

    def _steps_apply(self, files: dict[str, str]) -> list[tuple[str, Callable[[], None]]]:
        h = self.config.hotspot
        previous = self._installed_ruleset()
        bridge = f"bridge={render_module.OWE_BRIDGE}" in files["hostapd.conf"].splitlines()
        ap = render_module.OWE_BRIDGE if bridge else h.interface
        names = [h.interface] + ([render_module.owe_interface(h.interface), ap] if bridge else [])
        unmanaged = ("[keyfile]\nunmanaged-devices="
                     + ";".join(f"interface-name:{n}" for n in names) + "\n")
        steps = [(f"write {name}", lambda n=name: self._write(ETC / n, files[n],
                                                               0o600 if n == "hostapd.conf" else 0o644))
                 for name in render_module.FILES]
        steps.append(("tell NetworkManager to leave the AP interface alone",
                      lambda: self._nm(unmanaged)))
        steps.append(("unblock the radio (rfkill)", self._unblock))
        steps.append(("load the nftables ruleset", lambda: self._ruleset(files["hotspot.nft"], previous)))
        if bridge:        # hostapd adds both networks' interfaces to it; the address lives on it
            steps.append((f"create the bridge {ap} of the open and OWE networks",
                          lambda: self._bridge(ap)))
        steps.append(("give the AP interface its address",
                      lambda: self.run(["ip", "addr", "replace", h.address, "dev", ap])))
        # dnsmasq will not start without the folder of its lease file, and nothing else makes it
        leases = render_module.lease_file(self.config).parent
        steps.append((f"make dnsmasq's lease folder {leases}", lambda: self._folder(leases)))
        for unit in UNITS:    # dnsmasq after the ruleset: it fills the ruleset's allow set
            steps.append((f"restart {unit}", lambda u=unit: self._restart(u)))
        return steps

    def _bridge(self, name: str) -> None:
        if not self.path(Path("/sys/class/net") / name).exists():
            self.run(["ip", "link", "add", "name", name, "type", "bridge"])
            self.undo.append((f"delete the bridge {name}",
                              lambda: self.run(["ip", "link", "delete", name])))
        self.run(["ip", "link", "set", name, "up"])

    def _unblock(self) -> None:
        """Raspberry Pi OS soft-blocks Wi-Fi until a country is set, and hostapd cannot enable a
        blocked radio. Without the rfkill tool (not in every image) the kernel's own switch is
        written: /sys/class/rfkill/*/soft of each Wi-Fi radio."""
        if self.has("rfkill"):
            self.run(["rfkill", "unblock", "wlan"])
            return
        for soft in sorted(self.path(Path("/sys/class/rfkill")).glob("rfkill*/soft")):
            if (soft.parent / "type").read_text().strip() == "wlan" and soft.read_text().strip() != "0":
                soft.write_text("0\n")
                log.info("hotspot: unblocked %s (%s)", soft.parent.name,
                         (soft.parent / "name").read_text().strip())

    def _folder(self, folder: Path) -> None:
        target = self.path(folder)
        if not target.is_dir():
            target.mkdir(mode=0o750, parents=True)
            self.undo.append((f"remove {target}", lambda: target.rmdir()))

    def _nm(self, text: str | None) -> None:
        self._write(NM_CONF, text)
        if self.has("nmcli"):
            self.undo.append(("reload NetworkManager", lambda: self.run(["nmcli", "general", "reload"])))
            self.run(["nmcli", "general", "reload"])

    def _restart(self, unit: str) -> None:
        # undo first: a failed restart may have left the unit stopped
        self.undo.append((f"restart {unit} with its previous config",
                          lambda: self.run(["systemctl", "restart", unit])))
        self.run(["systemctl", "restart", unit])

    def _stop(self, unit: str) -> None:
        self.run(["systemctl", "stop", unit])
        self.undo.append((f"start {unit} again", lambda: self.run(["systemctl", "start", unit])))

    # --- public -------------------------------------------------------------------------------

    def _do(self, steps) -> list[str]:
        self.undo = []
        done = []
        for name, step in steps:
            try:
                step()
            except Exception as exc:
                log.error("hotspot: step '%s' failed: %s; rolling back", name, exc)
                problems = self._rollback()
                extra = f"; rollback problems: {'; '.join(problems)}" if problems else ""
                raise ApplyError(f"{name} failed: {exc}; previous state restored{extra}") from exc
            done.append(name)
            log.info("hotspot: %s", name)
        return done

    def _rollback(self) -> list[str]:
        problems = []
        for name, undo in reversed(self.undo):
            try:
                undo()
            except Exception as exc:      # keep undoing the rest: a partial restore beats none
                problems.append(f"{name}: {exc}")
        return problems

    def apply(self, files: dict[str, str]) -> list[str]:
        """Install and start the rendered files; idempotent. Returns the steps done."""
        return self._do(self._steps_apply(files))

    def remove(self) -> list[str]:
        """Stop the hotspot services, drop the ruleset and our files; hand the interface back."""
        steps = [(f"stop {unit}", lambda u=unit: self._stop(u)) for unit in reversed(UNITS)]
        previous = self._installed_ruleset()
        if previous is not None:
            steps.append(("delete the nftables table", lambda: self._ruleset(None, previous)))
        steps += [(f"delete {name}", lambda n=name: self._write(ETC / n, None))
                  for name in render_module.FILES]
        steps.append(("give the AP interface back to NetworkManager", lambda: self._nm(None)))
        return self._do(steps)


def uplink_subnets(interface: str) -> list[str]:
    """IPv4 networks configured on the uplink right now (empty if it is absent or down)."""
    import ipaddress
    import json
    if not interface or not shutil.which("ip"):
        return []
    done = subprocess.run(["ip", "-j", "-4", "addr", "show", "dev", interface],
                          capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        return []
    return [str(ipaddress.IPv4Interface(f"{a['local']}/{a['prefixlen']}").network)
            for link in json.loads(done.stdout or "[]") for a in link.get("addr_info", [])]
