"""`samplepoint update` against a real signed aptly repository served on loopback, refreshed by the
real apt-get: a repository it cannot trust or reach fails the update with one line naming the
repository and what to do, and doctor shows it — even though the device still has the lists of an
earlier good refresh (apt then only warns and exits 0, so the update used to say "nothing to do").

apt runs with its own state and trust folders (APT_CONFIG); dpkg and systemctl are a stand-in of a
device that has the newest version installed (nothing is installed on this machine)."""
from __future__ import annotations

import functools
import http.server
import os
import shutil
import time
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from provisioning import doctor, probes, update
from provisioning.aptrepo import Repository
from samplepoint import config as config_module
from tests.provisioning.test_aptrepo import tiny_deb
from tests.provisioning.test_update import FakeDevice

pytestmark = pytest.mark.skipif(not (shutil.which("aptly") and shutil.which("gpg")
                                     and shutil.which("apt-get")),
                                reason="needs aptly, gnupg and apt (make test installs them)")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class Served:
    """A signed repository with samplepoint 0.1.0.1 in it, served over HTTP on loopback."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.repo = Repository(folder / "repo")
        self.repo.init()
        self.repo.add([tiny_deb(folder, "0.1.0.1")])
        self.server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(self.repo.www)))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def dists(self) -> Path:
        return self.repo.www / "dists/bookworm"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.repo.stop_agent()


class Device:
    """A device's root (apt source, keyring), apt's own folders, and dpkg saying 0.1.0.1 is installed."""

    def __init__(self, folder: Path, served: Served, monkeypatch):
        self.root = folder / "root"
        key = folder / "keys/samplepoint.asc"         # apt (not chrooted) reads signed-by as given
        for path in (key, self.root / str(key).lstrip("/")):
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(served.repo.public_key, path)
        self.config = config_module.from_dict({
            "update": {"repository_url": served.url, "keyring": str(key)},
            "device": {"data_dir": str(folder / "data")}})
        apt = folder / "apt"
        for sub in ("lists/partial", "cache/archives/partial", "trusted.gpg.d", "parts"):
            (apt / sub).mkdir(parents=True)
        (apt / "status").touch()
        (apt / "apt.conf").write_text(
            f'Dir::State "{apt}";\nDir::State::status "{apt}/status";\nDir::Cache "{apt}/cache";\n'
            f'Dir::Etc::Trusted "/dev/null";\nDir::Etc::TrustedParts "{apt}/trusted.gpg.d";\n'
            f'Dir::Etc::Parts "{apt}/parts";\nAPT::Sandbox::User "root";\nDebug::NoLocking "1";\n'
            'APT::Architecture "amd64";\n')
        monkeypatch.setenv("APT_CONFIG", str(apt / "apt.conf"))
        self.fake = FakeDevice("0.1.0.1", [])

    def run(self, command: list[str]) -> str:
        if command[0] in ("apt-get", "apt-cache"):
            assert command[:2] != ["apt-get", "install"], "nothing is installed on this machine"
            return update.run_command(command)
        return self.fake(command)

    def update(self, capsys) -> tuple[int, list[str], list[str]]:
        capsys.readouterr()
        args = SimpleNamespace(config=None, version=None, list=False)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(config_module, "load", lambda path: self.config)
            code = update.main(args, run=self.run, root=self.root)
        captured = capsys.readouterr()
        return code, captured.out.splitlines(), captured.err.splitlines()

    def doctor(self) -> dict:
        p = doctor.Probes(update_state=probes.update_state,
                          unfinished_packages=lambda: update.unfinished_packages(self.fake))
        return {r.name: r for r in (doctor.check_update(self.config, p),
                                    doctor.check_packages(self.config, p))}


@pytest.fixture
def device(tmp_path, monkeypatch, capsys):
    served = Served(tmp_path)
    device = Device(tmp_path, served, monkeypatch)
    code, out, err = device.update(capsys)           # a good refresh: the lists apt keeps
    assert code == 0 and "update: samplepoint 0.1.0.1 is installed; nothing to do" in out, (out, err)
    assert device.doctor()["update"].status == "OK"
    yield device, served
    served.stop()


def changed_since_the_last_refresh(served: Served) -> None:
    """The files served are newer than apt's copy: a change made in the second of apt's last
    refresh would otherwise be answered '304 Not Modified' (If-Modified-Since has 1 s steps)."""
    later = time.time() + 5
    for path in served.dists.rglob("*"):
        os.utime(path, (later, later))


def signed_by_another_key(served: Served) -> None:
    """The repository published again, signed by a key the devices were never given."""
    other = Repository(served.folder / "repo", gnupghome=served.folder / "other-gnupg")
    other.ensure_key("someone else <else@samplepoint.invalid>")
    try:
        other.add([tiny_deb(served.folder, "0.1.0.2")])
    finally:
        other.stop_agent()


def changed_after_signing(served: Served) -> None:
    inrelease = served.dists / "InRelease"
    inrelease.write_text(inrelease.read_text().replace("Origin: samplepoint", "Origin: samplepoinT"))


def damaged_release_gpg(served: Served) -> None:
    """Only Release + Release.gpg left (as older tools publish), the detached signature damaged."""
    (served.dists / "InRelease").unlink()
    signature = served.dists / "Release.gpg"
    lines = signature.read_text().splitlines()
    lines[3] = lines[3][:10] + ("A" if lines[3][10] != "A" else "B") + lines[3][11:]
    signature.write_text("\n".join(lines) + "\n")


def unsigned(served: Served) -> None:
    (served.dists / "InRelease").unlink()
    (served.dists / "Release.gpg").unlink()


def missing(served: Served) -> None:
    shutil.rmtree(served.dists)


def unreachable(served: Served) -> None:
    served.server.shutdown()
    served.server.server_close()


CASES = [   # (what happens to the repository, words of the line, words of the fix)
    (signed_by_another_key, "is signed with a key this device does not trust (key ", "samplepoint.asc"),
    (changed_after_signing, "has a corrupt or invalid signature", "publish it again"),
    (damaged_release_gpg, "has a corrupt or invalid signature", "publish it again"),
    (unsigned, "is not signed", "apt-repo"),
    (missing, "has no suite bookworm", "repository_url and suite"),
    (unreachable, "cannot be reached", "uplink"),
]


@pytest.mark.parametrize("spoil, said, fix", CASES, ids=[c[0].__name__ for c in CASES])
def test_a_repository_that_cannot_be_trusted_or_reached_fails_the_update(device, capsys, spoil, said, fix):
    device, served = device
    spoil(served)
    if served.dists.exists():
        changed_since_the_last_refresh(served)
    code, out, err = device.update(capsys)
    assert code == 1, (out, err)
    assert len(err) == 1, err
    assert err[0].startswith(f"samplepoint update: FAILED: the repository {served.url} {said}"), err
    assert f"; fix: " in err[0] and fix in err[0].split("; fix: ")[1]
    assert not any("nothing to do" in line for line in out)
    check = device.doctor()["update"]
    assert check.status == "FAIL" and check.detail.startswith("last run failed at ")
    assert said in check.detail and served.url in check.detail and fix in check.fix
    assert device.doctor()["packages"].status == "OK"
    state = update.read_state(device.config)
    assert state["result"] == "failed" and state["good"] == "0.1.0.1" and state["dpkg"] == "installed"


def test_the_next_good_refresh_clears_the_failure(device, capsys):
    device, served = device
    saved = served.folder / "saved"
    shutil.copytree(served.dists, saved)
    changed_after_signing(served)
    changed_since_the_last_refresh(served)
    assert device.update(capsys)[0] == 1
    shutil.rmtree(served.dists)
    shutil.copytree(saved, served.dists)
    changed_since_the_last_refresh(served)
    code, out, err = device.update(capsys)
    assert code == 0 and not err
    assert device.doctor()["update"].detail.endswith(": samplepoint 0.1.0.1")
