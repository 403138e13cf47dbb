"""A device updated in the field, booted under real systemd: samplepoint N installed from a signed apt
repository (aptly, served over HTTP on the host's loopback), records queued while the central server
is down, `samplepoint update` to N+1 from the repository, services restarted into N+1, the queue
delivered once, the configuration untouched, and `samplepoint update --version N` rolls back. Then
two broken releases are published: one whose postinst fails after the environment switch, one whose
postinst fails before it; each update fails with one line, dpkg ends with N fully configured and
running, and doctor shows the failure.

The two versions are two .deb files of this checkout built with different version numbers, the way
docs/updating.md builds a release.
"""
from __future__ import annotations

import functools
import http.server
import io
import json
import random
import threading
import time
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from central.app import create_app
from central.db import CentralDB
from central.enrol import issue_code
from provisioning import debpackage
from provisioning.aptrepo import Repository
from samplepoint.cli import main as cli_main
from samplepoint.httpserver import BackgroundServer
from tests.provisioning import booted
from tests.provisioning.booted import CAMPAIGN, Camera
from tests.provisioning.test_booted_device import assert_running, cli

pytestmark = [pytest.mark.system, pytest.mark.slow]

DEVICE, SITE, HOSTNAME = "DEV-DT-11", "SITE-CL-11", "sp-cao-lanh-11"
BASE = debpackage.project_version()
OLD, NEW = f"{BASE}.1", f"{BASE}.2"
CONFIG = "/etc/samplepoint/samplepoint.toml"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def repository(tmp_path_factory, request):
    """Two releases built from this checkout; the older one published in a fresh signed repository
    served over HTTP on the host end of the devices' link (the newer is published by the test)."""
    missing = booted.missing_tools() + [t for t in ("aptly", "gpg", "dpkg-deb")
                                        if not __import__("shutil").which(t)]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (make test installs them)")
    work = tmp_path_factory.mktemp("releases")
    wheels = booted.wheelhouse()
    started = time.monotonic()
    debs = {v: debpackage.build(work / "dist", version=v, wheelhouse=wheels) for v in (OLD, NEW)}
    print(f"two packages built in {time.monotonic() - started:.1f} s "
          f"({debs[OLD].stat().st_size // 2**20} MiB each)")
    repo = Repository(work / "repo")
    repo.init()
    repo.add([debs[OLD]])
    booted_link = request.getfixturevalue("booted_link")       # only once the tools are there
    server = http.server.ThreadingHTTPServer(     # on the host end of the devices' link
        (booted_link.host_ip, 0), functools.partial(QuietHandler, directory=str(repo.www)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield repo, debs, f"http://{booted_link.host_ip}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        repo.stop_agent()


def test_the_package_names_its_system_dependencies_and_carries_its_wheels(repository):
    repo, debs, _ = repository
    info = booted.run(["dpkg-deb", "--field", str(debs[OLD])]).stdout
    assert f"Version: {OLD}\n" in info and "Package: samplepoint\n" in info
    for dependency in ("python3-venv", "libzbar0", "hostapd", "dnsmasq-base", "nftables", "sqlite3"):
        assert dependency in info
    assert "Recommends: chromium, cage, python3-picamera2" in info
    files = booted.run(["dpkg-deb", "--contents", str(debs[OLD])]).stdout
    assert f"./opt/samplepoint/wheels/samplepoint-{OLD}-py3-none-any.whl" in files
    assert "numpy-" in files and "./usr/bin/samplepoint -> /opt/samplepoint/venv/bin/samplepoint" in files
    assert repo.versions()["amd64"] == [OLD]


def test_a_device_updates_from_the_repository_and_rolls_back(repository, booted_central, tmp_path):
    central = booted_central
    repo, debs, url = repository
    work = tmp_path / "golden"
    root = work / "root"
    try:
        started = time.monotonic()
        build_image_from_repository(root, work, url, repo.public_key, tmp_path)
        print(f"image built from the repository in {time.monotonic() - started:.1f} s")
        device_life(root, repo, debs, url, central, tmp_path)
    finally:
        booted.run(["rm", "-rf", "--one-file-system", str(root)])


def campaign_config(url: str) -> str:
    # Sign-in is the life test's subject (test_booted_device.py); here tubes are scanned before and
    # after restarts into new versions, so no badge has to be shown again after each.
    return CAMPAIGN + f"[workflow]\nrequire_sign_in = false\n[update]\nrepository_url = '{url}'\n"


def build_image_from_repository(root: Path, work: Path, url: str, key: Path, tmp_path: Path) -> None:
    """docs/updating.md "A new golden image": the image installs samplepoint from the repository."""
    tarball, _ = booted.rootfs_tarball()
    booted.extract(tarball, root)
    (root / "boot/firmware").mkdir(parents=True, exist_ok=True)
    (root / "boot/firmware/cmdline.txt").write_text(      # a fresh Raspberry Pi OS card's
        "console=tty1 root=PARTUUID=1234-02 rootfstype=ext4 rootwait quiet "
        "init=/usr/lib/raspberrypi-sys-mods/firstboot\n")
    base = tmp_path / "image.toml"
    base.write_text(campaign_config(url), encoding="utf-8")
    out = booted.run([*cli(), "provision", "--root", str(root), "--source", "repository",
                      "--config", str(base), "--apt-key", str(key)], cwd=booted.REPO).stdout
    assert f"samplepoint from {url}" in out and "install recorded" in out, out
    assert (root / "etc/apt/sources.list.d/samplepoint.list").read_text().endswith(
        f"deb [signed-by=/etc/apt/keyrings/samplepoint.asc] {url} bookworm main\n")
    script = booted.nspawn_run(root, "/opt/samplepoint/provision-on-device.sh", timeout=1800)
    assert f"version {OLD} installed" in script.stdout, script.stdout[-3000:]
    assert (root / "opt/samplepoint/venv").resolve().name == OLD
    wants = {link.name for link in (root / "etc/systemd/system").glob("*.target.wants/*")}
    assert {"samplepoint-kiosk.service", "samplepoint-forwarder.service"} <= wants


def device_life(root: Path, repo: Repository, debs: dict, url: str, central, tmp_path: Path) -> None:
    code, _ = issue_code(central.db, "Cao Lanh update", uses=1, valid_hours=24, sites=[SITE])
    sites = tmp_path / "sites.csv"
    sites.write_text("device_id;site_id;site_name;hotspot_ssid;pool_size;test_type;central_url;hostname\r\n"
                     f"{DEVICE};{SITE};Trạm Y tế Phường 11;DiemLayMau-11;5;rt-pcr;{central.url};{HOSTNAME}\r\n",
                     encoding="utf-8-sig")
    campaign = tmp_path / "campaign.toml"
    campaign.write_text(campaign_config(url), encoding="utf-8")
    booted.run([*cli(), "prepare-sd", "--sites", str(sites), "--device", DEVICE, "--enrol-code", code,
                "--base-config", str(campaign), "--boot", str(root / "boot/firmware")])
    camera = Camera(root)
    machine = booted.Machine(root, tmp_path / "console.log", central.link)
    rng = random.Random(23)
    try:
        machine.boot()
        assert_running(machine)
        machine.wait("enrolment and a heartbeat of version N", lambda: heartbeat_version(central) == OLD)
        assert behind(central.db, repo.folder) == []

        # A tube reaches central; central goes down; the next tube waits in the outbox.
        delivered = camera.full_tube(rng)
        machine.wait("tube A at central", lambda: central.db.count_samples() == 1, timeout=120)
        port = central.port
        central.stop()
        queued = camera.full_tube(rng)
        machine.wait("tube B queued", lambda: machine.query(
            "select state, count(*) from outbox group by state order by state") ==
            [["delivered", "1"], ["pending", "1"]], timeout=90)
        config_before = machine.sh(f"sha256sum {CONFIG}").stdout

        # N+1 is published; central lists the device as behind.
        repo.add([debs[NEW]])
        late = behind(central.db, repo.folder)
        assert [(d["device_id"], d["version"], d["newest"]) for d in late] == [(DEVICE, OLD, NEW)]
        assert [d["device_id"] for d in behind(central.db, url)] == [DEVICE]

        listed = machine.sh("samplepoint update --list").stdout
        assert f"{NEW}\n" in listed and f"{OLD}   (installed)" in listed
        started = time.monotonic()
        update = machine.sh("samplepoint update", timeout=900)
        print(f"update {OLD} -> {NEW} in {time.monotonic() - started:.1f} s")
        assert f"samplepoint {OLD} -> {NEW}" in update.stdout, update.stdout
        assert "samplepoint-kiosk.service: restarted" in update.stdout
        assert "samplepoint-forwarder.service: restarted" in update.stdout
        assert f"update: building the Python environment of {NEW}" in update.stdout
        check_running_version(machine, NEW)
        assert machine.sh(f"sha256sum {CONFIG}").stdout == config_before, "the config is untouched"

        # Central back: the queued tube arrives once, from services that now run N+1.
        central_again = BackgroundServer(create_app(central.db), host=central.host, port=port).start()
        try:
            machine.wait("tube B delivered", lambda: central.db.count_samples() == 2, timeout=120)
            machine.wait("a heartbeat of N+1", lambda: heartbeat_version(central) == NEW, timeout=60)
            machine.wait("the outbox drained", lambda: machine.query(
                "select state, count(*) from outbox group by state") == [["delivered", "2"]], timeout=60)
            tubes = sorted(r[0] for r in central.db.db.execute("select tube_code from samples"))
            assert tubes == sorted([delivered, queued]) and len(set(central.db.record_ids())) == 2
            assert behind(central.db, repo.folder) == []

            # Rollback: N again, from the repository; the services run it and still deliver.
            started = time.monotonic()
            rollback = machine.sh(f"samplepoint update --version {OLD}", timeout=900)
            print(f"rollback {NEW} -> {OLD} in {time.monotonic() - started:.1f} s")
            assert f"samplepoint {NEW} -> {OLD}" in rollback.stdout, rollback.stdout
            assert f"update: environment {OLD} already built (kept from before): reused" in rollback.stdout
            check_running_version(machine, OLD)
            machine.wait("a heartbeat of N", lambda: heartbeat_version(central) == OLD, timeout=60)
            third = camera.full_tube(rng)
            machine.wait("tube C at central", lambda: central.db.count_samples() == 3, timeout=120)
            assert third in [r[0] for r in central.db.db.execute("select tube_code from samples")]
            assert machine.sh(f"sha256sum {CONFIG}").stdout == config_before
            assert_running(machine)
            broken_releases_are_rolled_back(machine, repo, debs[NEW], tmp_path)
            assert machine.sh(f"sha256sum {CONFIG}").stdout == config_before
            fourth = camera.full_tube(rng)
            machine.wait("tube D at central", lambda: central.db.count_samples() == 4, timeout=120)
            assert fourth in [r[0] for r in central.db.db.execute("select tube_code from samples")]
        finally:
            central_again.stop()
    finally:
        machine.stop()
        machine.kill()


def heartbeat_version(central) -> str:
    rows = central.db.device_overview()
    if not rows or not rows[0]["heartbeat"]:
        return ""
    return json.loads(rows[0]["heartbeat"]).get("version", "")


def behind(db: CentralDB, source) -> list[dict]:
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli_main(["central", "devices", "--db", str(db.path), "--json", "--behind", str(source)]) == 0
    return json.loads(out.getvalue())


def check_running_version(machine: booted.Machine, version: str) -> None:
    assert machine.sh("readlink /opt/samplepoint/venv").stdout.strip() == f"venvs/{version}"
    assert machine.sh("dpkg-query -W -f='${Version}' samplepoint").stdout == version
    for unit in ("samplepoint-kiosk.service", "samplepoint-forwarder.service"):
        assert machine.unit(unit)["ActiveState"] == "active", unit
    # The kiosk's compiled modules (numpy, zxing-cpp) are mapped from that version's environment.
    pid = machine.unit("samplepoint-kiosk.service")["MainPID"]
    maps = machine.sh(f"cat /proc/{pid}/maps").stdout
    assert f"/opt/samplepoint/venvs/{version}/" in maps and "/venvs/" + ({OLD, NEW} - {version}).pop() + "/" not in maps


# Broken releases: N+1's package, renumbered, with a failure put into its postinst at one place.
AFTER_SWITCH, BEFORE_SWITCH = f"{BASE}.3", f"{BASE}.4"
FAULTS = {AFTER_SWITCH: ('    "$LINK/bin/samplepoint" provision --package "$mode"\n',
                         '    say "this release fails after the switch"; exit 3\n'),
          BEFORE_SWITCH: ("configure)\n", '    say "this release fails before the switch"; exit 4\n')}


def broken_release(deb: Path, version: str, work: Path) -> Path:
    tree = work / f"broken-{version}"
    booted.run(["dpkg-deb", "-R", str(deb), str(tree)])
    control = tree / "DEBIAN/control"
    control.write_text(control.read_text().replace(f"Version: {NEW}\n", f"Version: {version}\n"))
    postinst = tree / "DEBIAN/postinst"
    after, fault = FAULTS[version]
    assert after in postinst.read_text()
    postinst.write_text(postinst.read_text().replace(after, after + fault, 1))
    out = work / f"samplepoint_{version}_amd64.deb"
    booted.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(tree), str(out)])
    booted.run(["rm", "-rf", str(tree)])
    return out


