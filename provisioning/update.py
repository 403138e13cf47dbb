"""`samplepoint update`: this device takes the newest (or a named) samplepoint from its apt repository,
and is left on a fully configured, running version whatever happens.

apt does the work: the list of the samplepoint repository alone is refreshed, the package is
installed (`--allow-downgrades` for a rollback), and its postinst builds the new private environment
and restarts the running services. This command reports what changed: version before and after,
and each service restarted or failed. Every failure ends in one line saying what to do: a list apt
could not fetch or verify (apt only warns and keeps the old lists by default), a package dpkg left
unfinished, a service that did not come back. When the new version did not install or run, the last
good version is installed again (from the repository, or apt's cache of downloaded packages). Each
run leaves its outcome in update-state.json in the data directory; `samplepoint doctor` shows it.
The apt source (/etc/apt/sources.list.d/samplepoint.list) is written from the [update] config
section, here and by `samplepoint provision`.
"""
from __future__ import annotations

import os
import re
import sys
from datetime import datetime, timezone
from functools import cmp_to_key
from pathlib import Path
from typing import Callable

from provisioning.provision import LONG_RUNNING
from provisioning.updatestate import (PACKAGE, STATE_FILE, CommandFailed, UpdateFailed,  # noqa: F401
                                      package_state, read_state, record, run_command, state_path,
                                      unfinished_packages)
from samplepoint import config as config_module
from samplepoint.debversion import compare
from samplepoint.durable import write_atomic

SOURCES = "/etc/apt/sources.list.d/samplepoint.list"
ARCHIVES = "/var/cache/apt/archives"
RECOVERY = "docs/recovery.md, \"An update that failed\""


def only_our_list(root: Path = Path("/")) -> list[str]:
    """apt options: read and refresh the samplepoint list only (other lists are left as they are),
    and fail the refresh when that list could not be fetched or verified (by default apt warns,
    keeps the old lists and exits 0, so an unknown key or a bad signature looked like no update)."""
    return ["-o", f"Dir::Etc::SourceList={root / SOURCES.lstrip('/')}", "-o", "Dir::Etc::SourceParts=-",
            "-o", "APT::Get::List-Cleanup=0", "-o", "APT::Update::Error-Mode=any"]


ONLY_OUR_LIST = only_our_list()


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


# --- what apt says ----------------------------------------------------------------------------

# (what apt's refresh says, what it means, what to do); the first that matches is reported.
REFRESH_FAILURES = [
    (r"NO_PUBKEY (\w+)", "is signed with a key this device does not trust (key {0})",
     "copy the repository's samplepoint.asc to {keyring} (samplepoint provision --apt-key), or "
     "publish with the key the devices have (docs/updating.md)"),
    (r"not valid yet|is expired", "has a signature dated outside this device's clock",
     "set the clock (timedatectl set-ntp true; doctor's clock line), then update again"),
    (r"BADSIG|signatures were invalid|Signed file isn't valid", "has a corrupt or invalid signature",
     "publish it again (samplepoint apt-repo add) and check that nothing between the device "
     "and the server changes the files"),
    (r"is not signed|no longer signed", "is not signed",
     "publish it with samplepoint apt-repo, which signs it"),
    (r"Release file|404", "has no suite {suite}",
     "check repository_url and suite in [update], and that the repository is published there"),
    (r"Could not connect|Could not resolve|Temporary failure|[Tt]imed? ?out|Connection failed|Failed to fetch",
     "cannot be reached", "check the uplink and repository_url in [update]; records are not affected"),
]


def refresh_failure(output: str, settings: config_module.UpdateConfig) -> UpdateFailed:
    errors = [line for line in output.splitlines() if line.startswith(("E:", "W:"))] or [output]
    for pattern, meaning, fix in REFRESH_FAILURES:
        for line in errors:
            found = re.search(pattern, line)
            if found:
                fields = {"suite": settings.suite, "keyring": settings.keyring}
                return UpdateFailed(f"the repository {settings.repository_url} "
                                    f"{meaning.format(*found.groups(), **fields)}", fix.format(**fields))
    return UpdateFailed(f"apt could not refresh {settings.repository_url}: {errors[-1].strip()[:300]}",
                        "read apt's message; check repository_url in [update]")


