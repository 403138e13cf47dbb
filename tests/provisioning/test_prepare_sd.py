"""`samplepoint prepare-sd`: a 3-site CSV onto FAT images (mtools, no mount) and folders, both OS styles,
keeping what Raspberry Pi Imager wrote; the card's style read off the card; first boot applies it."""
from __future__ import annotations

import os
import stat
import subprocess
import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioning import sdcard, sites
from provisioning.provision import FIRSTBOOT
from samplepoint import config as config_module
from samplepoint.cli import main as cli_main

SITES_CSV = """device_id,site_id,site_name,hotspot_ssid,pool_size,test_type,central_url,hostname
DEV-DT-01,SITE-CL-01,"Trạm Y tế Phường 1, Cao Lãnh",DiemLayMau-01,5,rt-pcr,https://central.example.vn,
DEV-DT-02,SITE-CL-02,Trạm Y tế Xã Mỹ Tân,DiemLayMau-02,10,rt-pcr,https://central.example.vn,sp-my-tan
DEV-DT-03,SITE-SD-01,Bệnh viện Sa Đéc,Wi-Fi Miễn phí,1,rapid-antigen,https://10.20.0.5:8700,
"""
CODE = "SP-ABCD-EFGH-JKLM"
MTOOLS_ENV = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}


# What freshly written Raspberry Pi OS cards hold (pi-gen's stage1 cmdline.txt; Trixie's stage2
# cloud-init seed files are comments only).
BOOKWORM_CMDLINE = ("console=serial0,115200 console=tty1 root=PARTUUID=1234-02 rootfstype=ext4 "
                    "fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot\n")
TRIXIE_CMDLINE = ("console=serial0,115200 console=tty1 root=PARTUUID=1234-02 rootfstype=ext4 "
                  "fsck.repair=yes rootwait resize\n")
TRIXIE_SEEDS = {"user-data": "#cloud-config\n# This is the user-data configuration file\n#hostname: raspberrypi\n",
                "meta-data": "dsmode: local\ninstance_id: rpios-image\n",
                "network-config": "# network:\n#   version: 2\n"}
# What Raspberry Pi Imager writes when the technician sets a user and SSH.
IMAGER_FIRSTRUN = """#!/bin/sh

set +e

CURRENT_HOSTNAME=`cat /etc/hostname | tr -d " \\t\\n\\r"`
/usr/lib/raspberrypi-sys-mods/imager_custom set_hostname campaign-pi
/usr/lib/raspberrypi-sys-mods/imager_custom enable_ssh
/usr/lib/userconf-pi/userconf 'kythuat' '$5$hash'
rm -f /boot/firstrun.sh
sed -i 's| systemd.run.*||g' /boot/cmdline.txt
exit 0
"""
IMAGER_RUN = (" systemd.run=/boot/firstrun.sh systemd.run_success_action=reboot"
              " systemd.unit=kernel-command-line.target")
IMAGER_USER_DATA = """#cloud-config
manage_resolv_conf: false
hostname: campaign-pi
manage_etc_hosts: true
timezone: Asia/Ho_Chi_Minh
user:
  name: kythuat
  passwd: "$y$hash"
  lock_passwd: false
ssh_pwauth: true
runcmd:
  - [ systemctl, enable, --now, ssh ]
"""


def put(image, name, text):
    local = image.with_suffix("." + name.replace("/", "_"))
    local.write_text(text)
    subprocess.run(["mcopy", "-o", "-i", str(image), str(local), f"::/{name}"], check=True,
                   env=MTOOLS_ENV)


def make_image(path, style: str | None = "bookworm", extra: dict | None = None):
    """A FAT image standing for a freshly written card of that style (None: no cmdline.txt)."""
    subprocess.run(["mkfs.fat", "-C", str(path), "8192"], check=True, capture_output=True)
    files = {}
    if style == "bookworm":
        files["cmdline.txt"] = BOOKWORM_CMDLINE
    elif style == "trixie":
        files = {"cmdline.txt": TRIXIE_CMDLINE, **TRIXIE_SEEDS}
    files.update(extra or {})
    for name, text in files.items():
        put(path, name, text)
    return path


