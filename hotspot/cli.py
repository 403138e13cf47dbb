"""The hotspot's commands: `samplepoint hotspot render|apply|remove|admit|stats` and `portal`."""
from __future__ import annotations

import logging

from samplepoint.commands import config_of

log = logging.getLogger("samplepoint")


def cmd_hotspot(args) -> int:
    from hotspot.commands import cmd_hotspot as run
    return run(args, config_of(args))


def cmd_portal(args) -> int:
    from hotspot.portal.app import BODY_LIMITS, create_app
    from samplepoint.httpserver import create_server

    config = config_of(args)
    address = config.hotspot.address.split("/")[0]
    host, _, port = (args.bind or f"{address}:{config.hotspot.portal_port}").rpartition(":")
    log.info("portal on %s:%s", host, port)
    from samplepoint.sdnotify import local_url, start_health_watch
    start_health_watch(local_url(host, int(port), "/privacy"))     # READY/WATCHDOG under systemd
    # many phones open pages at once when a crowd joins: more connections than waitress's default
    # A body over 64 KiB is refused before waitress buffers it on the SD card.
    create_server(create_app(config), host.strip("[]"), int(port), limits=BODY_LIMITS,
                  threads=config.portal.threads, connection_limit=1000, channel_timeout=30,
                  clear_untrusted_proxy_headers=True, ident="samplepoint-portal").run()
    return 0


def register(sub, with_config) -> None:
    """hotspot, portal."""
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
