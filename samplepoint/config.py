"""Owns every configuration key: its type, default, check and one-line doc, loaded from one TOML file.

Each section is a frozen dataclass; each key is declared with `key()`, which carries the doc shown in
`samplepoint.example.toml` (generated from this module by `samplepoint config example`) and an
optional check that returns an error text. Unknown keys, wrong types and bad values raise
`ConfigError` naming the key and the fix, so a device refuses to start rather than misbehave.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import math
import re
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from samplepoint import wire

DEFAULT_PATH = Path("/etc/samplepoint/samplepoint.toml")
TEST_TYPES = ("rt-pcr", "rapid-antigen")
MAX_NUMBER = 10_000_000      # no key needs more; larger values are typing mistakes


class ConfigError(ValueError):
    """A configuration problem, worded for the technician who has to fix the file."""


def key(default: Any, doc: str, check: Callable[[Any], str | None] | None = None):
    """Declare a configuration key with its default, its one-line doc and an optional value check."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"doc": doc, "check": check})
    return field(default=default, metadata={"doc": doc, "check": check})


# --- value checks: each returns None when fine, else what is wrong and how to fix it -------------

def short_text(value):
    """A value copied into every record: it must pass the wire format's own limits."""
    if not value.strip() or len(value) > 64 or wire.CONTROL_CHARS.search(value):
        return "must be 1-64 characters without control characters"
    return None


def positive(value):
    return None if value > 0 else "must be greater than 0"


def at_least(low):
    return lambda value: None if value >= low else f"must be at least {low}"


def between(low, high):
    return lambda value: None if low <= value <= high else f"must be between {low} and {high}"


def one_of(*choices):
    return lambda value: None if value in choices else "must be one of: " + ", ".join(map(str, choices))


def identifier(value):
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", value):
        return None
    return "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"


def regex(value):
    try:
        re.compile(value)
    except re.error as exc:
        return f"is not a valid regular expression ({exc})"
    return None


def http_url(value):
    if re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
        return None
    return "must be an http:// or https:// URL such as https://central.example.vn"


def base_url(value):
    """A URL that carries a secret (central.url): the transport module's one syntax rule."""
    from samplepoint.transport import base_url_problem
    return base_url_problem(value)


def utc_offset(value):
    return None if re.fullmatch(r"[+-](0\d|1[0-4]):[0-5]\d", value) else "must look like +07:00"


def fhir_base(value):
    if re.fullmatch(r"(urn:[A-Za-z0-9][A-Za-z0-9-]{0,31}:([^\s|,$\\]*:)?|https?://[^\s/|,$\\]+/"
                    r"([^\s|,$\\]*/)?)", value):
        return None
    return ("must be a URI prefix ending in ':' (urn:...:) or '/' (http(s)://.../), without spaces "
            "or | , $ \\")


def camera_source(value):
    if value == "picamera2" or re.fullmatch(r"(replay|v4l2):.+", value):
        return None
    return "must be 'picamera2', 'v4l2:/dev/videoN' or 'replay:PATH'"


DECODERS = ("pyzbar", "zxing", "zxing+pyzbar", "pyzbar+zxing")


def gpio_pin(value):
    return None if 0 <= value <= 27 else "must be a BCM GPIO number 0-27 (0 = not wired)"


def staff_pin_entry(value):
    from samplepoint.pins import entries_problem
    return entries_problem(value)


def ssid(value):
    size = len(value.encode("utf-8"))
    if 1 <= size <= 32 and not re.search(r"[\x00-\x1f\x7f]", value):
        return None
    return f"must be 1-32 bytes of UTF-8 without control characters (it is {size} bytes)"


def wpa_passphrase(value):
    if value == "" or (8 <= len(value) <= 63 and all(" " <= c <= "~" for c in value)):
        return None
    return "must be empty (open network) or 8-63 printable ASCII characters"


def interface_name(value):
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,14}", value):
        return None
    return "must be a network interface name such as wlan0 (1-15 letters, digits, '_', '.', '-')"


def optional(check):
    return lambda value: None if value == "" else check(value)


