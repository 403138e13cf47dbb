"""The kiosk-mode unit: systemd's own linter accepts it, it opens the loopback page under cage, and
its start waits for the kiosk to listen."""
import re
import socket
import subprocess
from pathlib import Path

from samplepoint import config as config_module

UNIT = Path(__file__).resolve().parents[3] / "systemd" / "samplepoint-display.service"


def unit_line(key: str) -> str:
    return next(line.split("=", 1)[1] for line in UNIT.read_text(encoding="utf-8").splitlines()
                if line.startswith(key + "="))


def test_systemd_analyze_verify_accepts_the_unit():
    result = subprocess.run(["systemd-analyze", "verify", str(UNIT)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert UNIT.name not in result.stderr, result.stderr      # no warnings about our own unit


def test_unit_runs_chromium_kiosk_under_cage_on_the_loopback_page():
    text = UNIT.read_text(encoding="utf-8")
    assert re.search(r"^ExecStart=/usr/bin/cage .*-- /usr/bin/chromium --kiosk", text, re.M)
    assert "Restart=always" in text and "StartLimitIntervalSec=0" in text
    bind = config_module.DisplayConfig().bind
    assert f"SAMPLEPOINT_DISPLAY_URL=http://{bind}/?kiosk=1" in text
    for flag in ("--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run"):
        assert flag in text


def test_start_waits_until_the_display_port_answers():
    """The ExecStartPre shell, unescaped as systemd would, returns as soon as the port listens."""
    command = unit_line("ExecStartPre").replace("$$", "$").replace("%%", "%")
    assert command.startswith("/bin/bash -c '") and command.endswith("'")
    script = command[len("/bin/bash -c '"):-1]
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        done = subprocess.run(["/bin/bash", "-c", script], capture_output=True, text=True, timeout=30,
                              env={"SAMPLEPOINT_DISPLAY_URL": f"http://127.0.0.1:{port}/?kiosk=1",
                                   "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
