"""`samplepoint doctor`: all well → exit 0; each check failing in turn → its FAIL line, its fix, exit 1."""
from __future__ import annotations

import dataclasses
import io
import json
import os
import sqlite3
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from tests.conftest import write_config as _write_config
from provisioning import doctor, probes
from samplepoint import config as config_module
from hotspot.stats import Stats
from samplepoint.store import Store

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)


def write_config(tmp_path, *args, **sections):
    """A device config with a real camera back-end (the shared fixture's default is a replay)."""
    sections.setdefault("camera", {"source": "picamera2"})
    return _write_config(tmp_path, *args, **sections)


def healthy() -> doctor.Probes:
    return doctor.Probes(
        camera_frames=lambda config: 10, decode_test=lambda: True,
        gpio_factory=lambda: "LGPIOFactory", wifi_driver=lambda iface: "rt2800usb",
        default_route=lambda: "eth0", central_time=lambda config: NOW + timedelta(seconds=2),
        token_status=lambda config, token: 200, ntp_synchronized=lambda: True, now=lambda: NOW,
        disk_usage=lambda path: (32 * 2**30, 20 * 2**30), db_integrity=lambda path: "ok",
        service_state=lambda unit: "active",
        update_state=lambda config: {"result": "ok", "at": "2026-11-24T09:00:00+00:00",
                                     "version": "0.1.0.2"},
        unfinished_packages=lambda: [],
        hotspot_stats=lambda config: Stats("Enhanced Open (OWE) with an open transition network",
                                           3, 4, 0, {"outside_garden": 12}))


def fail(message):
    def probe(*args):
        raise RuntimeError(message)
    return probe


# The camera is opened only while the kiosk (its owner) is stopped.
KIOSK_STOPPED = lambda unit: "inactive" if "kiosk" in unit else "active"      # noqa: E731
# Checks that fail along with the one broken on purpose, because they depend on it.
KNOCK_ON = {"central": {"clock"}, "camera": {"service:kiosk"}}

# (check name, probe overrides, expected status, a word of the fix)
BROKEN = [
    ("camera", {"camera_frames": fail("no camera"), "service_state": KIOSK_STOPPED}, "FAIL", "cable"),
    ("camera", {"camera_frames": lambda c: 0, "service_state": KIOSK_STOPPED}, "FAIL", "reseat"),
    ("camera", {"decode_test": lambda: False}, "FAIL", "libzbar0"),
    ("gpio", {"gpio_factory": fail("BadPinFactory")}, "FAIL", "lgpio"),
    ("gpio", {"gpio_factory": lambda: "MockFactory"}, "WARN", "GPIOZERO_PIN_FACTORY"),
    ("ap-radio", {"wifi_driver": lambda iface: None}, "FAIL", "USB Wi-Fi"),
    ("ap-radio", {"wifi_driver": lambda iface: "brcmfmac"}, "WARN", "USB Wi-Fi adapter"),
    ("hotspot", {"hotspot_stats": lambda c: Stats("open (unencrypted)", 3, 4, 0, {})}, "WARN", "OWE"),
    ("hotspot", {"hotspot_stats": lambda c: Stats()}, "WARN", "hotspot apply"),
    ("uplink", {"default_route": lambda: None}, "FAIL", "default route"),
    ("central", {"central_time": fail("connection refused")}, "FAIL", "central.url"),
    ("central", {"token_status": lambda config, token: 401}, "FAIL", "--rekey"),
    ("clock", {"central_time": lambda c: NOW - timedelta(hours=3)}, "FAIL", "set-ntp"),
    ("clock", {"ntp_synchronized": lambda: False}, "WARN", "set-ntp"),
    ("disk", {"disk_usage": lambda path: (32 * 2**30, 100 * 2**20)}, "FAIL", "free space"),
    ("disk", {"disk_usage": lambda path: (32 * 2**30, 2 * 2**30)}, "WARN", "free space"),
    ("database", {"db_integrity": lambda path: "database disk image is malformed"}, "FAIL", "recovery"),
    ("service:forwarder", {"service_state": lambda u: "failed" if "forwarder" in u else "active"},
     "FAIL", "journalctl -u samplepoint-forwarder.service"),
    ("update", {"update_state": lambda c: {"result": "failed", "at": "2026-11-25T08:00:00+00:00",
                                           "reason": "the repository http://x/apt is signed with a key "
                                           "this device does not trust", "fix": "copy samplepoint.asc"}},
     "FAIL", "samplepoint.asc"),
    ("update", {"update_state": lambda c: {"result": "unreadable", "reason": "bad JSON"}}, "WARN",
     "samplepoint update"),
    ("packages", {"unfinished_packages": lambda: ["samplepoint 0.1.0.3 half-configured"]}, "FAIL",
     "samplepoint update"),
    ("packages", {"unfinished_packages": lambda: None}, "WARN", "Debian"),
]


@pytest.fixture
def device(tmp_path):
    path = write_config(tmp_path, "http://127.0.0.1:9", token="device-token-value",
                        feedback={"backend": "gpio"})
    config = config_module.load(path)
    Store(config.db_path).close()
    return path, config


