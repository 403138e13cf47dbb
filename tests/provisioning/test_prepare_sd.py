"""`samplepoint prepare-sd`: a 3-site CSV onto FAT images (mtools, no mount) and folders, both OS styles."""
from __future__ import annotations

import os
import stat
import subprocess
import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioning import sdcard, sites
from samplepoint import config as config_module
from samplepoint.cli import main as cli_main

SITES_CSV = """device_id,site_id,site_name,hotspot_ssid,pool_size,test_type,central_url,hostname
DEV-DT-01,SITE-CL-01,"Trạm Y tế Phường 1, Cao Lãnh",DiemLayMau-01,5,rt-pcr,https://central.example.vn,
DEV-DT-02,SITE-CL-02,Trạm Y tế Xã Mỹ Tân,DiemLayMau-02,10,rt-pcr,https://central.example.vn,sp-my-tan
DEV-DT-03,SITE-SD-01,Bệnh viện Sa Đéc,Wi-Fi Miễn phí,1,rapid-antigen,http://10.20.0.5:8700,
"""
CODE = "SP-ABCD-EFGH-JKLM"
MTOOLS_ENV = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}


def make_image(path, with_cmdline: bool = True):
    subprocess.run(["mkfs.fat", "-C", str(path), "8192"], check=True, capture_output=True)
    if with_cmdline:
        cmdline = path.with_suffix(".cmdline")
        cmdline.write_text("console=serial0,115200 root=PARTUUID=1234-02 rootfstype=ext4 rootwait\n")
        subprocess.run(["mcopy", "-i", str(path), str(cmdline), "::/cmdline.txt"], check=True,
                       env=MTOOLS_ENV)
    return path


def read_back(image, name) -> str:
    return subprocess.run(["mtype", "-i", str(image), f"::/{name}"], check=True, capture_output=True,
                          env=MTOOLS_ENV).stdout.decode()


@pytest.fixture
def sites_csv(tmp_path):
    path = tmp_path / "sites.csv"
    path.write_text(SITES_CSV, encoding="utf-8")
    return path


@pytest.mark.parametrize("style", ["bookworm", "trixie"])
def test_three_sites_onto_fat_images(tmp_path, sites_csv, style, capsys):
    rows = sites.parse_sites(SITES_CSV)
    assert len(rows) == 3
    for row in rows:
        image = make_image(tmp_path / f"{row.device_id}-{style}.img")
        code = cli_main(["prepare-sd", "--sites", str(sites_csv), "--device", row.device_id,
                         "--enrol-code", CODE, "--style", style, "--image", str(image)])
        assert code == 0, capsys.readouterr().err
        config = config_module.from_dict(tomllib.loads(read_back(image, "samplepoint/samplepoint.toml")))
        assert (config.device.id, config.site.id, config.site.name) == (row.device_id, row.site_id, row.site_name)
        assert (config.site.pool_size, config.site.test_type) == (row.pool_size, row.test_type)
        assert config.central.url == row.central_url
        assert config.hotspot.ssid == row.hotspot_ssid
        assert read_back(image, "samplepoint/enrol-code").strip() == CODE
        assert "moved off the boot partition" in read_back(image, "samplepoint/firstboot.sh")
        if style == "bookworm":
            firstrun = read_back(image, "firstrun.sh")
            assert f"firstboot.sh\" {row.hostname} " in firstrun
            cmdline = read_back(image, "cmdline.txt")
            assert cmdline.count("systemd.run=/boot/firmware/firstrun.sh") == 1
            assert cmdline.startswith("console=serial0") and len(cmdline.splitlines()) == 1
        else:
            user_data = read_back(image, "user-data")
            assert user_data.startswith("#cloud-config\n") and f"hostname: {row.hostname}\n" in user_data
            assert "firstboot.sh" in user_data
            assert "version: 2" in read_back(image, "network-config")
            assert f"instance-id: samplepoint-{row.device_id.lower()}" in read_back(image, "meta-data")
    assert rows[1].hostname == "sp-my-tan" and rows[0].hostname == "dev-dt-01"


