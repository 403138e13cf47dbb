"""What dpkg says about samplepoint and what the last `samplepoint update` recorded: read by the
update itself and by `samplepoint doctor` (the record is update-state.json in the data directory,
written durably)."""
from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Callable

from samplepoint import config as config_module
from samplepoint.durable import write_atomic

PACKAGE = "samplepoint"
STATE_FILE = "update-state.json"


class UpdateFailed(RuntimeError):
    def __init__(self, message: str, fix: str = ""):
        super().__init__(message)
        self.fix = fix

    def line(self) -> str:
        """The one line a technician reads: what happened, then what to do."""
        return f"{self}; fix: {self.fix}" if self.fix else str(self)


class CommandFailed(UpdateFailed):
    """A command exited non-zero; `output` is what it printed (apt's E: lines, dpkg's errors)."""

    def __init__(self, command: list[str], output: str):
        lines = output.strip().splitlines()
        super().__init__(f"`{' '.join(command[:3])} ...` failed: {lines[-1] if lines else 'no output'}")
        self.output = output


def run_command(command: list[str]) -> str:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=3600)
    if done.returncode != 0:
        raise CommandFailed(command, done.stdout + done.stderr)
    return done.stdout


def package_state(run: Callable[[list[str]], str]) -> tuple[str, str]:
    """(dpkg state, version) of samplepoint: ("installed", "0.1.0.2"), ("half-configured", ...),
    ("", "") when it is not installed."""
    try:
        out = run(["dpkg-query", "-W", "-f=${Status}|${Version}", PACKAGE]).strip()
    except UpdateFailed:
        return "", ""
    status, _, version = out.partition("|")
    words = status.split()
    if not words or words[-1] in ("not-installed", "config-files"):
        return "", ""
    state = words[-1] if len(words) == 3 and words[1] == "ok" else " ".join(words[1:])
    return state, version


def unfinished_packages(run: Callable[[list[str]], str]) -> list[str]:
    """Packages dpkg left unpacked, half-installed or half-configured (a power cut, a failed
    maintainer script), e.g. ["samplepoint 0.1.0.3 half-configured"]. apt installs nothing until
    they are finished."""
    names = {"U": "unpacked", "H": "half-installed", "F": "half-configured",
             "W": "awaiting triggers", "t": "triggers pending"}
    out = run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}|${Package}|${Version}\n"])
    found = []
    for line in out.splitlines():
        abbrev, _, rest = line.partition("|")
        package, _, version = rest.partition("|")
        status, error = abbrev[1:2], abbrev[2:3]
        if status in names or error == "R":
            found.append(f"{package} {version} {names.get(status, 'reinstall required')}")
    return found


def state_path(config: config_module.Config) -> Path:
    return Path(config.device.data_dir) / STATE_FILE


def read_state(config: config_module.Config) -> dict:
    """The last run's outcome: result ("ok" | "failed"), at, version, good (the last version that
    installed and ran), reason, fix. {} before the first run."""
    try:
        state = json.loads(state_path(config).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        return {"result": "unreadable", "reason": f"{state_path(config)}: {exc}"}
    return state if isinstance(state, dict) else {"result": "unreadable", "reason": "not an object"}


def record(config: config_module.Config, at: datetime, run: Callable[[list[str]], str],
           good: str, failure: UpdateFailed | None = None) -> None:
    state, version = package_state(run)
    if state == "installed":
        good = version
    entry = {"result": "failed" if failure else "ok", "at": at.isoformat(timespec="seconds"),
             "version": version, "dpkg": state, "good": good,
             "reason": str(failure) if failure else "", "fix": failure.fix if failure else ""}
    write_atomic(state_path(config), json.dumps(entry, indent=1) + "\n", mode=0o644)
