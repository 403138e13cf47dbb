"""`samplepoint hotspot render|apply|remove|admit|stats`: the hotspot's command handlers."""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from samplepoint.config import Config

RESOLV_CONF = Path("/etc/resolv.conf")


def _render(config: Config):
    """The three files for this device: its live uplink networks and DNS, and the protection
    (security.detect) this radio and hostapd support."""
    from hotspot import security
    from hotspot.apply import uplink_subnets
    from hotspot.render import render
    chosen = security.detect(config)
    resolv = RESOLV_CONF.read_text(errors="replace") if RESOLV_CONF.exists() else ""
    files = render(config, uplink_subnets(config.hotspot.uplink_interface), owe=chosen.owe,
                   resolvers=security.resolvers(resolv))
    print(f"Wi-Fi protection: {chosen.describe()}", file=sys.stderr)
    if config.hotspot.policy == "walled":
        from hotspot.render import upstream_servers
        print("allowed names are resolved through: "
              + ", ".join(upstream_servers(config, security.resolvers(resolv))), file=sys.stderr)
    return files


def cmd_hotspot(args, config: Config) -> int:
    if args.action == "admit":
        from hotspot.admit import run
        return run(config)
    if args.action == "stats":
        from hotspot import stats
        found = stats.collect(config, time.time())
        print(json.dumps(found.as_dict()) if args.json else stats.render_text(found))
        return 0
    from hotspot.apply import ApplyError, Hotspot
    if args.action == "remove":
        print("\n".join(Hotspot(config).remove()))
        return 0
    files = _render(config)
    if args.action == "render":
        from samplepoint.durable import write_atomic
        for name, text in files.items():
            write_atomic(os.path.join(args.out, name), text, mode=0o600)
        if args.check:
            from hotspot import verify
            errors = {k: v for k, v in verify.all_files(args.out).items() if v}
            for name, lines in errors.items():
                print(f"{name}: " + "; ".join(lines), file=sys.stderr)
            return 1 if errors else 0
        return 0
    try:
        print("\n".join(Hotspot(config).apply(files)))
    except ApplyError as exc:
        print(f"samplepoint: hotspot apply: {exc}", file=sys.stderr)
        return 1
    return 0
