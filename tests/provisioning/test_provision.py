"""`samplepoint provision --root DIR`: files, modes and owners; a second run changes nothing."""
from __future__ import annotations

import argparse
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioning import provision, system
from samplepoint import config as config_module
from samplepoint.cli import main as cli_main

pytestmark = pytest.mark.system       # chown to the service user needs root


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A stand-in for the release wheel: provision --root only carries it into the image."""
    path = tmp_path_factory.mktemp("dist") / "samplepoint-0.1.0-py3-none-any.whl"
    path.write_bytes(b"PK stand-in wheel")
    return path


@pytest.fixture(autouse=True)
def _wheel(wheel):
    global WHEEL
    WHEEL = wheel


def run(root, *extra, capsys) -> tuple[int, str]:
    source = [] if "--source" in extra else ["--source", str(WHEEL)]
    code = cli_main(["provision", "--root", str(root), *source, *extra])
    return code, capsys.readouterr().out


def owner(path: Path) -> tuple[int, int, int]:
    st_ = path.stat()
    return st_.st_uid, st_.st_gid, stat.S_IMODE(st_.st_mode)


def ids(root: Path) -> tuple[int, int]:
    return (system.lookup((root / "etc/passwd").read_text(), "samplepoint"),
            system.lookup((root / "etc/group").read_text(), "samplepoint"))


@pytest.fixture
def image_root(tmp_path):
    """A tree standing for a Raspberry Pi OS image: its own passwd and group, video already there."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\npi:x:1000:1000::/home/pi:/bin/bash\n")
    (root / "etc/group").write_text("root:x:0:\nvideo:x:44:pi\npi:x:1000:\n")
    return root


def test_provision_into_a_tree_then_again_without_change(image_root, tmp_path, capsys):
    code_file = tmp_path / "code"
    code_file.write_text("SP-ABCD-EFGH-JKLM\n")
    code, out = run(image_root, "--enrol-code-file", str(code_file), capsys=capsys)
    assert code == 0, out
    assert "[1/11] system packages: recorded" in out and "[11/11]" in out
    uid, gid = ids(image_root)
    groups = (image_root / "etc/group").read_text()
    assert "video:x:44:pi,samplepoint" in groups
    assert any(line.startswith("lp:") and line.endswith(":samplepoint") for line in groups.splitlines()), \
        "the kiosk opens a USB slip printer through group lp"
    rule = image_root / "etc/udev/rules.d/60-samplepoint-printer.rules"
    assert owner(rule) == (0, 0, 0o644) and 'GROUP="lp", MODE="0660"' in rule.read_text()
    assert owner(image_root / "var/lib/samplepoint") == (uid, gid, 0o700)
    assert owner(image_root / "etc/samplepoint") == (0, gid, 0o750)
    assert owner(image_root / "etc/samplepoint/samplepoint.toml") == (uid, gid, 0o600)
    assert owner(image_root / "var/lib/samplepoint/enrol-code") == (uid, gid, 0o600)
    config_module.load(image_root / "etc/samplepoint/samplepoint.toml")
    for name in provision.DEVICE_UNITS:
        assert owner(image_root / "etc/systemd/system" / name) == (0, 0, 0o644)
    wants = image_root / "etc/systemd/system/multi-user.target.wants"
    assert sorted(p.name for p in wants.iterdir()) == sorted(
        u for u in provision.ENABLED_UNITS if u != "samplepoint-display.service")
    assert os.readlink(wants / "samplepoint-kiosk.service") == "/etc/systemd/system/samplepoint-kiosk.service"
    assert (image_root / "etc/systemd/system/graphical.target.wants/samplepoint-display.service").is_symlink()
    assert os.readlink(image_root / "usr/local/bin/samplepoint") == provision.VENV + "/bin/samplepoint"
    preset = (image_root / "etc/systemd/system-preset/10-samplepoint.preset").read_text()
    assert "enable samplepoint-kiosk.service\n" in preset and "disable nftables.service\n" in preset
    assert "disable samplepoint-hostapd.service\n" in preset and "disable samplepoint-central" in preset
    script = (image_root / "opt/samplepoint/provision-on-device.sh").read_text()
    assert script.index("apt-get update") < script.index("apt-get install")
    assert "for p in python3-venv libzbar0" in script and "for p in python3-picamera2" in script
    assert "python3 -m venv --system-site-packages /opt/samplepoint/venv" in script
    assert ("/opt/samplepoint/venv/bin/pip install --quiet --upgrade --find-links /opt/samplepoint/dist "
            "/opt/samplepoint/dist/samplepoint-0.1.0-py3-none-any.whl") in script
    assert (image_root / "opt/samplepoint/dist/samplepoint-0.1.0-py3-none-any.whl").read_bytes() == \
        WHEEL.read_bytes(), "the image carries the software it installs"
    assert script.rstrip().endswith("image sealed (machine-id uninitialized, no SSH host keys)'")
    assert "echo uninitialized > /etc/machine-id" in script
    before = {p: p.stat().st_mtime_ns for p in image_root.rglob("*") if not p.is_symlink()}

    code, out = run(image_root, "--enrol-code-file", str(code_file), capsys=capsys)
    assert code == 0
    assert out.strip().endswith("provision: no change (already provisioned)")
    assert {p: p.stat().st_mtime_ns for p in image_root.rglob("*") if not p.is_symlink()} == before