def read_back(image, name) -> str:
    return subprocess.run(["mtype", "-i", str(image), f"::/{name}"], check=True, capture_output=True,
                          env=MTOOLS_ENV).stdout.decode()


@pytest.fixture
def sites_csv(tmp_path):
    path = tmp_path / "sites.csv"
    path.write_text(SITES_CSV, encoding="utf-8")
    return path


def folder_card(tmp_path, style="bookworm", extra=None):
    boot = tmp_path / "bootfs"
    boot.mkdir()
    files = {"cmdline.txt": BOOKWORM_CMDLINE} if style == "bookworm" else \
        {"cmdline.txt": TRIXIE_CMDLINE, **TRIXIE_SEEDS}
    for name, text in {**files, **(extra or {})}.items():
        (boot / name).write_text(text)
    return boot


@pytest.mark.parametrize("style", ["bookworm", "trixie"])
def test_three_sites_onto_fat_images(tmp_path, sites_csv, style, capsys):
    rows = sites.parse_sites(SITES_CSV)
    assert len(rows) == 3
    for row in rows:
        image = make_image(tmp_path / f"{row.device_id}-{style}.img", style)
        code = cli_main(["prepare-sd", "--sites", str(sites_csv), "--device", row.device_id,
                         "--enrol-code", CODE, "--image", str(image)])
        assert code == 0, capsys.readouterr().err
        assert f"{row.device_id} ({row.site_id}, {style})" in capsys.readouterr().out
        config = config_module.from_dict(tomllib.loads(read_back(image, "samplepoint/samplepoint.toml")))
        assert (config.device.id, config.site.id, config.site.name) == (row.device_id, row.site_id, row.site_name)
        assert (config.site.pool_size, config.site.test_type) == (row.pool_size, row.test_type)
        assert config.central.url == row.central_url
        assert config.hotspot.ssid == row.hotspot_ssid
        assert read_back(image, "samplepoint/enrol-code").strip() == CODE
        assert read_back(image, "samplepoint/hostname") == row.hostname + "\n"
        if style == "bookworm":
            assert read_back(image, "cmdline.txt") == BOOKWORM_CMDLINE, "cmdline.txt is left alone"
        else:
            user_data = read_back(image, "user-data")
            assert user_data.startswith("#cloud-config\n") and f"hostname: {row.hostname}\n" in user_data
            assert "version: 2" in read_back(image, "network-config")
            assert read_back(image, "meta-data") == TRIXIE_SEEDS["meta-data"], "meta-data kept"
    assert rows[1].hostname == "sp-my-tan" and rows[0].hostname == "dev-dt-01"


def test_the_imagers_firstrun_on_bookworm_is_kept(tmp_path, sites_csv):
    cmdline = BOOKWORM_CMDLINE.rstrip("\n") + IMAGER_RUN + "\n"
    image = make_image(tmp_path / "card.img", "bookworm",
                       {"firstrun.sh": IMAGER_FIRSTRUN, "cmdline.txt": cmdline})
    for _ in range(2):
        assert cli_main(["prepare-sd", "--sites", str(sites_csv), "--device", "DEV-DT-01",
                         "--enrol-code", CODE, "--style", "bookworm", "--image", str(image)]) == 0
    assert read_back(image, "firstrun.sh") == IMAGER_FIRSTRUN
    assert read_back(image, "cmdline.txt") == cmdline