def install_failure(output: str) -> str:
    """Why apt-get install failed, in a few words (the postinst's own last word when it said one)."""
    said = [line.removeprefix("samplepoint: ") for line in output.splitlines()
            if line.startswith("samplepoint: ")]
    script = re.search(r"(post-installation|pre-removal|pre-installation) script subprocess "
                       r"returned error exit status (\d+)", output)
    if script:
        return f"its {script.group(1)} script failed (exit status {script.group(2)})" + \
            (f": {said[-1]}" if said else "")
    errors = [line for line in output.splitlines() if line.startswith("E:")]
    return (errors[-1] if errors else output.strip().splitlines()[-1:] or ["no output"])[0][:300]


def available(run: Callable[[list[str]], str], root: Path = Path("/")) -> list[str]:
    """Versions of samplepoint the repository offers, newest first (apt-cache madison)."""
    out = run(["apt-cache", *only_our_list(root), "madison", PACKAGE])
    versions = {line.split("|")[1].strip() for line in out.splitlines() if line.count("|") >= 2}
    return sorted(versions, key=cmp_to_key(compare), reverse=True)


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


# --- the command -----------------------------------------------------------------------------

def prepare_sources(root: Path, settings: config_module.UpdateConfig, out) -> None:
    if not settings.repository_url:
        raise UpdateFailed("no repository is configured ([update] repository_url is empty)",
                           "set repository_url in [update] of /etc/samplepoint/samplepoint.toml "
                           "(docs/updating.md)")
    if not (root / settings.keyring.lstrip("/")).exists():
        raise UpdateFailed(f"the repository key {settings.keyring} is missing",
                           f"copy the repository's public key (samplepoint.asc) to {settings.keyring}")
    if write_sources(root, settings):
        out(f"update: {SOURCES} now points at {settings.repository_url}")


def refresh(run, settings: config_module.UpdateConfig, root: Path, out) -> list[str]:
    out(f"update: refreshing {settings.repository_url} ({settings.suite})")
    try:
        run(["apt-get", "update", "-qq", *only_our_list(root)])
    except CommandFailed as exc:
        raise refresh_failure(exc.output, settings) from None
    return available(run, root)


def finish_interrupted(run, out) -> None:
    """Packages a power cut or a failed script left unfinished are configured first (apt would
    refuse to install anything until then); what still fails is settled by the install below."""
    unfinished = unfinished_packages(run)
    if not unfinished:
        return
    out(f"update: dpkg did not finish {', '.join(unfinished)}; running dpkg --configure -a")
    try:
        run(["dpkg", "--configure", "-a"])
    except CommandFailed as exc:
        out(f"update: dpkg --configure -a failed: {install_failure(exc.output)}")


def echo_postinst(output: str, out) -> None:
    for line in output.splitlines():         # what the package's scripts said
        if line.startswith("samplepoint: "):
            out("update: " + line.removeprefix("samplepoint: "))


def switch_to(run, out, source: str, version: str, before: str, pids: dict[str, str]) -> list[str]:
    """Install `source` (samplepoint=V or a cached .deb of V); raise unless dpkg has V fully
    installed and every service that ran before runs again. Returns the units still running the
    old process (not restarted: the version itself works)."""
    try:
        echo_postinst(run(["apt-get", "install", "-y", "-qq", "--allow-downgrades",
                           "-o", "Dpkg::Options::=--force-confold",
                           "-o", "Dpkg::Options::=--force-confdef", source]), out)
    except CommandFailed as exc:
        echo_postinst(exc.output, out)
        raise UpdateFailed(f"samplepoint {version} did not install: {install_failure(exc.output)}") from None
    state, after = package_state(run)
    out(f"update: samplepoint {before or 'none'} -> {after}")
    if (state, after) != ("installed", version):
        raise UpdateFailed(f"dpkg left samplepoint {after or 'none'} {state or 'absent'}, "
                           f"not {version} installed")
    now = service_pids(run)
    stale, failed = [], []
    for unit, pid in sorted(pids.items()):
        if unit not in now:
            out(f"update: {unit}: FAILED after the update; see journalctl -u {unit}")
            failed.append(unit)
        elif now[unit] == pid:
            out(f"update: {unit}: still the old process (not restarted); systemctl restart {unit}")
            stale.append(unit)
        else:
            out(f"update: {unit}: restarted")
    if failed:
        raise UpdateFailed(f"samplepoint {version} installed but {', '.join(failed)} stopped running")
    return stale


