"""Device side of enrolment: trade the campaign code for this device's own token, then forget the code.

Network trouble and rate limits are retried until `retry_for` runs out (first boot may come before
the uplink); a refusal (wrong, used-up or expired code, device id taken) stops at once with what to do.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Callable

import requests

from samplepoint import __version__, site_credentials, transport
from samplepoint.central_client import parse_retry_after
from samplepoint.config import Config
from samplepoint.durable import read_secret, write_atomic

log = logging.getLogger(__name__)


class EnrolError(RuntimeError):
    """Enrolment did not happen; the message says what the technician should do.

    `temporary` is True when only the network or the server's load stood in the way, so
    trying again later may work; False when the server refused the code or the device.
    """

    def __init__(self, message: str, temporary: bool = False):
        super().__init__(message)
        self.temporary = temporary


class TryLater(RuntimeError):
    def __init__(self, message: str, wait: float | None = None):
        super().__init__(message)
        self.wait = wait


def _json_object(response: requests.Response) -> dict | None:
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


def request_token(config: Config, code: str, session: requests.Session | None = None) -> str:
    """One attempt at POST /api/v1/enrol; returns the token, raises EnrolError or TryLater."""
    return request_enrolment(config, code, session)[0]


def request_enrolment(config: Config, code: str,
                      session: requests.Session | None = None) -> tuple[str, object]:
    """One attempt at POST /api/v1/enrol: (token, the site credentials as sent, or None)."""
    url = config.central.url.rstrip("/") + "/api/v1/enrol"
    body = {"code": code, "device_id": config.device.id, "site_id": config.site.id,
            "version": __version__}
    held = site_credentials.held_key_id(config.device.data_dir, config.scan.code_key_file)
    if held:                          # central then never hands this device another site key
        body["key_id"] = held
    http = session or transport.central_session(config)
    try:
        response = http.post(url, json=body, timeout=config.central.timeout_s)
    except transport.InsecureTransport as exc:
        raise EnrolError(f"enrolment code not sent: {exc}") from None
    except requests.RequestException as exc:
        raise TryLater(f"central server unreachable ({type(exc).__name__})") from None
    finally:
        if session is None:
            http.close()
    body = _json_object(response)
    if response.status_code == 201:
        token = body.get("token") if body else None
        if isinstance(token, str) and token:
            return token, body.get("credentials")
        raise TryLater("central server answered without a token (a proxy in the way?)")
    message = str(body.get("message", ""))[:200] if body else response.text[:200]
    if response.status_code == 429 or response.status_code >= 500:
        retry_after = response.headers.get("Retry-After", "")
        raise TryLater(f"HTTP {response.status_code} {message}", parse_retry_after(retry_after))
    raise EnrolError(f"enrolment refused (HTTP {response.status_code}): {message}")


def _forget(paths: list[Path]) -> None:
    for path in paths:
        # A read-only boot partition answers unlink with EROFS even for a file that is not there
        # (first boot already took it): ask first, or a technician is told to delete nothing.
        if not path.exists():
            continue
        try:
            path.unlink()
            log.info("removed enrolment code %s", path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("could not remove enrolment code %s (%s); delete it by hand", path,
                        exc.strerror)


def enrol(config: Config, code_file: Path, boot_copies: list[Path] = (), retry_for: float = 0.0,
          sleep: Callable[[float], None] = time.sleep, session: requests.Session | None = None) -> str:
    """Enrol once; returns "enrolled" or "already enrolled". The code files are deleted after use."""
    token_file = Path(config.central.token_file)
    if token_file.exists() and read_secret(token_file):
        _forget([code_file, *boot_copies])
        return "already enrolled"
    try:
        code = read_secret(code_file)
    except FileNotFoundError:
        raise EnrolError(f"no enrolment code at {code_file}; write the campaign code there "
                         f"(samplepoint prepare-sd does) or pass --code") from None
    deadline = time.monotonic() + retry_for
    delay = 2.0
    session = session or transport.central_session(config)     # one warning per run if insecure
    while True:
        try:
            token, credentials = request_enrolment(config, code, session)
            break
        except TryLater as exc:
            if time.monotonic() >= deadline:
                raise EnrolError(f"{exc}; check the uplink and central.url, then run "
                                 f"`samplepoint enrol` again", temporary=True) from None
            wait = max(exc.wait or 0.0, delay)
            log.warning("enrolment not done yet (%s); retrying in %.0f s", exc, wait)
            sleep(wait)
            delay = min(delay * 2, 120.0)
    write_atomic(token_file, token + "\n", mode=0o600)
    os.chmod(token_file, 0o600)
    if credentials is not None:       # the site's code keys and PINs (docs/staff-credentials.md)
        site_credentials.store(config.device.data_dir, credentials, config.site.id)
    else:
        log.warning("central sent no site credentials: it does not know the code key this device "
                    "holds, which stays in use until the operator imports it "
                    "(samplepoint central import-site-key; docs/staff-credentials.md)")
    _forget([code_file, *boot_copies])
    log.info("device %s enrolled; token stored in %s", config.device.id, token_file)
    return "enrolled"


def main(args, config: Config) -> int:
    """`samplepoint enrol`: 0 enrolled, 1 refused (see the message), 75 try again later."""
    import sys
    code_file = Path(args.code_file or Path(config.device.data_dir) / "enrol-code")
    if args.code:
        write_atomic(code_file, args.code.strip() + "\n", mode=0o600)
    try:
        print(enrol(config, code_file, [Path(p) for p in args.boot_copy], args.retry_for))
    except EnrolError as exc:
        print(f"samplepoint enrol: {exc}", file=sys.stderr)
        return 75 if exc.temporary else 1       # 75 = EX_TEMPFAIL: systemd retries it later
    return 0
