"""`samplepoint update`: the apt source it writes, the apt commands it runs for an upgrade and a
rollback, and what it reports (apt and systemctl replaced by a recording stand-in)."""
from __future__ import annotations

import pytest

from provisioning import update
from samplepoint import config as config_module

URL = "http://central.example.vn/apt"


def configured(tmp_path, url=URL):
    key = tmp_path / "etc/apt/keyrings/samplepoint.asc"
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_text("-----BEGIN PGP PUBLIC KEY BLOCK-----\n")
    return config_module.from_dict({"update": {"repository_url": url},
                                    "device": {"data_dir": str(tmp_path / "data")}})


class FakeDevice:
    """dpkg, apt and systemctl of a device whose repository offers `offered`; a version in
    `broken` fails its postinst (dpkg leaves it half-configured)."""

    def __init__(self, installed, offered, restart=True, broken=(), state="installed"):
        self.installed, self.offered, self.restart = installed, offered, restart
        self.broken, self.state = set(broken), state
        self.commands, self.pid = [], 100

    def __call__(self, command):
        self.commands.append(command)
        if command[0] == "dpkg-query" and command[-1] == "samplepoint":
            if not self.installed:
                raise update.UpdateFailed("not installed")
            return f"install ok {self.state}|{self.installed}"
        if command[0] == "dpkg-query":
            abbrev = {"installed": "ii ", "half-configured": "iF ", "unpacked": "iU "}[self.state]
            return f"ii |adduser|3.134\n{abbrev}|samplepoint|{self.installed}\n" if self.installed else ""
        if command[:2] == ["dpkg", "--configure"]:
            return self.configure()
        if command[0] == "apt-cache":
            return "".join(f"samplepoint | {v} | {URL} bookworm/main amd64 Packages\n" for v in self.offered)
        if command[:2] == ["apt-get", "install"]:
            source = command[-1]
            self.installed = source.split("=", 1)[1] if "=" in source else source.rsplit("/", 1)[-1].split("_")[1]
            self.state = "unpacked"
            self.configure()
            self.pid += self.restart
        if command[:2] == ["systemctl", "show"]:
            active = command[-1] in ("samplepoint-kiosk.service", "samplepoint-forwarder.service")
            return f"ActiveState={'active' if active else 'inactive'}\nMainPID={self.pid}\n"
        return ""

    def configure(self):
        if self.state == "installed":
            return ""
        if self.installed in self.broken:
            self.state = "half-configured"
            raise update.CommandFailed(["apt-get"], "samplepoint: building the Python environment\n"
                                       "samplepoint: a service did not start\ndpkg: error processing "
                                       "package samplepoint (--configure):\n installed samplepoint "
                                       "package post-installation script subprocess returned error "
                                       "exit status 1\nE: Sub-process /usr/bin/dpkg returned an error code (1)\n")
        self.state = "installed"
        return "samplepoint: version installed\n"


def test_the_apt_source_trusts_only_the_repository_key(tmp_path):
    config = configured(tmp_path, URL + "/")
    assert update.sources_list(config.update).splitlines()[-1] == \
        f"deb [signed-by=/etc/apt/keyrings/samplepoint.asc] {URL} bookworm main"
    assert update.write_sources(tmp_path, config.update)
    assert not update.write_sources(tmp_path, config.update), "written once, then left alone"
    assert (tmp_path / "etc/apt/sources.list.d/samplepoint.list").stat().st_mode & 0o777 == 0o644


def test_an_update_installs_the_newest_and_reports_old_to_new(tmp_path):
    device, lines = FakeDevice("0.1.0.1", ["0.1.0.1", "0.1.0.10", "0.1.0.2"]), []
    assert update.update(configured(tmp_path), None, False, run=device, out=lines.append,
                         root=tmp_path) == 0
    refresh = next(c for c in device.commands if c[:2] == ["apt-get", "update"])
    assert f"Dir::Etc::SourceList={tmp_path}/etc/apt/sources.list.d/samplepoint.list" in refresh
    assert "APT::Update::Error-Mode=any" in refresh, "a list apt could not fetch or verify fails"
    assert "Dir::Etc::SourceParts=-" in refresh, "only the samplepoint list is refreshed"
    install = next(c for c in device.commands if c[:2] == ["apt-get", "install"])
    assert install[-1] == "samplepoint=0.1.0.10" and "--allow-downgrades" in install
    assert "Dpkg::Options::=--force-confold" in install, "a changed config file is kept"
    assert "update: samplepoint 0.1.0.1 -> 0.1.0.10" in lines
    assert "update: samplepoint-kiosk.service: restarted" in lines
    assert "update: samplepoint-forwarder.service: restarted" in lines


def test_a_rollback_installs_the_named_older_version(tmp_path):
    device, lines = FakeDevice("0.1.0.2", ["0.1.0.2", "0.1.0.1"]), []
    assert update.update(configured(tmp_path), "0.1.0.1", False, run=device, out=lines.append,
                         root=tmp_path) == 0
    assert "update: samplepoint 0.1.0.2 -> 0.1.0.1" in lines


