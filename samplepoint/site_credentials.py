"""The site's credentials as central sends them: code keys, staff PIN entries, revoked badge ids.

Central answers enrolment and every heartbeat with one JSON object (over the device's
authenticated channel):

    {"site_id": "SITE-1", "keys": [{"key": HEX, "valid_until": ISO-or-null}, ...],
     "pins": [], "pin_entries": ["STAFF_ID:$argon2id$...", ...], "reissue_pins": ["STAFF_ID", ...],
     "revoked_badges": ["12", ...], "revoked_unnumbered": ["STAFF_ID", ...]}

`pin_entries` are argon2id PIN entries (samplepoint/pins.py); `reissue_pins` names staff whose old
entry central holds but no longer sends, so the kiosk can say to issue a new PIN; `pins` is what
older central versions sent (PBKDF2 entries, read only as "issue again") and stays empty from
central now, so an older device keeps receiving keys and revocations. `revoked_unnumbered` names
staff whose badges without a badge id are refused (old badges, revocable by staff id only).

`keys[0]` signs (the portal's declaration codes); every key still in its grace period verifies.
The device keeps the last good answer in `<data_dir>/site-credentials.json` (0600, written
atomically); the kiosk and the portal re-read it when it changes. Without that file (a device set
up by hand) the single key of `scan.code_key_file` is used, as before.
"""
from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from samplepoint import signed_codes
from samplepoint.durable import write_atomic
from samplepoint.pins import REISSUE, entry_kind, parse_pin_entries

log = logging.getLogger(__name__)
FILE_NAME = "site-credentials.json"
PLACEHOLDER_SUFFIX = ".placeholder"
MAX_KEYS = 16
MAX_PINS = 5000
MAX_REVOKED = 100_000
MAX_BYTES = 8 * 1024 * 1024
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HEX_KEY = re.compile(rf"(?:[0-9a-f]{{2}}){{{signed_codes.MIN_KEY},64}}")
_BADGE = re.compile(r"[0-9]{1,18}")


@dataclass(frozen=True)
class Credentials:
    site_id: str
    keys: tuple[tuple[bytes, str | None], ...]      # (key, valid until as ISO UTC or None), current first
    pins: tuple[str, ...] = ()                       # PIN entries, argon2id (or old ones to re-issue)
    revoked_badges: frozenset = field(default_factory=frozenset)
    reissue_pins: tuple[str, ...] = ()
    revoked_unnumbered: frozenset = field(default_factory=frozenset)

    def verify_keys(self, now: datetime | None = None) -> list[bytes]:
        """The current key and the previous ones whose grace period has not ended at `now`."""
        now = now or datetime.now(timezone.utc)
        return [key for i, (key, until) in enumerate(self.keys)
                if i == 0 or until is None or _still_valid(until, now)]

    @property
    def signing_key(self) -> bytes:
        return self.keys[0][0]

    def to_json(self) -> dict:
        return {"site_id": self.site_id,
                "keys": [{"key": k.hex(), "valid_until": u} for k, u in self.keys],
                "pins": list(self.pins), "revoked_badges": sorted(self.revoked_badges, key=int),
                "reissue_pins": list(self.reissue_pins),
                "revoked_unnumbered": sorted(self.revoked_unnumbered)}


def _parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _still_valid(until: str, now: datetime) -> bool:
    try:
        return _parse_time(until) > now
    except (ValueError, OverflowError):        # an edge of the calendar: treat as ended
        return False


def parse(body, site_id: str | None = None) -> Credentials:
    """Credentials from central's JSON object, every field checked; raises ValueError when any is
    wrong (the answer is then ignored whole, and the last good one kept)."""
    if not isinstance(body, dict):
        raise ValueError("credentials must be a JSON object")
    site = body.get("site_id")
    if not isinstance(site, str) or not _ID.fullmatch(site):
        raise ValueError("site_id missing or malformed")
    if site_id is not None and site != site_id:
        raise ValueError("credentials are for another site")
    keys = body.get("keys")
    if not isinstance(keys, list) or not 1 <= len(keys) <= MAX_KEYS:
        raise ValueError(f"keys must be a list of 1 to {MAX_KEYS}")
    parsed_keys = []
    for item in keys:
        if not isinstance(item, dict) or set(item) - {"key", "valid_until"}:
            raise ValueError("each key is an object with key and valid_until")
        hex_key, until = item.get("key"), item.get("valid_until")
        if not isinstance(hex_key, str) or not _HEX_KEY.fullmatch(hex_key):
            raise ValueError(f"a key must be {2 * signed_codes.MIN_KEY} to 128 lowercase hex digits")
        if until is not None:
            if not isinstance(until, str) or len(until) > 40:
                raise ValueError("valid_until must be an ISO time or null")
            try:
                _parse_time(until)
            except ValueError:
                raise ValueError("valid_until must be an ISO time or null") from None
        parsed_keys.append((bytes.fromhex(hex_key), until))
    pins = _list(body, "pins", MAX_PINS, entry_kind, "PIN entries") + \
        _list(body, "pin_entries", MAX_PINS, entry_kind, "PIN entries")
    reissue = _list(body, "reissue_pins", MAX_PINS, _ID.fullmatch, "staff ids")
    revoked = _list(body, "revoked_badges", MAX_REVOKED, _BADGE.fullmatch, "badge ids (digits)")
    unnumbered = _list(body, "revoked_unnumbered", MAX_PINS, _ID.fullmatch, "staff ids")
    return Credentials(site, tuple(parsed_keys), tuple(pins),
                       frozenset(str(int(b)) for b in revoked), tuple(reissue), frozenset(unnumbered))


