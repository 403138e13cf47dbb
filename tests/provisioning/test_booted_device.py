"""A device's whole life, booted under real systemd: golden image from the wheel (docs/install-pi.md
part B), a site's card written by prepare-sd from a sites CSV over a campaign base config, first
boot, enrolment, scanning a replayed session, forwarding to a central server on the host's loopback,
the watchdog, a power cut mid-tube and the boot after it.

Staff sign in with a badge issued on central, verified with the site key that enrolment brought
(sign-in is required, as by default); a badge revoked on central is refused after a heartbeat.
A rotated site key and a PIN set on central arrive with a heartbeat too; a badge signed with the new key
signs in.
Hardware that cannot exist here is replaced only by configuration: `camera.source = replay:…` with
`follow`, `feedback.backend = mock`; the radio and screen are absent, and their units stand down by
their own conditions. The units are the shipped ones, unedited.
"""
from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from central.enrol import issue_code
from kiosk.framegen import fictional_person, qr_image, tube_code
from provisioning import provision
from tests.provisioning import booted

pytestmark = [pytest.mark.system, pytest.mark.slow]

DEVICE, SITE, HOSTNAME = "DEV-DT-07", "SITE-CL-07", "sp-cao-lanh-7"
LONG_RUNNING = ["samplepoint-kiosk.service", "samplepoint-forwarder.service"]
ONESHOTS = ["samplepoint-firstboot.service", "samplepoint-enrol.service"]
STAND_DOWN = {"samplepoint-display.service": "/dev/tty1",
              **{f"samplepoint-{n}.service": "ieee80211" for n in ("hotspot", "portal", "admit")}}
# Started only by `samplepoint hotspot apply`, which stood down with the hotspot.
STARTED_BY_APPLY = ["samplepoint-hostapd.service", "samplepoint-dnsmasq.service"]


def golden_of(tmp_path_factory, suite: str):
    """(root, timings) of a golden image of `suite`, removed after the module's tests."""
    if booted.missing_tools():
        pytest.skip(f"needs {', '.join(booted.missing_tools())} (make test installs them)")
    work = tmp_path_factory.mktemp(f"golden-{suite}")
    root = work / "root"
    try:
        yield root, booted.golden_image(root, work, suite=suite)
    finally:
        booted.run(["rm", "-rf", "--one-file-system", str(root)])


@pytest.fixture(scope="module")
def golden(tmp_path_factory):
    yield from golden_of(tmp_path_factory, "bookworm")


def test_the_golden_image_carries_its_software_and_is_sealed(golden):
    root, times = golden
    assert (root / "etc/machine-id").read_text() == "uninitialized\n"
    assert not list((root / "etc/ssh").glob("ssh_host_*key")), "no SSH host keys shared by clones"
    wheels = [p.name for p in (root / "opt/samplepoint/dist").glob("samplepoint-*.whl")]
    assert len(wheels) == 1
    assert (root / "opt/samplepoint/venv/bin/samplepoint").exists()
    assert (root / "etc/udev/rules.d/60-samplepoint-printer.rules").exists(), "USB printer access"
    assert "samplepoint" in (root / "etc/group").read_text().split("\nlp:")[1].split("\n")[0]
    assert "python3-picamera2 is not in this system's archive" in times["provision_out"]
    assert "samplepoint: updating the package lists" in times["provision_out"]
    wants = {link.name for link in (root / "etc/systemd/system").glob("*.target.wants/*")}
    assert set(provision.ENABLED_UNITS) <= wants


