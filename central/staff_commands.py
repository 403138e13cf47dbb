"""Handlers of `samplepoint central rotate-key | badge | badge-sheet | revoke-badge | pin`: the
staff credentials central holds for each site and sends to its devices (docs/staff-credentials.md)."""
from __future__ import annotations

import csv
import getpass
import logging
import sys
from datetime import date

from samplepoint import config as config_module
from samplepoint.durable import write_atomic
from samplepoint.pins import pin_entry

log = logging.getLogger("samplepoint")


def _db_and_site(args):
    from central.commands import _check_ids, open_db
    _check_ids(args, "site")
    return open_db(args.db)


def rotate_key(args) -> int:
    """A new code key for the site; codes signed with the old one stay valid for --grace-hours."""
    if not 0 <= args.grace_hours <= 24 * 365:
        raise config_module.ConfigError("--grace-hours must be 0 to 8760")
    db = _db_and_site(args)
    until = db.rotate_site_key(args.site, args.grace_hours)
    log.info("site %s has a new code key; devices pick it up with their next heartbeat; the "
             "previous key verifies until %s", args.site, until)
    return 0


def _expiry(text: str) -> date:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise config_module.ConfigError("--expires must be a date YYYY-MM-DD") from None
    if day < date.today():
        raise config_module.ConfigError("--expires is in the past")
    return day


def _people(args) -> list[tuple[str, str]]:
    """(staff id, name) from --staff-id/--name, or every row of --csv (columns staff_id,name)."""
    if args.csv:
        with open(args.csv, encoding="utf-8-sig", newline="") as f:
            rows = [(r.get("staff_id", "").strip(), " ".join(r.get("name", "").split()))
                    for r in csv.DictReader(f)]
    elif args.staff_id and args.name:
        rows = [(args.staff_id, " ".join(args.name.split()))]
    else:
        raise config_module.ConfigError("give --staff-id and --name, or --csv FILE")
    for staff_id, name in rows:
        problem = config_module.identifier(staff_id)
        if problem or not name or len(name) > 100:
            raise config_module.ConfigError(f"staff id {staff_id!r}: {problem or 'name missing or too long'}")
    return rows


def _site_label(db, site_id: str) -> str:
    return db.site_names().get(site_id) or site_id


def badge(args) -> int:
    """Issue badges (printed: badge id, staff id, the QR text); --pdf also writes the badge sheet."""
    from central.badge_sheet import Badge, render
    from kiosk.staff import badge_code

    expires = _expiry(args.expires)
    people = _people(args)
    db = _db_and_site(args)
    sheet = []
    for staff_id, name in people:
        badge_id, key = db.add_badge(args.site, staff_id, name, expires.isoformat())
        code = badge_code(staff_id, name, key, check=args.check, expires=expires,
                          badge_id=str(badge_id))
        print(f"{badge_id}\t{staff_id}\t{code}")
        sheet.append(Badge(code, name, staff_id, _site_label(db, args.site), expires.isoformat(),
                           badge_id))
    if args.pdf:
        write_atomic(args.pdf, render(sheet), mode=0o644)
        log.info("badge sheet: %s (%d badge(s), A4)", args.pdf, len(sheet))
    return 0


def badge_sheet(args) -> int:
    """The sheet of the site's badges that are neither revoked nor expired, signed with its current key."""
    from central.badge_sheet import Badge, render
    from kiosk.staff import badge_code

    db = _db_and_site(args)
    key = db.site_key(args.site)
    today = date.today().isoformat()
    sheet = [Badge(badge_code(r["staff_id"], r["name"], key, expires=date.fromisoformat(r["expires"]),
                              badge_id=str(r["badge_id"])),
                   r["name"], r["staff_id"], _site_label(db, args.site), r["expires"], int(r["badge_id"]))
             for r in db.badges(args.site) if r["revoked_at"] is None and r["expires"] >= today]
    if not sheet:
        raise config_module.ConfigError(f"site {args.site} has no valid badges; issue some with "
                                        f"`samplepoint central badge`")
    write_atomic(args.pdf, render(sheet), mode=0o644)
    log.info("badge sheet: %s (%d badge(s), A4)", args.pdf, len(sheet))
    return 0


def revoke_badge(args) -> int:
    from central.commands import open_db
    site = open_db(args.db).revoke_badge(args.badge_id)
    if site is None:
        raise config_module.ConfigError(f"no badge {args.badge_id} was issued; see `central badges`")
    log.info("badge %d of site %s revoked; the site's devices refuse it after their next heartbeat",
             args.badge_id, site)
    return 0


def badges(args) -> int:
    from central.commands import open_db
    for r in open_db(args.db).badges(args.site):
        state = f"revoked {r['revoked_at'][:10]}" if r["revoked_at"] else "valid"
        print(f"{r['badge_id']}\t{r['site_id']}\t{r['staff_id']}\t{r['name']}\t{r['expires']}\t{state}")
    return 0


def pin(args) -> int:
    """Store (or with --remove, delete) a staff member's PIN for the site; only its hash is kept."""
    _check_ids_staff(args)
    db = _db_and_site(args)
    if args.remove:
        if not db.remove_pin(args.site, args.staff_id):
            raise config_module.ConfigError(f"{args.staff_id} has no PIN at site {args.site}")
        log.info("PIN of %s removed from site %s", args.staff_id, args.site)
        return 0
    if args.pin_stdin:
        value = sys.stdin.readline().strip()
    else:
        value = getpass.getpass("PIN: ")
        if getpass.getpass("again: ") != value:
            raise config_module.ConfigError("the two PINs differ")
    try:
        entry = pin_entry(args.staff_id, value)
    except ValueError as exc:
        raise config_module.ConfigError(str(exc)) from None
    db.set_pin(args.site, args.staff_id, entry)
    log.info("PIN of %s stored for site %s; devices get it with their next heartbeat",
             args.staff_id, args.site)
    return 0


def _check_ids_staff(args) -> None:
    problem = config_module.identifier(args.staff_id)
    if problem:
        raise config_module.ConfigError(f"--staff-id {problem}")