def test_nothing_to_do_when_the_newest_is_installed(tmp_path):
    device, lines = FakeDevice("0.1.0.2", ["0.1.0.2", "0.1.0.1"]), []
    assert update.update(configured(tmp_path), None, False, run=device, out=lines.append,
                         root=tmp_path) == 0
    assert not [c for c in device.commands if c[:2] == ["apt-get", "install"]]
    assert "update: samplepoint 0.1.0.2 is installed; nothing to do" in lines


def test_a_version_the_repository_does_not_have_is_refused_with_the_list(tmp_path):
    device = FakeDevice("0.1.0.2", ["0.1.0.2", "0.1.0.1"])
    with pytest.raises(update.UpdateFailed, match=r"0\.0\.9 is not in the repository.*0\.1\.0\.2, 0\.1\.0\.1"):
        update.update(configured(tmp_path), "0.0.9", False, run=device, out=print, root=tmp_path)


def test_a_service_left_on_the_old_process_fails_the_update(tmp_path):
    device, lines = FakeDevice("0.1.0.1", ["0.1.0.2"], restart=False), []
    with pytest.raises(update.UpdateFailed, match="still run"):
        update.update(configured(tmp_path), None, False, run=device, out=lines.append, root=tmp_path)
    assert any("still the old process" in line for line in lines)


def test_list_marks_the_installed_version(tmp_path):
    device, lines = FakeDevice("0.1.0.1", ["0.1.0.1", "0.1.0.2"]), []
    assert update.update(configured(tmp_path), None, True, run=device, out=lines.append,
                         root=tmp_path) == 0
    assert lines[-2:] == ["  0.1.0.2", "  0.1.0.1   (installed)"]


def test_without_a_repository_or_key_it_says_what_to_do(tmp_path):
    with pytest.raises(update.UpdateFailed) as no_repo:
        update.update(config_module.from_dict({"device": {"data_dir": str(tmp_path / "data")}}),
                      None, False, run=FakeDevice("1", []), root=tmp_path)
    assert "repository_url" in no_repo.value.fix
    config = config_module.from_dict({"update": {"repository_url": URL},
                                      "device": {"data_dir": str(tmp_path / "data")}})
    with pytest.raises(update.UpdateFailed, match="key /etc/apt/keyrings/samplepoint.asc is missing"):
        update.update(config, None, False, run=FakeDevice("1", []), root=tmp_path)


@pytest.mark.parametrize("raw, problem", [
    ({"repository_url": "ftp://x"}, "http"), ({"suite": "Bookworm main"}, "distribution"),
    ({"keyring": "keys/samplepoint.asc"}, "absolute path"),
])
def test_bad_update_settings_are_refused(raw, problem):
    with pytest.raises(config_module.ConfigError, match=problem):
        config_module.from_dict({"update": raw})


def installs(device):
    return [c[-1] for c in device.commands if c[:2] == ["apt-get", "install"]]


def test_a_version_whose_postinst_fails_is_rolled_back_and_recorded(tmp_path):
    config = configured(tmp_path)
    device, lines = FakeDevice("0.1.0.1", ["0.1.0.2", "0.1.0.1"], broken={"0.1.0.2"}), []
    with pytest.raises(update.UpdateFailed) as failed:
        update.update(config, None, False, run=device, out=lines.append, root=tmp_path)
    assert installs(device) == ["samplepoint=0.1.0.2", "samplepoint=0.1.0.1"]
    assert (device.installed, device.state) == ("0.1.0.1", "installed"), "dpkg ends fully configured"
    assert str(failed.value) == ("samplepoint 0.1.0.2 did not install: its post-installation script "
                                 "failed (exit status 1): a service did not start; rolled back to "
                                 "0.1.0.1, which runs")
    assert "newer than 0.1.0.2" in failed.value.fix
    assert "update: a service did not start" in lines, "the postinst's own words are shown"
    state = update.read_state(config)
    assert (state["result"], state["version"], state["good"], state["dpkg"]) == \
        ("failed", "0.1.0.1", "0.1.0.1", "installed")
    assert state["reason"] == str(failed.value)


def test_a_half_configured_package_is_never_nothing_to_do(tmp_path):
    """The run after a failure that left dpkg half-configured (an older samplepoint, a power cut
    in the postinst): the installed version is the newest, yet it is not installed."""
    config = configured(tmp_path)
    update.write_atomic(update.state_path(config), '{"result": "ok", "good": "0.1.0.1"}')
    device, lines = FakeDevice("0.1.0.2", ["0.1.0.2", "0.1.0.1"], broken={"0.1.0.2"},
                               state="half-configured"), []
    with pytest.raises(update.UpdateFailed, match="rolled back to 0.1.0.1"):
        update.update(config, None, False, run=device, out=lines.append, root=tmp_path)
    assert ["dpkg", "--configure", "-a"] in device.commands
    assert any("dpkg did not finish samplepoint 0.1.0.2 half-configured" in line for line in lines)
    assert not any("nothing to do" in line for line in lines)
    assert (device.installed, device.state) == ("0.1.0.1", "installed")