def test_a_device_lives_its_life_booted(golden, booted_central, tmp_path):
    central = booted_central
    root = golden[0]
    # The technician: a campaign code, a sites CSV, a card prepared for one site.
    code, _ = issue_code(central.db, "Cao Lanh 2026-11", uses=3, valid_hours=24, sites=[SITE])
    sites = tmp_path / "sites.csv"
    sites.write_text("device_id;site_id;site_name;hotspot_ssid;pool_size;test_type;central_url;hostname\r\n"
                     f"{DEVICE};{SITE};Trạm Y tế Phường 7, Cao Lãnh;DiemLayMau-07;5;rt-pcr;"
                     f"{central.url};{HOSTNAME}\r\n", encoding="utf-8-sig")
    campaign = tmp_path / "campaign.toml"
    campaign.write_text(booted.CAMPAIGN, encoding="utf-8")
    booted.run([*cli(), "prepare-sd", "--sites", str(sites), "--check", "--base-config", str(campaign)])
    booted.run([*cli(), "prepare-sd", "--sites", str(sites), "--device", DEVICE, "--enrol-code", code,
                "--base-config", str(campaign), "--boot", str(root / "boot/firmware")])
    camera = booted.Camera(root)
    machine = booted.Machine(root, tmp_path / "console.log", central.link)
    try:
        machine.boot()
        first_boot(machine, root, central)
        badge_id, badge = staff_badge(central)
        camera.show(qr_image(badge))                     # the staff member signs in
        tube_a, tube_b = session_until_power_cut(machine, camera, central)
        check_doctor(machine)
        check_watchdog(machine)
        machine.kill()                                   # power cut with tube B open

        machine.boot()
        after_power_cut(machine, camera, central, tube_a, tube_b)
        revoked_badge_is_refused(machine, root, camera, central, badge_id, badge)
        rotated_key_and_pins_arrive(machine, root, camera, central)
    finally:
        machine.stop()
        machine.kill()


def staff_badge(central) -> tuple[int, str]:
    """A badge issued on central for this site (as `samplepoint central badge` does)."""
    from datetime import date, timedelta

    from kiosk.staff import badge_code
    expires = date.today() + timedelta(days=30)
    badge_id, key = central.db.add_badge(SITE, "NV07", "Nguyễn Thị Hoa", expires.isoformat())
    return badge_id, badge_code("NV07", "Nguyễn Thị Hoa", key, expires=expires, badge_id=str(badge_id))


def revoked_badge_is_refused(machine, root: Path, camera: booted.Camera, central, badge_id: int,
                             badge: str) -> None:
    import json
    central.db.revoke_badge(badge_id)
    credentials = root / "var/lib/samplepoint/site-credentials.json"
    machine.wait("the revocation to arrive with a heartbeat", lambda: str(badge_id) in
                 json.loads(credentials.read_text()).get("revoked_badges", []), timeout=60)
    # Signed in with it before the watchdog restart and the power cut: still known, signed out.
    machine.wait("its holder signed out", lambda: f"revoked badge {badge_id}: its holder is signed out"
                 in machine.journal("samplepoint-kiosk.service"), timeout=30)
    camera.show(qr_image(badge))
    machine.wait("the revoked badge refused", lambda: f"revoked badge {badge_id} refused"
                 in machine.journal("samplepoint-kiosk.service"), timeout=30)


def rotated_key_and_pins_arrive(machine, root: Path, camera: booted.Camera, central) -> None:
    """`central rotate-key` and `central pin` reach the device with a heartbeat: a badge signed
    with the new key signs in and its samples carry that staff member; the old key stays valid for
    its grace period; the PIN entry set on central is in the device's credentials."""
    import json

    from samplepoint.pins import pin_entry
    credentials = root / "var/lib/samplepoint/site-credentials.json"
    old_key = json.loads(credentials.read_text())["keys"][0]["key"]
    entry = pin_entry("NV09", "246813")
    central.db.set_pin(SITE, "NV09", entry)
    central.db.rotate_site_key(SITE, grace_hours=24)
    new_key = central.db.site_credentials(SITE)["keys"][0]["key"]
    held = machine.wait("the rotated key to arrive with a heartbeat", lambda: (lambda c: c if
                        c["keys"][0]["key"] == new_key else None)(json.loads(credentials.read_text())),
                        timeout=60)
    assert [k["key"] for k in held["keys"]] == [new_key, old_key]     # the old one in its grace
    assert held["keys"][1]["valid_until"] and entry in held["pins"]
    assert machine.sh("stat -c '%a %U' /var/lib/samplepoint/site-credentials.json").stdout.split() == \
        ["600", "samplepoint"]

    from datetime import date, timedelta

    from kiosk.staff import badge_code
    expires = date.today() + timedelta(days=30)
    badge_id, key = central.db.add_badge(SITE, "NV08", "Trần Văn Bình", expires.isoformat())
    assert key.hex() == new_key
    camera.show(qr_image(badge_code("NV08", "Trần Văn Bình", key, expires=expires,
                                    badge_id=str(badge_id))))
    code = camera.full_tube(random.Random(12))
    machine.wait("tube C at central", lambda: central.db.count_samples() == 3, timeout=120)
    body = central.db.db.execute("select body from samples where tube_code = ?", (code,)).fetchone()[0]
    assert json.loads(body)["staff_id"] == "NV08", "the badge signed with the rotated key signed in"


