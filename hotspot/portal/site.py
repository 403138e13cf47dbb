"""What every portal route shares: this portal's config, store, key and guards, and the page renderer."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlencode

from flask import Response, current_app, render_template, request

from hotspot.portal import i18n
from hotspot.portal.guards import Csrf, DeclarationLimit, DoneClients
from samplepoint.config import Config
from samplepoint.store import Store

EXTENSION = "samplepoint_portal"
# Set (True) in the WSGI environ by the volunteer sign-in for a request of a signed-in volunteer
# session; such requests are held to portal.volunteer_declare_limit_per_hour instead.


@dataclass
class Portal:
    config: Config
    store: Store
    key: bytes                  # the site key: CSRF, signed declaration codes, QR page links
    csrf: Csrf
    done: DoneClients
    limit: DeclarationLimit
    clock: Callable[[], float]
    portal_url: str             # http://<AP address>/
    own_hosts: set[str]
    # The site's current key as central last sent it (docs/staff-credentials.md); None: `key` stays.
    key_source: Callable[[], bytes | None] | None = None


def portal() -> Portal:
    p = current_app.extensions[EXTENSION]
    if p.key_source is not None:         # a stat per request; the file is re-read only when it changed
        p.key = p.key_source() or p.key
    return p


def client() -> str:
    return request.remote_addr or "?"


def page(template: str, status: int = 200, **values) -> Response:
    """A page in the reader's language (?lang=), with the language switch and a CSRF token."""
    p = portal()
    lang = i18n.pick(request.values.get("lang"))
    other = "en" if lang == "vi" else "vi"

    def u(path, **params):
        return path + "?" + urlencode({**params, "lang": lang})
    query = {k: v for k, v in request.args.items() if k != "lang"}
    html = render_template(template, lang=lang, other=other, t=i18n.translator(lang), u=u,
                           switch_url=request.path + "?" + urlencode({**query, "lang": other}),
                           csrf=p.csrf.token(client(), p.clock()),
                           retention_days=p.config.portal.retention_days, **values)
    return Response(html, status, content_type="text/html; charset=utf-8")


def message(key: str, status: int) -> Response:
    t = i18n.translator(i18n.pick(request.values.get("lang")))
    return page("message.html", status, heading=t(key), text="")
