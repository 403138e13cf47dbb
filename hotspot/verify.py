"""Asks the programs themselves whether rendered configs parse: hostapd, `dnsmasq --test`, `nft -c -f`."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

TIMEOUT_S = 20


def _run(argv: list[str]) -> tuple[int, str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S)
    return done.returncode, done.stdout + done.stderr


def hostapd(path: str | Path) -> list[str]:
    """hostapd's parser errors (`Line N: ...`). Run in an empty network namespace: with no radio it
    stops after parsing, touching nothing of the host."""
    _, out = _run(["unshare", "--net", "hostapd", str(path)])
    return [line for line in out.splitlines()
            if re.match(r"Line [0-9]+:", line) or "errors found in configuration" in line]


def dnsmasq(path: str | Path) -> list[str]:
    code, out = _run(["dnsmasq", "--test", "-C", str(path)])
    return [] if code == 0 and "syntax check OK" in out else out.strip().splitlines()


def nftables(path: str | Path) -> list[str]:
    code, out = _run(["nft", "-c", "-f", str(path)])
    return [] if code == 0 else out.strip().splitlines()


def all_files(folder: str | Path) -> dict[str, list[str]]:
    """{file name: errors} for the three rendered files in folder; empty lists when all parse."""
    folder = Path(folder)
    return {"hostapd.conf": hostapd(folder / "hostapd.conf"),
            "dnsmasq.conf": dnsmasq(folder / "dnsmasq.conf"),
            "hotspot.nft": nftables(folder / "hotspot.nft")}