def cli() -> list[str]:
    import sys
    return [sys.executable, "-m", "samplepoint.cli"]


def assert_running(machine: booted.Machine) -> None:
    state = machine.sh("systemctl is-system-running --wait", check=False).stdout.strip()
    failed = machine.sh("systemctl --failed --no-legend --plain", check=False).stdout
    logs = "".join(machine.sh(f"journalctl --no-pager -n 15 -u {line.split()[0]}", check=False).stdout
                   for line in failed.splitlines() if line.strip())
    assert state == "running", f"{state}: {failed}\n{logs}"


def first_boot(machine: booted.Machine, root: Path, central) -> None:
    assert_running(machine)
    # First boot applied the card before any service read it.
    assert machine.sh("hostname").stdout.strip() == HOSTNAME
    config = machine.sh("cat /etc/samplepoint/samplepoint.toml").stdout
    assert f"id = '{DEVICE}'" in config and "ca_bundle" not in config and "follow = true" in config
    assert not (root / "boot/firmware/samplepoint/enrol-code").exists()
    assert (root / "boot/firmware/samplepoint/samplepoint.toml.applied").exists()
    assert machine.sh("cat /etc/machine-id").stdout.strip() not in ("", "uninitialized")
    assert list((root / "etc/ssh").glob("ssh_host_ed25519_key")), "first boot made SSH host keys"
    firstboot = machine.unit("samplepoint-firstboot.service")
    assert firstboot["Result"] == "success" and firstboot["ExecMainStatus"] == "0"
    done_at = int(firstboot["ExecMainExitTimestampMonotonic"])
    for name in LONG_RUNNING + ["samplepoint-enrol.service"]:
        started = int(machine.unit(name)["ExecMainStartTimestampMonotonic"])
        assert started >= done_at, f"{name} started before first boot had applied the card"
    # Enrolment traded the code for a token, 0600 and the service user's.
    machine.wait("enrolment", lambda: machine.unit("samplepoint-enrol.service")["Result"] == "success"
                 and machine.sh("test -s /var/lib/samplepoint/device-token", check=False).returncode == 0)
    assert machine.sh("stat -c '%a %U' /var/lib/samplepoint/device-token").stdout.split() == \
        ["600", "samplepoint"]
    assert machine.sh("test -e /var/lib/samplepoint/enrol-code", check=False).returncode == 1
    assert [d["device_id"] for d in central.db.devices()] == [DEVICE]
    # Enrolment also brought the site's code key (staff badges verify with it), 0600.
    assert machine.sh("stat -c '%a %U' /var/lib/samplepoint/site-credentials.json").stdout.split() == \
        ["600", "samplepoint"]
    # Long-running services under their real units; absent hardware stands down by condition.
    for name in LONG_RUNNING:
        unit = machine.unit(name)
        assert (unit["ActiveState"], unit["Type"], unit["User"]) == ("active", "notify", "samplepoint")
        assert unit["WatchdogUSec"] not in ("0", "infinity") and unit["ProtectSystem"] == "strict"
        assert unit["NoNewPrivileges"] == "yes"
    for name, hardware in STAND_DOWN.items():
        unit = machine.unit(name)
        assert (unit["ActiveState"], unit["ConditionResult"]) == ("inactive", "no"), name
        assert hardware in machine.sh(f"systemctl status {name}", check=False).stdout, name
    for name in STARTED_BY_APPLY:
        assert machine.unit(name)["ActiveState"] == "inactive", name
    machine.wait("the first heartbeat", lambda: central.db.devices()[0]["last_seen"])