def cached_deb(root: Path, version: str) -> str:
    """A .deb of `version` apt downloaded before and still keeps, or ""."""
    name = version.replace(":", "%3a")
    found = sorted((root / ARCHIVES.lstrip("/")).glob(f"{PACKAGE}_{name}_*.deb"))
    return str(found[-1]) if found else ""


def roll_back(run, out, root: Path, good: str, failed: str, offered: list[str],
              cause: UpdateFailed, pids: dict[str, str]) -> None:
    """Install the last good version again; always raises, saying how the device was left."""
    source = f"{PACKAGE}={good}" if good in offered else cached_deb(root, good)
    if not source:
        raise UpdateFailed(f"{cause}; {good}, the version to roll back to, is neither in the repository "
                           f"nor in {ARCHIVES}", f"publish samplepoint {good} again (samplepoint "
                           f"apt-repo add), then: samplepoint update --version {good} ({RECOVERY})")
    out(f"update: rolling back to samplepoint {good}")
    try:
        switch_to(run, out, source, good, failed, pids)
    except UpdateFailed as again:
        raise UpdateFailed(f"{cause}; the rollback to {good} failed too: {again}",
                           f"samplepoint doctor, then {RECOVERY}") from None
    raise UpdateFailed(f"{cause}; rolled back to {good}, which runs",
                       f"publish a fixed version newer than {failed} (docs/updating.md); "
                       "until then the device stays on " + good)


def install(config: config_module.Config, version: str | None, run, out, root: Path, good: str) -> None:
    settings = config.update
    prepare_sources(root, settings, out)
    finish_interrupted(run, out)
    state, before = package_state(run)
    if state == "installed":
        good = good or before
    offered = refresh(run, settings, root, out)
    if not offered:
        raise UpdateFailed(f"the repository offers no samplepoint for this device's {settings.suite}",
                           "publish a package there: samplepoint apt-repo add (docs/updating.md)")
    if version and version not in offered:
        raise UpdateFailed(f"version {version} is not in the repository (it has: {', '.join(offered)})",
                           "pick one of those (samplepoint update --list)")
    target = version or offered[0]
    if target == before and state == "installed":
        out(f"update: samplepoint {before} is installed; nothing to do")
        return
    pids = service_pids(run)
    try:
        stale = switch_to(run, out, f"{PACKAGE}={target}", target, before, pids)
    except UpdateFailed as exc:
        if not good or good == target:
            raise UpdateFailed(str(exc), f"publish a fixed version (docs/updating.md); {RECOVERY}") from None
        roll_back(run, out, root, good, target, offered, exc, pids)
    if stale:
        raise UpdateFailed(f"samplepoint {target} is installed but {', '.join(stale)} still run(s) "
                           "the old version", f"systemctl restart {' '.join(stale)}")


def list_versions(config: config_module.Config, run, out, root: Path) -> int:
    prepare_sources(root, config.update, out)
    offered = refresh(run, config.update, root, out)
    before = package_state(run)[1]
    for v in offered:
        out(f"  {v}" + ("   (installed)" if v == before else ""))
    return 0


def update(config: config_module.Config, version: str | None, list_only: bool,
           run: Callable[[list[str]], str] = run_command, out=print, root: Path = Path("/"),
           now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> int:
    """0 when the device runs `version` (or the newest) fully configured; raises UpdateFailed
    otherwise, after recording the outcome for doctor (a --list records nothing)."""
    if list_only:
        return list_versions(config, run, out, root)
    state, before = package_state(run)
    good = read_state(config).get("good") or (before if state == "installed" else "")
    try:
        install(config, version, run, out, root, good)
    except UpdateFailed as exc:
        keep_record(config, now(), run, good, exc, out)
        raise
    keep_record(config, now(), run, good, None, out)
    return 0


def keep_record(config, at: datetime, run, good: str, failure: UpdateFailed | None, out) -> None:
    try:
        record(config, at, run, good, failure)
    except OSError as exc:            # a read-only card must not hide the update's own outcome
        out(f"update: could not record this run in {state_path(config)}: {exc}")


def main(args, run: Callable[[list[str]], str] = run_command, root: Path = Path("/")) -> int:
    if os.geteuid() != 0:
        print("samplepoint update: must run as root; try: sudo samplepoint update", file=sys.stderr)
        return 1
    config = config_module.load(args.config)
    try:
        return update(config, args.version, args.list, run=run, root=root)
    except UpdateFailed as exc:
        print(f"samplepoint update: FAILED: {exc.line()}", file=sys.stderr)
        return 1
