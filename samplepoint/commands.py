"""The shared core's own commands: forwarder, status, purge, config, demo; and the helpers every
area's commands use (the config of a command line, the device token, the store of a failing card)."""
from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

from samplepoint import config as config_module

log = logging.getLogger("samplepoint")


def config_of(args) -> config_module.Config:
    """The configuration named by --config (or the default path)."""
    return config_module.load(args.config)


def read_token(path: str) -> str:
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


def open_store(config):
    """(store, fault): a database that cannot be written (a card gone read-only) is opened read-only,
    so the kiosk and its display stay up and say so in red instead of restarting in a loop, and
    `status` still shows what the card holds."""
    from samplepoint.store import READ_ONLY, Store, StoreError
    try:
        return Store(config.db_path), ""
    except StoreError as exc:
        if exc.kind != READ_ONLY:
            raise
        try:
            return Store(config.db_path, readonly=True), str(exc)
        except StoreError:
            raise exc from None


def cmd_purge(args) -> int:
    from samplepoint.clock import system_clock
    from samplepoint.retention import Retention
    from samplepoint.store import Store

    config = config_of(args)
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

    config = config_of(args)
    watchdog = Watchdog()
    token = (read_token(config.central.token_file) if args.until_drained
             else _wait_for_token(config, watchdog))
    client = CentralClient(config.central.url, token,
                           timeout=config.central.timeout_s, ca_bundle=config.central.ca_bundle,
                           allow_insecure_http=config.central.allow_insecure_http)
    store, clock = Store(config.db_path), system_clock(config.site.utc_offset)
    beat = heartbeat.Heartbeat(client.session, config.central.url,
                               lambda: heartbeat.build(store, config.device.data_dir, clock,
                                                       config.scan.code_key_file),
                               config.central.heartbeat_s, min(5.0, config.central.timeout_s),
                               on_answer=heartbeat.credentials_keeper(config))

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
        return read_token(config.central.token_file)
    except config_module.ConfigError as exc:
        log.warning("%s; records stay queued until the token is there", exc)
    watchdog.ready("waiting for enrolment (no device token yet)")
    sleep = ticking_sleep(lambda s: time.sleep(s) or False, watchdog.ping, watchdog.slice_s)
    waited, warn_at = 0.0, 600.0
    while True:
        sleep(2.0)
        waited += 2.0
        try:
            token = read_token(config.central.token_file)
        except config_module.ConfigError as exc:
            if waited >= warn_at:                # a reminder every 10 minutes, not every try
                log.warning("still no device token after %.0f min: %s", waited / 60, exc)
                warn_at += 600.0
            continue
        log.info("device token found; forwarding starts")
        return token


def cmd_status(args) -> int:
    config = config_of(args)
    if not config.db_path.exists():
        raise config_module.ConfigError(f"no database at {config.db_path}; the kiosk has not run yet "
                                        f"or device.data_dir is wrong")
    store, fault = open_store(config)      # a read-only card still shows what it holds
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


def cmd_config(args) -> int:
    if args.action == "example":
        print(config_module.example_toml(), end="")
    else:
        from samplepoint import transport
        path = args.config or config_module.DEFAULT_PATH
        refusals, warnings = transport.central_problems(config_module.load(args.config))
        if refusals:
            raise config_module.ConfigError(f"{path}: {refusals[0]}")
        for warning in warnings:
            print(f"samplepoint: WARNING: {warning}", file=sys.stderr)
        print(f"{path}: OK")
    return 0


def cmd_demo(args) -> int:
    from samplepoint.demo import run_demo
    if not args.verbose:
        logging.getLogger().setLevel(logging.WARNING)    # progress lines only; -v for every record
    return run_demo(people=args.people, pool_size=args.pool_size, serve=args.serve,
                    display_port=args.display_port)


def register(sub, with_config) -> None:
    """forwarder, status, purge, config, demo."""
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
