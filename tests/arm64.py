"""`make test-arm64`: samplepoint installed on an arm64 Debian root file system as on a Pi, under qemu.

Builds (and caches) an arm64 root with mmdebstrap under qemu-user, provisions it as
docs/install-pi.md part B says (the wheel, its dependencies fetched for aarch64 with
`pip download --platform`, `provision --root`, then `provision-on-device.sh` inside it), then, in
the emulated system, decodes a generated QR code with `samplepoint decode` and runs the code-parser
tests. Prints the time of each stage. Needs root, qemu-user-static and binfmt-support.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.provisioning import booted

REPO = Path(__file__).resolve().parents[1]
PLATFORMS = ["manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64",
             "linux_aarch64"]
PARSER_TESTS = ["tests/kiosk/test_codes.py", "tests/kiosk/test_workflow.py",
                "tests/samplepoint/test_wire.py", "tests/samplepoint/test_signed_codes.py"]


def enable_binfmt() -> None:
    """qemu-aarch64 registered with the kernel (binfmt_misc is not mounted by default here)."""
    if not Path("/proc/sys/fs/binfmt_misc/register").exists():
        booted.run(["mount", "-t", "binfmt_misc", "binfmt_misc", "/proc/sys/fs/binfmt_misc"])
    if not Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists():
        booted.run(["update-binfmts", "--enable", "qemu-aarch64"])


def aarch64_wheels(wheel: Path, folder: Path) -> None:
    """The dependencies (and pytest, for the parser tests) as aarch64 wheels for Python 3.11."""
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    booted.run([sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
                *platforms, "--python-version", "3.11", "--dest", str(folder), str(wheel),
                "pytest", "hypothesis"])
    for own in folder.glob("samplepoint-*.whl"):
        own.unlink()


def main() -> int:
    times: dict[str, float] = {}
    start = time.monotonic()
    enable_binfmt()
    tarball, built = booted.rootfs_tarball("bookworm", "arm64")
    times["rootfs (mmdebstrap --architectures=arm64)" + (" built" if built else " cached")] = \
        time.monotonic() - start
    with tempfile.TemporaryDirectory(prefix="samplepoint-arm64-") as tmp:
        work = Path(tmp)
        root = work / "root"
        try:
            step = time.monotonic()
            booted.extract(tarball, root)
            wheel = booted.build_wheel(work / "dist")
            aarch64_wheels(wheel, work / "wheels")
            times["extract, wheel, aarch64 wheels"] = time.monotonic() - step
            step = time.monotonic()
            booted.run([sys.executable, "-m", "samplepoint.cli", "provision", "--root", str(root),
                        "--source", str(wheel), "--wheels", str(work / "wheels")], cwd=REPO)
            booted.nspawn_run(root, "/opt/samplepoint/provision-on-device.sh", timeout=3600)
            times["provision (venv under qemu)"] = time.monotonic() - step

            step = time.monotonic()
            from kiosk.framegen import frame_with, qr_image
            import random
            (root / "opt/samplepoint-tests").mkdir(parents=True, exist_ok=True)
            frame_with(qr_image("SAMPLEPOINT-ARM64"), random.Random(1)).save(root / "opt/samplepoint-tests/qr.png")
            arch = booted.nspawn_run(root, "/usr/bin/uname", "-m").stdout.strip()
            decoded = booted.nspawn_run(root, "/opt/samplepoint/venv/bin/samplepoint", "decode",
                                        "/opt/samplepoint-tests/qr.png").stdout
            result = json.loads(decoded.strip().splitlines()[-1])
            texts = [code["text"] for code in result.get("codes", [])]
            assert arch == "aarch64", arch
            assert texts == ["SAMPLEPOINT-ARM64"], decoded
            times["samplepoint decode under qemu"] = time.monotonic() - step

            step = time.monotonic()
            shutil.copytree(REPO / "tests", root / "opt/samplepoint-tests/tests", dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__"))
            shutil.copy(REPO / "pytest.ini", root / "opt/samplepoint-tests/pytest.ini")
            tests = booted.nspawn_run(root, "/bin/sh", "-c", "cd /opt/samplepoint-tests && "
                                      "/opt/samplepoint/venv/bin/python -m pytest -q -p no:cacheprovider "
                                      + " ".join(PARSER_TESTS), timeout=3600)
            times["parser tests under qemu"] = time.monotonic() - step
        finally:
            booted.run(["rm", "-rf", "--one-file-system", str(root)])
    print(f"arm64: {arch}, decoded {texts}")
    print(tests.stdout.strip().splitlines()[-1])
    for stage, seconds in times.items():
        print(f"  {stage}: {seconds:.0f} s")
    print(f"  total: {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