def session_until_power_cut(machine: booted.Machine, camera: booted.Camera, central):
    rng = random.Random(11)
    tube_a = (tube_code(rng), [fictional_person(rng) for _ in range(5)])
    tube_b = (tube_code(rng), [fictional_person(rng) for _ in range(5)])
    started = time.monotonic()
    camera.tube(tube_a[0])
    for person in tube_a[1]:
        camera.person(person)
    machine.wait("tube A at central", lambda: central.db.count_samples() == 1, timeout=120)
    print(f"first tube scanned to central in {time.monotonic() - started:.1f} s")
    camera.tube(tube_b[0])
    for person in tube_b[1][:2]:
        camera.person(person)
    machine.wait("tube B open with 2 people", lambda: machine.query(
        "select s.tube_code, count(p.position) from samples s join sample_persons p on "
        "p.sample_id = s.id where s.state = 'open' group by s.id") == [[tube_b[0], "2"]], timeout=60)
    return tube_a, tube_b


def check_doctor(machine: booted.Machine) -> None:
    checks = {c["name"]: c for c in machine.doctor()["checks"]}
    expected = {"camera": "WARN", "gpio": "WARN", "ap-radio": "FAIL", "central": "OK", "disk": "OK",
                "database": "OK", "service:kiosk": "OK", "service:forwarder": "OK",
                "service:display": "WARN", "service:portal": "WARN", "service:hotspot": "WARN"}
    assert {name: checks[name]["status"] for name in expected} == expected, checks
    assert "replay folder" in checks["camera"]["detail"]
    assert "no Wi-Fi interface" in checks["ap-radio"]["detail"]
    assert "stood down: no screen" in checks["service:display"]["detail"]


def check_watchdog(machine: booted.Machine) -> None:
    """A kiosk whose loop hangs (stopped: it cannot ping) is killed by systemd's watchdog and
    restarted under its unit."""
    before = machine.unit("samplepoint-kiosk.service")
    pid = before["MainPID"]
    machine.sh(f"kill -STOP {pid}")
    machine.wait("the watchdog to fire", lambda: machine.unit("samplepoint-kiosk.service")["SubState"]
                 in ("stop-watchdog", "stop-sigterm", "stop-sigkill", "auto-restart", "failed"),
                 timeout=90)
    machine.sh(f"kill -CONT {pid}", check=False)   # the pending SIGABRT is delivered now
    after = machine.wait("the kiosk back", lambda: (lambda u: u if u["ActiveState"] == "active"
                         and u["MainPID"] != pid else None)(machine.unit("samplepoint-kiosk.service")),
                         timeout=120)
    assert int(after["NRestarts"]) >= int(before["NRestarts"]) + 1
    assert "Watchdog timeout" in machine.journal("samplepoint-kiosk.service")