def test_the_imagers_user_data_on_trixie_keeps_user_and_ssh(tmp_path, sites_csv):
    import yaml
    image = make_image(tmp_path / "card.img", "trixie",
                       {"user-data": IMAGER_USER_DATA, "meta-data": "instance-id: rpi-imager-1732\n"})
    for _ in range(2):
        assert cli_main(["prepare-sd", "--sites", str(sites_csv), "--device", "DEV-DT-02",
                         "--enrol-code", CODE, "--image", str(image)]) == 0
    text = read_back(image, "user-data")
    data = yaml.safe_load(text)
    assert text.startswith("#cloud-config\n")
    assert data["hostname"] == "sp-my-tan", "the site's hostname wins over the Imager's"
    assert data["user"] == {"name": "kythuat", "passwd": "$y$hash", "lock_passwd": False}
    assert data["ssh_pwauth"] is True and data["runcmd"] == [["systemctl", "enable", "--now", "ssh"]]
    assert read_back(image, "meta-data") == "instance-id: rpi-imager-1732\n"


def test_an_older_samplepoint_firstrun_is_neutralised(tmp_path, sites_csv):
    old = "#!/bin/bash\nbash \"$BOOT/samplepoint/firstboot.sh\" dev-dt-01 \"$BOOT\"\n"
    boot = folder_card(tmp_path, "bookworm", {"firstrun.sh": old})
    assert cli_main(["prepare-sd", "--sites", str(sites_csv), "--device", "DEV-DT-01",
                     "--enrol-code", CODE, "--boot", str(boot)]) == 0
    firstrun = (boot / "firstrun.sh").read_text()
    assert "samplepoint/firstboot.sh" not in firstrun and "rm -f" in firstrun


@pytest.mark.parametrize("card, asked, message", [
    ("bookworm", "trixie", "this card is bookworm"),
    ("trixie", "bookworm", "this card is trixie"),
])
def test_a_style_that_does_not_match_the_card_is_refused(tmp_path, sites_csv, capsys, card, asked,
                                                          message):
    image = make_image(tmp_path / "card.img", card)
    assert cli_main(["prepare-sd", "--sites", str(sites_csv), "--device", "DEV-DT-01", "--enrol-code",
                     CODE, "--style", asked, "--image", str(image)]) == 1
    assert message in capsys.readouterr().err
    assert read_back(image, "cmdline.txt") in (BOOKWORM_CMDLINE, TRIXIE_CMDLINE)


def test_a_card_that_cannot_be_told_apart_needs_style(tmp_path, sites_csv, capsys):
    image = make_image(tmp_path / "card.img", None, {"cmdline.txt": "console=tty1 root=/dev/mmcblk0p2\n"})
    argv = ["prepare-sd", "--sites", str(sites_csv), "--device", "DEV-DT-01", "--enrol-code", CODE,
            "--image", str(image)]
    assert cli_main(argv) == 1
    assert "pass --style" in capsys.readouterr().err
    assert cli_main(argv + ["--style", "bookworm"]) == 0


def test_per_site_values_go_over_the_campaign_base_config(tmp_path, sites_csv):
    base = tmp_path / "campaign.toml"
    base.write_text("[central]\nca_bundle = '/etc/samplepoint/ca.pem'\nurl = 'https://old.example.vn'\n"
                    "[site]\ntube_pattern = '^DT[0-9]{8}$'\npool_size = 7\n"
                    "[feedback]\nbuzzer_pin = 22\n", encoding="utf-8")
    boot = folder_card(tmp_path)
    assert cli_main(["prepare-sd", "--sites", str(sites_csv), "--device", "DEV-DT-02", "--enrol-code",
                     CODE, "--base-config", str(base), "--boot", str(boot)]) == 0
    config = config_module.load(boot / "samplepoint/samplepoint.toml")
    assert config.central.ca_bundle == "/etc/samplepoint/ca.pem"
    assert config.site.tube_pattern == "^DT[0-9]{8}$" and config.feedback.buzzer_pin == 22
    assert (config.central.url, config.site.pool_size) == ("https://central.example.vn", 10)


def test_a_bad_base_config_is_refused_naming_the_file(tmp_path, sites_csv, capsys):
    base = tmp_path / "campaign.toml"
    base.write_text("[site]\npool_size = 'five'\n", encoding="utf-8")
    boot = folder_card(tmp_path)
    assert cli_main(["prepare-sd", "--sites", str(sites_csv), "--device", "DEV-DT-02", "--enrol-code",
                     CODE, "--base-config", str(base), "--boot", str(boot)]) == 1
    err = capsys.readouterr().err
    assert "campaign.toml" in err and "pool_size" in err
    assert not (boot / "samplepoint").exists()


