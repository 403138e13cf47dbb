"""The kiosk's commands: `samplepoint kiosk`, `decode`, `staff` (and `slip`, from kiosk/printer)."""
from __future__ import annotations

import json
import logging
import os
import re
import secrets
import sys
from datetime import date

from samplepoint import config as config_module
from samplepoint.commands import config_of, open_store, read_token
from samplepoint.site_credentials import placeholder_marker

log = logging.getLogger("samplepoint")


def cmd_kiosk(args) -> int:
    import time

    from kiosk.camera import RetryingSource, open_source
    from kiosk.decode import make_decoder
    from kiosk.pipeline import Kiosk, make_feedback_or_log
    from kiosk import workflow
    from samplepoint.clock import system_clock
    from samplepoint.sdnotify import Watchdog, WatchedSource, ticking_sleep

    config = config_of(args)
    watchdog = Watchdog()
    cam = config.camera
    spec = args.camera or cam.source
    store, store_fault = open_store(config)
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
            line["codes"] = [{"format": s.format, "text": s.text} if s.text is not None else
                             {"format": s.format, "text": None, "hex": s.data.hex()}
                             for s in symbols]
            line["ms"] = round((time.perf_counter() - started) * 1000, 2)
        print(json.dumps(line, ensure_ascii=False), flush=True)
    return status


def cmd_staff(args) -> int:
    from kiosk import staff
    from samplepoint import signed_codes
    from samplepoint.durable import write_atomic

    if args.action == "key":
        path = args.key_file or config_of(args).scan.code_key_file
        if os.path.exists(path) and not args.force:
            raise config_module.ConfigError(f"{path} exists; every badge and declaration code signed "
                                            f"with it would stop working. Use --force to replace it")
        write_atomic(path, signed_codes.new_key() + "\n", mode=0o600)
        placeholder_marker(path).unlink(missing_ok=True)     # this one is the site's key
        print(f"wrote a new code key to {path}; to use central later, bring it in with "
              f"`samplepoint central import-site-key --site SITE --key-file {path}`")
        return 0
    if args.action == "pin":
        import getpass
        pin = args.pin or getpass.getpass("PIN (6-12 digits 0-9): ")
        try:
            print(staff.pin_entry(args.staff_id, pin))
        except ValueError as exc:
            raise config_module.ConfigError(str(exc)) from None
        return 0
    problem = config_module.identifier(args.staff_id)
    if problem:
        raise config_module.ConfigError(f"staff id {problem}")
    path = args.key_file or config_of(args).scan.code_key_file
    try:
        key = signed_codes.load_key(path)
    except (OSError, ValueError) as exc:
        raise config_module.ConfigError(f"cannot read the code key ({exc}); create it with "
                                        f"`samplepoint staff key`") from None
    if args.badge_id and not re.fullmatch(r"[0-9]{1,18}", args.badge_id):
        raise config_module.ConfigError("badge id: 1-18 digits")
    # Every badge is revocable by its id: one is drawn when none is given (12 digits, far above the
    # ids central counts up from, so the two never meet at one site).
    badge_id = args.badge_id or str(10**11 + secrets.randbelow(9 * 10**11))
    try:
        code = staff.badge_code(args.staff_id, args.name, key, check=args.action == "check-badge",
                                expires=args.expires, badge_id=badge_id)
    except ValueError as exc:
        raise config_module.ConfigError(f"cannot make the badge: {exc}") from None
    if args.out:
        import segno
        segno.make_qr(code, error="m").save(args.out, scale=8, border=4)
    print(code)
    print(f"badge id {badge_id} (revoke it with `samplepoint central revoke-badge --badge-id "
          f"{badge_id}` once central serves the site)", file=sys.stderr)
    return 0


def _check_mode(config):
    """The status client of check mode, or None (the kiosk then says it cannot check)."""
    from kiosk.check import CheckMode, StatusClient
    from samplepoint.clock import tz_from_offset

    try:
        read_token(config.central.token_file)
    except Exception as exc:       # no token yet: sampling works, checks say they cannot check
        print(f"samplepoint: check mode cannot ask the central server ({exc})", file=sys.stderr)
        return None
    client = StatusClient(config.central.url, read_token(config.central.token_file),
                          timeout=config.check.timeout_s, ca_bundle=config.central.ca_bundle,
                          allow_insecure_http=config.central.allow_insecure_http)
    if client.refused:         # sampling works; checks say they cannot check
        print(f"samplepoint: check mode will not ask the central server ({client.refused})",
              file=sys.stderr)
        return None
    return CheckMode(client, tz_from_offset(config.site.utc_offset))


def register(sub, with_config) -> None:
    """kiosk, decode, staff, slip."""
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
    p.add_argument("--expires", type=date.fromisoformat, help="last valid day, YYYY-MM-DD (badge)")
    p.add_argument("--badge-id", help="digits naming this badge, for revocation (badge)")
    p.set_defaults(func=cmd_staff)

    from kiosk.printer.commands import add_commands as add_slip_commands
    add_slip_commands(sub, with_config)