def after_power_cut(machine: booted.Machine, camera: booted.Camera, central, tube_a, tube_b) -> None:
    assert_running(machine)
    # First-boot work is not repeated: nothing left for it, and enrolment has its token.
    for name in ONESHOTS:
        unit = machine.unit(name)
        assert unit["ConditionResult"] == "no" and unit["ActiveState"] == "inactive", name
    assert machine.sh("hostname").stdout.strip() == HOSTNAME
    machine.wait("the kiosk", lambda: machine.unit("samplepoint-kiosk.service")["ActiveState"] == "active")
    assert "restored open tube" in machine.journal("samplepoint-kiosk.service")
    for person in tube_b[1][2:]:
        camera.person(person)
    machine.wait("tube B at central", lambda: central.db.count_samples() == 2, timeout=120)
    machine.wait("the outbox drained", lambda: machine.query(
        "select state, count(*) from outbox group by state") == [["delivered", "2"]], timeout=60)
    rows = central.db.db.execute("select s.tube_code, count(*) from samples s join persons p "
                                 "using (record_id) group by s.record_id order by 1").fetchall()
    assert sorted(tuple(r) for r in rows) == sorted([(tube_a[0], 5), (tube_b[0], 5)])
    assert len(set(central.db.record_ids())) == 2


@pytest.fixture(scope="module")
def golden_trixie(tmp_path_factory):
    yield from golden_of(tmp_path_factory, "trixie")


def test_a_trixie_device_boots_enrols_and_delivers(golden_trixie, booted_central, tmp_path):
    """Raspberry Pi OS Trixie's base, Debian 13 (Python 3.13, systemd 257, libzbar0t64 for
    libzbar0): the golden image from the wheel with a wheelhouse for 3.13, a card the Imager had set
    up (its cloud-init user kept, the hostname merged in), first boot, enrolment, and a tube
    scanned to central once. (The test image has no cloud-init itself: the card's user-data is
    checked as written, the first boot is samplepoint's own.)"""
    import yaml
    central = booted_central
    root, times = golden_trixie
    assert machine_python(root).startswith("3.13")
    assert "libzbar0" not in times["provision_out"].split("installing", 1)[-1].split("\n")[0], \
        "libzbar0t64 provides libzbar0: nothing to install for it"
    code, _ = issue_code(central.db, "Trixie 2026-11", uses=1, valid_hours=24, sites=[SITE])
    sites = tmp_path / "sites.csv"
    sites.write_text("device_id,site_id,site_name,hotspot_ssid,pool_size,test_type,central_url,hostname\n"
                     f"{DEVICE},{SITE},Trạm Y tế Phường 7,DiemLayMau-07,5,rt-pcr,{central.url},"
                     f"{HOSTNAME}\n", encoding="utf-8")
    campaign = tmp_path / "campaign.toml"
    campaign.write_text(booted.CAMPAIGN + "[workflow]\nrequire_sign_in = false\n", encoding="utf-8")
    written = booted.run([*cli(), "prepare-sd", "--sites", str(sites), "--device", DEVICE,
                          "--enrol-code", code, "--base-config", str(campaign),
                          "--boot", str(root / "boot/firmware")])
    assert "trixie" in (written.stdout + written.stderr).lower()
    user_data = yaml.safe_load((root / "boot/firmware/user-data").read_text())
    assert user_data["users"][0]["name"] == "tech" and user_data["hostname"] == HOSTNAME
    camera = booted.Camera(root)
    machine = booted.Machine(root, tmp_path / "console.log", central.link)
    try:
        machine.boot()
        assert_running(machine)
        assert machine.sh("hostname").stdout.strip() == HOSTNAME
        machine.wait("enrolment", lambda: [d["device_id"] for d in central.db.devices()] == [DEVICE])
        for name in LONG_RUNNING:
            unit = machine.unit(name)
            assert (unit["ActiveState"], unit["Type"], unit["User"]) == ("active", "notify", "samplepoint")
        code_a = camera.full_tube(random.Random(31))
        machine.wait("the tube at central", lambda: central.db.count_samples() == 1, timeout=120)
        machine.wait("the outbox drained", lambda: machine.query(
            "select state, count(*) from outbox group by state") == [["delivered", "1"]], timeout=60)
        assert [r[0] for r in central.db.db.execute("select tube_code from samples")] == [code_a]
    finally:
        machine.stop()
        machine.kill()


def machine_python(root: Path) -> str:
    venv = root / "opt/samplepoint/venv/lib"
    return next(p.name for p in venv.iterdir() if p.name.startswith("python")).removeprefix("python")
