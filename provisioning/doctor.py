"""`samplepoint doctor`: one screen saying what works on this device and, for what does not, the fix.

Each check is a pure function of the config and a `Probes` object; the probes are the only code
that touches hardware, the network or systemd, so tests swap them to make each check fail in turn.
"""
from __future__ import annotations

import json
import stat
import sys
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from provisioning import probes as real_probes
from samplepoint import config as config_module
from samplepoint import wire

OK, WARN, FAIL = "OK", "WARN", "FAIL"
SERVICES = ["samplepoint-kiosk.service", "samplepoint-forwarder.service",
            "samplepoint-portal.service", "samplepoint-hotspot.service",
            "samplepoint-hostapd.service", "samplepoint-dnsmasq.service",
            "samplepoint-display.service"]
ONBOARD_DRIVERS = {"brcmfmac"}
# Units that stand down by their own conditions when their hardware is absent, and why.
STANDS_DOWN = {"samplepoint-display.service": "no screen (tty1)",
               **{f"samplepoint-{n}.service": "no Wi-Fi radio"
                  for n in ("hotspot", "hostapd", "dnsmasq", "portal", "admit")}}
CLOCK_TOLERANCE_S = 120.0


@dataclass(frozen=True)
class Result:
    name: str
    status: str
    detail: str
    fix: str = ""


@dataclass
class Probes:
    """Everything doctor asks of the outside world; each is a plain callable tests can replace."""
    camera_frames: object = real_probes.camera_frames          # (config) -> frames seen; raises
    decode_test: object = real_probes.decode_test              # () -> True when a test QR decodes
    gpio_factory: object = real_probes.gpio_factory            # () -> factory name; raises
    wifi_driver: object = real_probes.wifi_driver              # (iface) -> driver | None
    default_route: object = real_probes.default_route          # () -> uplink iface | None
    central_time: object = real_probes.central_time            # (config) -> server datetime; raises
    token_status: object = real_probes.token_status            # (config, token) -> HTTP status
    ntp_synchronized: object = real_probes.ntp_synchronized    # () -> bool | None
    now: object = lambda: datetime.now(timezone.utc)
    disk_usage: object = real_probes.disk_usage                # (path) -> (total, free)
    read_only: object = real_probes.read_only                  # (path) -> True on a read-only mount
    db_integrity: object = real_probes.db_integrity            # (path) -> "ok" | problem
    service_state: object = real_probes.service_state          # (unit) -> "active" | ...
    hotspot_stats: object = real_probes.hotspot_stats          # (config) -> hotspot.stats.Stats
    update_state: object = real_probes.update_state            # (config) -> last update's record
    unfinished_packages: object = real_probes.unfinished_packages  # () -> ["pkg ver state"] | None


def check_camera(config, p: Probes) -> Result:
    if config.camera.source.startswith("replay:"):
        return Result("camera", WARN, f"camera.source is a replay folder "
                      f"({config.camera.source.removeprefix('replay:')}), not a camera",
                      "set source = 'picamera2' (or 'v4l2:/dev/video0') in [camera] on a real device")
    if p.service_state("samplepoint-kiosk.service") == "active":
        frames_note = "in use by the running kiosk (its watchdog covers frames)"
    else:
        try:
            count = p.camera_frames(config)
        except Exception as exc:                                     # noqa: BLE001
            return Result("camera", FAIL, f"{config.camera.source}: {exc}",
                          "check the ribbon cable or USB plug and camera.source; "
                          "the service user needs the video group")
        if count == 0:
            return Result("camera", FAIL, f"{config.camera.source}: no frames arrived",
                          "reseat the camera cable; `rpicam-hello --list-cameras` must list it")
        frames_note = f"{count} frames arrived"
    if not p.decode_test():
        return Result("camera", FAIL, f"{frames_note}; a test QR code did not decode",
                      "install libzbar0 (apt-get install libzbar0)")
    return Result("camera", OK, f"{frames_note}; test code decoded")


