"""The `samplepoint` command: one entry point, one subcommand per job (kiosk, forwarder, central, ...)."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import datetime, timezone

from kiosk.camera.base import CameraError
from samplepoint import config as config_module

log = logging.getLogger("samplepoint")


def _setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")


def _config(args) -> config_module.Config:
    return config_module.load(args.config)


def _read_token(path: str) -> str:
    from samplepoint.durable import read_secret
    try:
        token = read_secret(path)
    except FileNotFoundError:
        raise config_module.ConfigError(
            f"no device token at {path} (central.token_file); enrol the device, or write the token "
            f"printed by `samplepoint central add-device` into that file with mode 0600") from None
    if not token:
        raise config_module.ConfigError(f"{path} (central.token_file) is empty; write the device token")
    return token


# --- device processes ---------------------------------------------------------------------------

def cmd_kiosk(args) -> int:
    import time

    from kiosk.camera import RetryingSource, open_source
    from kiosk.decode import make_decoder
    from kiosk.pipeline import Kiosk, make_feedback_or_log
    from kiosk import workflow
    from samplepoint.clock import system_clock
    from samplepoint.sdnotify import Watchdog, WatchedSource, ticking_sleep
    from samplepoint.store import Store

    config = _config(args)
    watchdog = Watchdog()
    cam = config.camera
    spec = args.camera or cam.source
    store, store_fault = _kiosk_store(config)
    clock = system_clock(config.site.utc_offset)
    feedback, display = make_feedback_or_log(config), None
    if config.display.enabled:
        from kiosk.display import DisplayService, FanOut
        display = DisplayService(config, store, clock)
        feedback = FanOut(feedback, display.hub)
    kiosk = Kiosk(config, store, make_decoder(config.scan.decoder), feedback, clock)
    feedback.on_close_button(lambda: kiosk.dispatch(workflow.CloseRequested(kiosk.clock())))
    kiosk.checker = _check_mode(config)
    if args.check:
        kiosk.dispatch(workflow.SetCheckMode(True, kiosk.clock()))
    from kiosk.printer.table import PrinterService
    printer = PrinterService(config, store).attach(kiosk, display.hub if display else None).start()
    if display is not None:
        display.attach(kiosk).start()
        print(f"staff display: {display.url}", file=sys.stderr, flush=True)
    if store_fault:
        kiosk.announce_store_fault(store_fault)

    def opener():
        return open_source(spec, cam.fps, paced=not args.fast, loop=cam.loop and not args.exit_when_done,
                           follow=cam.follow and not args.exit_when_done,
                           size=(cam.width, cam.height),
                           preview_size=(cam.preview_width, cam.preview_height),
                           autofocus=cam.autofocus)

    # A replay that cannot open is a mistake to report; a live camera is waited for.
    # Waiting for a missing camera is the main loop waiting on purpose: it keeps pinging.
    retry_sleep = ticking_sleep(lambda s: time.sleep(s) or False, watchdog.ping, watchdog.slice_s)
    source = opener() if spec.startswith("replay:") else RetryingSource(opener, cam.retry_s,
                                                                         sleep=retry_sleep)
    try:
        with source:
            watchdog.ready()
            summary = kiosk.run(WatchedSource(source, watchdog), close_at_end=args.exit_when_done)
    finally:
        if display is not None:
            display.stop()
        printer.stop()
        feedback.close()
    print(json.dumps(summary.__dict__))
    store.close()
    return 0


def _kiosk_store(config):
    """(store, fault): a database that cannot be written (a card gone read-only) is opened read-only,
    so the kiosk and its display stay up and say so in red instead of restarting in a loop, and
    `status` still shows what the card holds."""
    from samplepoint.store import Store, StoreError
    try:
        return Store(config.db_path), ""
    except StoreError as exc:
        if "read-only" not in str(exc):
            raise
        try:
            return Store(config.db_path, readonly=True), str(exc)
        except StoreError:
            raise exc from None


def cmd_decode(args) -> int:
    import time
    import numpy as np
    from PIL import Image, UnidentifiedImageError
    from kiosk.decode import make_decoder

    decoder = make_decoder(args.decoder)
    status = 0
    for name in args.images:
        line = {"file": name}
        try:
            with Image.open(name) as image:
                grey = np.asarray(image.convert("L"))
        except (OSError, UnidentifiedImageError) as exc:
            line.update(codes=[], error=f"cannot read image: {exc}")
            status = 1
        else:
            started = time.perf_counter()
            symbols = decoder.decode(grey)
            line["codes"] = [{"format": s.format, "text": s.data.decode("utf-8", "replace")}
                             for s in symbols]
            line["ms"] = round((time.perf_counter() - started) * 1000, 2)
        print(json.dumps(line, ensure_ascii=False), flush=True)
    return status


def cmd_staff(args) -> int:
    from kiosk import staff
    from samplepoint import signed_codes
    from samplepoint.durable import write_atomic

    if args.action == "key":
        path = args.key_file or _config(args).scan.code_key_file
        if os.path.exists(path) and not args.force:
            raise config_module.ConfigError(f"{path} exists; every badge and declaration code signed "
                                            f"with it would stop working. Use --force to replace it")
        write_atomic(path, signed_codes.new_key() + "\n")
        print(f"wrote a new code key to {path}")
        return 0
    if args.action == "pin":
        import getpass
        pin = args.pin or getpass.getpass("PIN (4-12 digits): ")
        try:
            print(staff.pin_entry(args.staff_id, pin))
        except ValueError as exc:
            raise config_module.ConfigError(str(exc)) from None
        return 0
    problem = config_module.identifier(args.staff_id)
    if problem:
        raise config_module.ConfigError(f"staff id {problem}")
    path = args.key_file or _config(args).scan.code_key_file
    try:
        key = signed_codes.load_key(path)
    except (OSError, ValueError) as exc:
        raise config_module.ConfigError(f"cannot read the code key ({exc}); create it with "
                                        f"`samplepoint staff key`") from None
    code = staff.badge_code(args.staff_id, args.name, key, check=args.action == "check-badge")
    if args.out:
        import segno
        segno.make_qr(code, error="m").save(args.out, scale=8, border=4)
    print(code)
    return 0
def _check_mode(config):
    """The status client of check mode, or None (the kiosk then says it cannot check)."""
    from kiosk.check import CheckMode, StatusClient
    from samplepoint.clock import tz_from_offset

    try:
        _read_token(config.central.token_file)
    except Exception as exc:       # no token yet: sampling works, checks say they cannot check
        print(f"samplepoint: check mode cannot ask the central server ({exc})", file=sys.stderr)
        return None
    client = StatusClient(config.central.url, _read_token(config.central.token_file),
                          timeout=config.check.timeout_s, ca_bundle=config.central.ca_bundle)
    return CheckMode(client, tz_from_offset(config.site.utc_offset))


def cmd_purge(args) -> int:
    from samplepoint.clock import system_clock
    from samplepoint.retention import Retention
    from samplepoint.store import Store

    config = _config(args)
    store = Store(config.db_path)
    report = Retention(config, store, system_clock(config.site.utc_offset)).run()
    print(json.dumps(report.__dict__))
    store.close()
    return 0


def cmd_forwarder(args) -> int:
    from samplepoint.central_client import CentralClient
    from samplepoint.clock import system_clock
    from samplepoint.forwarder import Forwarder
    from samplepoint.store import Store

    from samplepoint import heartbeat
    from samplepoint.sdnotify import Watchdog, ticking_sleep

    config = _config(args)
    watchdog = Watchdog()
    token = (_read_token(config.central.token_file) if args.until_drained
             else _wait_for_token(config, watchdog))
    client = CentralClient(config.central.url, token,
                           timeout=config.central.timeout_s, ca_bundle=config.central.ca_bundle)
    store, clock = Store(config.db_path), system_clock(config.site.utc_offset)
    beat = heartbeat.Heartbeat(client.session, config.central.url,
                               lambda: heartbeat.build(store, config.device.data_dir, clock),
                               config.central.heartbeat_s, min(5.0, config.central.timeout_s))

    def tick():
        watchdog.ping()
        beat.maybe_send()

    forwarder = Forwarder(config, store, client, clock, on_tick=tick)
    forwarder.sleep = ticking_sleep(forwarder.stopping.wait, tick, watchdog.slice_s)
    forwarder.stop_on_signals()
    watchdog.ready()
    forwarder.run(until_drained=args.until_drained)
    return 0


def _wait_for_token(config, watchdog) -> str:
    """The device token; before enrolment has written it, wait (records stay queued meanwhile)."""
    import time
    from samplepoint.sdnotify import ticking_sleep
    try:
        return _read_token(config.central.token_file)
    except config_module.ConfigError as exc:
        log.warning("%s; records stay queued until the token is there", exc)
    watchdog.ready("waiting for enrolment (no device token yet)")
    sleep = ticking_sleep(lambda s: time.sleep(s) or False, watchdog.ping, watchdog.slice_s)
    waited = 0.0
    while True:
        sleep(2.0)
        waited += 2.0
        try:
            token = _read_token(config.central.token_file)
        except config_module.ConfigError as exc:
            if waited % 600 < 2.0:
                log.warning("still no device token after %.0f min: %s", waited / 60, exc)
            continue
        log.info("device token found; forwarding starts")
        return token


def cmd_status(args) -> int:
    from samplepoint.store import Store

    config = _config(args)
    if not config.db_path.exists():
        raise config_module.ConfigError(f"no database at {config.db_path}; the kiosk has not run yet "
                                        f"or device.data_dir is wrong")
    store, fault = _kiosk_store(config)      # a read-only card still shows what it holds
    counts = store.outbox_counts()
    oldest = store.oldest_pending_at()
    age = (datetime.now(timezone.utc) - oldest).total_seconds() if oldest else None
    personal = store.personal_data_summary()
    report = {**counts, "oldest_pending_age_s": round(age, 1) if age is not None else None,
              "quarantined_records": [dict(r) for r in store.quarantined()],
              "personal_data": personal}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"pending {counts['pending']}, delivered {counts['delivered']}, "
              f"quarantined {counts['quarantined']}")
        print("oldest pending: " + (f"{age:.0f} s ago" if age is not None else "none"))
        print(f"personal data held: {personal['people']} people in {personal['records']} records"
              + (f", since {personal['oldest_scanned_at']}" if personal["oldest_scanned_at"] else ""))
        print(f"portal declarations held: {personal['declarations']}"
              + (f", since {personal['oldest_declaration_at']}"
                 if personal["oldest_declaration_at"] else ""))
        for row in report["quarantined_records"]:
            print(f"quarantined {row['record_id']}: {row['quarantine_reason']}")
    if fault:
        print(f"samplepoint: {fault}", file=sys.stderr)
        return 2
    return 0


# --- central server ---------------------------------------------------------------------------

def cmd_central_serve(args) -> int:
    from central.app import create_app
    from central.commands import central_settings
    from samplepoint.sdnotify import serve_watched

    log.info("central server on %s, database %s", args.bind, args.db)
    serve_watched(create_app(args.db, central_settings(args)), args.bind)
    return 0


def cmd_central_add_device(args) -> int:
    from central.db import CentralDB

    for name in ("device_id", "site_id"):
        problem = config_module.identifier(getattr(args, name))
        if problem:
            raise config_module.ConfigError(f"--{name.replace('_', '-')} {problem}")
    print(CentralDB(args.db).add_device(args.device_id, args.site_id))
    return 0


def _central(name: str):
    """A `central` handler from central/commands.py, imported only when that command runs."""
    def run(args) -> int:
        from central import commands
        return getattr(commands, name)(args)
    return run


def cmd_central_export(args) -> int:
    from central import export
    from central.db import CentralDB

    if args.format == "fhir":
        return _central("export_fhir")(args)
    try:
        since = export.since_utc(args.since)
    except ValueError as exc:
        raise config_module.ConfigError(f"--since: {exc}") from None
    samples = CentralDB(args.db).samples_since(since)
    writer = export.write_csv if args.format == "csv" else export.write_jsonl
    count = writer(samples, sys.stdout)
    log.info("exported %d %s", count, "rows" if args.format == "csv" else "samples")
    return 0


def cmd_central_enrol_code(args) -> int:
    from central.db import CentralDB
    from central.enrol import issue_code

    if not 1 <= args.uses <= 10_000 or not 0 < args.valid_hours <= 24 * 90:
        raise config_module.ConfigError("--uses must be 1-10000 and --valid-hours 0-2160")
    code, expires_at = issue_code(CentralDB(args.db), args.campaign, args.uses, args.valid_hours)
    print(code)
    log.info("enrolment code for campaign %r: %d uses until %s", args.campaign, args.uses, expires_at)
    return 0


def cmd_central_devices(args) -> int:
    from central.db import CentralDB
    from central.enrol import device_report, devices_table

    report = device_report(CentralDB(args.db).device_overview(), datetime.now(timezone.utc),
                           args.silent_after)
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


# --- appliance ---------------------------------------------------------------------------------

def cmd_enrol(args) -> int:
    from provisioning.enrol import main
    return main(args, _config(args))


def cmd_provision(args) -> int:
    from provisioning.provision import main
    return main(args)


def cmd_prepare_sd(args) -> int:
    from provisioning.sdcard import main
    return main(args)


def cmd_doctor(args) -> int:
    from provisioning.doctor import main
    return main(args)


# --- tools ------------------------------------------------------------------------------------

def cmd_config(args) -> int:
    if args.action == "example":
        print(config_module.example_toml(), end="")
    else:
        config_module.load(args.config)
        print(f"{args.config or config_module.DEFAULT_PATH}: OK")
    return 0


def cmd_demo(args) -> int:
    from samplepoint.demo import run_demo
    if not args.verbose:
        logging.getLogger().setLevel(logging.WARNING)    # progress lines only; -v for every record
    return run_demo(people=args.people, pool_size=args.pool_size, serve=args.serve,
                    display_port=args.display_port)


# --- hotspot and portal -------------------------------------------------------------------------

def cmd_hotspot(args) -> int:
    from hotspot.commands import cmd_hotspot as run
    return run(args, _config(args))


def cmd_portal(args) -> int:
    from waitress import serve

    from hotspot.portal.app import create_app

    config = _config(args)
    address = config.hotspot.address.split("/")[0]
    host, _, port = (args.bind or f"{address}:{config.hotspot.portal_port}").rpartition(":")
    log.info("portal on %s:%s", host, port)
    from samplepoint.sdnotify import local_url, start_health_watch
    start_health_watch(local_url(host, int(port), "/privacy"))     # READY/WATCHDOG under systemd
    # many phones open pages at once when a crowd joins: more connections than waitress's default
    serve(create_app(config), host=host.strip("[]"), port=int(port),
          threads=config.portal.threads, connection_limit=1000, channel_timeout=30,
          clear_untrusted_proxy_headers=True, ident="samplepoint-portal")
    return 0


def _add_appliance_commands(sub, with_config) -> None:
    p = with_config(sub.add_parser("enrol", help="exchange the enrolment code for a device token"))
    p.add_argument("--code", help="the campaign code (else read from --code-file)")
    p.add_argument("--code-file", help="file holding the code (default DATA_DIR/enrol-code)")
    p.add_argument("--boot-copy", action="append", default=[],
                   help="another copy of the code to delete after use (repeatable)")
    p.add_argument("--retry-for", type=float, default=0.0,
                   help="keep retrying network failures for this many seconds")
    p.set_defaults(func=cmd_enrol)

    p = sub.add_parser("provision", help="set up this Pi (or a directory tree) as a device")
    p.add_argument("--root", help="provision into this directory tree instead of the running system")
    p.add_argument("--config", help="device config to install (default: keep or write the example)")
    p.add_argument("--source", help="samplepoint .deb, wheel, folder of wheels, source checkout, or "
                   "'repository' (apt, from [update])")
    p.add_argument("--wheels", help="folder of dependency wheels: install with no package index")
    p.add_argument("--enrol-code-file", help="campaign code to put in place for first boot")
    p.add_argument("--central", action="store_true", help="also install the central server unit")
    p.add_argument("--apt-key", help="public key of the apt repository in [update] (docs/updating.md)")
    p.add_argument("--package", choices=["install", "upgrade"], help="run by the .deb's postinst")
    p.set_defaults(func=cmd_provision)

    p = sub.add_parser("prepare-sd", help="write a site's first-boot settings onto a card's boot partition")
    p.add_argument("--sites", required=True, help="CSV of sites (see docs/install-pi.md)")
    p.add_argument("--check", action="store_true", help="only validate the CSV (and --base-config); no card")
    p.add_argument("--base-config", help="campaign-wide config TOML; each site's row goes over it")
    p.add_argument("--device", help="device_id of the row to write (default: the only row)")
    p.add_argument("--enrol-code", help="campaign enrolment code (or --enrol-code-file)")
    p.add_argument("--enrol-code-file", help="file holding the campaign enrolment code")
    p.add_argument("--style", choices=["bookworm", "trixie"],
                   help="the card's Raspberry Pi OS (default: read off the card; a mismatch is refused)")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--boot", help="mounted boot partition folder")
    target.add_argument("--image", help="FAT partition image file, written with mtools")
    p.add_argument("--image-offset", type=int, default=0,
                   help="byte offset of the FAT partition inside --image (whole-disk images)")
    p.set_defaults(func=cmd_prepare_sd)

    p = with_config(sub.add_parser("doctor", help="check camera, radio, uplink, central, clock, disk, services"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="samplepoint", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(p):
        p.add_argument("--config", help=f"TOML file (default {config_module.DEFAULT_PATH})")
        return p

    p = with_config(sub.add_parser("kiosk", help="run the scanning kiosk"))
    p.add_argument("--camera", help="override camera.source, e.g. replay:DIR")
    p.add_argument("--exit-when-done", action="store_true",
                   help="exit after the last replayed frame, closing the open tube")
    p.add_argument("--fast", action="store_true", help="replay frames as fast as they decode")
    p.add_argument("--check", action="store_true",
                   help="check mode: show each scanned person's result status instead of sampling")
    p.set_defaults(func=cmd_kiosk)

    p = sub.add_parser("decode", help="decode images; one JSON line per image")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--decoder", default="zxing+pyzbar",
                   choices=list(config_module.DECODERS), help="decoder or combination")
    p.set_defaults(func=cmd_decode)

    p = with_config(sub.add_parser("staff", help="code key, staff badges and PIN entries"))
    p.add_argument("action", choices=["key", "badge", "check-badge", "pin"],
                   help="key: create the site code key; badge: print (and draw) a signed badge; "
                        "check-badge: a badge that also switches check mode on/off; "
                        "pin: print a workflow.staff_pins entry")
    p.add_argument("staff_id", nargs="?", default="")
    p.add_argument("--name", default="", help="name printed in the badge (badge)")
    p.add_argument("--out", help="write the badge QR to this PNG/SVG file (badge)")
    p.add_argument("--pin", help="the PIN (pin; prompted when absent)")
    p.add_argument("--key-file", help="override scan.code_key_file")
    p.add_argument("--force", action="store_true", help="replace an existing key (key)")
    p.set_defaults(func=cmd_staff)

    p = with_config(sub.add_parser("forwarder", help="forward queued records to the central server"))
    p.add_argument("--until-drained", action="store_true", help="exit once nothing is pending")
    p.set_defaults(func=cmd_forwarder)

    p = with_config(sub.add_parser("status", help="delivery counts and the oldest pending record"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = with_config(sub.add_parser("purge", help="erase personal data past its retention now"))
    p.set_defaults(func=cmd_purge)

    p = with_config(sub.add_parser("config", help="print the example config, or check a config file"))
    p.add_argument("action", choices=["example", "check"])
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("demo", help="the whole pipeline on generated frames, with a local central server")
    p.add_argument("--people", type=int, default=23)
    p.add_argument("--pool-size", type=int, default=5)
    p.add_argument("--serve", action="store_true",
                   help="replay at camera speed, then keep the servers and the staff display running")
    p.add_argument("--display-port", type=int, default=8080,
                   help="loopback port of the staff display (a free one if taken)")
    p.set_defaults(func=cmd_demo)

    p = with_config(sub.add_parser("hotspot", help="render, apply or remove the Wi-Fi hotspot configs"))
    p.add_argument("action", choices=["render", "apply", "remove", "admit", "stats"],
                   help="admit: keep letting out the phones the portal admitted (policy open; root); "
                        "stats: phones, leases and what the firewall refused, by reason")
    p.add_argument("--json", action="store_true", help="stats: one JSON object")
    p.add_argument("--out", default=".", help="render: folder for the three files")
    p.add_argument("--check", action="store_true", help="render: also run hostapd, dnsmasq and nft checks")
    p.set_defaults(func=cmd_hotspot)

    p = with_config(sub.add_parser("portal", help="serve the captive portal on the AP address"))
    p.add_argument("--bind", help="HOST:PORT instead of hotspot.address:hotspot.portal_port")
    p.set_defaults(func=cmd_portal)

    _add_appliance_commands(sub, with_config)
    from provisioning import aptrepo, update
    update.add_commands(sub, with_config)
    aptrepo.add_commands(sub)
    from kiosk.printer.commands import add_commands as add_slip_commands
    add_slip_commands(sub, with_config)

    central = sub.add_parser("central", help="the reference central server").add_subparsers(
        dest="central_command", required=True, metavar="ACTION")
    p = central.add_parser("serve", help="serve the ingest API")
    p.add_argument("--db", required=True)
    p.add_argument("--bind", default="127.0.0.1:8700")
    p.add_argument("--config", help="TOML file whose [central_server] section applies")
    p.set_defaults(func=cmd_central_serve)
    p = central.add_parser("add-device", help="register a device and print its new token")
    p.add_argument("--db", required=True)
    p.add_argument("--device-id", required=True)
    p.add_argument("--site-id", required=True)
    p.set_defaults(func=cmd_central_add_device)
    p = central.add_parser("enrol-code", help="issue a campaign enrolment code (printed once)")
    p.add_argument("--db", required=True)
    p.add_argument("--campaign", required=True, help="campaign name, for the records")
    p.add_argument("--uses", type=int, default=1, help="how many devices may enrol with it")
    p.add_argument("--valid-hours", type=float, default=72.0)
    p.set_defaults(func=cmd_central_enrol_code)
    p = central.add_parser("devices", help="devices with last-seen time and latest heartbeat")
    p.add_argument("--db", required=True)
    p.add_argument("--silent-after", type=float, default=300.0,
                   help="flag devices not heard from for this many seconds")
    p.add_argument("--json", action="store_true")
    p.add_argument("--behind", metavar="REPO_OR_VERSION", help="only devices older than the newest "
                   "samplepoint in this apt repository (URL or folder), or than this version")
    p.add_argument("--suite", default="bookworm", help="--behind: the repository's distribution")
    p.set_defaults(func=cmd_central_devices)
    p = central.add_parser("export", help="write stored samples to stdout")
    p.add_argument("--db", required=True)
    p.add_argument("--format", choices=["csv", "jsonl", "fhir"], default="csv")
    p.add_argument("--since", help="only samples received at or after this ISO time (with offset)")
    p.set_defaults(func=cmd_central_export)
    p.add_argument("--samples-per-bundle", type=int, default=1, help="fhir: samples per Bundle")
    p.add_argument("--config", help="fhir: TOML file whose [central_server] section applies")
    p = central.add_parser("push-fhir", help="send samples and results not yet sent to a FHIR R4 "
                           "server (docs/fhir.md)")
    p.add_argument("--db", required=True)
    p.add_argument("--url", required=True, help="the FHIR server's base URL")
    p.add_argument("--config", help="TOML file whose [central_server] section applies")
    p.add_argument("--samples-per-bundle", type=int, default=20)
    p.add_argument("--max-bundles", type=int, help="stop after sending this many Bundles")
    p.set_defaults(func=_central("push_fhir"))
    p = central.add_parser("add-lab", help="register a lab and print its new token")
    p.add_argument("--db", required=True)
    p.add_argument("--lab-id", required=True)
    p.set_defaults(func=_central("add_lab"))
    p = central.add_parser("import-results", help="import a lab's results CSV (UTF-8)")
    p.add_argument("--db", required=True)
    p.add_argument("--config", help="TOML file whose [central_server] section applies")
    p.add_argument("--problems", help="also write every problem to this CSV file")
    p.add_argument("--show", type=int, default=100, help="problems printed to stderr (default 100)")
    p.add_argument("file")
    p.set_defaults(func=_central("import_results"))
    p = central.add_parser("purge", help="erase personal fields past central_server.retention_days")
    p.add_argument("--db", required=True)
    p.add_argument("--config", help="TOML file whose [central_server] section applies")
    p.set_defaults(func=_central("purge"))
    p = central.add_parser("needs-retest", help="CSV of people in positive pools needing an "
                           "individual test")
    p.add_argument("--db", required=True)
    p.set_defaults(func=_central("needs_retest"))
    return parser


def main(argv: list[str] | None = None) -> int:
    import sqlite3

    from samplepoint.store import StoreError, explain
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose or os.environ.get("SAMPLEPOINT_DEBUG") == "1")
    try:
        return args.func(args)
    except (config_module.ConfigError, CameraError, StoreError) as exc:
        print(f"samplepoint: {exc}", file=sys.stderr)
        return 2
    except sqlite3.Error as exc:        # a database that broke while in use (disk full, card failing)
        print(f"samplepoint: {explain(exc, _db_path(args))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _db_path(args) -> str:
    try:
        return str(_config(args).db_path)
    except Exception:                   # noqa: BLE001 - only for the wording of an error
        return "the database"


if __name__ == "__main__":
    sys.exit(main())