def test_check_validates_the_csv_without_a_card(sites_csv, capsys):
    assert cli_main(["prepare-sd", "--sites", str(sites_csv), "--check"]) == 0
    out = capsys.readouterr().out
    assert "3 device(s)" in out and "DEV-DT-03" in out


@pytest.mark.parametrize("encode", [
    lambda t: t.encode("utf-8"),
    lambda t: b"\xef\xbb\xbf" + t.encode("utf-8"),
    lambda t: t.replace(",", ";").replace('"Trạm Y tế Phường 1; Cao Lãnh"', '"Trạm Y tế Phường 1, Cao Lãnh"').encode("utf-8"),
    lambda t: b"\xef\xbb\xbf" + t.replace(",", ";").replace('"Trạm Y tế Phường 1; Cao Lãnh"', '"Trạm Y tế Phường 1, Cao Lãnh"').encode("utf-8"),
], ids=["utf8-comma", "bom-comma", "utf8-semicolon", "bom-semicolon"])
def test_csv_as_excel_saves_it(tmp_path, encode):
    path = tmp_path / "sites.csv"
    path.write_bytes(encode(SITES_CSV.replace("\n", "\r\n")))
    assert cli_main(["prepare-sd", "--sites", str(path), "--check"]) == 0
    rows = sites.parse_sites(sites.decode_csv(path.read_bytes()))
    assert rows[0].site_name == "Trạm Y tế Phường 1, Cao Lãnh" and rows[2].pool_size == 1


@pytest.mark.parametrize("data, message", [
    (("\ufeff" + SITES_CSV).encode("utf-16-le"), "UTF-16"),
    (SITES_CSV.encode("utf-16"), "UTF-16"),
    (SITES_CSV.encode("cp1258", errors="replace"), "not UTF-8"),      # Windows' Vietnamese code page
])
def test_other_encodings_are_refused_with_how_to_save(tmp_path, capsys, data, message):
    path = tmp_path / "sites.csv"
    path.write_bytes(data)
    assert cli_main(["prepare-sd", "--sites", str(path), "--check"]) == 1
    err = capsys.readouterr().err
    assert message in err and "CSV UTF-8" in err


def test_a_mounted_folder_gets_the_code_0600(tmp_path, sites_csv):
    boot = folder_card(tmp_path)
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
    image = make_image(tmp_path / "card.img", "trixie")
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
    assert read_back(image, "cmdline.txt") == BOOKWORM_CMDLINE


def test_a_card_without_cmdline_or_not_fat_is_refused(tmp_path, sites_csv, capsys):
    image = make_image(tmp_path / "blank.img", None)
    base = ["prepare-sd", "--sites", str(sites_csv), "--device", "DEV-DT-01", "--enrol-code", CODE,
            "--style", "bookworm"]
    assert cli_main(base + ["--image", str(image)]) == 1
    assert "no cmdline.txt" in capsys.readouterr().err
    junk = tmp_path / "junk.img"
    junk.write_bytes(b"\0" * 4096)
    assert cli_main(base + ["--image", str(junk)]) == 1
    assert "failed" in capsys.readouterr().err
    assert cli_main(base) == 1
    assert "--boot" in capsys.readouterr().err


def test_a_card_whose_user_data_is_not_cloud_config_is_refused(tmp_path, sites_csv, capsys):
    image = make_image(tmp_path / "card.img", "trixie", {"user-data": "users: [\n"})
    assert cli_main(["prepare-sd", "--sites", str(sites_csv), "--device", "DEV-DT-01",
                     "--enrol-code", CODE, "--image", str(image)]) == 1
    assert "user-data" in capsys.readouterr().err
    image2 = make_image(tmp_path / "card2.img", "trixie", {"user-data": "#cloud-config\nusers: [\n"})
    assert cli_main(["prepare-sd", "--sites", str(sites_csv), "--device", "DEV-DT-01",
                     "--enrol-code", CODE, "--image", str(image2)]) == 1
    assert "not valid YAML" in capsys.readouterr().err


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=300))
def test_hostile_user_data_is_merged_or_refused(text):
    try:
        merged = sdcard._merge_user_data("#cloud-config\n" + text, "dev-dt-01")
    except sdcard.SdError:
        return
    import yaml
    assert yaml.safe_load(merged)["hostname"] == "dev-dt-01"