def broken_releases_are_rolled_back(machine: booted.Machine, repo: Repository, new: Path,
                                    tmp_path: Path) -> None:
    for version, where in ((AFTER_SWITCH, "after"), (BEFORE_SWITCH, "before")):
        repo.add([broken_release(new, version, tmp_path)])
        started = time.monotonic()
        done = machine.sh("samplepoint update", check=False, timeout=900)
        print(f"failed update to {version} and rollback in {time.monotonic() - started:.1f} s")
        assert done.returncode == 1, done.stdout + done.stderr
        err = done.stderr.strip().splitlines()
        assert len(err) == 1, err
        assert err[0].startswith(f"samplepoint update: FAILED: samplepoint {version} did not install: "
                                 "its post-installation script failed"), err
        assert f"rolled back to {OLD}, which runs; fix: publish a fixed version newer than {version}" in err[0]
        assert f"this release fails {where} the switch" in done.stdout
        if where == "after":
            assert f"the switch to {NEW} failed: /opt/samplepoint/venv points to {OLD} again" in done.stdout
        assert f"update: rolling back to samplepoint {OLD}" in done.stdout
        assert machine.sh("dpkg-query -W -f='${Status}' samplepoint").stdout == "install ok installed"
        assert machine.sh("dpkg --audit").stdout == ""
        check_running_version(machine, OLD)
        checks = {c["name"]: c for c in machine.doctor()["checks"]}
        assert checks["update"]["status"] == "FAIL", checks["update"]
        assert checks["update"]["detail"].startswith("last run failed at ")
        assert f"samplepoint {version} did not install" in checks["update"]["detail"]
        assert checks["packages"]["status"] == "OK", checks["packages"]
