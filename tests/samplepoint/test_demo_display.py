"""`samplepoint demo` prints the staff display's URL; with --serve the page stays up until Ctrl-C."""
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest


def test_demo_prints_the_display_url():
    result = subprocess.run([sys.executable, "-m", "samplepoint.cli", "demo", "--people", "3",
                             "--pool-size", "2", "--display-port", "0"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "staff display: http://127.0.0.1:" in result.stdout


@pytest.mark.slow
def test_demo_serve_keeps_the_display_running():
    demo = subprocess.Popen([sys.executable, "-m", "samplepoint.cli", "demo", "--people", "3",
                             "--pool-size", "2", "--display-port", "0", "--serve"],
                            stdout=subprocess.PIPE, text=True, env={**os.environ,
                                                                    "PYTHONUNBUFFERED": "1"})
    try:
        url = None
        deadline = time.monotonic() + 120
        for line in demo.stdout:
            if line.startswith("staff display: "):
                url = line.split()[-1]
            if "press Ctrl-C" in line or time.monotonic() > deadline:
                break
        assert url and url.startswith("http://127.0.0.1:")
        state = json.loads(urllib.request.urlopen(url + "state", timeout=5).read())
        assert state["today"] == {"people": 3, "tubes": 2}
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(timeout=20)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