def check_gpio(config, p: Probes) -> Result:
    backend = getattr(getattr(config, "feedback", None), "backend", "gpio")
    if backend in ("none", "mock"):
        return Result("gpio", WARN, f"feedback.backend = {backend}: no buzzer, LEDs or close button",
                      "set backend = 'gpio' in [feedback] on a device with the feedback board")
    try:
        name = p.gpio_factory()
    except Exception as exc:                                         # noqa: BLE001
        return Result("gpio", FAIL, f"no pin back-end ({exc})",
                      "install python3-lgpio and add the service user to the gpio group")
    if "mock" in name.lower():
        return Result("gpio", WARN, f"{name}: LEDs and buzzer are simulated",
                      "unset GPIOZERO_PIN_FACTORY (or set it to lgpio) on the device")
    return Result("gpio", OK, name)


def _ap_interface(config) -> str:
    return getattr(getattr(config, "hotspot", None), "interface", "wlan0")


def check_ap(config, p: Probes) -> Result:
    iface = _ap_interface(config)
    driver = p.wifi_driver(iface)
    if driver is None:
        return Result("ap-radio", FAIL, f"no Wi-Fi interface {iface}",
                      "plug in the USB Wi-Fi adapter or set the hotspot interface in the config")
    if driver in ONBOARD_DRIVERS:
        return Result("ap-radio", WARN, f"{iface} is the onboard radio ({driver}): about 7-19 "
                      "phones at once, and it does not isolate clients",
                      "for busy sites use a USB Wi-Fi adapter that supports AP mode")
    return Result("ap-radio", OK, f"{iface} driver {driver}")


def check_hotspot(config, p: Probes) -> Result:
    """Which Wi-Fi protection is in use (docs/hotspot.md says which phones join which network)."""
    from hotspot.stats import summary
    found = p.hotspot_stats(config)
    if found.security == "not applied":
        return Result("hotspot", WARN, "no hotspot configuration installed",
                      "sudo samplepoint hotspot apply --config /etc/samplepoint/samplepoint.toml")
    if found.security.startswith("open"):
        return Result("hotspot", WARN, summary(found) + " (declarations cross the air unencrypted)",
                      "use a USB Wi-Fi adapter that supports Enhanced Open (OWE) and apply again, "
                      "or set hotspot.passphrase")
    return Result("hotspot", OK, summary(found))


def check_uplink(config, p: Probes) -> Result:
    iface = p.default_route()
    if iface is None:
        return Result("uplink", FAIL, "no default route: records queue on the device",
                      "connect Ethernet or the USB modem; `ip route` must show a default route")
    return Result("uplink", OK, f"default route via {iface}")


def check_central_tls(config, p: Probes) -> Result:
    """How the device reaches central: verified TLS, loopback, or plain HTTP (refused or lab-only)."""
    from samplepoint import transport
    refusals, warnings = transport.central_problems(config)
    if refusals:
        return Result("central-tls", FAIL, refusals[0],
                      "set central.url to the https:// address of the central server")
    if warnings:
        return Result("central-tls", WARN, warnings[0],
                      "set central.url to https:// and remove central.allow_insecure_http")
    if transport.parse(config.central.url).scheme == "http":
        return Result("central-tls", OK, "plain http:// to loopback: nothing crosses the network")
    trust = (f"the CA pinned in central.ca_bundle ({config.central.ca_bundle})"
             if config.central.ca_bundle else "the system CA store")
    return Result("central-tls", OK, f"https://, certificate verified against {trust}")


