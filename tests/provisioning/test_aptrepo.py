"""`samplepoint apt-repo`: a signed repository that keeps every version published (a rollback needs
the older ones), whose signature verifies with the public key handed to devices."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from provisioning.aptrepo import RepoError, Repository
from samplepoint.cli import main as cli_main

pytestmark = pytest.mark.skipif(not (shutil.which("aptly") and shutil.which("gpg")),
                                reason="needs aptly and gnupg (make test installs them)")


def tiny_deb(folder: Path, version: str, arch: str = "amd64") -> Path:
    """A package named samplepoint with nothing inside, built as dpkg-deb builds the real one."""
    root = folder / f"root-{version}-{arch}"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN/control").write_text(
        f"Package: samplepoint\nVersion: {version}\nArchitecture: {arch}\n"
        "Maintainer: t <t@example.invalid>\nDescription: test\n x\n")
    deb = folder / f"samplepoint_{version}_{arch}.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(root), str(deb)],
                   check=True, capture_output=True)
    return deb


def test_a_repository_keeps_every_version_and_is_signed(tmp_path, capsys):
    folder = tmp_path / "repo"
    assert cli_main(["apt-repo", "init", "--repo", str(folder)]) == 0
    first = capsys.readouterr().out
    assert "new signing key" in first and "samplepoint.asc" in first
    assert (folder / "gnupg").stat().st_mode & 0o777 == 0o700
    debs = [tiny_deb(tmp_path, v, a) for v, a in (("0.1.0.1", "amd64"), ("0.1.0.2", "amd64"),
                                                  ("0.1.0.2", "arm64"))]
    assert cli_main(["apt-repo", "add", "--repo", str(folder), str(debs[0])]) == 0
    assert cli_main(["apt-repo", "add", "--repo", str(folder), *map(str, debs[1:])]) == 0
    capsys.readouterr()
    assert cli_main(["apt-repo", "list", "--repo", str(folder)]) == 0
    assert capsys.readouterr().out.splitlines() == ["amd64: 0.1.0.2 0.1.0.1", "arm64: 0.1.0.2"]
    www = folder / "www"
    assert (www / "pool/main/s/samplepoint/samplepoint_0.1.0.1_amd64.deb").exists()
    assert not list(www.rglob("gnupg")) and not (www / "db").exists(), "nothing private is served"
    keyring = tmp_path / "trusted.gpg"
    subprocess.run(["gpg", "--batch", "--yes", "--dearmor", "-o", str(keyring), str(folder / "samplepoint.asc")],
                   check=True)
    subprocess.run(["gpgv", "--keyring", str(keyring), str(www / "dists/bookworm/InRelease")],
                   check=True, capture_output=True)
    # A second init keeps the key devices already trust.
    fingerprint = Repository(folder).fingerprint()
    assert cli_main(["apt-repo", "init", "--repo", str(folder)]) == 0
    assert "existing signing key" in capsys.readouterr().out
    assert Repository(folder).fingerprint() == fingerprint
    Repository(folder).stop_agent()
    agents = subprocess.run(["pgrep", "-f", f"gpg-agent --homedir {folder}/gnupg"], capture_output=True)
    assert agents.returncode == 1, "no gpg-agent is left running"


def test_adding_before_init_or_a_non_package_is_refused(tmp_path):
    with pytest.raises(RepoError, match="apt-repo init first"):
        Repository(tmp_path / "none").add([tmp_path / "x.deb"])
    repo = Repository(tmp_path / "repo")
    try:
        repo.init()
        (tmp_path / "notes.txt").write_text("x")
        with pytest.raises(RepoError, match="not a .deb"):
            repo.add([tmp_path / "notes.txt"])
    finally:
        repo.stop_agent()