def domain_list(value):
    for name in value:
        if not re.fullmatch(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", name):
            return f"has {name!r}, which is not a lower-case domain name such as play.google.com"
    return None


def dhcp_lease(value):
    match = re.fullmatch(r"(\d{1,4})([mh])", value)
    if match and (int(match[1]) >= 2 if match[2] == "m" else int(match[1]) >= 1):
        return None
    return "must look like 45m or 2h and be at least 2m (dnsmasq's shortest lease)"


def port_list(value):
    bad = [v for v in value if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 65535]
    return f"has {bad[0]!r}, which is not a TCP port 1-65535" if bad else None


def ipv4_list(value):
    for item in value:
        if not re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", item) or any(int(p) > 255 for p in item.split(".")):
            return f"has {item!r}, which is not an IPv4 address such as 192.0.2.53"
    return None


def loopback_bind(value):
    """host:port where host is a loopback address literal; the staff display is never on the network."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        return "must be host:port such as 127.0.0.1:8080"
    bracketed = host.startswith("[") and host.endswith("]")
    try:
        address = ipaddress.ip_address(host[1:-1] if bracketed else host)
    except ValueError:
        return "must use a loopback IP address such as 127.0.0.1 or [::1], not a host name"
    if (address.version == 6) != bracketed:
        return "must write an IPv6 address in brackets ([::1]:8080) and an IPv4 one without"
    if not address.is_loopback:
        return "must be a loopback address (127.0.0.0/8 or [::1]): the staff display is never served to the network"
    return None


# --- sections -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SiteConfig:
    """The sampling point this device serves."""
    id: str = key("SITE-DEMO", "Site id as registered at the central server.", identifier)
    name: str = key("Điểm lấy mẫu thử nghiệm", "Site name shown on screens and in exports.")
    pool_size: int = key(5, "Default people per tube (1 = single sample; 5 or 10 for pooled).",
                         between(1, 50))
    test_type: str = key("rt-pcr", "Default test type: rt-pcr or rapid-antigen.", one_of(*TEST_TYPES))
    sample_type: str = key("nasopharyngeal-swab", "Sample type recorded with each tube.", short_text)
    tube_pattern: str = key(r"^[A-Z0-9][A-Z0-9-]{5,31}$",
                            "Regular expression a tube barcode must match in full.", regex)
    utc_offset: str = key("+07:00", "Local UTC offset written into collection times.", utc_offset)


@dataclass(frozen=True)
class DeviceConfig:
    """This device and where it keeps its data."""
    id: str = key("DEV-DEMO-01", "Device id as registered at the central server.", identifier)
    data_dir: str = key("/var/lib/samplepoint", "Writable directory for the database and secrets.")


@dataclass(frozen=True)
class CentralConfig:
    """The central system that receives sample records."""
    url: str = key("http://127.0.0.1:8700", "Base URL of the central server: https:// (plain "
                   "http:// only to loopback, or with allow_insecure_http).", base_url)
    allow_insecure_http: bool = key(False, "Lab only: allow plain http:// to a non-loopback "
                                    "central.url (the token and records cross in clear; logged "
                                    "as a WARNING at every start, shown by doctor).")
    token_file: str = key("/var/lib/samplepoint/device-token",
                          "File holding this device's bearer token (mode 0600).")
    ca_bundle: str = key("", "PEM file of the CA certificates central's certificate must chain to "
                         "(pinned: the only ones trusted); empty = system store.")
    timeout_s: float = key(10.0, "Seconds to wait for the central server per request.", positive)
    batch_size: int = key(200, "Records sent per request when a backlog drains.", between(1, 1000))
    backoff_base_s: float = key(1.0, "First retry delay in seconds (doubles per failure).", positive)
    backoff_cap_s: float = key(300.0, "Longest retry delay in seconds.", positive)
    poll_s: float = key(1.0, "Seconds between outbox checks when the queue is empty.", positive)
    heartbeat_s: float = key(60.0, "Seconds between heartbeats (queue depth, last scan, disk) to "
                             "the central server.", at_least(5))


@dataclass(frozen=True)
class CameraConfig:
    """Where frames come from."""
    source: str = key("picamera2", "picamera2, v4l2:/dev/videoN, or replay:PATH (folder of images).",
                      camera_source)
    fps: float = key(15.0, "Frames per second requested from the camera or replayed.", between(1, 120))
    width: int = key(640, "Width of the frames decoded (picamera2 lores stream, v4l2 capture).",
                     between(160, 4056))
    height: int = key(480, "Height of the frames decoded.", between(120, 3040))
    preview_width: int = key(1280, "Width of the picamera2 main (preview) stream.", between(160, 4056))
    preview_height: int = key(720, "Height of the picamera2 main (preview) stream.", between(120, 3040))
    autofocus: bool = key(True, "Continuous autofocus on cameras that have it (Camera Module 3).")
    loop: bool = key(False, "Replay only: start again from the first frame after the last.")
    follow: bool = key(False, "Replay only: a live view of the folder: images there at start are "
                       "skipped, each one moved in later is shown once, an empty table in between.")
    retry_s: float = key(5.0, "Seconds between attempts to open a missing or busy camera.", positive)


@dataclass(frozen=True)
class ScanConfig:
    """How codes seen by the camera become scans."""
    repeat_frames: int = key(30, "A code must leave view this many frames before it counts again.",
                             at_least(1))
    default_staff: str = key("unassigned", "Staff id recorded on tubes when nobody has signed in.",
                             identifier)
    decoder: str = key("zxing+pyzbar", "Decoder: zxing+pyzbar (staged: ZBar only where cheap "
                       "evidence points), zxing, pyzbar, or pyzbar+zxing (zxing-cpp only when ZBar "
                       "finds nothing).", one_of(*DECODERS))
    code_key_file: str = key("/var/lib/samplepoint/code-key",
                             "File holding the site key (hex) that signs staff badges and "
                             "declaration codes (mode 0600).")


@dataclass(frozen=True)
class WorkflowConfig:
    """The staff workflow at the table."""
    require_sign_in: bool = key(True, "Refuse tube and person scans until a staff member signs in.")
    staff_pins: list[str] = key([], "PIN sign-in entries STAFF_ID:$argon2id$… (from `samplepoint "
                                "staff pin`); empty = badges only.", staff_pin_entry)
    other_tube_window_min: float = key(120.0, "Warn when a person was already put in another tube "
                                       "within this many minutes.", at_least(0))
    open_prompt_min: float = key(15.0, "Prompt staff when a tube has been open this many minutes.",
                                 positive)


@dataclass(frozen=True)
class FeedbackConfig:
    """Buzzer, lights and button at the table (BCM pin numbers; 0 = not wired)."""
    backend: str = key("gpio", "gpio (gpiozero pins below), mock (gpiozero's simulated pins: no "
                       "board) or none (log only).", one_of("gpio", "mock", "none"))
    buzzer_pin: int = key(17, "Buzzer pin.", gpio_pin)
    tonal_buzzer: bool = key(False, "The buzzer is passive (tonal, PWM) rather than active (on/off).")
    green_pin: int = key(27, "Green LED pin (accepted).", gpio_pin)
    red_pin: int = key(22, "Red LED pin (refused, duplicate, error).", gpio_pin)
    amber_pin: int = key(23, "Amber LED pin (records waiting to be forwarded; warnings).", gpio_pin)
    button_pin: int = key(24, "Push button closing the open tube early.", gpio_pin)
    amber_after_s: float = key(300.0, "Light amber when a record has waited this long to be "
                               "forwarded.", positive)


# Domains hotspot clients may reach through the uplink before and after "Done" (policy walled):
# the two app stores (pages, APIs, downloads) and the government health app's servers.
DEFAULT_ALLOW_DOMAINS = [
    "play.google.com", "play.googleapis.com", "android.clients.google.com",
    "play-lh.googleusercontent.com", "gvt1.com", "ggpht.com",
    "apps.apple.com", "itunes.apple.com", "mzstatic.com",
    "vneid.gov.vn", "pccovid.gov.vn", "tokhaiyte.vn", "covid19.gov.vn",
]


@dataclass(frozen=True)
class HotspotConfig:
    """The free Wi-Fi for citizens: radio, addresses, firewall policy (checked again at render time)."""
    interface: str = key("wlan0", "Wireless interface (or bridge) the access point runs on.",
                         interface_name)
    uplink_interface: str = key("eth0", "Interface towards the internet (Ethernet, 4G dongle); "
                                "empty = no uplink.", optional(interface_name))
    uplink_subnet: str = key("", "Uplink network, e.g. 192.168.1.0/24, checked against address; "
                             "empty = read from the uplink interface at render time.")
    ssid: str = key("Wifi mien phi - Diem lay mau", "Network name (1-32 bytes of UTF-8).", ssid)
    passphrase: str = key("", "WPA2 passphrase (8-63 characters); empty = open network.",
                          wpa_passphrase)
    band: str = key("2.4", "Radio band: 2.4 or 5 (GHz).", one_of("2.4", "5"))
    channel: int = key(6, "Radio channel; must be allowed in Vietnam for the band.", between(1, 196))
    address: str = key("10.42.0.1/24", "The device's address and prefix on the AP network.")
    dhcp_lease: str = key("2h", "DHCP lease time (dnsmasq syntax: 45m, 2h; at least 2m).", dhcp_lease)
    max_clients: int = key(15, "Most phones associated at once (hostapd max_num_sta).", between(1, 2007))
    idle_timeout_s: int = key(300, "Seconds without traffic before a phone is released.",
                              between(30, 86400))
    isolate_clients: bool = key(True, "Stop phones from reaching each other (ap_isolate + firewall).")
    policy: str = key("walled", "walled: only allow_domains; open: everything after the terms are "
                      "accepted.", one_of("walled", "open"))
    allow_domains: list[str] = key(DEFAULT_ALLOW_DOMAINS, "Domains (and their subdomains) phones may "
                                   "reach through the uplink.", domain_list)
    upstream_dns: list[str] = key([], "Upstream DNS servers; empty = those in /etc/resolv.conf when "
                                  "the hotspot is applied (1.1.1.1, 8.8.8.8 if it names none).",
                                  ipv4_list)
    portal_port: int = key(8009, "Port the portal listens on at the AP address (TCP 80 is "
                           "redirected to it); 1024-65535, so no system service is opened to phones.",
                           between(1024, 65535))
    https_name: str = key("", "HTTPS host name of the portal for RFC 8908 (DHCP option 114); "
                          "empty = not announced.")
    enhanced_open: str = key("auto", "Wi-Fi Enhanced Open (OWE, encrypted without a password) with an "
                             "open transition network for older phones: auto = when the radio and "
                             "hostapd support it; on; off. Ignored when passphrase is set.",
                             one_of("auto", "on", "off"))
    allow_quic: bool = key(False, "Also let phones reach allowed addresses on UDP 443 (QUIC); "
                           "TCP 80/443 are always allowed.")
    uplink_tcp_ports: list[int] = key([22], "TCP ports of the device reachable from the uplink side "
                                      "(22 = SSH for the operator); [] = nothing answers there.",
                                      port_list)


@dataclass(frozen=True)
class PortalConfig:
    """The captive portal web app and its declaration form (codes are signed with scan.code_key_file)."""
    declare_limit_per_hour: int = key(20, "Declarations accepted per phone per hour (forms refused "
                                      "for a typo do not count).",
                                      between(1, 10000))
    volunteer_declare_limit_per_hour: int = key(
        200, "Declarations accepted per hour from a signed-in volunteer session (declares for many "
        "people from one phone).", between(1, 10000))
    max_household: int = key(8, "Most people in one household declaration.", between(1, 20))
    retention_days: int = key(14, "Days a declaration is kept on the device.", between(1, 365))
    android_app_url: str = key("https://play.google.com/store/apps/details?id=com.vnid",
                               "Store page of the health app for Android.", http_url)
    iphone_app_url: str = key("https://apps.apple.com/vn/app/vneid/id1582750311",
                              "Store page of the health app for iPhone.", http_url)
    threads: int = key(16, "Worker threads of the portal's web server.", between(1, 256))
    volunteer_pins: list[str] = key([], "Volunteer sign-in entries VOLUNTEER_ID:$argon2id$… (from "
                                    "`samplepoint staff pin`): volunteers print declaration slips "
                                    "and are not held to declare_limit_per_hour; empty = nobody.",
                                    staff_pin_entry)
    volunteer_session_h: float = key(8.0, "Hours a volunteer stays signed in on their phone.",
                                     between(0.1, 24))


@dataclass(frozen=True)
class RetentionConfig:
    """How long this device keeps personal data (docs/results-and-retention.md)."""
    delivered_days: float = key(14.0, "Days after collection before a delivered record's personal "
                                "fields are erased (pending or quarantined records are never erased).",
                                positive)
    check_interval_s: float = key(3600.0, "Seconds between retention runs in the forwarder.",
                                  at_least(10))


@dataclass(frozen=True)
class CheckConfig:
    """Kiosk check mode: a person's result status asked from the central server."""
    timeout_s: float = key(3.0, "Seconds to wait for the central server before saying it cannot "
                           "check.", positive)


@dataclass(frozen=True)
class CentralServerConfig:
    """The reference central server's own rules (read by `samplepoint central ... --config`)."""
    rt_pcr_valid_h: float = key(72.0, "Hours an RT-PCR result stays valid, counted from sampling.",
                                positive)
    rapid_antigen_valid_h: float = key(72.0, "Hours a rapid antigen result stays valid, counted from "
                                       "sampling.", positive)
    retention_days: float = key(60.0, "Days after collection before the central server erases a "
                                "sample's personal fields (results and counts are kept).", positive)
    results_utc_offset: str = key("+07:00", "UTC offset assumed for lab result times written "
                                  "without one.", utc_offset)
    report_utc_offset: str = key("+07:00", "UTC offset of every time in exports, reports and the "
                                 "web console (stated in their headers).", utc_offset)
    console_language: str = key("vi", "Language the web console shows first: vi or en (users can "
                                "switch).", one_of("vi", "en"))
    console_secure_cookies: bool = key(True, "Mark console cookies Secure (browsers then send them "
                                       "only over HTTPS or to localhost); keep true behind TLS.")
    console_idle_minutes: float = key(30.0, "Minutes a console session may go unused before it "
                                      "ends (the user signs in again).", positive)
    console_session_hours: float = key(8.0, "Hours a console session lasts at most, however "
                                       "busy.", positive)
    trusted_proxy: str = key("", "Address of the reverse proxy (nginx, Caddy) in front, whose "
                             "X-Forwarded-For/-Proto are believed; empty: no proxy.")
    status_per_device_per_min: int = key(60, "Person status look-ups a device may make per minute "
                                         "(check mode); more are answered 429.", positive)
    results_upload_max_mib: int = key(64, "Largest lab results file the console takes, in MiB "
                                      "(larger: 413; use `central import-results`).", between(1, 1024))
    outage_retry_after_s: int = key(30, "Retry-After (seconds) of the 503 answered while the "
                                    "database cannot be reached.", between(1, 3600))
    fhir_identifier_base: str = key("urn:samplepoint:", "Prefix of the FHIR identifier systems of "
                                    "our own records (tube, QID, results); set once, never change.",
                                    fhir_base)
    fhir_token_file: str = key("", "File holding the bearer token `central push-fhir` sends "
                               "(mode 0600); empty = no token.")
    fhir_client_cert: str = key("", "PEM client certificate for mutual TLS to the FHIR server; "
                                "empty = none.")
    fhir_client_key: str = key("", "PEM private key of fhir_client_cert (mode 0600).")
    fhir_ca_bundle: str = key("", "PEM CA certificates to trust for the FHIR server; empty = system "
                              "store.")
    fhir_allow_insecure_http: bool = key(False, "Lab only: let `central push-fhir` send to a "
                                         "plain http:// --url that is not loopback (personal "
                                         "data and credentials cross in clear).")
    fhir_timeout_s: float = key(60.0, "Seconds to wait for the FHIR server per Bundle.", positive)

    def validity_hours(self) -> dict[str, float]:
        return {"rt-pcr": self.rt_pcr_valid_h, "rapid-antigen": self.rapid_antigen_valid_h}


@dataclass(frozen=True)
class DisplayConfig:
    """The staff display: a web page served by the kiosk process, on loopback only."""
    enabled: bool = key(True, "Serve the staff display from the kiosk process.")
    bind: str = key("127.0.0.1:8080", "Loopback host:port the display listens on (127.0.0.0/8 or [::1]).",
                    loopback_bind)
    language: str = key("vi", "Language shown first: vi or en (staff can switch on screen).",
                        one_of("vi", "en"))
    preview_fps: float = key(5.0, "Camera preview frames per second on the display (0 = no preview).",
                             between(0, 30))
    offline_after_s: float = key(120.0, "Show the link as offline once a record has waited this long.",
                                 positive)
    result_clear_s: float = key(6.0, "Seconds a scan's result stays on screen before it goes back to "
                                "'ready, scan next'.", between(1, 120))


def optional_http_url(value):
    return None if value == "" else http_url(value)


def apt_suite(value):
    if re.fullmatch(r"[a-z0-9][a-z0-9.+-]{0,63}", value):
        return None
    return "must be a distribution name such as bookworm (lower-case letters, digits, '.', '+', '-')"


def absolute_path(value):
    if value.startswith("/") and "\n" not in value and " " not in value:
        return None
    return "must be an absolute path without spaces, such as /etc/apt/keyrings/samplepoint.asc"


@dataclass(frozen=True)
class UpdateConfig:
    """Where `samplepoint update` (and apt) get new versions: the signed apt repository (docs/updating.md)."""
    repository_url: str = key("", "Base URL of the samplepoint apt repository (the folder `samplepoint "
                              "apt-repo` publishes); empty = no repository, updates by hand.",
                              optional_http_url)
    suite: str = key("bookworm", "Distribution in the repository this device follows (its OS "
                     "release's codename).", apt_suite)
    keyring: str = key("/etc/apt/keyrings/samplepoint.asc", "The repository's public signing key; "
                       "apt trusts it for this repository only.", absolute_path)


def host_name(value):
    if value == "" or re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})", value):
        return None
    return "must be a host name or IPv4 address such as 192.168.1.50"