def test_a_given_config_is_installed_and_a_changed_one_reported(image_root, tmp_path, capsys):
    config = tmp_path / "device.toml"
    config.write_text("[site]\nid = 'SITE-A'\n[device]\nid = 'DEV-A'\n")
    assert run(image_root, "--config", str(config), capsys=capsys)[0] == 0
    installed = image_root / "etc/samplepoint/samplepoint.toml"
    assert config_module.load(installed).device.id == "DEV-A"
    config.write_text("[site]\nid = 'SITE-B'\n[device]\nid = 'DEV-A'\n")
    code, out = run(image_root, "--config", str(config), capsys=capsys)
    assert code == 0 and "samplepoint.toml written" in out and "1 step(s) changed" in out


def test_loose_modes_are_tightened(image_root, capsys):
    assert run(image_root, capsys=capsys)[0] == 0
    token = image_root / "var/lib/samplepoint/device-token"
    token.write_text("secret\n")
    os.chmod(token, 0o644)
    os.chmod(image_root / "var/lib/samplepoint", 0o755)
    code, out = run(image_root, capsys=capsys)
    assert code == 0 and "device-token made 0600" in out
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert stat.S_IMODE((image_root / "var/lib/samplepoint").stat().st_mode) == 0o700


@pytest.mark.parametrize("text, fix", [
    ("[site]\npool_size = 0\n", "fix the config file"),
    ("[device]\ndata_dir = '/home/pi/data'\n", "set data_dir = '/var/lib/samplepoint'"),
])
def test_a_bad_config_fails_with_the_fix(image_root, tmp_path, capsys, text, fix):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    code, out = run(image_root, "--config", str(config), capsys=capsys)
    assert code == 1
    assert "[4/11] configuration: FAILED" in out and f"fix: {fix}" in out
    assert not (image_root / "etc/systemd/system/samplepoint-kiosk.service").exists()


def test_host_mode_refuses_without_root(monkeypatch, capsys):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    args = argparse.Namespace(root=None)
    assert provision.provision(args) == 1
    assert "must run as root" in capsys.readouterr().out


def listing(packages, provides: dict | None = None) -> str:
    """dpkg-query's "status<TAB>package<TAB>provides" lines for installed packages."""
    provides = provides or {}
    return "".join(f"ii \t{p}\t{provides.get(p, '')}\n" for p in packages)


def test_a_package_provided_under_a_new_name_counts_as_installed(tmp_path):
    """Trixie renamed libzbar0 to libzbar0t64, which provides the old name: nothing to install."""
    names = [p for p in provision.APT_PACKAGES + provision.APT_OPTIONAL if p != "libzbar0"]
    text = listing([*names, "libzbar0t64"], {"libzbar0t64": "libzbar0 (= 0.23.93-8)"})
    text += "rc \tcage-old\t\nun \tsomething\tlibusb-1.0-0\n"          # removed: not installed
    commands = []

    def fake_run(command):
        commands.append(command)
        return text if command[0] == "dpkg-query" else ""
    target = provision.Target(tmp_path, True, fake_run)
    assert provision.step_packages(target, None) == "all installed"
    assert not any(c[0] == "apt-get" for c in commands)
    assert provision.installed_names("ii \tlibc6:amd64\tlibc6-udeb (= 2), foo\n") == \
        {"libc6", "libc6-udeb", "foo"}
    assert provision.installed_names("garbage\n\t\t\nii\n") == set()