def test_a_package_unpacked_before_a_power_cut_is_configured_first(tmp_path):
    config = configured(tmp_path)
    device, lines = FakeDevice("0.1.0.2", ["0.1.0.2", "0.1.0.1"], state="unpacked"), []
    assert update.update(config, None, False, run=device, out=lines.append, root=tmp_path) == 0
    assert ["dpkg", "--configure", "-a"] in device.commands and not installs(device)
    assert "update: samplepoint 0.1.0.2 is installed; nothing to do" in lines
    assert update.read_state(config)["result"] == "ok"


def test_a_service_that_stops_after_the_update_rolls_it_back(tmp_path):
    device = FakeDevice("0.1.0.1", ["0.1.0.2", "0.1.0.1"])
    real = device.__call__

    def forwarder_dies_on_2(command):
        out = real(command)
        if command[:2] == ["systemctl", "show"] and device.installed == "0.1.0.2" \
                and "forwarder" in command[-1]:
            return out.replace("ActiveState=active", "ActiveState=failed")
        return out
    with pytest.raises(update.UpdateFailed, match=r"samplepoint 0.1.0.2 installed but "
                       r"samplepoint-forwarder.service stopped running; rolled back to 0.1.0.1"):
        update.update(configured(tmp_path), None, False, run=forwarder_dies_on_2, out=print,
                      root=tmp_path)
    assert installs(device) == ["samplepoint=0.1.0.2", "samplepoint=0.1.0.1"]


def test_a_rollback_takes_apts_cached_package_when_the_repository_lost_it(tmp_path):
    cached = tmp_path / "var/cache/apt/archives/samplepoint_0.1.0.1_amd64.deb"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"!<arch>\n")
    device = FakeDevice("0.1.0.1", ["0.1.0.2"], broken={"0.1.0.2"})
    with pytest.raises(update.UpdateFailed, match="rolled back to 0.1.0.1"):
        update.update(configured(tmp_path), None, False, run=device, out=print, root=tmp_path)
    assert installs(device) == ["samplepoint=0.1.0.2", str(cached)]
    assert (device.installed, device.state) == ("0.1.0.1", "installed")


def test_a_rollback_to_a_version_that_is_gone_says_how_to_bring_it_back(tmp_path):
    config = configured(tmp_path)
    device = FakeDevice("0.1.0.1", ["0.1.0.2"], broken={"0.1.0.2"})
    with pytest.raises(update.UpdateFailed) as failed:
        update.update(config, None, False, run=device, out=print, root=tmp_path)
    assert "0.1.0.1, the version to roll back to, is neither in the repository nor in " \
           "/var/cache/apt/archives" in str(failed.value)
    assert failed.value.fix.startswith("publish samplepoint 0.1.0.1 again (samplepoint apt-repo add), "
                                       "then: samplepoint update --version 0.1.0.1")
    state = update.read_state(config)
    assert (state["dpkg"], state["good"]) == ("half-configured", "0.1.0.1"), "the last good is kept"


def test_a_first_install_that_fails_has_nothing_to_roll_back_to(tmp_path):
    device = FakeDevice("", ["0.1.0.2"], broken={"0.1.0.2"})
    with pytest.raises(update.UpdateFailed, match="0.1.0.2 did not install") as failed:
        update.update(configured(tmp_path), None, False, run=device, out=print, root=tmp_path)
    assert "recovery.md" in failed.value.fix and installs(device) == ["samplepoint=0.1.0.2"]


def test_the_failure_is_one_line_on_stderr(tmp_path, capsys, monkeypatch):
    from types import SimpleNamespace
    config = configured(tmp_path)
    monkeypatch.setattr(config_module, "load", lambda path: config)
    device = FakeDevice("0.1.0.1", ["0.1.0.2"], broken={"0.1.0.2"})
    args = SimpleNamespace(config=None, version=None, list=False)
    assert update.main(args, run=device, root=tmp_path) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("samplepoint update: FAILED: samplepoint 0.1.0.2 "
                                               "did not install") and "; fix: publish" in err[0]


@pytest.mark.parametrize("abbrev, expected", [
    ("ii ", []), ("rc ", []), ("iF ", ["samplepoint 1 half-configured"]),
    ("iU ", ["samplepoint 1 unpacked"]), ("iHR", ["samplepoint 1 half-installed"]),
    ("iW ", ["samplepoint 1 awaiting triggers"]), ("hiR", ["samplepoint 1 reinstall required"]),
])
def test_unfinished_packages_are_read_from_dpkgs_status(abbrev, expected):
    assert update.unfinished_packages(lambda command: f"{abbrev}|samplepoint|1\n") == expected