@dataclass(frozen=True)
class PrinterConfig:
    """Optional ESC/POS thermal printer at the table (docs/staff-display.md); the kiosk works the same without."""
    backend: str = key("none", "none, usb, network (TCP 9100) or dummy (kept in memory: tests, demo).",
                       one_of("none", "usb", "network", "dummy"))
    usb_vendor_id: int = key(0x0416, "USB vendor id of the printer (lsusb shows VENDOR:PRODUCT).",
                             between(0, 0xFFFF))
    usb_product_id: int = key(0x5011, "USB product id of the printer.", between(0, 0xFFFF))
    host: str = key("", "Network printer's address (backend network).", host_name)
    port: int = key(9100, "Network printer's raw TCP port.", between(1, 65535))
    timeout_s: float = key(5.0, "Seconds to wait for the printer (to connect, to take a slip, to answer "
                           "its status) before keeping the slip for reprint.", between(0.5, 60))
    paper_mm: int = key(58, "Paper width in millimetres: 58 or 80.", one_of(58, 80))
    check_paper: bool = key(True, "Also ask the printer's status before each slip, so no slip is sent to "
                            "a printer without paper (after each slip it is always asked).")
    keep_slips: int = key(20, "Slips kept for reprint while the printer does not confirm them; beyond "
                          "this the oldest is dropped.", between(1, 500))
    receipt: str = key("per-person", "Tube receipts: off, per-tube (one per tube) or per-person "
                       "(one for each person in the tube).", one_of("off", "per-tube", "per-person"))
    result_hours: int = key(24, "Hours the receipt says a result usually takes.", between(1, 240))
    receipt_note: str = key("", "Extra line printed on each receipt (e.g. the site's hotline).",
                            lambda v: None if len(v) <= 120 and not wire.CONTROL_CHARS.search(v)
                            else "must be at most 120 characters without control characters")


