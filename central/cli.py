"""The central server's commands: `samplepoint central ACTION` (handlers in central/commands.py,
imported only when a central command runs, so that the device's commands start fast)."""
from __future__ import annotations


def _handler(name: str):
    """A `central` handler from central/commands.py, imported only when that command runs."""
    def run(args) -> int:
        from central import commands
        return getattr(commands, name)(args)
    return run


def register(sub, with_config) -> None:
    """`samplepoint central ACTION`: the reference central server (handlers in central/commands.py)."""
    central = sub.add_parser("central", help="the reference central server").add_subparsers(
        dest="central_command", required=True, metavar="ACTION")

    def action(name: str, handler: str, help_text: str, config: bool = False):
        p = central.add_parser(name, help=help_text)
        p.add_argument("--db", required=True,
                       help="SQLite file or postgresql://… URL; must exist (see `central init`)")
        if config:
            p.add_argument("--config", help="TOML file whose [central_server] section applies")
        p.set_defaults(func=_handler(handler))
        return p

    action("init", "init", "create an empty central database (SQLite file or PostgreSQL)")
    p = action("serve", "serve", "serve the ingest API and the web console", config=True)
    p.add_argument("--bind", default="127.0.0.1:8700")
    p.add_argument("--init", action="store_true", help="create the database when it does not exist")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes (gunicorn; PostgreSQL only when more than 1)")
    p = action("add-device", "add_device", "register a device and print its new token")
    p.add_argument("--device-id", required=True)
    p.add_argument("--site-id", required=True)
    p.add_argument("--site-name", help="the site's name as exports and the console show it")
    p.add_argument("--rekey", action="store_true",
                   help="issue a new token for an existing device (its old token stops working)")
    p = action("add-user", "add_user", "create a web console account (password asked, or stdin)")
    p.add_argument("--username", required=True)
    p.add_argument("--role", required=True, choices=["admin", "viewer", "lab"],
                   help="admin: everything; viewer: provincial CDC (read, export, look-ups); "
                        "lab: upload results")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.add_argument("--reset", action="store_true", help="new password and role for an existing account")
    for name, handler, text in (
            ("disable-user", "disable_user", "disable a console account: it cannot sign in, and its "
             "sessions end now"),
            ("enable-user", "enable_user", "let a disabled console account sign in again")):
        p = action(name, handler, text)
        p.add_argument("name", nargs="?", metavar="NAME", help="the account (or --username NAME)")
        p.add_argument("--username")
    p = action("enrol-code", "enrol_code", "issue an enrolment code for a site's devices, or for "
               "one device (printed once)")
    p.add_argument("--campaign", required=True, help="campaign name, for the records")
    p.add_argument("--site", action="append", default=[], metavar="SITE_ID",
                   help="a site the code enrols devices for (repeat for a few sites)")
    p.add_argument("--device", metavar="DEVICE_ID",
                   help="a code for this one device id only (one --site, one use)")
    p.add_argument("--csv", help="one per-device code per row of this CSV (columns device_id,site_id)"
                   "; prints device, site and code per line")
    p.add_argument("--uses", type=int, default=1, help="how many devices may enrol with it")
    p.add_argument("--valid-hours", type=float, default=72.0)
    p = action("devices", "devices", "devices with last-seen time and latest heartbeat")
    p.add_argument("--silent-after", type=float, default=300.0,
                   help="flag devices not heard from for this many seconds")
    p.add_argument("--json", action="store_true")
    p.add_argument("--behind", metavar="REPO_OR_VERSION", help="only devices older than the newest "
                   "samplepoint in this apt repository (URL or folder), or than this version")
    p.add_argument("--suite", default="bookworm", help="--behind: the repository's distribution")
    p = action("export", "export", "write stored samples, one row per person with results", config=True)
    p.add_argument("--format", choices=["xlsx", "csv", "machine-csv", "jsonl", "fhir"], default="csv")
    p.add_argument("--columns", choices=["vi", "en"], default="en",
                   help="column names of csv and xlsx (machine formats always use English keys)")
    p.add_argument("--out", help="file to write (default stdout; xlsx needs a file or a pipe)")
    p.add_argument("--since", help="only samples received at or after this ISO time (with offset)")
    p.add_argument("--samples-per-bundle", type=int, default=1, help="fhir: samples per Bundle")
    p = action("push-fhir", "push_fhir", "send samples and results not yet sent to a FHIR R4 server "
               "(docs/fhir.md)", config=True)
    p.add_argument("--url", required=True, help="the FHIR server's base URL")
    p.add_argument("--samples-per-bundle", type=int, default=20)
    p.add_argument("--max-bundles", type=int, help="stop after sending this many Bundles")
    p = action("add-lab", "add_lab", "register a lab and print its new token")
    p.add_argument("--lab-id", required=True)
    p = action("import-results", "import_results", "import a lab's results CSV (UTF-8)", config=True)
    p.add_argument("--problems", help="also write every problem to this CSV file")
    p.add_argument("--show", type=int, default=100, help="problems printed to stderr (default 100)")
    p.add_argument("file")
    action("purge", "purge", "erase personal fields past central_server.retention_days", config=True)
    action("needs-retest", "needs_retest", "CSV of people in positive pools needing an individual "
           "test", config=True)
    action("clear-limits", "clear_limits", "forget counted sign-in, enrolment and status attempts "
           "(a locked-out console, after the cause is dealt with)")
    p = action("backup", "backup", "copy a SQLite central database consistently, while it serves")
    p.add_argument("dest", help="file to write; it must not exist")
    # Staff credentials per site, sent to devices with every heartbeat (docs/staff-credentials.md).
    p = action("rotate-key", "rotate_key", "give a site a new code key (the old one stays valid "
               "for --grace-hours)")
    p.add_argument("--site", required=True)
    p.add_argument("--grace-hours", type=float, default=72.0)
    p = action("badge", "badge", "issue staff badges with an expiry date (--pdf: the sheet to print)")
    p.add_argument("--site", required=True)
    p.add_argument("--staff-id")
    p.add_argument("--name", help="as printed, with its diacritics")
    p.add_argument("--csv", help="issue one badge per row of this CSV (columns staff_id,name)")
    p.add_argument("--expires", required=True, help="last day the badge is valid, YYYY-MM-DD")
    p.add_argument("--check", action="store_true", help="a check badge (switches check mode)")
    p.add_argument("--pdf", help="write the badge sheet (A4 PDF) here")
    p = action("badge-sheet", "badge_sheet", "the A4 sheet of a site's valid badges (PDF)")
    p.add_argument("--site", required=True)
    p.add_argument("--pdf", required=True)
    p = action("import-site-key", "import_site_key", "bring a site key made with `samplepoint staff "
               "key` into central, so its devices keep it (audited)")
    p.add_argument("--site", required=True)
    p.add_argument("--key-file", required=True, help="the key file (scan.code_key_file of a device)")
    p.add_argument("--replace", action="store_true",
                   help="the site already has another key at central: make this one current")
    p.add_argument("--grace-hours", type=float, default=72.0,
                   help="--replace: how long the key it replaces still verifies")
    p = action("badges", "badges", "list issued badges")
    p.add_argument("--site")
    p = action("revoke-badge", "revoke_badge", "take one badge back (devices refuse it after "
               "their next heartbeat)")
    p.add_argument("--badge-id", type=int)
    p.add_argument("--site", help="with --staff-id: that person's badges printed without a badge id")
    p.add_argument("--staff-id")
    p = action("pin", "pin", "set a staff member's PIN for a site (asked, or --pin-stdin)")
    p.add_argument("--site", required=True)
    p.add_argument("--staff-id", required=True)
    p.add_argument("--pin-stdin", action="store_true", help="read the PIN from stdin")
    p.add_argument("--remove", action="store_true", help="delete the PIN instead")
