"""The portal's information pages (start, app install, how-to, privacy) and its error pages."""
from __future__ import annotations

from flask import Blueprint, Response, request

from hotspot.portal import i18n
from hotspot.portal.site import message, page, portal

bp = Blueprint("pages", __name__)


@bp.get("/")
def index():
    return page("index.html")


@bp.get("/install")
def install():
    config = portal().config
    return page("install.html", android_url=config.portal.android_app_url,
                iphone_url=config.portal.iphone_app_url)


@bp.get("/howto")
def howto():
    return page("howto.html")


@bp.get("/privacy")
def privacy():
    return page("privacy.html")


@bp.app_errorhandler(404)
def not_found(_):
    return message("not_found", 404)


@bp.app_errorhandler(413)
def too_large(_):       # the body is not read again (no page(), no request.values): query only
    content_type, body = too_large_answer(request.path, request.args.get("lang"))
    return Response(body, 413, content_type=content_type)


def too_large_answer(path: str, lang: str | None = None) -> tuple[str, bytes]:
    """The 413 text, also sent by the portal's waitress server before a body is read."""
    return "text/plain; charset=utf-8", i18n.translator(i18n.pick(lang))("too_large").encode()
