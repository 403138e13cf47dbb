"""The one rule for HTTP connections that carry a secret or bring back trust data, and the session that enforces it.

Verified TLS always (certificate checks on; a pinned CA bundle, when given, is the only trust root);
plain http:// only to a loopback host (127.0.0.0/8, ::1, `localhost`) or when a setting whose
name says it is insecure allows it, which is logged as a WARNING whenever a session is made; and no
redirect is ever followed, so a 30x cannot carry a token, a record or an enrolment code elsewhere,
nor let another host answer in central's name. Config checks, `doctor`, `prepare-sd --check` and
every client (forwarder, heartbeat, check mode, enrolment, FHIR push) use these functions.
"""
from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass

import requests

log = logging.getLogger(__name__)

# scheme://authority[/path][?query][#fragment], ASCII without spaces, controls or backslashes (which
# parsers disagree on). Host names must be ASCII: a Unicode name is written in its xn-- form, so what
# is checked is exactly what is looked up.
_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/?#]*)"
                  r"(?P<path>/[^?#]*)?(?P<query>\?[^#]*)?(?P<fragment>#.*)?", re.S)
_SAFE = re.compile(r"[!-~]*")         # printable ASCII, no space; the backslash is refused below
_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_PORT = re.compile(r"[0-9]{1,5}")


class InsecureTransport(requests.exceptions.InvalidURL):
    """A URL the rule refuses; the message names the setting and the fix (one line)."""


@dataclass(frozen=True)
class Endpoint:
    scheme: str          # "http" or "https"
    host: str            # lower case; an IPv6 address without its brackets
    port: int | None
    has_query: bool

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            address = ipaddress.ip_address(self.host)
        except ValueError:
            return False
        return address in ipaddress.ip_network("127.0.0.0/8") or address == ipaddress.ip_address("::1")


def parse(url: str) -> Endpoint:
    """The scheme, host and port of an http(s) URL; ValueError (what is wrong) for anything else."""
    if not isinstance(url, str) or not _SAFE.fullmatch(url) or "\\" in url:
        raise ValueError("must be printable ASCII without spaces or backslashes (write a Unicode "
                         "host name in its xn-- form)")
    match = _URL.fullmatch(url)
    if not match or match["scheme"].lower() not in ("http", "https"):
        raise ValueError("must be an https:// URL such as https://central.example.vn")
    authority = match["authority"]
    if "@" in authority:
        raise ValueError("must not hold a user name or password (the token is sent in a header)")
    host, port = _split_host_port(authority)
    return Endpoint(match["scheme"].lower(), host, port, bool(match["query"] or match["fragment"]))


def _split_host_port(authority: str) -> tuple[str, int | None]:
    if authority.startswith("["):
        end = authority.find("]")
        host, rest = authority[1:end], authority[end + 1:]
        try:
            if end < 0 or ipaddress.ip_address(host).version != 6 or "%" in host:
                raise ValueError
        except ValueError:
            raise ValueError("has a bracketed host that is not an IPv6 address") from None
    else:
        host, sep, port_text = authority.partition(":")
        rest = sep + port_text
        _check_host_name(host)
    port = None
    if rest:
        if not rest.startswith(":") or not _PORT.fullmatch(rest[1:]) or not 0 < int(rest[1:]) < 65536:
            raise ValueError("has a port that is not a number from 1 to 65535")
        port = int(rest[1:])
    return host.lower(), port


def _check_host_name(host: str) -> None:
    labels = host.removesuffix(".").split(".")
    if not host or len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError("has no valid host name (letters, digits, '-' and '.')")
    # A name whose last label starts with a digit is an address: only a dotted quad is accepted,
    # since resolvers also read 2130706433 or 0x7f.1 as 127.0.0.1.
    if labels[-1][0].isdigit():
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise ValueError("has a numeric host that is not a dotted IPv4 address") from None


def base_url_problem(value: str) -> str | None:
    """Syntax of a base URL (config key check): None when fine, else what is wrong."""
    try:
        endpoint = parse(value)
    except ValueError as exc:
        return str(exc)
    if endpoint.has_query:
        return "must not have a query (?) or fragment (#): it is the base the API paths are added to"
    return None


@dataclass(frozen=True)
class Rule:
    """Who sends what to which URL: `key` names the URL's setting, `insecure_key` the lab setting."""
    key: str
    insecure_key: str
    carries: str

    def named(self, key: str) -> "Rule":
        return Rule(key, self.insecure_key, self.carries)

    def check(self, url: str, allow_insecure: bool = False) -> tuple[str | None, str | None]:
        """(refusal, warning): a refusal means nothing may be sent; a warning means plain HTTP by
        the lab setting."""
        try:
            endpoint = parse(url)
        except ValueError as exc:
            return f"{self.key}: {exc}", None
        if endpoint.scheme == "https" or endpoint.loopback:
            return None, None
        if allow_insecure:
            return None, (f"{self.insecure_key} = true: {self.carries} cross the network in clear "
                          f"to {endpoint.host} (for a lab only; use https://)")
        return (f"{self.key}: plain http:// to a non-loopback host sends {self.carries} in clear; "
                f"use https:// (or {self.insecure_key} = true for a lab)"), None

    def refusal(self, url: str, allow_insecure: bool = False) -> str | None:
        return self.check(url, allow_insecure)[0]


CENTRAL = Rule("central.url", "central.allow_insecure_http", "the device token")
FHIR = Rule("--url", "central_server.fhir_allow_insecure_http",
            "personal data and the FHIR credentials")


def central_problems(config) -> tuple[list[str], list[str]]:
    """(refusals, warnings) for a device config's connection to central (config check, doctor)."""
    refusal, warning = CENTRAL.check(config.central.url, config.central.allow_insecure_http)
    return ([refusal] if refusal else []), ([warning] if warning else [])


class SecureSession(requests.Session):
    """A requests session that sends only to URLs its rule accepts, verifies certificates always
    (against `ca_bundle` alone when given) and never follows a redirect."""

    def __init__(self, rule: Rule, url: str, *, allow_insecure: bool = False, ca_bundle: str = "",
                 quiet: bool = False):
        super().__init__()
        self.rule, self.allow_insecure = rule, allow_insecure
        self.pinned = ca_bundle or None
        self.verify = ca_bundle or True
        self.refused, warning = rule.check(url, allow_insecure)
        if warning and not quiet:         # quiet: doctor, which shows it as a line of its own
            log.warning("%s", warning)

    def send(self, request, **kwargs):
        refusal = self.rule.refusal(request.url, self.allow_insecure)
        if refusal:
            raise InsecureTransport(refusal)
        kwargs["allow_redirects"] = False
        # Passed here, after requests merged the environment: REQUESTS_CA_BUNDLE cannot replace a
        # pinned CA, and nothing can turn verification off.
        kwargs["verify"] = self.pinned or (kwargs.get("verify") or True)
        return super().send(request, **kwargs)


def central_session(config, quiet: bool = False) -> SecureSession:
    """The session for talking to central.url with this device's settings."""
    return SecureSession(CENTRAL, config.central.url, allow_insecure=config.central.allow_insecure_http,
                         ca_bundle=config.central.ca_bundle, quiet=quiet)