def run(path, probes_, as_json=False):
    out = io.StringIO()
    code = doctor.main(SimpleNamespace(config=str(path), json=as_json), probes_, out)
    return code, out.getvalue()


def test_all_well(device):
    code, out = run(device[0], healthy())
    assert code == 0, out
    assert out.count("\nOK ") == 19 and "0 failing, 0 warning(s)" in out
    assert "Enhanced Open (OWE)" in out and "packets refused 12" in out


@pytest.mark.parametrize("name, overrides, status, fix", BROKEN,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(BROKEN)])
def test_each_check_failing_in_turn(device, name, overrides, status, fix):
    probes_ = dataclasses.replace(healthy(), **overrides)
    code, out = run(device[0], probes_, as_json=True)
    report = json.loads(out)
    by_name = {c["name"]: c for c in report["checks"]}
    assert by_name[name]["status"] == status
    assert fix in by_name[name]["fix"]
    others = [c for c in report["checks"] if c["name"] != name and c["status"] != "OK"]
    assert {c["name"] for c in others} <= KNOCK_ON.get(name, set())
    assert code == (1 if status == "FAIL" else 0)
    assert report["ok"] is (status != "FAIL")
    text_code, text = run(device[0], probes_)
    assert f"{status:<5} {name}" in text and "fix: " in text and text_code == code


def test_token_file_missing_or_world_readable(device):
    path, config = device
    token = config.central.token_file
    os.chmod(token, 0o644)
    code, out = run(path, healthy())
    assert code == 1 and "chmod 600" in out
    os.unlink(token)
    code, out = run(path, healthy())
    assert code == 1 and "samplepoint enrol" in out


def test_missing_database_is_a_warning(tmp_path):
    path = write_config(tmp_path, token="t", feedback={"backend": "gpio"})
    code, out = run(path, healthy())
    assert code == 0 and "WARN  database" in out


def test_unsynchronised_clock_without_central_fails(device):
    probes_ = dataclasses.replace(healthy(), central_time=fail("down"), ntp_synchronized=lambda: None)
    report = json.loads(run(device[0], probes_, as_json=True)[1])
    assert {c["name"]: c["status"] for c in report["checks"]}["clock"] == "FAIL"


# --- the real probes, on what this machine has --------------------------------------------------

def test_real_decode_probe_reads_its_own_code():
    assert probes.decode_test() is True


def test_real_wifi_probe_reads_sysfs(tmp_path):
    iface = tmp_path / "wlan0"
    (iface / "wireless").mkdir(parents=True)
    (tmp_path / "drivers/brcmfmac").mkdir(parents=True)
    (iface / "device").mkdir()
    (iface / "device/driver").symlink_to(tmp_path / "drivers/brcmfmac")
    assert probes.wifi_driver("wlan0", tmp_path) == "brcmfmac"
    assert probes.wifi_driver("wlan9", tmp_path) is None


def test_real_route_probe(tmp_path):
    table = tmp_path / "route"
    table.write_text("Iface\tDestination\tGateway\n"
                     "wlan0\t0032A8C0\t00000000\neth0\t00000000\t0100A8C0\n")
    assert probes.default_route(table) == "eth0"
    table.write_text("Iface\tDestination\tGateway\n")
    assert probes.default_route(table) is None


def test_real_integrity_probe(tmp_path):
    good = tmp_path / "good.db"
    Store(good).close()
    assert probes.db_integrity(good) == "ok"
    bad = tmp_path / "bad.db"
    bad.write_bytes(good.read_bytes()[:100] + b"\x13" * 8000)
    assert probes.db_integrity(bad) != "ok"


def test_real_central_probes(central, tmp_path):
    path = write_config(tmp_path, central.url, token=central.token)
    config = config_module.load(path)
    assert abs((probes.central_time(config) - datetime.now(timezone.utc)).total_seconds()) < 60
    assert probes.token_status(config, central.token) == 200
    assert probes.token_status(config, "wrong") == 401


def test_real_camera_probe_counts_replayed_frames(tmp_path):
    from kiosk.framegen import qr_image
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        qr_image(f"frame {i}").save(frames / f"{i:03}.png")
    config = config_module.load(write_config(tmp_path, camera={"source": f"replay:{frames}"}))
    assert probes.camera_frames(config) == 3


def test_cli_doctor_exit_code(tmp_path, monkeypatch, capsys):
    from samplepoint.cli import main as cli_main
    path = write_config(tmp_path, token="t")
    no_uplink = dataclasses.replace(healthy(), default_route=lambda: None)
    monkeypatch.setattr(doctor, "Probes", lambda: no_uplink)
    assert cli_main(["doctor", "--config", str(path)]) == 1
    assert "FAIL  uplink" in capsys.readouterr().out


def test_a_check_that_breaks_is_a_fail_line_not_a_crash(device):
    probes_ = dataclasses.replace(healthy(), disk_usage=fail("statvfs exploded"),
                                  service_state=fail("dbus gone"))
    code, out = run(device[0], probes_)
    assert code == 1
    assert "FAIL  disk" in out and "statvfs exploded" in out and "FAIL  camera" in out


