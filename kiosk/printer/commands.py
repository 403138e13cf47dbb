"""`samplepoint slip receipt|declaration`: draw a slip to a PNG (the very picture the printer gets),
or print it on the configured printer, without a kiosk running."""
from __future__ import annotations

import argparse
import sys
from datetime import datetime

from samplepoint import config as config_module


def add_commands(sub, with_config) -> None:
    p = with_config(sub.add_parser("slip", help="draw a tube receipt or declaration slip (--png) "
                                   "or print it on the configured printer"))
    kinds = p.add_subparsers(dest="slip_kind", required=True, metavar="KIND")
    receipt = kinds.add_parser("receipt", help="a tube receipt")
    receipt.add_argument("--tube", required=True, help="tube code, printed as a barcode")
    receipt.add_argument("--test-type", choices=config_module.TEST_TYPES, help="default: site.test_type")
    receipt.add_argument("--people", type=int, default=1, help="people in the tube (pool)")
    declaration = kinds.add_parser("declaration", help="a volunteer's declaration slip")
    declaration.add_argument("--short-code", help="print the stored declaration with this code "
                             "(else one is signed from --name/--dob/--id with the site key)")
    declaration.add_argument("--key-file", help="site code key (default: scan.code_key_file)")
    for q in (receipt, declaration):
        q.add_argument("--name", default="", help="person's full name")
        q.add_argument("--dob", default="", help="date of birth YYYY-MM-DD")
        q.add_argument("--id", dest="id_number", default="", help="ID number (only its last 4 are printed)")
        q.add_argument("--at", help="time shown, YYYY-MM-DDTHH:MM (default: now)")
        q.add_argument("--paper", type=int, choices=(58, 80), help="paper width (default: printer.paper_mm)")
        q.add_argument("--png", metavar="FILE", help="write the slip as a PNG instead of printing")
        q.set_defaults(func=run)


def _load(path) -> config_module.Config:
    if path or config_module.DEFAULT_PATH.exists():
        return config_module.load(path)
    return config_module.Config()        # drawing a slip needs no device configuration


def _moment(text: str | None, config) -> datetime:
    from samplepoint.clock import tz_from_offset
    tz = tz_from_offset(config.site.utc_offset)
    if not text:
        return datetime.now(tz)
    moment = datetime.fromisoformat(text)
    return moment.astimezone(tz) if moment.tzinfo else moment.replace(tzinfo=tz)


def build_slip(args, config):
    from kiosk.check import masked_id
    from kiosk.printer.slips import TubeReceipt
    born = args.dob[:4] if args.dob else ""
    at = _moment(args.at, config)
    site = config.site.name
    if args.slip_kind == "receipt":
        return TubeReceipt(site, args.tube, args.test_type or config.site.test_type, at,
                           people=args.people, person_name=args.name, birth_year=born,
                           masked_id=masked_id(args.id_number), result_hours=config.printer.result_hours,
                           note=config.printer.receipt_note)
    if args.short_code:
        from kiosk.printer.table import declaration_slip
        from samplepoint.store import Store
        store = Store(config.db_path)
        try:
            person = store.declared_person(args.short_code)
        finally:
            store.close()
        slip = declaration_slip(person, args.short_code, site_name=site, tz=at.tzinfo) if person else None
        if slip is None:
            raise SystemExit(f"samplepoint: slip: no declaration {args.short_code} on this device")
        return slip
    return _sample_declaration(args, config, at, born)


def _sample_declaration(args, config, at, born):
    """A declaration slip signed with the site key from the command line's person (docs, checks)."""
    import secrets
    from kiosk.check import masked_id
    from kiosk.printer.slips import DeclarationSlip
    from samplepoint import print_spool, signed_codes
    if not (args.name and args.dob and args.id_number):
        raise SystemExit("samplepoint: slip declaration: give --short-code, or --name, --dob and --id")
    key = signed_codes.load_key(args.key_file or config.scan.code_key_file)
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    raw = "".join(secrets.choice(alphabet) for _ in range(8))
    short = f"{raw[:4]}-{raw[4:]}"
    assert print_spool.SHORT_CODE.fullmatch(short)
    payload = {"declaration_id": short, "id_number": args.id_number, "full_name": args.name,
               "date_of_birth": args.dob, "gender": "unknown", "declared_on_behalf": True}
    code = signed_codes.make_code("decl", payload, key)
    return DeclarationSlip(config.site.name, short, code, args.name, born, masked_id(args.id_number), at)


def run(args: argparse.Namespace) -> int:
    from kiosk.printer import slips
    config = _load(args.config)
    slip = build_slip(args, config)
    paper = args.paper or config.printer.paper_mm
    if args.png:
        slips.render(slip, paper).save(args.png)
        print(args.png)
        return 0
    from kiosk.printer import SlipPrinter
    from kiosk.printer.devices import make_connector
    connect = make_connector(config)
    if connect is None:
        print("samplepoint: slip: no printer configured (printer.backend = none); use --png FILE",
              file=sys.stderr)
        return 2
    printer = SlipPrinter(connect, paper, check_paper=config.printer.check_paper,
                          timeout_s=config.printer.timeout_s)
    printer.submit(slip)
    printer.close(timeout=config.printer.timeout_s * 4 + 5)   # connect, ask, write, confirm
    state = printer.status()["state"]
    print(f"printer: {state}")
    return 0 if state == "ready" else 1
