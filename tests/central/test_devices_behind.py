"""`central devices --behind`: devices whose heartbeat reports an older samplepoint than the
repository's newest (read from its Packages index, by URL or folder) or than a given version."""
from __future__ import annotations

import json

import pytest

from central.behind import BehindError, behind, newest_version
from central.db import CentralDB
from samplepoint.cli import main as cli_main

INDEX = ("Package: samplepoint\nVersion: {0}\nArchitecture: {1}\nFilename: pool/main/s/x.deb\n\n")


def report(*versions):
    return [{"device_id": f"DEV-{i}", "site_id": "SITE-A", "version": v} if v is not None else
            {"device_id": f"DEV-{i}", "site_id": "SITE-A"} for i, v in enumerate(versions)]


def test_older_and_silent_about_their_version_are_behind():
    late = behind(report("0.1.0.2", "0.1.0.10", "0.2.0rc1", None, "garbage!"), "0.1.0.10")
    assert [d["device_id"] for d in late] == ["DEV-0", "DEV-3", "DEV-4"]
    assert all(d["newest"] == "0.1.0.10" for d in late)
    assert [d["device_id"] for d in behind(report("0.2.0rc1", "0.2.0"), "0.2.0")] == ["DEV-0"]


def test_the_newest_comes_from_the_repository_folder_or_url(tmp_path):
    for arch, version in (("amd64", "0.1.0.2"), ("arm64", "0.1.0.3")):
        folder = tmp_path / f"www/dists/bookworm/main/binary-{arch}"
        folder.mkdir(parents=True)
        (folder / "Packages").write_text(INDEX.format(version, arch) + INDEX.format("0.1.0.1", arch))
    assert newest_version(str(tmp_path)) == "0.1.0.3"
    assert newest_version(str(tmp_path / "www")) == "0.1.0.3"
    asked = []

    def fetch(url):
        asked.append(url)
        return INDEX.format("0.1.0.5", "amd64") if "amd64" in url else ""
    assert newest_version("http://central.example.vn/apt/", fetch=fetch) == "0.1.0.5"
    assert asked[0] == "http://central.example.vn/apt/dists/bookworm/main/binary-amd64/Packages"
    assert newest_version("0.2.0rc1") == "0.2.0~rc1"


@pytest.mark.parametrize("source", ["no such thing", "http://x.invalid/empty"])
def test_a_source_without_versions_is_refused(tmp_path, source):
    with pytest.raises(BehindError):
        newest_version(source, fetch=lambda url: "")


def test_the_devices_command_lists_only_devices_behind(tmp_path, capsys):
    db = CentralDB(tmp_path / "central.db")
    for device, version in (("DEV-OLD", "0.1.0.1"), ("DEV-NEW", "0.1.0.2")):
        db.add_device(device, "SITE-A")
        db.record_heartbeat(device, json.dumps({"version": version}), "2026-01-01T00:00:00+00:00")
    assert cli_main(["central", "devices", "--db", str(db.path), "--json", "--behind", "0.1.0.2"]) == 0
    assert [d["device_id"] for d in json.loads(capsys.readouterr().out)] == ["DEV-OLD"]
    assert cli_main(["central", "devices", "--db", str(db.path), "--behind", "0.1.0.2"]) == 0
    table = capsys.readouterr().out
    assert "DEV-OLD" in table and "DEV-NEW" not in table
    assert cli_main(["central", "devices", "--db", str(db.path), "--behind", "not a version"]) == 2