def test_missing_data_directory(tmp_path):
    path = write_config(tmp_path, token="t", device={"data_dir": str(tmp_path / "nowhere")})
    code, out = run(path, healthy())
    assert code == 1 and "FAIL  disk" in out and "samplepoint provision" in out


def test_real_central_probe_gives_a_short_reason(tmp_path):
    config = config_module.load(write_config(tmp_path, "http://127.0.0.1:9"))
    with pytest.raises(ConnectionError, match="^connection refused or no route$"):
        probes.central_time(config)


def test_feedback_turned_off_is_a_warning(tmp_path):
    path = write_config(tmp_path, token="t", feedback={"backend": "none"})
    Store(config_module.load(path).db_path).close()
    code, out = run(path, healthy())
    assert code == 0 and "WARN  gpio" in out and "backend = 'gpio'" in out


def test_admit_loop_is_checked_only_under_the_open_policy(tmp_path):
    admit_down = dataclasses.replace(healthy(), service_state=lambda u: "inactive" if "admit" in u
                                     else "active")
    for policy, expected in (("walled", 0), ("open", 1)):
        folder = tmp_path / policy
        folder.mkdir()
        path = write_config(folder, "http://127.0.0.1:9", token="device-token-value",
                            feedback={"backend": "gpio"}, hotspot={"policy": policy})
        Store(config_module.load(path).db_path).close()
        code, out = run(path, admit_down)
        assert code == expected, out
        assert ("service:admit" in out) is (policy == "open")


def test_a_replay_camera_is_a_warning_naming_the_fix(tmp_path):
    path = write_config(tmp_path, token="t", camera={"source": "replay:/var/lib/frames"})
    Store(config_module.load(path).db_path).close()
    code, out = run(path, healthy())
    assert code == 0 and "WARN  camera" in out and "replay folder (/var/lib/frames)" in out
    assert "source = 'picamera2'" in out


def test_units_standing_down_for_absent_hardware_are_warnings(tmp_path):
    path = write_config(tmp_path, token="t", feedback={"backend": "gpio"})
    Store(config_module.load(path).db_path).close()
    stood_down = dataclasses.replace(healthy(), service_state=lambda u: "condition-unmet" if any(
        n in u for n in ("display", "hotspot", "hostapd", "dnsmasq", "portal")) else "active")
    code, out = run(path, stood_down)
    assert code == 0, out
    assert "WARN  service:display" in out and "stood down: no screen (tty1)" in out
    assert "WARN  service:portal" in out and "stood down: no Wi-Fi radio" in out


def test_a_read_only_data_directory_is_a_fail_with_what_to_do(tmp_path):
    path = write_config(tmp_path, token="t", feedback={"backend": "gpio"})
    Store(config_module.load(path).db_path).close()
    code, out = run(path, dataclasses.replace(healthy(), read_only=lambda p: True))
    assert code == 1 and "FAIL  disk" in out and "read-only file system" in out
    assert "replace the card" in out


def test_plain_http_to_a_remote_central_is_one_fail_line_naming_the_key(tmp_path):
    path = write_config(tmp_path, "http://central.example.vn", token="device-token-value",
                        feedback={"backend": "gpio"})
    asked = []
    probes_ = dataclasses.replace(healthy(), central_time=lambda c: asked.append(c) or NOW)
    code, out = run(path, probes_)
    assert code == 1 and asked == [], "central is not even asked"
    (line,) = [l for l in out.splitlines() if l.startswith("FAIL  central-tls")]
    assert "central.url: plain http:// to a non-loopback host sends the device token in clear" in line
    assert "central.allow_insecure_http = true" in line


def test_the_lab_setting_is_shown_as_a_warning(tmp_path):
    path = write_config(tmp_path, "http://10.0.0.5:8700", token="device-token-value",
                        feedback={"backend": "gpio"}, central={"allow_insecure_http": True})
    code, out = run(path, healthy())
    assert code == 0
    (line,) = [l for l in out.splitlines() if "central-tls" in l]
    assert line.startswith("WARN") and "central.allow_insecure_http = true" in line


def test_https_says_what_the_certificate_is_checked_against(tmp_path):
    path = write_config(tmp_path, "https://central.example.vn", token="device-token-value",
                        feedback={"backend": "gpio"}, central={"ca_bundle": "/etc/samplepoint/ca.pem"})
    _, out = run(path, healthy(), as_json=True)
    (check,) = [c for c in json.loads(out)["checks"] if c["name"] == "central-tls"]
    assert check["status"] == "OK" and "pinned in central.ca_bundle" in check["detail"]


def test_the_real_probes_refuse_before_sending_the_token(tmp_path):
    config = config_module.load(write_config(tmp_path, "http://central.example.vn"))
    with pytest.raises(ConnectionError, match="central.url: plain http://"):
        probes.central_time(config)
    with pytest.raises(Exception, match="central.url: plain http://"):
        probes.token_status(config, "device-token-value")