def test_running_twice_on_a_card_does_not_stack_cmdline(tmp_path, sites_csv):
    image = make_image(tmp_path / "card.img")
    for _ in range(2):
        assert cli_main(["prepare-sd", "--sites", str(sites_csv), "--device", "DEV-DT-01",
                         "--enrol-code", CODE, "--style", "bookworm", "--image", str(image)]) == 0
    assert read_back(image, "cmdline.txt").count("systemd.run=") == 1


def test_a_mounted_folder_gets_the_code_0600(tmp_path, sites_csv):
    boot = tmp_path / "bootfs"
    boot.mkdir()
    (boot / "cmdline.txt").write_text("console=tty1 root=PARTUUID=1-02 rootwait\n")
    assert cli_main(["prepare-sd", "--sites", str(sites_csv), "--device", "DEV-DT-03",
                     "--enrol-code", CODE, "--style", "bookworm", "--boot", str(boot)]) == 0
    assert stat.S_IMODE((boot / "samplepoint/enrol-code").stat().st_mode) == 0o600
    assert stat.S_IMODE((boot / "samplepoint/samplepoint.toml").stat().st_mode) == 0o644
    assert not [p for p in boot.rglob(".*")], "no temp files left behind"


def test_no_secret_temp_file_survives_an_image_write(tmp_path, sites_csv, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)
    image = make_image(tmp_path / "card.img")
    assert cli_main(["prepare-sd", "--sites", str(sites_csv), "--device", "DEV-DT-02",
                     "--enrol-code", CODE, "--style", "trixie", "--image", str(image)]) == 0
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.mark.parametrize("args, message", [
    (["--enrol-code", "x"], "enrolment code looks wrong"),
    (["--enrol-code", CODE, "--device", "DEV-NOPE"], "no device DEV-NOPE"),
    (["--enrol-code", CODE], "choose one with --device"),
])
def test_mistakes_are_explained(tmp_path, sites_csv, capsys, args, message):
    image = make_image(tmp_path / "card.img")
    argv = ["prepare-sd", "--sites", str(sites_csv), "--style", "bookworm", "--image", str(image)]
    if "--device" not in args and "choose" not in message:
        argv += ["--device", "DEV-DT-01"]
    assert cli_main(argv + args) == 1
    assert message in capsys.readouterr().err


def test_a_card_without_cmdline_or_not_fat_is_refused(tmp_path, sites_csv, capsys):
    image = make_image(tmp_path / "blank.img", with_cmdline=False)
    base = ["prepare-sd", "--sites", str(sites_csv), "--device", "DEV-DT-01", "--enrol-code", CODE,
            "--style", "bookworm"]
    assert cli_main(base + ["--image", str(image)]) == 1
    assert "no cmdline.txt" in capsys.readouterr().err
    junk = tmp_path / "junk.img"
    junk.write_bytes(b"\0" * 4096)
    assert cli_main(base + ["--image", str(junk)]) == 1
    assert "failed" in capsys.readouterr().err


@pytest.mark.parametrize("csv_text, message", [
    ("device_id,site_id\nA,B\n", "lacks column"),
    (SITES_CSV.replace(",5,", ",0,"), "pool_size"),
    (SITES_CSV.replace("rapid-antigen", "pcr"), "test_type"),
    (SITES_CSV.replace("http://10.20.0.5:8700", "ftp://x"), "central_url"),
    (SITES_CSV.replace("DiemLayMau-02", "A" * 33), "32"),
    (SITES_CSV.replace("DEV-DT-02", "DEV-DT-01"), "appears twice"),
    (SITES_CSV.replace("DEV-DT-03", "../etc"), "device_id"),
    (SITES_CSV.replace("sp-my-tan", "sp_my tan"), "hostname"),
    ("device_id,site_id,site_name,hotspot_ssid,pool_size,test_type,central_url\n", "no device rows"),
])
def test_bad_csv_rows_name_the_row_and_column(csv_text, message):
    with pytest.raises(sites.SitesError, match=message):
        sites.parse_sites(csv_text)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=400))