def test_the_recorded_apt_script_sees_provided_names_too(tmp_path):
    """The shell the image runs: a fake dpkg-query prints Trixie's listing; only what is really
    missing reaches apt-get."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    names = [p for p in provision.APT_PACKAGES if p not in ("libzbar0", "cage")]
    rows = "".join(f"ii  {p} \n" for p in names) + "ii  libzbar0t64 libzbar0 (= 0.23.93-8)\n" \
        + "rc  cage \n"
    (bin_dir / "dpkg-query").write_text(f"#!/bin/sh\nprintf '%s' '{rows}'\n")
    (bin_dir / "apt-get").write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path}/apt.log\n")
    (bin_dir / "apt-cache").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "systemctl").write_text("#!/bin/sh\nexit 0\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    import subprocess
    done = subprocess.run(["sh", "-c", provision._apt_script()], capture_output=True, text=True,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin"}, timeout=60)
    assert done.returncode == 0, done.stderr
    installs = [line for line in (tmp_path / "apt.log").read_text().splitlines() if "install" in line]
    assert len(installs) == 1 and installs[0].split()[-1] == "cage", installs


def test_host_mode_runs_apt_only_for_missing_packages(tmp_path, monkeypatch):
    commands = []

    def fake_run(command):
        commands.append(command)
        if command[0] == "dpkg-query":
            return listing(p for p in provision.APT_PACKAGES + provision.APT_OPTIONAL if p != "cage")
        return ""

    target = provision.Target(tmp_path, True, fake_run)
    assert provision.step_packages(target, None) == "installed cage"
    assert ["apt-get", "update", "-qq"] in commands
    assert ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "cage"] in commands
    assert commands[-1] == ["systemctl", "--quiet", "disable", "nftables.service"]
    assert target.changes == 1


def test_a_package_only_raspberry_pi_os_has_is_skipped_elsewhere(tmp_path):
    def fake_run(command):
        if command[0] == "dpkg-query":
            return listing(provision.APT_PACKAGES)
        if command[:2] == ["apt-cache", "madison"]:
            raise provision.StepFailed("E: No packages found", "")
        return ""

    target = provision.Target(tmp_path, True, fake_run)
    assert "python3-picamera2 not in this system's archive" in provision.step_packages(target, None)
    assert target.changes == 0


def test_an_image_carries_a_wheel_built_from_the_checkout(image_root, tmp_path, capsys):
    import zipfile
    wheels = tmp_path / "wheelhouse"
    wheels.mkdir()
    (wheels / "flask-3.0.0-py3-none-any.whl").write_bytes(b"PK stand-in")
    checkout = Path(provision.__file__).resolve().parents[1]
    code, out = run(image_root, "--source", str(checkout), "--wheels", str(wheels), capsys=capsys)
    assert code == 0, out
    dist = image_root / "opt/samplepoint/dist"
    built = sorted(dist.glob("samplepoint-*.whl"))
    assert len(built) == 1 and (dist / "flask-3.0.0-py3-none-any.whl").exists()
    with zipfile.ZipFile(built[0]) as archive:
        names = archive.namelist()
    assert "samplepoint/cli.py" in names and any(n.endswith("share/samplepoint/firstboot.sh") for n in names)
    assert not any(n.startswith("tests/") for n in names)
    script = (image_root / "opt/samplepoint/provision-on-device.sh").read_text()
    assert "--no-index --find-links /opt/samplepoint/dist" in script, "a wheelhouse installs offline"


def test_an_installed_copy_without_source_asks_for_the_wheel(image_root, capsys, monkeypatch):
    monkeypatch.setattr(provision, "__file__", "/opt/samplepoint/venv/lib/python3.11/site-packages/"
                                               "provisioning/provision.py")
    code, out = run(image_root, "--source", "", capsys=capsys)
    assert code == 1 and "pass --source with the samplepoint .whl" in out


@given(names=st.lists(st.from_regex(r"[a-z][a-z0-9_-]{0,15}", fullmatch=True), max_size=20))
def test_group_and_user_edits_are_idempotent(names):
    group, passwd = "root:x:0:\n", "root:x:0:0::/root:/bin/sh\n"
    for name in names:
        group, gid = system.ensure_group(group, name, "samplepoint")
    again = group
    for name in names:
        again, _ = system.ensure_group(again, name, "samplepoint")
    assert again == group
    gids = [line.split(":")[2] for line in group.splitlines()]
    assert len(gids) == len(set(gids))
    passwd, uid = system.ensure_user(passwd, "samplepoint", 999, "/var/lib/samplepoint", "/usr/sbin/nologin")
    assert system.ensure_user(passwd, "samplepoint", 5, "/x", "/bin/sh") == (passwd, uid)


def test_central_unit_only_when_asked(image_root, capsys):
    assert run(image_root, capsys=capsys)[0] == 0
    assert not (image_root / "etc/systemd/system/samplepoint-central.service").exists()
    code, out = run(image_root, "--central", capsys=capsys)
    assert code == 0 and "installed 2: samplepoint-central.service 10-samplepoint.preset" in out
    assert (image_root / "etc/systemd/system/multi-user.target.wants/samplepoint-central.service").is_symlink()


def test_an_image_from_a_package_carries_it_and_leaves_units_to_its_postinst(image_root, tmp_path, capsys):
    from tests.provisioning.test_aptrepo import tiny_deb
    deb = tiny_deb(tmp_path, "0.1.0.3")
    key = tmp_path / "samplepoint.asc"
    key.write_text("-----BEGIN PGP PUBLIC KEY BLOCK-----\nstand-in\n-----END PGP PUBLIC KEY BLOCK-----\n")
    config = tmp_path / "device.toml"
    config.write_text("[update]\nrepository_url = 'http://10.0.0.1/apt'\n")
    code, out = run(image_root, "--source", str(deb), "--config", str(config), "--apt-key", str(key),
                    capsys=capsys)
    assert code == 0, out
    assert "[6/11] software: samplepoint 0.1.0.3 (samplepoint_0.1.0.3_amd64.deb): install recorded" in out
    assert "systemd units: the package's own" in out
    assert (image_root / "opt/samplepoint/dist/samplepoint_0.1.0.3_amd64.deb").read_bytes() == deb.read_bytes()
    script = (image_root / "opt/samplepoint/provision-on-device.sh").read_text()
    assert "apt-get install -y -q --allow-downgrades" in script
    assert script.index("apt-get update") < script.index("/opt/samplepoint/dist/samplepoint_0.1.0.3_amd64.deb")
    assert (image_root / "etc/apt/sources.list.d/samplepoint.list").read_text().splitlines()[-1] == \
        "deb [signed-by=/etc/apt/keyrings/samplepoint.asc] http://10.0.0.1/apt bookworm main"
    assert (image_root / "etc/apt/keyrings/samplepoint.asc").read_bytes() == key.read_bytes()
    assert not (image_root / "etc/systemd/system/samplepoint-kiosk.service").exists()


def test_the_version_compared_is_the_targets_not_the_running_one(image_root, tmp_path):
    status = image_root / "var/lib/dpkg/status"
    status.parent.mkdir(parents=True)
    status.write_text("Package: python3\nStatus: install ok installed\nVersion: 3.11.2-1\n\n"
                      "Package: samplepoint\nStatus: install ok installed\nArchitecture: amd64\n"
                      "Version: 0.1.0.9\nDescription: x\n more\n")
    target = provision.Target(image_root, False, provision.run_command)
    assert provision.target_package_version(target) == "0.1.0.9"
    commands = []

    def host(command):
        commands.append(command)
        return {"dpkg-query": "install ok installed" if "-f=${Status}" in command else "0.1.0.2"}.get(
            command[0], "")
    assert provision.target_package_version(provision.Target(tmp_path, True, host)) == "0.1.0.2"


def test_repository_source_needs_a_repository_in_the_config(image_root, capsys):
    code, out = run(image_root, "--source", "repository", capsys=capsys)
    assert code == 1 and "needs [update] repository_url" in out
    assert "software: FAILED" in out


def test_a_repository_without_its_key_is_refused(image_root, tmp_path, capsys):
    config = tmp_path / "device.toml"
    config.write_text("[update]\nrepository_url = 'http://10.0.0.1/apt'\n")
    code, out = run(image_root, "--config", str(config), capsys=capsys)
    assert code == 1 and "apt repository: FAILED" in out and "pass --apt-key" in out
    (tmp_path / "bad.asc").write_text("not a key")
    code, out = run(image_root, "--config", str(config), "--apt-key", str(tmp_path / "bad.asc"), capsys=capsys)
    assert code == 1 and "is not an OpenPGP public key" in out


def test_a_package_upgrade_enables_only_units_it_adds(tmp_path, monkeypatch):
    calls = []
    target = provision.Target(tmp_path, True, lambda c: calls.append(c) or "disabled", package_mode="upgrade")
    assert provision.step_enable(target, argparse.Namespace(central=False)) == "kept as they were (upgrade)"
    target.new_units = ["samplepoint-admit.service"]
    assert provision.step_enable(target, argparse.Namespace(central=False)) == "enabled samplepoint-admit.service"
    assert ["systemctl", "enable", "samplepoint-admit.service"] in calls
