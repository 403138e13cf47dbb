"""The real probes behind `samplepoint doctor`: camera, pins, radio, routes, central, clock, disk, systemd."""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import requests


def camera_frames(config, seconds: float = 3.0, enough: int = 10) -> int:
    """Frames that arrive from camera.source within `seconds` (stops early at `enough`)."""
    from kiosk.camera import open_source
    deadline = time.monotonic() + seconds
    count = 0
    with open_source(config.camera.source, config.camera.fps, paced=False) as source:
        for _ in source.frames():
            count += 1
            if count >= enough or time.monotonic() > deadline:
                break
    return count


def decode_test() -> bool:
    """Draw a QR code in memory and decode it with the kiosk's decoder."""
    import segno

    from kiosk.decode import make_decoder
    payload = "samplepoint-doctor-test"
    matrix = np.array(segno.make_qr(payload).matrix, dtype=np.uint8)
    grey = np.where(np.pad(matrix, 4) == 1, 0, 255).astype(np.uint8)
    grey = np.kron(grey, np.ones((6, 6), dtype=np.uint8))
    try:
        symbols = make_decoder().decode(grey)
    except Exception:                                               # noqa: BLE001
        return False
    return any(s.data == payload.encode() for s in symbols)


def gpio_factory() -> str:
    import warnings

    from gpiozero import Device
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")       # gpiozero warns for every back-end it falls past
        Device.ensure_pin_factory()
    return type(Device.pin_factory).__name__


def wifi_driver(iface: str, sys_class_net: Path = Path("/sys/class/net")) -> str | None:
    """The kernel driver of a wireless interface, or None when there is no such wireless interface."""
    base = sys_class_net / iface
    if not (base / "wireless").exists() and not (base / "phy80211").exists():
        return None
    driver = base / "device" / "driver"
    return os.path.basename(os.readlink(driver)) if driver.is_symlink() else "unknown"


def default_route(route_table: Path = Path("/proc/net/route")) -> str | None:
    try:
        lines = route_table.read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        cols = line.split()
        if len(cols) > 2 and cols[1] == "00000000":
            return cols[0]
    return None


def central_time(config) -> datetime:
    """The central server's clock from /healthz; raises with a short reason when unreachable."""
    from samplepoint import transport
    try:
        with transport.central_session(config, quiet=True) as session:
            response = session.get(config.central.url.rstrip("/") + "/healthz",
                                   timeout=config.central.timeout_s)
    except transport.InsecureTransport as exc:
        raise ConnectionError(f"not asked: {exc}") from None
    except requests.exceptions.SSLError:
        raise ConnectionError("TLS certificate not trusted (central.ca_bundle)") from None
    except requests.Timeout:
        raise ConnectionError(f"no answer within {config.central.timeout_s:g} s") from None
    except requests.RequestException:
        raise ConnectionError("connection refused or no route") from None
    if response.status_code != 200:
        raise ConnectionError(f"HTTP {response.status_code} from /healthz")
    return datetime.fromisoformat(response.json()["time"])


def token_status(config, token: str) -> int:
    from samplepoint import transport
    with transport.central_session(config, quiet=True) as session:
        response = session.get(config.central.url.rstrip("/") + "/api/v1/device",
                               headers={"Authorization": f"Bearer {token}"},
                               timeout=config.central.timeout_s)
    return response.status_code


def ntp_synchronized() -> bool | None:
    try:
        done = subprocess.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"],
                              capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() == "yes" if done.returncode == 0 else None


def disk_usage(path: str) -> tuple[int, int]:
    usage = shutil.disk_usage(path)
    return usage.total, usage.free


def db_integrity(path: Path) -> str:
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            rows = db.execute("PRAGMA integrity_check").fetchall()
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    return "ok" if rows == [("ok",)] else "; ".join(r[0] for r in rows[:3])


def read_only(path: str) -> bool:
    """True when path's file system is mounted read-only (what a dying SD card does)."""
    return bool(os.statvfs(path).f_flag & os.ST_RDONLY)


def service_state(unit: str) -> str:
    """systemd's ActiveState, or "condition-unmet" for a unit that stood down by its own conditions."""
    try:
        done = subprocess.run(["systemctl", "show", "--property=ActiveState,ConditionResult,"
                               "ConditionTimestampMonotonic", unit], capture_output=True, text=True,
                              timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown (systemctl unavailable)"
    props = dict(line.partition("=")[::2] for line in done.stdout.splitlines())
    state = props.get("ActiveState", "").strip() or "unknown"
    checked = props.get("ConditionTimestampMonotonic", "0").strip() not in ("", "0")
    if state == "inactive" and checked and props.get("ConditionResult") == "no":
        return "condition-unmet"
    return state


def hotspot_stats(config):
    """The hotspot's protection in use and its counters (hotspot.stats; counts only, no addresses)."""
    from hotspot import stats
    return stats.collect(config, time.time())


def update_state(config) -> dict:
    """What `samplepoint update` recorded on its last run ({} before the first)."""
    from provisioning import updatestate
    return updatestate.read_state(config)


def unfinished_packages() -> list[str] | None:
    """Packages dpkg left unpacked or half-configured; None without dpkg."""
    from provisioning import updatestate
    try:
        return updatestate.unfinished_packages(updatestate.run_command)
    except FileNotFoundError:
        return None
