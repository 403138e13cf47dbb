"""Handlers of every `samplepoint central ...` command (database, devices, accounts, exports,
results, retention, backups).

Called from samplepoint/cli.py, which owns the argument parser; see docs/results-and-retention.md.
"""
from __future__ import annotations

import csv
import json
import logging
import os
import sys
from contextlib import contextmanager, nullcontext
from datetime import datetime, timedelta, timezone
from pathlib import Path

from central.db import CentralDB, DeviceExists
from central.export import BOM, csv_safe
from central.importer import ProblemReport, import_csv
from central.results import CsvFileError
from samplepoint import config as config_module
from samplepoint import wire
from samplepoint.clock import tz_from_offset
from central.account_commands import add_user, disable_user, enable_user  # noqa: F401
from central.enrol_commands import enrol_code  # noqa: F401  (handler)
from central.staff_commands import (badge, badge_sheet, badges, import_site_key,  # noqa: F401
                                    pin, revoke_badge, rotate_key)

log = logging.getLogger("samplepoint")


def central_settings(args) -> config_module.CentralServerConfig:
    """[central_server] from --config when given, else its documented defaults."""
    if getattr(args, "config", None):
        return config_module.load(args.config).central_server
    return config_module.CentralServerConfig()


def is_url(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def open_db(target: str, *, create: bool = False):
    """The central database at a path or postgresql:// URL. Only commands that create databases
    pass `create`: a mistyped --db elsewhere must not quietly start an empty one."""
    if is_url(target):
        import psycopg
        from central.db_postgres import NoSchema, PostgresCentralDB
        try:
            return PostgresCentralDB(target, create=create)
        except NoSchema:
            raise config_module.ConfigError(
                "no samplepoint schema in that PostgreSQL database; check --db, or create it with "
                "`samplepoint central init --db postgresql://…`") from None
        except psycopg.OperationalError as exc:
            raise config_module.ConfigError(f"cannot open the PostgreSQL database: {exc}") from None
    if not create and not Path(target).is_file():
        raise config_module.ConfigError(
            f"{target}: no central database there; check --db, or create one with "
            f"`samplepoint central init --db {target}` (or `central serve --init`)")
    return CentralDB(target)


def _check_ids(args, *names: str) -> None:
    for name in names:
        problem = config_module.identifier(getattr(args, name))
        if problem:
            raise config_module.ConfigError(f"--{name.replace('_', '-')} {problem}")


def init(args) -> int:
    """Create the database (or bring an existing one's schema up to date)."""
    open_db(args.db, create=True)
    log.info("central database ready at %s", args.db if not is_url(args.db) else "PostgreSQL")
    return 0


def serve(args) -> int:
    """Serve the API and the console: waitress threads in one process, or --workers processes
    (gunicorn, PostgreSQL only). Ready and watchdog pings to systemd only while /healthz answers."""
    from central import errors
    from central.app import create_app
    from samplepoint.httpserver import create_server
    from samplepoint.sdnotify import local_url, start_health_watch

    settings = central_settings(args)
    db = open_db(args.db, create=args.init)
    if args.workers > 1:
        if not is_url(args.db):
            raise config_module.ConfigError("--workers above 1 needs PostgreSQL: SQLite serves "
                                            "from one process (docs/central.md)")
        from central.workers import serve_workers
        db.close()
        return serve_workers(args.db, settings, args.bind, args.workers)
    host, _, port = args.bind.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    # Proxy headers reach the app, which believes them only from central_server.trusted_proxy.
    # A body over its path's limit is refused before waitress buffers it (docs/central.md).
    server = create_server(create_app(db, settings), host, int(port), threads=8,
                           limits=errors.body_limits(settings), clear_untrusted_proxy_headers=False)
    log.info("central server on %s:%s", host, server.effective_port)
    start_health_watch(local_url(host, int(server.effective_port), "/healthz"))
    server.run()
    return 0


def add_device(args) -> int:
    """Register a device and print its token; an existing id needs --rekey."""
    _check_ids(args, "device_id", "site_id")
    if args.site_name is not None and (not args.site_name.strip() or len(args.site_name) > 100
                                       or wire.CONTROL_CHARS.search(args.site_name)):
        raise config_module.ConfigError("--site-name must be 1-100 characters without control "
                                        "characters")
    try:
        print(open_db(args.db).add_device(args.device_id, args.site_id, rekey=args.rekey,
                                          site_name=args.site_name))
    except DeviceExists:
        raise config_module.ConfigError(
            f"device {args.device_id} is already registered; add --rekey to issue it a new token "
            f"(its current token then stops working: write the new one onto the device)") from None
    return 0


def clear_limits(args) -> int:
    """Every rate limit starts afresh: sign-in, enrolment and status counts are shared by all
    workers and survive restarts, so this is how a locked-out console is let in again."""
    db = open_db(args.db)
    count = db.clear_rate_limits()
    db.audit("-", "clear-limits", f"{count} counted attempts forgotten")
    print(f"cleared {count} counted attempts: sign-in, enrolment and status limits start afresh")
    return 0


def devices(args) -> int:
    from central.enrol import device_report, devices_table

    db = open_db(args.db)
    report = device_report(db.device_overview(), datetime.now(timezone.utc), args.silent_after,
                           db.key_mismatches())
    if args.behind:
        from central.behind import BehindError, behind, newest_version
        try:
            newest = newest_version(args.behind, args.suite)
        except BehindError as exc:
            raise config_module.ConfigError(str(exc)) from None
        report = behind(report, newest)
        log.info("%d device(s) behind samplepoint %s", len(report), newest)
    print(json.dumps(report) if args.json else devices_table(report))
    return 0


def export(args) -> int:
    """`central export --format F`: the writer is looked up in central.export.EXPORTERS; FHIR
    Bundles have their own command handler (docs/fhir.md)."""
    from central import export as exports

    if args.format == "fhir":
        return export_fhir(args)

    try:
        since = exports.since_utc(args.since)
    except ValueError as exc:
        raise config_module.ConfigError(f"--since: {exc}") from None
    if args.format == "xlsx" and not args.out and sys.stdout.isatty():
        raise config_module.ConfigError("--format xlsx writes a binary file: give --out FILE.xlsx")
    db = open_db(args.db)
    tz = tz_from_offset(central_settings(args).report_utc_offset)
    writer = exports.EXPORTERS[args.format]
    with _output(args.out) as out:
        count = writer(db.export_samples(since), out, tz=tz, lang=args.columns)
    log.info("exported %d %s", count, "samples" if args.format == "jsonl" else "rows")
    return 0


@contextmanager
def _output(path: str | None):
    """stdout, or a file written whole: temp file, fsync, rename (a half export never appears)."""
    if not path:
        sys.stdout.flush()
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    target = Path(path)
    temp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    try:
        with open(temp, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def backup(args) -> int:
    """Online copy of a SQLite central database (sqlite3 backup API): safe while serving."""
    import sqlite3

    if is_url(args.db):
        raise config_module.ConfigError("for PostgreSQL use pg_dump (docs/central.md)")
    source_db = open_db(args.db)
    dest = Path(args.dest)
    if dest.exists():
        raise config_module.ConfigError(f"{dest} exists; choose a new file")
    temp = dest.with_name(f".{dest.name}.tmp{os.getpid()}")
    try:
        target = sqlite3.connect(temp)
        with target:
            source_db.db.backup(target)
        target.execute("PRAGMA journal_mode=DELETE")
        target.close()
        os.chmod(temp, 0o600)
        with open(temp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, dest)
    finally:
        temp.unlink(missing_ok=True)
    print(json.dumps({"backup": str(dest), "samples": source_db.count_samples()}))
    return 0


def add_lab(args) -> int:
    """Register a lab and print its new token."""
    _check_ids(args, "lab_id")
    print(open_db(args.db).add_lab(args.lab_id))
    return 0


def import_results(args) -> int:
    """Import a lab's CSV; exit 0 all imported, 1 some rows reported, 2 file unreadable (raised)."""
    settings = central_settings(args)
    db = open_db(args.db)
    try:
        stream = open(args.file, "rb")
    except OSError as exc:
        raise config_module.ConfigError(f"{args.file}: cannot read ({exc.strerror})") from None
    problems = 0
    with stream, _problem_report(args.problems) as report:
        def on_problem(line: int, problem: str, tube_code: str) -> None:
            nonlocal problems
            problems += 1
            if report:
                report(line, problem, tube_code)
            if problems <= args.show:
                print(f"line {line}: {problem}", file=sys.stderr)
        try:
            counts = import_csv(db, stream,
                                tz=tz_from_offset(settings.results_utc_offset),
                                now=datetime.now(timezone.utc), on_problem=on_problem)
        except CsvFileError as exc:
            raise config_module.ConfigError(f"{args.file}: {exc}; nothing was imported") from None
    if problems > args.show:
        print(f"... and {problems - args.show} more problems", file=sys.stderr)
    print(json.dumps(dict(sorted(counts.items()))))
    return 1 if problems else 0


def _problem_report(path):
    if not path:
        return nullcontext(None)

    @contextmanager
    def opened():
        with open(path, "w", encoding="utf-8", newline="") as out:
            yield ProblemReport(out)
    return opened()


def purge(args) -> int:
    """Erase personal fields past central_server.retention_days; print counts as JSON."""
    settings = central_settings(args)
    now = datetime.now(timezone.utc)
    db = open_db(args.db)
    samples, people = db.erase_personal_data(now - timedelta(days=settings.retention_days), now)
    log.info("central retention: erased personal fields of %d samples (%d people)", samples, people)
    print(json.dumps({"samples": samples, "people": people, **db.personal_data_summary()}))
    return 0


def needs_retest(args) -> int:
    """Spreadsheet CSV (BOM, formula-safe) of the people who need an individual test (a positive
    pool, or results that conflict: column `reason`); times in the report time zone, named in the
    header."""
    tz = tz_from_offset(central_settings(args).report_utc_offset)
    sys.stdout.write(BOM)
    write_needs_retest(open_db(args.db), sys.stdout, tz)
    return 0


RETEST_COLUMNS = ["tube_code", "site_id", "collected_at", "result_at", "full_name", "id_number",
                  "qid", "phone", "reason"]


def write_needs_retest(db, out, tz) -> int:
    """The needs-retest rows as CSV text to `out` (no BOM): shared by the command and the console."""
    from central.export import zone_label

    writer = csv.writer(out, lineterminator="\n")
    label = zone_label(tz)
    writer.writerow([f"{c} ({label})" if c.endswith("_at") else c for c in RETEST_COLUMNS])
    rows = 0
    for row in db.needing_individual_test():
        values = [_local(row[c], tz) if c.endswith("_at") else row[c] for c in RETEST_COLUMNS]
        writer.writerow([csv_safe(v) for v in values])
        rows += 1
    return rows


def _local(text: str | None, tz) -> str:
    if not text:
        return ""
    moment = datetime.fromisoformat(text)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def export_fhir(args, out=None) -> int:
    """FHIR R4 transaction Bundles as NDJSON: one per sample, or per --samples-per-bundle samples."""
    from central import fhir
    from central.export import since_utc

    out = out or sys.stdout
    settings = central_settings(args)
    systems = fhir.Systems(settings.fhir_identifier_base)
    try:
        since = since_utc(args.since)
    except ValueError as exc:
        raise config_module.ConfigError(f"--since: {exc}") from None
    size = getattr(args, "samples_per_bundle", 1)
    if not 1 <= size <= 1000:
        raise config_module.ConfigError("--samples-per-bundle must be 1-1000")
    bundles = samples = erased = 0
    chunk: list = []

    def flush():
        nonlocal bundles
        bundle = fhir.bundle(chunk, systems)
        try:
            fhir.validate(bundle)
        except fhir.InvalidBundle as exc:
            ids = ", ".join(data.body["record_id"] for data in chunk)
            raise config_module.ConfigError(f"the Bundle for record(s) {ids} does not validate "
                                            f"against FHIR R4: {exc}") from None
        out.write(json.dumps(bundle, ensure_ascii=False, separators=(",", ":")) + "\n")
        bundles += 1
        chunk.clear()

    for item in open_db(args.db).fhir_samples(since):
        if isinstance(item, str):
            erased += 1
            continue
        chunk.append(item)
        samples += 1
        if len(chunk) == size:
            flush()
    if chunk:
        flush()
    log.info("exported %d samples as %d FHIR bundles (%d erased samples left out)",
             samples, bundles, erased)
    return 0


def push_fhir(args) -> int:
    """Send the units a FHIR server has not accepted yet; exit 1 when a Bundle was refused."""
    from central import fhir
    from central.fhir_push import Pusher, PushError, PushLock, session_from

    from samplepoint import transport

    settings = central_settings(args)
    problem = transport.FHIR.refusal(args.url, settings.fhir_allow_insecure_http)
    if problem:
        raise config_module.ConfigError(problem)
    if not 1 <= args.samples_per_bundle <= 1000:
        raise config_module.ConfigError("--samples-per-bundle must be 1-1000")
    try:
        session = session_from(settings, args.url)
    except OSError as exc:
        raise config_module.ConfigError(f"cannot read the FHIR credentials ({exc.strerror}: "
                                        f"{exc.filename})") from None
    db = open_db(args.db)
    try:
        with PushLock(db.path):
            report = Pusher(db, args.url, session, systems=fhir.Systems(settings.fhir_identifier_base),
                            samples_per_bundle=args.samples_per_bundle,
                            timeout=settings.fhir_timeout_s).run(args.max_bundles)
    except PushError as exc:
        raise config_module.ConfigError(str(exc)) from None
    print(json.dumps(report.summary()))
    return 1 if report.failed else 0