def check_central(config, p: Probes) -> tuple[Result, datetime | None]:
    url = config.central.url
    from samplepoint import transport
    if transport.central_problems(config)[0]:
        return Result("central", FAIL, f"{url} not contacted: the token would cross in clear",
                      "see central-tls above"), None
    try:
        server_time = p.central_time(config)
    except Exception as exc:                                         # noqa: BLE001
        return Result("central", FAIL, f"{url} unreachable ({exc})",
                      "check the uplink and central.url; records stay queued meanwhile"), None
    token_file = Path(config.central.token_file)
    if not token_file.exists():
        return Result("central", FAIL, f"{url} reachable; no device token at {token_file}",
                      "enrol the device: samplepoint enrol --code CODE"), server_time
    if stat.S_IMODE(token_file.stat().st_mode) & 0o077:
        return Result("central", FAIL, f"{token_file} is readable by others",
                      f"chmod 600 {token_file}"), server_time
    status = p.token_status(config, token_file.read_text(encoding="utf-8").strip())
    if status != 200:
        return Result("central", FAIL, f"{url} refused the device token (HTTP {status})",
                      wire.rekey_advice(config.device.id, config.site.id)), server_time
    return Result("central", OK, f"{url} reachable, token valid"), server_time


def check_clock(config, p: Probes, server_time: datetime | None) -> Result:
    synced = p.ntp_synchronized()
    if server_time is not None:
        offset = (p.now() - server_time).total_seconds()
        if abs(offset) > CLOCK_TOLERANCE_S:
            return Result("clock", FAIL, f"{offset:+.0f} s off the central server's clock",
                          "enable NTP (timedatectl set-ntp true) or set the time; "
                          "every record carries its collection time")
    if synced:
        return Result("clock", OK, "synchronised (NTP)")
    if server_time is not None:
        return Result("clock", WARN, "not NTP-synchronised, but agrees with the central server",
                      "timedatectl set-ntp true; check that UDP 123 is allowed on the uplink")
    return Result("clock", FAIL, "not synchronised and no central server to compare with",
                  "connect the uplink and run timedatectl set-ntp true")


def check_disk(config, p: Probes) -> Result:
    if not Path(config.device.data_dir).is_dir():
        return Result("disk", FAIL, f"no data directory {config.device.data_dir}",
                      "run samplepoint provision (it creates the directory, mode 0700)")
    if p.read_only(config.device.data_dir):
        return Result("disk", FAIL, f"{config.device.data_dir} is on a read-only file system: "
                      "nothing can be saved (the SD card is failing or was remounted read-only)",
                      "stop sampling; copy the data off now and replace the card (docs/recovery.md)")
    total, free = p.disk_usage(config.device.data_dir)
    share = free / total if total else 0.0
    text = f"{free // 2**20} MiB free ({share:.0%}) at {config.device.data_dir}"
    if free < 200 * 2**20 or share < 0.05:
        return Result("disk", FAIL, text, "free space: copy old logs off, or use a larger SD card")
    if free < 2**30 or share < 0.15:
        return Result("disk", WARN, text, "plan to free space before the next campaign")
    return Result("disk", OK, text)


def check_database(config, p: Probes) -> Result:
    if not config.db_path.exists():
        return Result("database", WARN, f"no database at {config.db_path} yet",
                      "start the kiosk once (systemctl start samplepoint-kiosk)")
    verdict = p.db_integrity(config.db_path)
    if verdict != "ok":
        return Result("database", FAIL, f"integrity check: {verdict}",
                      "stop the services and copy the data off (docs/recovery.md)")
    return Result("database", OK, f"{config.db_path} passes the integrity check")


def check_services(config, p: Probes) -> list[Result]:
    results = []
    # The admit loop runs only under policy "open"; under "walled" it exits at once by design.
    admit = ["samplepoint-admit.service"] if config.hotspot.policy == "open" else []
    for unit in SERVICES + admit:
        state = p.service_state(unit)
        name = unit.removeprefix("samplepoint-").removesuffix(".service")
        if state == "active":
            results.append(Result(f"service:{name}", OK, "active"))
        elif state == "condition-unmet":
            why = STANDS_DOWN.get(unit, "its start conditions are not met")
            results.append(Result(f"service:{name}", WARN, f"stood down: {why}",
                                  f"systemctl status {unit} names the condition"))
        else:
            results.append(Result(f"service:{name}", FAIL, state or "unknown",
                                  f"journalctl -u {unit} -n 50; then systemctl restart {unit}"))
    return results