@dataclass(frozen=True)
class Config:
    """The whole configuration of one device (or of a central server's client side)."""
    site: SiteConfig = field(default_factory=SiteConfig)
    device: DeviceConfig = field(default_factory=DeviceConfig)
    central: CentralConfig = field(default_factory=CentralConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    scan: ScanConfig = field(default_factory=ScanConfig)
    workflow: WorkflowConfig = field(default_factory=WorkflowConfig)
    feedback: FeedbackConfig = field(default_factory=FeedbackConfig)
    hotspot: HotspotConfig = field(default_factory=HotspotConfig)
    portal: PortalConfig = field(default_factory=PortalConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    check: CheckConfig = field(default_factory=CheckConfig)
    central_server: CentralServerConfig = field(default_factory=CentralServerConfig)
    display: DisplayConfig = field(default_factory=DisplayConfig)
    printer: PrinterConfig = field(default_factory=PrinterConfig)
    update: UpdateConfig = field(default_factory=UpdateConfig)

    @property
    def db_path(self) -> Path:
        return Path(self.device.data_dir) / "samplepoint.db"


def sections() -> dict[str, type]:
    return {f.name: f.default_factory for f in dataclasses.fields(Config)}


def _type_name(tp) -> str:
    return {str: "a string", int: "an integer (at most 10,000,000)", float: "a finite number (at most 10,000,000)", bool: "true or false",
            list[str]: "a list of strings", list[int]: "a list of whole numbers"}.get(tp, str(tp))


def _coerce(tp, value):
    """Return value as type tp, or raise TypeError. TOML integers are accepted where floats are."""
    if tp is bool or tp is str:
        if isinstance(value, tp):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_NUMBER:
            return value
    elif tp is float:
        # Finite and bounded: an inf or 1e300 would overflow date arithmetic at run time.
        if isinstance(value, (int, float)) and not isinstance(value, bool) and \
                math.isfinite(value) and abs(value) <= MAX_NUMBER:
            return float(value)
    elif typing.get_origin(tp) is list:
        (item,) = typing.get_args(tp)
        if isinstance(value, list) and all(isinstance(v, item) for v in value):
            return list(value)
    raise TypeError


def _build_section(name: str, cls: type, raw: Any, where: str):
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: [{name}] must be a table; write it as a [{name}] section")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown key {name}.{unknown[0]}; remove it or check its spelling "
                          f"(keys of [{name}]: {', '.join(known)})")
    values = {}
    for key_name, value in raw.items():
        tp = hints[key_name]
        try:
            value = _coerce(tp, value)
        except TypeError:
            raise ConfigError(f"{where}: {name}.{key_name} must be {_type_name(tp)}, "
                              f"got {value!r}") from None
        check = known[key_name].metadata.get("check")
        problem = check(value) if check else None
        if problem:
            raise ConfigError(f"{where}: {name}.{key_name} = {value!r} {problem}")
        values[key_name] = value
    return cls(**values)


def from_dict(raw: dict, where: str = "config") -> Config:
    """Build a Config from parsed TOML, raising ConfigError for anything unknown or invalid."""
    known = sections()
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown section [{unknown[0]}]; remove it or check its spelling "
                          f"(sections: {', '.join(known)})")
    built = {name: _build_section(name, cls, raw[name], where) for name, cls in known.items()
             if name in raw}
    return Config(**built)


