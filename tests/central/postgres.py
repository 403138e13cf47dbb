"""A private PostgreSQL cluster for the central tests: initdb and pg_ctl from the Debian package, run
as an unprivileged user in a temporary folder on a free loopback port, stopped at the end."""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg


def binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cluster:
    """initdb + pg_ctl start; `database()` hands out fresh databases copied from a migrated template."""

    def __init__(self):
        self.bin = binaries()
        if self.bin is None:
            raise RuntimeError("PostgreSQL is not installed (Debian package postgresql)")
        self.root = Path(tempfile.mkdtemp(prefix="samplepoint-pg-"))
        self.port = _free_port()
        self.user = None if os.geteuid() else pwd.getpwnam("nobody")
        if self.user:                       # initdb refuses to run as root: the cluster is nobody's
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        self.data = self.root / "data"
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--encoding=UTF8", "--locale=C.UTF-8", "-N")
        self.resume()
        self.template = None

    def resume(self) -> None:
        """Start the server (again, after pause())."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-t", "60",
                  "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
                        f"-c fsync=off -c full_page_writes=off -c max_connections=300", "start")

    def running(self) -> bool:
        try:
            self._run("pg_ctl", "-D", str(self.data), "status")
        except subprocess.CalledProcessError:
            return False
        return True

    def pause(self) -> None:
        """Stop the server as an outage would (clients are cut off), keeping its data."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if self.user:
            command = ["setpriv", f"--reuid={self.user.pw_uid}", f"--regid={self.user.pw_gid}",
                       "--clear-groups", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120, cwd=self.root)

    def url(self, name: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def admin(self, sql: str) -> None:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql)

    def database(self) -> str:
        """A new database holding the migrated samplepoint schema; its URL."""
        from central.db_postgres import PostgresCentralDB
        if self.template is None:
            self.admin("CREATE DATABASE sp_template")
            PostgresCentralDB(self.url("sp_template"), create=True).close()
            self.template = "sp_template"
        name = "sp_" + uuid.uuid4().hex[:12]
        self.admin(f"CREATE DATABASE {name} TEMPLATE {self.template}")
        return self.url(name)

    def drop(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
