"""The captive portal's Flask app factory: one Portal context and three blueprints (probes and
"Done", information pages, declarations)."""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone

from flask import Flask

from hotspot.portal import declare_routes, page_routes, probe_routes, volunteer
from hotspot.portal.guards import Csrf, DeclarationLimit, DoneClients
from hotspot.portal.site import EXTENSION, Portal
from samplepoint import signed_codes
from samplepoint.bodylimits import KIB, BodyLimits, limit_bodies
from samplepoint.config import Config
from samplepoint.durable import write_atomic
from samplepoint.retention import boot_to_keep
from samplepoint.site_credentials import CredentialSource, placeholder_marker
from samplepoint.store import Store

log = logging.getLogger(__name__)
# Every form of the portal fits in 64 KiB; a phone on the hotspot cannot make the Pi buffer more.
BODY_LIMITS = BodyLimits(64 * KIB, answer=page_routes.too_large_answer)


def create_app(config: Config, store: Store | None = None, clock=time.time) -> Flask:
    """The portal for this config. Under policy `open`, "Done" records the phone in the store;
    `samplepoint hotspot admit` (root) lets it out."""
    app = Flask(__name__)
    limit_bodies(app, BODY_LIMITS)
    store = store or Store(config.db_path)
    credentials = CredentialSource(config.device.data_dir, config.scan.code_key_file)
    if credentials.current() is None:           # neither central's credentials nor a key file yet
        _code_key(config.scan.code_key_file)
        credentials.reload()
    key = credentials.current().signing_key
    ap_ip = config.hotspot.address.split("/")[0]
    app.extensions[EXTENSION] = Portal(
        config=config, store=store, key=key, csrf=Csrf(key), done=DoneClients(),
        limit=DeclarationLimit(config.portal.declare_limit_per_hour,
                               config.portal.volunteer_declare_limit_per_hour), clock=clock,
        portal_url=f"http://{ap_ip}/",
        own_hosts={ap_ip, f"{ap_ip}:{config.hotspot.portal_port}", config.hotspot.https_name},
        key_source=lambda: getattr(credentials.current(), "signing_key", None))
    store.purge_declarations(datetime.fromtimestamp(clock() - config.portal.retention_days * 86400,
                                                    timezone.utc).isoformat(timespec="seconds"),
                             keep_boot=boot_to_keep(config.portal.retention_days))
    for blueprint in (probe_routes.bp, page_routes.bp, declare_routes.bp, volunteer.bp):
        app.register_blueprint(blueprint)
    return app


def _code_key(path: str) -> bytes:
    """The site key shared with the kiosk when central has sent none; a new one is written (0600)
    when none exists yet."""
    try:
        return signed_codes.load_key(path)
    except FileNotFoundError:
        # Marked as made up here, so the device does not defend it against central's key.
        write_atomic(placeholder_marker(path), "made by the portal: no site key yet\n", mode=0o600)
        write_atomic(path, signed_codes.new_key() + "\n", mode=0o600)
        log.warning("no code key at %s and no site credentials from central: wrote a new key; "
                    "enrol the device (or copy the key to every device of the site)", path)
        return signed_codes.load_key(path)
