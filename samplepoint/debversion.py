"""Version numbers as Debian orders them (dpkg's algorithm), and the Debian spelling of ours.

Pure functions. The .deb carries samplepoint's Python version in Debian spelling, the heartbeat
reports the Python one: `debian_version()` maps the first onto the second so both compare alike.
"""
from __future__ import annotations

import re
from functools import cmp_to_key

# A Debian version: [epoch:]upstream[-revision]; upstream starts with a digit.
VERSION_RE = re.compile(r"(?:(\d+):)?([0-9][A-Za-z0-9.+~-]*?)(?:-([A-Za-z0-9.+~]+))?")


class VersionError(ValueError):
    """Not a version number dpkg would accept."""


def debian_version(python_version: str) -> str:
    """0.2.0rc1 -> 0.2.0~rc1, 0.2.0.dev3 -> 0.2.0~~dev3, 0.2.0.post1 -> 0.2.0+post1: each sorts
    where PEP 440 puts it (a post-release below 0.2.0.1); plain releases (0.2.0, 0.1.0.2) are
    spelled the same."""
    text = python_version.strip().lower().lstrip("v")
    text = re.sub(r"(?<=\d)[._-]?(alpha|beta|rc|a|b|c)(\d*)", r"~\1\2", text)
    text = re.sub(r"[._-]?post(\d*)", r"+post\1", text)
    text = re.sub(r"[._-]?dev(\d*)", r"~~dev\1", text)
    parse(text)
    return text


def parse(version: str) -> tuple[int, str, str]:
    """(epoch, upstream, revision) of a Debian version, or VersionError."""
    match = VERSION_RE.fullmatch(version) if len(version) <= 128 else None
    if not match or match.group(2).endswith("-"):
        raise VersionError(f"{version!r} is not a Debian version number")
    return int(match.group(1) or 0), match.group(2), match.group(3) or "0"


def _order(char: str) -> int:
    if char == "~":
        return -1
    if char.isalpha():
        return ord(char)
    return ord(char) + 256


def _compare_part(a: str, b: str) -> int:
    """dpkg's verrevcmp: alternate non-digit runs (letters before others, ~ before all) and numbers."""
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _order(a[i]) if i < len(a) and not a[i].isdigit() else 0
            bc = _order(b[j]) if j < len(b) and not b[j].isdigit() else 0
            if ac != bc:
                return -1 if ac < bc else 1
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first_diff:
                first_diff = (a[i] > b[j]) - (a[i] < b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as dpkg --compare-versions orders a and b."""
    (ea, ua, ra), (eb, ub, rb) = parse(a), parse(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _compare_part(ua, ub) or _compare_part(ra, rb)


def newest(versions) -> str | None:
    """The highest of the given Debian versions (None for none); unparsable ones are ignored."""
    good = [v for v in versions if _parses(v)]
    return max(good, key=cmp_to_key(compare)) if good else None


def packages_versions(text: str, package: str = "samplepoint") -> list[str]:
    """Versions of `package` in an apt Packages index (its stanzas), newest first."""
    found = set()
    for stanza in text.split("\n\n"):
        fields = dict(line.split(":", 1) for line in stanza.splitlines()
                      if ":" in line and not line.startswith((" ", "\t")))
        if fields.get("Package", "").strip() == package and "Version" in fields:
            found.add(fields["Version"].strip())
    good = [v for v in found if _parses(v)]
    return sorted(good, key=cmp_to_key(compare), reverse=True)


def _parses(version: str) -> bool:
    try:
        parse(version)
    except VersionError:
        return False
    return True
