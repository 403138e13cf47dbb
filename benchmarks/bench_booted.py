"""The booted device: root file system build time (cold and cached), boot to all services active,
first scan to the central server, inside a device booted under systemd-nspawn (as the booted test)."""
from __future__ import annotations

import contextlib
import random
import sys
import tempfile
import time
from pathlib import Path

TITLE = "Booted device (systemd-nspawn)"


def _active(machine, units) -> bool:
    return all(machine.unit(u)["ActiveState"] == "active" for u in units)


def run() -> str:
    from central.enrol import issue_code
    from kiosk.framegen import fictional_person, tube_code
    from tests.provisioning import booted
    from tests.provisioning.test_booted_device import DEVICE, LONG_RUNNING, SITE

    rows = []
    with tempfile.TemporaryDirectory(prefix="samplepoint-bench-boot-") as tmp:
        work = Path(tmp)
        start = time.monotonic()
        booted.rootfs_tarball("bookworm", cache=work / "cold-cache")
        cold = time.monotonic() - start
        start = time.monotonic()
        booted.rootfs_tarball("bookworm", cache=work / "cold-cache")
        booted.extract(booted.rootfs_tarball("bookworm", cache=work / "cold-cache")[0], work / "x")
        cached = time.monotonic() - start
        booted.run(["rm", "-rf", "--one-file-system", str(work / "x"), str(work / "cold-cache")])
        root = work / "root"
        # Whatever fails, the machine stops, the server stops, the link and the tree go (LIFO).
        with contextlib.ExitStack() as cleanup:
            cleanup.callback(booted.run, ["rm", "-rf", "--one-file-system", str(root)])
            times = booted.golden_image(root, work)
            link = cleanup.enter_context(booted.Link())
            server = booted.start_central(work, host=link.host_ip)
            cleanup.callback(server.stop)
            db = server.db
            code, _ = issue_code(db, "bench", uses=1, valid_hours=1, sites=[SITE])
            sites = work / "sites.csv"
            sites.write_text("device_id,site_id,site_name,hotspot_ssid,pool_size,test_type,central_url\n"
                             f"{DEVICE},{SITE},Bench,Bench,1,rt-pcr,{server.url}\n", encoding="utf-8")
            # The first scan is timed from the tube, not from a sign-in: sign-in is off here.
            (work / "campaign.toml").write_text(
                booted.CAMPAIGN + "[workflow]\nrequire_sign_in = false\n", encoding="utf-8")
            booted.run([sys.executable, "-m", "samplepoint.cli", "prepare-sd", "--sites", str(sites),
                        "--device", DEVICE, "--enrol-code", code, "--base-config",
                        str(work / "campaign.toml"), "--boot", str(root / "boot/firmware")])
            camera = booted.Camera(root)
            machine = booted.Machine(root, work / "console.log", link)
            cleanup.callback(machine.kill)
            cleanup.callback(machine.stop)
            start = time.monotonic()
            boot_s = machine.boot()
            machine.wait("services", lambda: _active(machine, LONG_RUNNING), timeout=120, every=0.05)
            all_active = time.monotonic() - start
            machine.wait("enrolment", lambda: db.devices() and True, timeout=120, every=0.05)
            enrolled = time.monotonic() - start
            rng = random.Random(3)
            start = time.monotonic()
            camera.tube(tube_code(rng))
            camera.person(fictional_person(rng))
            machine.wait("central", lambda: db.count_samples() == 1, timeout=120, every=0.02)
            first_scan = time.monotonic() - start
    rows += [("root file system build, cold (mmdebstrap bookworm minbase + device packages)", cold),
             ("root file system, cached (tarball extracted)", cached),
             ("golden image: provision --root + provision-on-device.sh (venv from wheels)",
              times["provision_s"]),
             ("boot: nspawn start to `is-system-running` = running", boot_s),
             ("boot: nspawn start to kiosk and forwarder active", all_active),
             ("boot: nspawn start to enrolled at central", enrolled),
             ("first scan to central: tube + 1 person (pool of 1) moved into the camera folder "
              "until the record is stored at central", first_scan)]
    lines = ["| stage | seconds |", "|---|---|"] + [f"| {name} | {value:.1f} |" for name, value in rows]
    note = ("\n\nThe first scan includes the camera replay pace (15 fps, 5 frames per code), the decode, "
            "the commit, and the forwarder's poll (`central.poll_s`, 1 s by default).")
    return "\n".join(lines) + note
