"""`samplepoint update`: this device takes the newest (or a named) samplepoint from its apt repository.

apt does the work: the list of the samplepoint repository alone is refreshed, the package is
installed (`--allow-downgrades` for a rollback), and its postinst builds the new private environment
and restarts the running services. This command reports what changed: version before and after,
and each service restarted or failed. The apt source (/etc/apt/sources.list.d/samplepoint.list)
is written from the [update] config section, here and by `samplepoint provision`.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

from provisioning.provision import LONG_RUNNING
from samplepoint import config as config_module
from samplepoint.debversion import compare
from samplepoint.durable import write_atomic

SOURCES = "/etc/apt/sources.list.d/samplepoint.list"
PACKAGE = "samplepoint"
# apt reads and refreshes the samplepoint list only (other lists are left as they are).
ONLY_OUR_LIST = ["-o", f"Dir::Etc::SourceList={SOURCES}", "-o", "Dir::Etc::SourceParts=-",
                 "-o", "APT::Get::List-Cleanup=0"]


class UpdateFailed(RuntimeError):
    def __init__(self, message: str, fix: str = ""):
        super().__init__(message)
        self.fix = fix


def sources_list(update: config_module.UpdateConfig) -> str:
    """The one-line apt source of the repository, trusting only its own key."""
    url = update.repository_url.rstrip("/")
    return (f"# Written by samplepoint from [update] in /etc/samplepoint/samplepoint.toml.\n"
            f"deb [signed-by={update.keyring}] {url} {update.suite} main\n")


def write_sources(root: Path, update: config_module.UpdateConfig) -> bool:
    """Write the apt source under root when it differs; True when it was written."""
    path = root / SOURCES.lstrip("/")
    text = sources_list(update)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    write_atomic(path, text, mode=0o644)
    return True


def run_command(command: list[str]) -> str:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=3600)
    if done.returncode != 0:
        lines = (done.stdout + done.stderr).strip().splitlines()
        raise UpdateFailed(f"`{' '.join(command[:3])} ...` failed:\n  " + "\n  ".join(lines[-12:]))
    return done.stdout


def installed_version(run: Callable[[list[str]], str]) -> str:
    try:
        return run(["dpkg-query", "-W", "-f=${Version}", PACKAGE]).strip()
    except UpdateFailed:
        return ""


def service_pids(run: Callable[[list[str]], str]) -> dict[str, str]:
    """MainPID of each samplepoint service that is running now (stood-down ones are absent)."""
    pids = {}
    for unit in LONG_RUNNING:
        try:
            out = run(["systemctl", "show", "-p", "ActiveState", "-p", "MainPID", unit])
        except (UpdateFailed, FileNotFoundError):
            continue
        props = dict(line.partition("=")[::2] for line in out.splitlines())
        if props.get("ActiveState") == "active":
            pids[unit] = props.get("MainPID", "")
    return pids


def available(run: Callable[[list[str]], str]) -> list[str]:
    """Versions of samplepoint the repository offers, newest first (apt-cache madison)."""
    from functools import cmp_to_key
    out = run(["apt-cache", *ONLY_OUR_LIST, "madison", PACKAGE])
    versions = {line.split("|")[1].strip() for line in out.splitlines() if line.count("|") >= 2}
    return sorted(versions, key=cmp_to_key(compare), reverse=True)


def update(config: config_module.Config, version: str | None, list_only: bool,
           run: Callable[[list[str]], str] = run_command, out=print, root: Path = Path("/")) -> int:
    settings = config.update
    if not settings.repository_url:
        raise UpdateFailed("no repository is configured ([update] repository_url is empty)",
                           "set repository_url in [update] of /etc/samplepoint/samplepoint.toml "
                           "(docs/updating.md)")
    if not (root / settings.keyring.lstrip("/")).exists():
        raise UpdateFailed(f"the repository key {settings.keyring} is missing",
                           f"copy the repository's public key (samplepoint.asc) to {settings.keyring}")
    if write_sources(root, settings):
        out(f"update: {SOURCES} now points at {settings.repository_url}")
    before = installed_version(run)
    out(f"update: refreshing {settings.repository_url} ({settings.suite})")
    run(["apt-get", "update", "-qq", *ONLY_OUR_LIST])
    offered = available(run)
    if list_only:
        for v in offered:
            out(f"  {v}" + ("   (installed)" if v == before else ""))
        return 0
    if not offered:
        raise UpdateFailed(f"the repository offers no samplepoint for this device's {settings.suite}",
                           "publish a package there: samplepoint apt-repo add (docs/updating.md)")
    if version and version not in offered:
        raise UpdateFailed(f"version {version} is not in the repository (it has: {', '.join(offered)})",
                           "pick one of those (samplepoint update --list)")
    target = version or offered[0]
    if target == before:
        out(f"update: samplepoint {before} is installed; nothing to do")
        return 0
    pids = service_pids(run)
    installed = run(["apt-get", "install", "-y", "-qq", "--allow-downgrades",
                     "-o", "Dpkg::Options::=--force-confold", "-o", "Dpkg::Options::=--force-confdef",
                     f"{PACKAGE}={target}"])
    for line in installed.splitlines():         # what the package's postinst said
        if line.startswith("samplepoint: "):
            out("update: " + line.removeprefix("samplepoint: "))
    after = installed_version(run)
    out(f"update: samplepoint {before or 'none'} -> {after}")
    now = service_pids(run)
    failed = []
    for unit, pid in sorted(pids.items()):
        if unit not in now:
            out(f"update: {unit}: FAILED after the update; see journalctl -u {unit}")
        elif now[unit] == pid:
            out(f"update: {unit}: still the old process (not restarted); systemctl restart {unit}")
        else:
            out(f"update: {unit}: restarted")
            continue
        failed.append(unit)
    if after != target:
        raise UpdateFailed(f"apt left samplepoint at {after or 'none'} instead of {target}",
                           "read apt's output above; roll back with samplepoint update --version " + before)
    return 1 if failed else 0


def main(args) -> int:
    if os.geteuid() != 0:
        print("samplepoint update: must run as root; try: sudo samplepoint update", file=sys.stderr)
        return 1
    config = config_module.load(args.config)
    try:
        return update(config, args.version, args.list)
    except UpdateFailed as exc:
        print(f"samplepoint update: {exc}", file=sys.stderr)
        if exc.fix:
            print(f"      fix: {exc.fix}", file=sys.stderr)
        return 1

