"""Which devices run an older samplepoint than the repository's newest (`central devices --behind`).

The newest version comes from the apt repository devices update from (its URL, or its folder on this
machine), or is given as a version number. Heartbeats carry the Python spelling of a version; it
is compared in its Debian spelling, the way apt orders the packages.
"""
from __future__ import annotations

import re
from pathlib import Path

from samplepoint.debversion import VersionError, compare, debian_version, newest, packages_versions

ARCHES = ("amd64", "arm64")


class BehindError(ValueError):
    pass


def newest_version(source: str, suite: str = "bookworm", fetch=None) -> str:
    """The newest samplepoint in a repository (http(s) URL or folder), or `source` itself when it
    is a version number."""
    if re.match(r"https?://", source):
        texts = [_get(f"{source.rstrip('/')}/dists/{suite}/main/binary-{arch}/Packages", fetch)
                 for arch in ARCHES]
    elif Path(source).is_dir():
        folder = Path(source)
        folder = folder / "www" if (folder / "www/dists").is_dir() else folder
        texts = [p.read_text(encoding="utf-8")
                 for p in folder.glob(f"dists/{suite}/main/binary-*/Packages")]
    else:
        try:
            return debian_version(source)
        except VersionError:
            raise BehindError(f"--behind {source!r} is neither a repository URL, a repository folder "
                              "nor a version number") from None
    found = newest(v for text in texts if text for v in packages_versions(text))
    if not found:
        raise BehindError(f"no samplepoint package in {source} ({suite})")
    return found


def _get(url: str, fetch=None) -> str:
    if fetch:
        return fetch(url)
    import requests
    try:
        answer = requests.get(url, timeout=20)
    except requests.RequestException as exc:
        raise BehindError(f"cannot read {url}: {exc.__class__.__name__}") from None
    if answer.status_code == 404:
        return ""
    if answer.status_code != 200:
        raise BehindError(f"{url} answered HTTP {answer.status_code}")
    return answer.text


def behind(report: list[dict], newest_version: str) -> list[dict]:
    """The devices of a `device_report` older than newest_version (or with no version reported),
    each with the newest version added."""
    late = []
    for device in report:
        try:
            version = debian_version(str(device.get("version") or ""))
            older = compare(version, newest_version) < 0
        except VersionError:
            older = True
        if older:
            late.append({**device, "newest": newest_version})
    return late