@pytest.mark.parametrize("csv_text, message", [
    ("device_id,site_id\nA,B\n", "lacks column"),
    (SITES_CSV.replace(",5,", ",0,"), "pool_size"),
    (SITES_CSV.replace("rapid-antigen", "pcr"), "test_type"),
    (SITES_CSV.replace("https://10.20.0.5:8700", "ftp://x"), "central_url"),
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
@given(text=st.text(max_size=400), semicolons=st.booleans())
def test_hostile_csv_never_crashes(text, semicolons):
    separator = ";" if semicolons else ","
    try:
        rows = sites.parse_sites(separator.join(sites.REQUIRED) + "\n" + text)
    except sites.SitesError:
        return
    for row in rows:
        sites.device_config(row)          # every accepted row makes a valid config


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=400))
def test_hostile_csv_bytes_are_decoded_or_refused(data):
    try:
        sites.decode_csv(data)
    except sites.SitesError:
        pass


@settings(max_examples=200, deadline=None)
@given(code=st.text(max_size=80))
def test_hostile_codes_are_refused_or_kept_verbatim(code):
    try:
        checked = sdcard.check_code(code)
    except sdcard.SdError:
        return
    assert "\n" not in checked and checked == code.strip()


def test_the_first_boot_script_is_valid_shell():
    subprocess.run(["bash", "-n", str(FIRSTBOOT)], check=True)


def test_a_fat_mount_that_refuses_chmod_still_gets_the_files(tmp_path, sites_csv, monkeypatch):
    boot = folder_card(tmp_path, "trixie")

    def refuse(fd, mode):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "fchmod", refuse)
    assert cli_main(["prepare-sd", "--sites", str(sites_csv), "--device", "DEV-DT-01",
                     "--enrol-code", CODE, "--style", "trixie", "--boot", str(boot)]) == 0


@pytest.mark.parametrize("style", ["bookworm", "trixie"])
def test_first_boot_applies_the_card_once(tmp_path, sites_csv, style):
    boot, root = folder_card(tmp_path, style), tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/hostname").write_text("raspberrypi\n")
    (root / "etc/hosts").write_text("127.0.0.1\tlocalhost\n127.0.1.1\traspberrypi\n")
    assert cli_main(["prepare-sd", "--sites", str(sites_csv), "--device", "DEV-DT-02",
                     "--enrol-code", CODE, "--style", style, "--boot", str(boot)]) == 0

    def first_boot():
        return subprocess.run(["bash", str(FIRSTBOOT), str(boot)], capture_output=True, text=True,
                              env={**os.environ, "SAMPLEPOINT_ROOT": str(root)}, timeout=60)

    done = first_boot()
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
    assert not (boot / "samplepoint/samplepoint.toml").exists()
    assert (boot / "samplepoint/samplepoint.toml.applied").exists()
    config_file.write_text(config_file.read_text() + "# edited on the device\n")
    again = first_boot()
    assert again.returncode == 0 and "applied" not in again.stdout
    assert config_file.read_text().endswith("# edited on the device\n"), "the next boot changes nothing"