def load(path: str | Path | None = None) -> Config:
    """Load and validate the TOML file at path (default /etc/samplepoint/samplepoint.toml)."""
    path = Path(path) if path else DEFAULT_PATH
    raw = load_raw(path)
    return from_dict(raw, str(path))


def load_raw(path: str | Path) -> dict:
    """The parsed TOML of path, unvalidated (for merging files before validation)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file; pass --config FILE or copy "
                          f"samplepoint.example.toml to {DEFAULT_PATH}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror}); check the file's permissions") from None
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save the file as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the syntax at that line") from None
    return raw


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        if "'" not in value and "\n" not in value:
            return f"'{value}'"
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def example_toml() -> str:
    """The documented example file: every section and key with its doc and default value."""
    lines = ["# samplepoint configuration. Every key is optional; shown here with its default.",
             "# Generated by `samplepoint config example`; tests keep it in step with samplepoint/config.py.",
             ""]
    for name, cls in sections().items():
        lines.append(f"# {cls.__doc__}")
        lines.append(f"[{name}]")
        for f in dataclasses.fields(cls):
            default = f.default_factory() if f.default is dataclasses.MISSING else f.default
            lines.append(f"# {f.metadata['doc']}")
            lines.append(f"{f.name} = {_toml_value(default)}")
        lines.append("")
    return "\n".join(lines)
