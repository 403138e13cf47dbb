"""The `samplepoint` command: one entry point; each area registers its own subcommands beside the
code they drive (samplepoint/commands.py, kiosk/cli.py, hotspot/cli.py, provisioning/cli.py,
central/cli.py), and this module only assembles them and turns errors into one-line messages."""
from __future__ import annotations

import argparse
import logging
import os
import sys

from kiosk.camera.base import CameraError
from samplepoint import config as config_module
from samplepoint.commands import config_of

log = logging.getLogger("samplepoint")
AREAS = ("kiosk.cli", "samplepoint.commands", "hotspot.cli", "provisioning.cli", "central.cli")


def _setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")


def build_parser() -> argparse.ArgumentParser:
    import importlib
    parser = argparse.ArgumentParser(prog="samplepoint", description=__doc__.split(":")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(p):
        p.add_argument("--config", help=f"TOML file (default {config_module.DEFAULT_PATH})")
        return p

    for area in AREAS:
        importlib.import_module(area).register(sub, with_config)
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
        return str(config_of(args).db_path)
    except Exception:                   # noqa: BLE001 - only for the wording of an error
        return "the database"


if __name__ == "__main__":
    sys.exit(main())
