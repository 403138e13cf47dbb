"""Handlers of the central server's result and retention commands (`samplepoint central ...`).

Called from samplepoint/cli.py, which owns the argument parser; see docs/results-and-retention.md.
"""
from __future__ import annotations

import csv
import json
import logging
import sys
from contextlib import contextmanager, nullcontext
from datetime import datetime, timedelta, timezone

from central.db import CentralDB
from central.export import csv_safe
from central.importer import ProblemReport, import_csv
from central.results import CsvFileError
from samplepoint import config as config_module
from samplepoint.clock import tz_from_offset

log = logging.getLogger("samplepoint")


def central_settings(args) -> config_module.CentralServerConfig:
    """[central_server] from --config when given, else its documented defaults."""
    if getattr(args, "config", None):
        return config_module.load(args.config).central_server
    return config_module.CentralServerConfig()


def add_lab(args) -> int:
    """Register a lab and print its new token."""
    problem = config_module.identifier(args.lab_id)
    if problem:
        raise config_module.ConfigError(f"--lab-id {problem}")
    print(CentralDB(args.db).add_lab(args.lab_id))
    return 0


def import_results(args) -> int:
    """Import a lab's CSV; exit 0 all imported, 1 some rows reported, 2 file unreadable (raised)."""
    settings = central_settings(args)
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
            counts = import_csv(CentralDB(args.db), stream,
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
    db = CentralDB(args.db)
    samples, people = db.erase_personal_data(now - timedelta(days=settings.retention_days), now)
    log.info("central retention: erased personal fields of %d samples (%d people)", samples, people)
    print(json.dumps({"samples": samples, "people": people, **db.personal_data_summary()}))
    return 0


def needs_retest(args) -> int:
    """CSV of the people of positive pools who need an individual test, formula-safe."""
    columns = ["tube_code", "site_id", "collected_at", "result_at", "full_name", "id_number", "qid",
               "phone"]
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(columns)
    for row in CentralDB(args.db).needing_individual_test():
        writer.writerow([csv_safe(row[c]) for c in columns])
    return 0


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

    for item in CentralDB(args.db).fhir_samples(since):
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

    settings = central_settings(args)
    problem = config_module.http_url(args.url)
    if problem:
        raise config_module.ConfigError(f"--url {problem}")
    if not 1 <= args.samples_per_bundle <= 1000:
        raise config_module.ConfigError("--samples-per-bundle must be 1-1000")
    try:
        session = session_from(settings)
    except OSError as exc:
        raise config_module.ConfigError(f"cannot read the FHIR credentials ({exc.strerror}: "
                                        f"{exc.filename})") from None
    db = CentralDB(args.db)
    try:
        with PushLock(db.path):
            report = Pusher(db, args.url, session, systems=fhir.Systems(settings.fhir_identifier_base),
                            samples_per_bundle=args.samples_per_bundle,
                            timeout=settings.fhir_timeout_s).run(args.max_bundles)
    except PushError as exc:
        raise config_module.ConfigError(str(exc)) from None
    print(json.dumps(report.summary()))
    return 1 if report.failed else 0