def test_check_refuses_plain_http_to_a_remote_central_in_one_line(tmp_path, capsys):
    plain = tmp_path / "plain.csv"
    plain.write_text(SITES_CSV.replace("https://10.20.0.5:8700", "http://10.20.0.5:8700"))
    assert cli_main(["prepare-sd", "--sites", str(plain), "--check"]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line == ("samplepoint prepare-sd: row 4, column central_url: plain http:// to a "
                    "non-loopback host sends the device token in clear; use https:// (or "
                    "central.allow_insecure_http = true for a lab)")
    boot = folder_card(tmp_path)
    assert cli_main(["prepare-sd", "--sites", str(plain), "--device", "DEV-DT-01", "--enrol-code",
                     CODE, "--boot", str(boot)]) == 1
    assert not (boot / "samplepoint").exists(), "no card is written from a refused CSV"
    lab = tmp_path / "lab.toml"
    lab.write_text("[central]\nallow_insecure_http = true\n")
    assert cli_main(["prepare-sd", "--sites", str(plain), "--base-config", str(lab), "--check"]) == 0


@pytest.mark.parametrize("url", ["http://127.0.0.1.evil.vn", "http://[::1]@evil", "HTTP://x.vn",
                                 "https://u:p@central.example.vn", "https://central.example.vn:0"])
def test_hostile_central_urls_in_the_csv_are_refused(url):
    with pytest.raises(sites.SitesError, match="row 4, column central_url"):
        sites.parse_sites(SITES_CSV.replace("https://10.20.0.5:8700", url))


def test_central_ca_from_the_card_is_pinned_after_first_boot(tmp_path, sites_csv, central, capsys):
    """prepare-sd --central-ca puts the CA on the card; first boot installs it and the config names
    it: the device then trusts central's private certificate (and only that CA), for enrolment
    and for records."""
    from central import enrol as central_enrol
    from central.app import create_app
    from provisioning.enrol import EnrolError, enrol
    from samplepoint.store import Store
    from tests.samplepoint.test_forwarder import make_forwarder, queue_records
    from tests.samplepoint.test_tls import make_ca, tls_server

    (tmp_path / "pki").mkdir()
    ca, _ = make_ca(tmp_path / "pki")
    key = tmp_path / "pki" / "ca.key"
    assert cli_main(["prepare-sd", "--sites", str(sites_csv), "--check", "--central-ca", str(key)]) == 1
    assert "private key" in capsys.readouterr().err
    boot, root = folder_card(tmp_path), tmp_path / "root"
    assert cli_main(["prepare-sd", "--sites", str(sites_csv), "--device", "DEV-DT-02",
                     "--enrol-code", CODE, "--central-ca", str(ca), "--boot", str(boot)]) == 0
    done = subprocess.run(["bash", str(FIRSTBOOT), str(boot)], capture_output=True, text=True,
                          env={**os.environ, "SAMPLEPOINT_ROOT": str(root)}, timeout=60)
    assert done.returncode == 0, done.stderr
    installed = root / "etc/samplepoint/central-ca.pem"
    assert installed.read_text() == ca.read_text()
    card = tomllib.loads((root / "etc/samplepoint/samplepoint.toml").read_text())
    assert card["central"]["ca_bundle"] == "/etc/samplepoint/central-ca.pem"

    code, _ = central_enrol.issue_code(central.db, "pinned", uses=2, valid_hours=24,
                                       sites=[card["site"]["id"]])
    with tls_server(tmp_path / "pki", create_app(central.db)) as (url, _):
        def device(folder, ca_bundle):
            folder.mkdir()
            card["central"].update(url=url, ca_bundle=ca_bundle,
                                   token_file=str(folder / "device-token"))
            card["device"]["data_dir"] = str(folder)
            (folder / "enrol-code").write_text(code)
            return config_module.from_dict(card)
        unpinned = device(tmp_path / "unpinned", "")
        with pytest.raises(EnrolError, match="SSLError"):
            enrol(unpinned, tmp_path / "unpinned" / "enrol-code")
        pinned = device(tmp_path / "pinned", str(installed))     # the file first boot installed
        assert enrol(pinned, tmp_path / "pinned" / "enrol-code") == "enrolled"
        store = Store(pinned.db_path)
        queue_records(store, 2, device_id="DEV-DT-02")
        assert make_forwarder(pinned, store).step() == 2
        assert store.outbox_counts()["delivered"] == 2
