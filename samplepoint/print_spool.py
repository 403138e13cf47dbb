"""Print requests from the portal to the kiosk's slip printer: one small JSON file per request.

The portal never opens the printer (the kiosk owns it, and a phone's request must not wait on
paper); it drops a request naming a declaration's short code into `<data_dir>/print-spool/`. The
kiosk reads the declared person from the store by that code, prints, and removes the request. No
personal data is written to the spool.
"""
from __future__ import annotations

import json
import re
import secrets
import time
from pathlib import Path

from samplepoint.durable import write_atomic

SHORT_CODE = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}")
MAX_WAITING = 200            # requests beyond this are refused: a full spool means nobody prints


KEEP_HOURS = 24             # a slip kept for reprint (kiosk.printer.KeptSlips) lives at most this long


def spool_dir(data_dir: str | Path) -> Path:
    return Path(data_dir) / "print-spool"


def kept_dir(data_dir: str | Path) -> Path:
    """Where the kiosk keeps slips waiting to print (they hold names: retention prunes them)."""
    return Path(data_dir) / "print-kept"


def prune_kept(folder: str | Path, now: float | None = None, hours: float = KEEP_HOURS) -> int:
    """Delete kept slips (and temp files of interrupted writes) older than `hours`, whether or not
    a printer is still configured; returns how many went. Ages by file time: a slip is written once."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    limit = (time.time() if now is None else now) - hours * 3600
    removed = 0
    for path in folder.iterdir():
        try:
            if path.is_file() and path.stat().st_mtime < limit:
                path.unlink()
                removed += 1
        except OSError:
            continue
    return removed


def request_declaration(folder: str | Path, short_code: str, volunteer: str, at: str) -> bool:
    """Ask for one declaration slip; False when the spool is full or the code is malformed."""
    folder = Path(folder)
    if not SHORT_CODE.fullmatch(short_code):
        return False
    if folder.is_dir() and sum(1 for _ in folder.glob("*.json")) >= MAX_WAITING:
        return False
    body = json.dumps({"kind": "declaration", "short_code": short_code, "volunteer": volunteer,
                       "at": at})
    write_atomic(folder / f"{at.replace(':', '')[:15]}-{secrets.token_hex(4)}.json", body)
    return True


def read_request(path: Path) -> dict | None:
    """A request's fields, or None for anything that is not a well-formed request."""
    try:
        if path.stat().st_size > 1024:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("kind") != "declaration" or \
            not isinstance(data.get("short_code"), str) or not SHORT_CODE.fullmatch(data["short_code"]):
        return None
    return data


def waiting(folder: str | Path) -> list[Path]:
    """Requests in arrival order (names start with the time); temp files of unfinished writes skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.json") if not p.name.startswith("."))