def _list(body: dict, name: str, most: int, valid, what: str) -> list[str]:
    items = body.get(name, [])
    if not isinstance(items, list) or len(items) > most or \
            not all(isinstance(i, str) and valid(i) for i in items):
        raise ValueError(f"{name} must be a list of at most {most} {what}")
    return items


def path_for(data_dir: str | Path) -> Path:
    return Path(data_dir) / FILE_NAME


def placeholder_marker(key_file: str | Path) -> Path:
    """Beside a key the portal made up only because no other existed yet (not a site's key)."""
    return Path(str(key_file) + PLACEHOLDER_SUFFIX)


def held_key_id(data_dir: str | Path, key_file: str | Path | None) -> str | None:
    """The id of the site key this device signs with: central's (the stored credentials), else a
    key of `scan.code_key_file` that someone put there (`samplepoint staff key`); None when it
    holds neither. Central never replaces a key a device reports unless it knows that key."""
    try:
        return signed_codes.key_id(load(path_for(data_dir)).signing_key)
    except (OSError, ValueError):
        pass
    if not key_file or placeholder_marker(key_file).exists():
        return None
    try:
        return signed_codes.key_id(signed_codes.load_key(key_file))
    except (OSError, ValueError):
        return None


def store(data_dir: str | Path, body, site_id: str | None = None) -> Credentials | None:
    """Check central's credentials and keep them (0600, atomically); None (logged) when not valid.
    The file is rewritten only when its content changes, so readers reload only on real changes."""
    try:
        credentials = parse(body, site_id)
    except (ValueError, TypeError) as exc:
        log.warning("site credentials from central ignored: %s", exc)
        return None
    path = path_for(data_dir)
    text = json.dumps(credentials.to_json(), sort_keys=True, indent=1) + "\n"
    try:
        if path.read_text(encoding="utf-8") == text:
            return credentials
    except (OSError, UnicodeDecodeError):
        pass
    write_atomic(path, text, mode=0o600)
    os.chmod(path, 0o600)
    log.info("site credentials updated: %d key(s), %d PIN(s), %d revoked badge(s)",
             len(credentials.keys), len(credentials.pins), len(credentials.revoked_badges))
    return credentials


def load(path: str | Path) -> Credentials:
    """The stored credentials; raises OSError/ValueError when the file is missing or unusable."""
    raw = Path(path).read_bytes()
    if len(raw) > MAX_BYTES:
        raise ValueError("credentials file too large")
    return parse(json.loads(raw.decode("utf-8")))


class CredentialSource:
    """What the kiosk and portal verify with: the stored site credentials, re-read when the file
    changes (its mtime and size), else the key of `scan.code_key_file` alone."""

    def __init__(self, data_dir: str | Path, key_file: str | Path | None):
        self.path = path_for(data_dir)
        self.key_file = key_file
        self._stamp: object = ()
        self._credentials: Credentials | None = None

    def current(self) -> Credentials | None:
        try:
            st = self.path.stat()
            stamp = ("file", st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            stamp = ("fallback",)
        if stamp == self._stamp:
            return self._credentials
        self._stamp = stamp
        if stamp[0] == "file":
            try:
                self._credentials = load(self.path)
                return self._credentials
            except (OSError, ValueError) as exc:
                log.warning("site credentials at %s unusable (%s); using scan.code_key_file",
                            self.path, exc)
        self._credentials = self._fallback()
        return self._credentials

    def reload(self) -> None:
        """Read again at the next call even if the file looks unchanged (a key file just written)."""
        self._stamp = ()

    def _fallback(self) -> Credentials | None:
        if not self.key_file:
            return None
        try:
            key = signed_codes.load_key(self.key_file)
        except (OSError, ValueError) as exc:
            log.warning("no usable code key at %s (%s): staff badges and declaration codes will be "
                        "refused until central sends the site's key (or `samplepoint staff key`)",
                        self.key_file, exc)
            return None
        return Credentials("", ((key, None),))

    def verify_keys(self, now: datetime | None = None) -> list[bytes] | None:
        credentials = self.current()
        return credentials.verify_keys(now) if credentials else None

    def pin_table(self) -> dict:
        credentials = self.current()
        if not credentials:
            return {}
        return {**parse_pin_entries(list(credentials.pins)),
                **{staff: REISSUE for staff in credentials.reissue_pins}}

    def is_revoked(self, badge_id: str | None, staff_id: str | None = None) -> bool:
        """A numbered badge by its id; a badge without one by its holder's staff id."""
        credentials = self.current()
        if not credentials:
            return False
        if badge_id is None:
            return staff_id in credentials.revoked_unnumbered
        return str(badge_id) in credentials.revoked_badges
