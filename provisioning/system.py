"""Edits of /etc/passwd and /etc/group as text, for provisioning a directory tree without useradd.

Pure functions: text in, text out. `samplepoint provision --root DIR` uses them so that building an
image never creates users on the machine doing the build.
"""
from __future__ import annotations

SYSTEM_IDS = range(999, 99, -1)      # system accounts, allocated from the top like useradd --system


def _rows(text: str) -> list[list[str]]:
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def _number(text: str) -> bool:
    """An id field holds ASCII digits only (str.isdigit also takes "²", which int() refuses)."""
    return text.isascii() and text.isdigit()


def _free_id(used: set[int]) -> int:
    for candidate in SYSTEM_IDS:
        if candidate not in used:
            return candidate
    raise ValueError("no free system id between 100 and 999")


def ensure_group(group_text: str, name: str, member: str | None = None) -> tuple[str, int]:
    """Return (group file text with `name` present and `member` in it, gid)."""
    rows = _rows(group_text)
    for row in rows:
        if row[0] == name:
            members = [m for m in row[3].split(",") if m] if len(row) > 3 else []
            if member and member not in members:
                row[3:] = [",".join(members + [member])]
            return "".join(":".join(r) + "\n" for r in rows), int(row[2])
    gid = _free_id({int(r[2]) for r in rows if len(r) > 2 and _number(r[2])})
    rows.append([name, "x", str(gid), member or ""])
    return "".join(":".join(r) + "\n" for r in rows), gid


def ensure_user(passwd_text: str, name: str, gid: int, home: str, shell: str,
                gecos: str = "") -> tuple[str, int]:
    """Return (passwd file text with the system user present, uid). An existing user is kept."""
    rows = _rows(passwd_text)
    for row in rows:
        if row[0] == name:
            return "".join(":".join(r) + "\n" for r in rows), int(row[2])
    used = {int(r[2]) for r in rows if len(r) > 2 and _number(r[2])}
    uid = gid if gid not in used else _free_id(used)
    rows.append([name, "x", str(uid), str(gid), gecos, home, shell])
    return "".join(":".join(r) + "\n" for r in rows), uid


def lookup(text: str, name: str) -> int | None:
    """The numeric id of `name` in a passwd or group file's text."""
    for row in _rows(text):
        if row[0] == name and len(row) > 2 and _number(row[2]):
            return int(row[2])
    return None
