"""Handler of `samplepoint central enrol-code`: codes for a site's devices (one site or a few, N
uses), for one named device, or one per device of a CSV (docs/central.md)."""
from __future__ import annotations

import csv
import logging

from samplepoint import config as config_module

log = logging.getLogger("samplepoint")


def _open_db(target: str):
    from central.commands import open_db
    return open_db(target)


def enrol_code(args) -> int:
    """A code for devices of --site (one or a few), for one --device, or one per row of --csv."""
    from central.enrol import issue_code

    if not 1 <= args.uses <= 10_000 or not 0 < args.valid_hours <= 24 * 90:
        raise config_module.ConfigError("--uses must be 1-10000 and --valid-hours 0-2160")
    wanted = _code_rows(args)
    db = _open_db(args.db)
    for device_id, sites in wanted:
        uses = 1 if device_id else args.uses
        code, expires_at = issue_code(db, args.campaign, uses, args.valid_hours, sites=sites,
                                      device_id=device_id)
        print(f"{device_id}\t{sites[0]}\t{code}" if args.csv else code)
        log.info("enrolment code for campaign %r, site(s) %s%s: %d use(s) until %s", args.campaign,
                 ", ".join(sites), f", device {device_id}" if device_id else "", uses, expires_at)
    return 0


def _code_rows(args) -> list[tuple[str | None, list[str]]]:
    """(device id or None, sites) of each code to issue, every id checked."""
    if args.csv:
        if args.site or args.device:
            raise config_module.ConfigError("--csv names the devices and sites itself: drop "
                                            "--site and --device")
        with open(args.csv, encoding="utf-8-sig", newline="") as f:
            head = f.readline()
            f.seek(0)
            # prepare-sd's sites CSV will do: "," or ";" between columns, any further columns.
            rows = [((r.get("device_id") or "").strip(), [(r.get("site_id") or "").strip()])
                    for r in csv.DictReader(f, delimiter=";" if head.count(";") > head.count(",")
                                            else ",")]
        if not rows:
            raise config_module.ConfigError(f"{args.csv}: no rows (columns device_id,site_id)")
    elif not args.site:
        raise config_module.ConfigError("--site is required: a code enrols devices only for the "
                                        "site(s) it names (or give --csv)")
    elif args.device:
        if len(args.site) != 1 or args.uses != 1:
            raise config_module.ConfigError("a --device code is for one device of one site: give "
                                            "one --site and leave --uses at 1")
        rows = [(args.device, args.site)]
    else:
        rows = [(None, args.site)]
    for device_id, sites in rows:
        for name, value in [("device id", device_id)] * bool(device_id or args.csv) + \
                [("site id", site) for site in sites]:
            problem = config_module.identifier(value)
            if problem:
                raise config_module.ConfigError(f"{name} {value!r}: {problem}")
    return rows
