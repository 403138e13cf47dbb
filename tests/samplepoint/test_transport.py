"""The one URL rule for secrets: https, or plain http only to loopback (or by the lab setting); what
it calls loopback is what requests and urllib3 connect to, whatever the string."""
from __future__ import annotations

import ipaddress
import subprocess
import sys

import pytest
import requests
import urllib3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from samplepoint import config as config_module
from samplepoint import transport
from tests.conftest import write_config

REFUSED_PLAIN = "plain http:// to a non-loopback host"


@pytest.mark.parametrize("url", [
    "https://central.example.vn", "https://central.example.vn:8443/sp", "HTTPS://Central.Example.VN",
    "http://127.0.0.1:8700", "http://127.8.9.10", "HTTP://127.0.0.1:8700/", "http://[::1]:8700",
    "http://localhost", "http://LOCALHOST:8700", "https://xn--bcher-kva.vn", "https://10.20.0.5:8700",
])
def test_https_and_loopback_are_accepted(url):
    assert transport.CENTRAL.check(url) == (None, None)
    assert transport.base_url_problem(url) is None


@pytest.mark.parametrize("url, why", [
    ("http://central.example.vn", REFUSED_PLAIN),
    ("HTTP://central.example.vn", REFUSED_PLAIN),
    ("http://127.0.0.1.evil.vn", REFUSED_PLAIN),
    ("http://localhost.evil.vn", REFUSED_PLAIN),
    ("http://localhost.", REFUSED_PLAIN),
    ("http://10.0.0.5:8700", REFUSED_PLAIN),
    ("http://[::ffff:127.0.0.1]", REFUSED_PLAIN),
    ("http://128.0.0.1", REFUSED_PLAIN),
    ("http://[::1]@evil", "user name or password"),
    ("http://user:pw@127.0.0.1", "user name or password"),
    ("https://user@central.example.vn", "user name or password"),
    ("http://127.0.0.1\\@evil.vn", "backslash"),
    ("http://127.0.0.1:99999", "port"), ("http://127.0.0.1:0", "port"),
    ("http://127.0.0.1:80a", "port"), ("http://127.0.0.1:", "port"), ("http://[::1]8700", "port"),
    ("http://2130706433/", "numeric host"), ("http://0x7f.1/", "numeric host"),
    ("http://127.1/", "numeric host"), ("http://127.0.0.1./", "numeric host"),
    ("http://ｌｏｃａｌｈｏｓｔ/", "xn--"), ("https://bücher.vn", "xn--"),
    ("http://[fe80::1%25eth0]", "IPv6"), ("http://[127.0.0.1]", "IPv6"),
    ("http:// 127.0.0.1", "spaces"), ("http://127.0.0.1\n.evil.vn", "spaces"),
    ("ftp://127.0.0.1", "https://"), ("//127.0.0.1", "https://"), ("127.0.0.1:8700", "https://"),
    ("http://", "host name"), ("http://-evil.vn", "host name"),
])
def test_hostile_urls_are_refused_with_the_key_named(url, why):
    refusal, warning = transport.CENTRAL.check(url)
    assert refusal is not None and warning is None
    assert refusal.startswith("central.url: ") and why in refusal and "\n" not in refusal


def test_the_refusal_is_one_line_saying_what_to_do():
    assert transport.CENTRAL.refusal("http://central.example.vn") == (
        "central.url: plain http:// to a non-loopback host sends the device token in clear; use "
        "https:// (or central.allow_insecure_http = true for a lab)")


def test_the_lab_setting_allows_plain_http_with_a_warning_but_not_a_bad_url():
    refusal, warning = transport.CENTRAL.check("http://10.0.0.5:8700", allow_insecure=True)
    assert refusal is None and "central.allow_insecure_http = true" in warning and "10.0.0.5" in warning
    assert transport.CENTRAL.check("http://[::1]@evil", allow_insecure=True)[0]


@pytest.mark.parametrize("url", ["https://c.example.vn/?x=1", "https://c.example.vn#top",
                                 "http://127.0.0.1#@evil.vn"])
def test_a_base_url_has_no_query_or_fragment(url):
    assert "query" in transport.base_url_problem(url)


