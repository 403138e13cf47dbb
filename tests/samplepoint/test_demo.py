"""`samplepoint demo` end to end: generated frames, kiosk, forwarder process, central server."""
from __future__ import annotations

import json
import subprocess
import sys


def test_demo_delivers_every_sample_exactly_once():
    result = subprocess.run([sys.executable, "-m", "samplepoint.cli", "demo", "--people", "11",
                             "--pool-size", "4"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["people"] == 11 and summary["samples"] == 3
    assert summary["at_central"] == summary["samples"] == summary["forwarded"]
    assert summary["quarantined"] == 0


def test_demo_refuses_nonsense_sizes():
    result = subprocess.run([sys.executable, "-m", "samplepoint.cli", "demo", "--people", "0"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
