"""Handlers of `samplepoint central rotate-key | import-site-key | badge | badge-sheet | badges |
revoke-badge | pin`: the staff credentials central holds for each site and sends to its devices
(docs/staff-credentials.md)."""
from __future__ import annotations

import csv
import getpass
import logging
import sys
from datetime import date

from samplepoint import config as config_module
from samplepoint.durable import write_atomic
from samplepoint import signed_codes
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


IMPORT_REFUSALS = {
    "differs": "site {site} already has another code key at central; badges and codes signed with "
               "it would stop working. Add --replace to make the imported key current (the other "
               "verifies for --grace-hours more), or copy central's key to the device instead",
    "retired": "that key was retired at central (rotate-key); it is not brought back. Give the "
               "device central's current key instead (docs/staff-credentials.md)",
}


def import_site_key(args) -> int:
    """Bring a site key made with `samplepoint staff key` into central, so that central sends the
    devices the key they already hold instead of a new one; audited."""
    if not 0 <= args.grace_hours <= 24 * 365:
        raise config_module.ConfigError("--grace-hours must be 0 to 8760")
    try:
        key = signed_codes.load_key(args.key_file)
    except (OSError, ValueError) as exc:
        raise config_module.ConfigError(f"cannot read the code key ({exc}); give the file that "
                                        f"`samplepoint staff key` wrote (scan.code_key_file)") from None
    db = _db_and_site(args)
    outcome = db.import_site_key(args.site, key, replace=args.replace, grace_hours=args.grace_hours)
    if outcome in IMPORT_REFUSALS:
        raise config_module.ConfigError(IMPORT_REFUSALS[outcome].format(site=args.site))
    db.audit("-", "import-site-key", f"site {args.site}: key {signed_codes.key_id(key)} {outcome}")
    log.info("site %s: code key %s %s; the site's devices keep it and get PINs and revocations "
             "with their next heartbeat", args.site, signed_codes.key_id(key), outcome)
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
    sheet = [Badge(badge_code(r["staff_id"], r["name"], key, expires=date.fromisoformat(r["expires"]),
                              badge_id=str(r["badge_id"])),
                   r["name"], r["staff_id"], _site_label(db, args.site), r["expires"], int(r["badge_id"]))
             for r, state in db.badge_states(args.site) if state in ("valid", "key retired")]
    if not sheet:
        raise config_module.ConfigError(f"site {args.site} has no valid badges; issue some with "
                                        f"`samplepoint central badge`")
    write_atomic(args.pdf, render(sheet), mode=0o644)
    db.badges_signed([b.badge_id for b in sheet], key)
    log.info("badge sheet: %s (%d badge(s), A4)", args.pdf, len(sheet))
    return 0


def revoke_badge(args) -> int:
    """One badge by its id; or, with --site and --staff-id, that person's badges without an id."""
    from central.commands import _check_ids, open_db
    if args.badge_id is None:
        if not (args.site and args.staff_id):
            raise config_module.ConfigError("give --badge-id (see `central badges`), or --site and "
                                            "--staff-id for that person's badges printed without one")
        _check_ids(args, "site", "staff_id")
        db = open_db(args.db)
        db.revoke_unnumbered(args.site, args.staff_id)
        db.audit("-", "revoke-badge", f"site {args.site}: badges of {args.staff_id} without an id")
        log.info("badges of %s without a badge id are refused at site %s after the devices' next "
                 "heartbeat; numbered badges are revoked one by one (--badge-id)", args.staff_id,
                 args.site)
        return 0
    if args.site:
        _check_ids(args, "site")
    db = open_db(args.db)
    site = db.revoke_badge(args.badge_id, args.site)
    if site is None:
        raise config_module.ConfigError(f"central issued no badge {args.badge_id} (see `central "
                                        f"badges`); for a badge made with `samplepoint staff badge` "
                                        f"add --site SITE")
    db.audit("-", "revoke-badge", f"badge {args.badge_id} of site {site}")
    log.info("badge %d of site %s revoked; the site's devices refuse it after their next heartbeat",
             args.badge_id, site)
    return 0


def badges(args) -> int:
    from central.commands import open_db
    for r, state in open_db(args.db).badge_states(args.site):
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