def test_hostile_csv_never_crashes(text):
    try:
        rows = sites.parse_sites(sites.REQUIRED[0] + "," + ",".join(sites.REQUIRED[1:]) + "\n" + text)
    except sites.SitesError:
        return
    for row in rows:
        sites.device_config(row)          # every accepted row makes a valid config


@settings(max_examples=200, deadline=None)
@given(code=st.text(max_size=80))
def test_hostile_codes_are_refused_or_kept_verbatim(code):
    try:
        checked = sdcard.check_code(code)
    except sdcard.SdError:
        return
    assert "\n" not in checked and checked == code.strip()


def test_first_boot_scripts_are_valid_shell(tmp_path):
    row = sites.parse_sites(SITES_CSV)[0]
    firstrun = tmp_path / "firstrun.sh"
    firstrun.write_text(sdcard.bookworm_files(row)["firstrun.sh"])
    for script in (sdcard.FIRSTBOOT, firstrun):
        subprocess.run(["bash", "-n", str(script)], check=True)


def test_a_fat_mount_that_refuses_chmod_still_gets_the_files(tmp_path, sites_csv, monkeypatch):
    boot = tmp_path / "bootfs"
    boot.mkdir()
    (boot / "cmdline.txt").write_text("console=tty1 root=PARTUUID=1-02 rootwait\n")

    def refuse(fd, mode):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "fchmod", refuse)
    assert cli_main(["prepare-sd", "--sites", str(sites_csv), "--device", "DEV-DT-01",
                     "--enrol-code", CODE, "--style", "trixie", "--boot", str(boot)]) == 0
    assert (boot / "samplepoint/enrol-code").read_text().strip() == CODE
    assert stat.S_IMODE((boot / "samplepoint/enrol-code").stat().st_mode) & 0o077 == 0
    assert not [p for p in boot.rglob(".*")]


@pytest.mark.parametrize("style", ["bookworm", "trixie"])
def test_first_boot_moves_config_and_code_off_the_boot_partition(tmp_path, sites_csv, style):
    boot, root = tmp_path / "bootfs", tmp_path / "root"
    boot.mkdir()
    (root / "etc").mkdir(parents=True)
    (boot / "cmdline.txt").write_text("console=tty1 root=PARTUUID=1-02 rootwait\n")
    (root / "etc/hostname").write_text("raspberrypi\n")
    (root / "etc/hosts").write_text("127.0.0.1\tlocalhost\n127.0.1.1\traspberrypi\n")
    assert cli_main(["prepare-sd", "--sites", str(sites_csv), "--device", "DEV-DT-02",
                     "--enrol-code", CODE, "--style", style, "--boot", str(boot)]) == 0
    done = subprocess.run(["bash", str(boot / "samplepoint/firstboot.sh"), "sp-my-tan", str(boot)],
                          env={**os.environ, "SAMPLEPOINT_ROOT": str(root)}, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert not (boot / "samplepoint/enrol-code").exists(), "boot copy of the code must be gone"
    code_file = root / "var/lib/samplepoint/enrol-code"
    assert code_file.read_text().strip() == CODE
    assert stat.S_IMODE(code_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((root / "var/lib/samplepoint").stat().st_mode) == 0o700
    config_file = root / "etc/samplepoint/samplepoint.toml"
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    assert config_module.load(config_file).device.id == "DEV-DT-02"
    assert (root / "etc/hostname").read_text() == "sp-my-tan\n"
    assert "127.0.1.1\tsp-my-tan" in (root / "etc/hosts").read_text()
