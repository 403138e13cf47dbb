"""`samplepoint apt-repo`: a signed apt repository of samplepoint packages, kept with aptly.

One folder holds everything: `gnupg/` (the signing key: keep it private), `db/` (aptly's database
and package pool), `samplepoint.asc` (the public key devices trust) and `www/`, the static folder
to serve over plain HTTP (apt checks the signature, not the transport). aptly, not reprepro:
Debian 12's reprepro keeps one version of a package per architecture, and a rollback needs the
older versions to stay installable.

    samplepoint apt-repo init --repo DIR            a signing key and an empty repository
    samplepoint apt-repo add --repo DIR X.deb ...   add packages and publish (signed) again
    samplepoint apt-repo list --repo DIR            the versions published, per architecture
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from samplepoint.durable import write_atomic

REPO_NAME = "samplepoint"
ARCHITECTURES = ["amd64", "arm64"]
ENDPOINT = "filesystem:www:."


class RepoError(RuntimeError):
    pass


class Repository:
    def __init__(self, folder: Path, suite: str = "bookworm", gnupghome: Path | None = None):
        self.folder = folder.resolve()
        self.suite = suite
        self.gnupghome = (gnupghome or self.folder / "gnupg").resolve()

    @property
    def www(self) -> Path:
        return self.folder / "www"

    @property
    def public_key(self) -> Path:
        return self.folder / "samplepoint.asc"

    @property
    def config(self) -> Path:
        return self.folder / "aptly.conf"

    def _run(self, command: list[str], check: bool = True) -> str:
        env = {**os.environ, "GNUPGHOME": str(self.gnupghome)}
        try:
            done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
        except FileNotFoundError:
            raise RepoError(f"{command[0]} is not installed; apt-get install aptly gnupg") from None
        if check and done.returncode != 0:
            raise RepoError(f"`{' '.join(command[:4])} ...` failed: {(done.stderr or done.stdout).strip()}")
        return done.stdout

    def aptly(self, *args: str, check: bool = True) -> str:
        return self._run(["aptly", f"-config={self.config}", *args], check=check)

    # --- the signing key ---------------------------------------------------------------------

    def stop_agent(self) -> None:
        """gpg leaves an agent running for its home; a command that signed once must not."""
        if self.gnupghome.is_dir():
            self._run(["gpgconf", "--kill", "gpg-agent"], check=False)

    def fingerprint(self) -> str:
        out = self._run(["gpg", "--batch", "--with-colons", "--list-secret-keys"], check=False)
        fprs = [line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:")]
        return fprs[0] if fprs else ""

    def ensure_key(self, name: str) -> tuple[str, bool]:
        """(fingerprint, made now): a signing key without passphrase, made once (ed25519)."""
        self.gnupghome.mkdir(parents=True, exist_ok=True)
        os.chmod(self.gnupghome, 0o700)
        existing = self.fingerprint()
        if existing:
            return existing, False
        self._run(["gpg", "--batch", "--quiet", "--passphrase", "", "--quick-gen-key", name,
                   "ed25519", "sign", "never"])
        return self.fingerprint(), True

    # --- the repository ----------------------------------------------------------------------

    def init(self, name: str = "samplepoint repository <apt@samplepoint.invalid>") -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        fingerprint, made = self.ensure_key(name)
        settings = {"rootDir": str(self.folder / "db"), "gpgProvider": "gpg2",
                    "architectures": ARCHITECTURES,
                    "FileSystemPublishEndpoints": {"www": {"rootDir": str(self.www),
                                                           "linkMethod": "hardlink"}}}
        write_atomic(self.config, json.dumps(settings, indent=2) + "\n", mode=0o644)
        if REPO_NAME not in self.aptly("repo", "list", "-raw").split():
            self.aptly("repo", "create", f"-distribution={self.suite}", "-component=main", REPO_NAME)
        key = self._run(["gpg", "--batch", "--armor", "--export", fingerprint])
        write_atomic(self.public_key, key, mode=0o644)
        return (f"apt-repo: {'new' if made else 'existing'} signing key {fingerprint} in {self.gnupghome}\n"
                f"apt-repo: public key for devices: {self.public_key}\n"
                f"apt-repo: serve {self.www} over HTTP once a package is added")

    def add(self, debs: list[Path]) -> str:
        if not self.config.exists():
            raise RepoError(f"{self.folder} is not a repository yet; run samplepoint apt-repo init first")
        for deb in debs:
            if not deb.is_file() or deb.suffix != ".deb":
                raise RepoError(f"{deb} is not a .deb file")
        self.aptly("repo", "add", REPO_NAME, *map(str, debs))
        sign = [f"-gpg-key={self.fingerprint()}", "-batch", "-skip-contents"]
        published = self.aptly("publish", "list", "-raw").split()
        if self.suite in published:
            self.aptly("publish", "update", *sign, self.suite, ENDPOINT)
        else:
            self.aptly("publish", "repo", *sign, "-origin=samplepoint", "-label=samplepoint",
                       REPO_NAME, ENDPOINT)
        return f"apt-repo: published {', '.join(d.name for d in debs)} in {self.www} ({self.suite})"

    def versions(self) -> dict[str, list[str]]:
        """Published versions per architecture, read from the Packages files apt reads."""
        from samplepoint.debversion import packages_versions
        found = {}
        for packages in sorted(self.www.glob(f"dists/{self.suite}/main/binary-*/Packages")):
            arch = packages.parent.name.removeprefix("binary-")
            found[arch] = packages_versions(packages.read_text(encoding="utf-8"))
        return found


def main(args) -> int:
    repo = Repository(Path(args.repo), args.suite, Path(args.gnupghome) if args.gnupghome else None)
    try:
        if args.action == "init":
            print(repo.init())
        elif args.action == "add":
            print(repo.add([Path(d) for d in args.debs]))
        else:
            for arch, versions in repo.versions().items():
                print(f"{arch}: {' '.join(versions) or '-'}")
    except RepoError as exc:
        print(f"samplepoint apt-repo: {exc}", file=sys.stderr)
        return 1
    finally:
        repo.stop_agent()
    return 0