TOKENS = ["http", "HTTP", "https", "hTtP", "://", ":/", "/", "127.0.0.1", "127.0.0.1.", "127.1",
          "localhost", "LocalHost", "[::1]", "[", "]", "::1", "::ffff:127.0.0.1", "evil.vn", ".",
          "@", ":", "8700", "0", "99999", "#", "?", "\\", "%40", "%2e", "\t", " ", "\n", "xn--",
          "ｌｏｃａｌｈｏｓｔ", "０", "0x7f", "2130706433", "%", "-", "a", "@evil", "[::1]@", "①"]
URLS = st.one_of(st.lists(st.sampled_from(TOKENS), max_size=10).map("".join),
                 st.builds(lambda a, b: a + "://" + b, st.sampled_from(["http", "https", "HTTP"]),
                           st.lists(st.sampled_from(TOKENS), max_size=6).map("".join)),
                 st.builds("{}://{}{}{}".format, st.sampled_from(["http", "https", "HTTP", "Https"]),
                           st.sampled_from(["127.0.0.1", "localhost", "[::1]", "evil.vn", "127.0.0.9",
                                            "127.0.0.1.evil.vn", "xn--bcher-kva.vn", "10.0.0.5"]),
                           st.sampled_from(["", ":8700", ":1", ":65535", ":0", ":99999", ":"]),
                           st.lists(st.sampled_from(TOKENS), max_size=5).map("".join)),
                 st.text(max_size=40))


def _loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback and (address.version == 4 or host == "::1")


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(URLS, st.booleans())
def test_what_the_rule_lets_through_is_what_requests_connects_to(url, allow):
    refusal, warning = transport.CENTRAL.check(url, allow)
    if refusal is not None:
        assert refusal.startswith("central.url: ") and "\n" not in refusal
        return
    endpoint = transport.parse(url)
    parsed = urllib3.util.parse_url(url)
    prepared = requests.Request("POST", url.rstrip("/") + "/api/v1/samples").prepare()
    sent_to = urllib3.util.parse_url(prepared.url)
    for seen in (parsed, sent_to):
        assert seen.scheme == endpoint.scheme
        assert seen.host.strip("[]").lower() == endpoint.host
        assert seen.port == endpoint.port
        assert seen.auth is None
    if endpoint.scheme == "http" and not allow:
        assert _loopback(sent_to.host), url          # plain http only ever reaches this machine
    assert (warning is not None) == (endpoint.scheme == "http" and not endpoint.loopback)


@settings(max_examples=300, deadline=None)
@given(URLS)
def test_hostile_config_values_are_refused_by_name_or_loaded(url):
    try:
        loaded = config_module.from_dict({"central": {"url": url}})
    except config_module.ConfigError as exc:
        assert "central.url" in str(exc)
        return
    assert transport.base_url_problem(loaded.central.url) is None


def config_check(path):
    return subprocess.run([sys.executable, "-m", "samplepoint.cli", "config", "check", "--config",
                           str(path)], capture_output=True, text=True, timeout=60)


def test_config_check_refuses_plain_http_to_a_remote_central_in_one_line(tmp_path):
    done = config_check(write_config(tmp_path, "http://central.example.vn"))
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert "central.url: plain http:// to a non-loopback host sends the device token in clear" in line
    assert "central.allow_insecure_http = true" in line


def test_config_check_passes_loopback_and_the_lab_setting_with_a_warning(tmp_path):
    assert config_check(write_config(tmp_path, "http://127.0.0.1:8700")).returncode == 0
    done = config_check(write_config(tmp_path, "http://central.example.vn",
                                     central={"allow_insecure_http": True}))
    assert done.returncode == 0 and "OK" in done.stdout
    assert "WARNING" in done.stderr and "central.allow_insecure_http = true" in done.stderr


def test_a_session_refuses_before_connecting():
    session = transport.SecureSession(transport.CENTRAL, "https://central.example.vn")
    assert session.verify is True and session.refused is None
    with pytest.raises(transport.InsecureTransport, match="central.url: plain http://"):
        session.get("http://central.example.vn/healthz")      # refused before any connection