def check_update(config, p: Probes) -> Result:
    """The outcome `samplepoint update` recorded on its last run (a failure stays until one succeeds)."""
    state = p.update_state(config)
    if not state:
        return Result("update", OK, "no update has run on this device yet")
    if state.get("result") == "ok":
        return Result("update", OK, f"last run at {state.get('at')}: samplepoint {state.get('version')}")
    if state.get("result") == "failed":
        return Result("update", FAIL, f"last run failed at {state.get('at')}: {state.get('reason')}",
                      state.get("fix") or "sudo samplepoint update (docs/updating.md)")
    return Result("update", WARN, f"the record of the last update is unreadable: {state.get('reason')}",
                  "sudo samplepoint update (it writes the record again)")


def check_packages(config, p: Probes) -> Result:
    """Packages dpkg left unfinished: apt installs nothing more, and samplepoint's may be half-switched."""
    unfinished = p.unfinished_packages()
    if unfinished is None:
        return Result("packages", WARN, "dpkg not found: not a Debian system",
                      "run samplepoint on Raspberry Pi OS or Debian (docs/install-pi.md)")
    if unfinished:
        return Result("packages", FAIL, f"dpkg left {', '.join(unfinished)}",
                      "sudo samplepoint update (it finishes them, or installs the last good samplepoint "
                      "again); for other packages: sudo dpkg --configure -a")
    return Result("packages", OK, "every package fully installed and configured")


def _guarded(name: str, check, *args):
    """Run one check; a check that breaks becomes its own FAIL line instead of ending doctor."""
    try:
        return check(*args)
    except Exception as exc:                                         # noqa: BLE001
        return Result(name, FAIL, f"the check itself failed: {type(exc).__name__}: {exc}",
                      "run `samplepoint -v doctor` and read the error")


def run_checks(config, p: Probes) -> list[Result]:
    central = _guarded("central", check_central, config, p)
    central, server_time = central if isinstance(central, tuple) else (central, None)
    services = _guarded("services", check_services, config, p)
    return [_guarded("camera", check_camera, config, p), _guarded("gpio", check_gpio, config, p),
            _guarded("ap-radio", check_ap, config, p), _guarded("hotspot", check_hotspot, config, p),
            _guarded("uplink", check_uplink, config, p),
            _guarded("central-tls", check_central_tls, config, p), central, _guarded("clock", check_clock, config, p, server_time),
            _guarded("disk", check_disk, config, p), _guarded("database", check_database, config, p),
            _guarded("update", check_update, config, p), _guarded("packages", check_packages, config, p),
            *(services if isinstance(services, list) else [services])]


def render(results: list[Result], config) -> str:
    lines = [f"samplepoint doctor: device {config.device.id}, site {config.site.id}"]
    for r in results:
        lines.append(f"{r.status:<5} {r.name:<18} {r.detail}")
        if r.fix and r.status != OK:
            lines.append(f"{'':<24} fix: {r.fix}")
    failed = sum(r.status == FAIL for r in results)
    lines.append(f"{failed} failing, {sum(r.status == WARN for r in results)} warning(s)")
    return "\n".join(lines)


def main(args, probes: Probes | None = None, out=None) -> int:
    out = out or sys.stdout
    config = config_module.load(args.config)
    results = run_checks(config, probes or Probes())
    if args.json:
        out.write(json.dumps({"ok": not any(r.status == FAIL for r in results),
                              "checks": [asdict(r) for r in results]}) + "\n")
    else:
        out.write(render(results, config) + "\n")
    return 1 if any(r.status == FAIL for r in results) else 0

