"""What each phone OS's captive-portal probe gets: a redirect to the portal before "Done", its own
"online" answer after (pure: path in, response parts out)."""
from __future__ import annotations

APPLE_SUCCESS = "<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>"
FIREFOX_CANONICAL = ('<meta http-equiv="refresh" '
                     'content="0;url=https://support.mozilla.org/kb/captive-portal"/>')

# probe path -> (status, content type, body) the OS takes for "online"
ONLINE = {
    "/generate_204": (204, "text/plain", ""),                        # Android, Chrome
    "/gen_204": (204, "text/plain", ""),
    "/hotspot-detect.html": (200, "text/html", APPLE_SUCCESS),       # iPhone, macOS
    "/library/test/success.html": (200, "text/html", APPLE_SUCCESS),
    "/connecttest.txt": (200, "text/plain", "Microsoft Connect Test"),   # Windows 10/11
    "/ncsi.txt": (200, "text/plain", "Microsoft NCSI"),                  # older Windows
    "/canonical.html": (200, "text/html", FIREFOX_CANONICAL),            # Firefox
    "/success.txt": (200, "text/plain", "success\n"),
    "/check_network_status.txt": (200, "text/plain", "NetworkManager is online\n"),  # GNOME
}


def is_probe(path: str) -> bool:
    return path in ONLINE


def answer(path: str, done: bool, portal_url: str) -> tuple[int, dict[str, str], str]:
    """(status, headers, body) for a probe: the OS's success answer once done, else the portal."""
    headers = {"Cache-Control": "no-store"}
    if done:
        status, ctype, body = ONLINE[path]
        return status, {**headers, "Content-Type": f"{ctype}; charset=utf-8"}, body
    return 302, {**headers, "Location": portal_url, "Content-Type": "text/html; charset=utf-8"}, \
        f'<a href="{portal_url}">Portal</a>'
