"""A private PostgreSQL cluster for the tests: initdb in a temp dir, a free loopback port,
started with pg_ctl and stopped at the end. As root, the server runs as the `postgres` system
user (initdb refuses root) and its temp dir belongs to it.

Durability is off (fsync, synchronous_commit): the cluster is thrown away. A database per
test (or module) is made with `create_database` (CREATE DATABASE is fast).
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

__all__ = ["PASSWORD_USER", "USER", "PostgresCluster", "PostgresUnavailable", "find_bindir"]

USER = "calibd"
PASSWORD_USER = "calibd_pw"
"""A role that must give its password (scram-sha-256 over TCP): `PostgresCluster.password`."""


class PostgresUnavailable(RuntimeError):
    """PostgreSQL is not installed or its cluster does not start (a failure, not a skip)."""


def find_bindir() -> Path:
    """The directory of initdb and pg_ctl: `pg_config --bindir`, else the newest
    /usr/lib/postgresql/*/bin."""
    candidates = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
    )
    candidates += [Path(p) for p in reversed(versions)]
    for d in candidates:
        if (d / "initdb").exists() and (d / "pg_ctl").exists():
            return d
    raise PostgresUnavailable(
        "PostgreSQL is not installed (no initdb/pg_ctl; scripts/test.sh installs Debian's "
        "postgresql package)"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresCluster:
    """One throw-away cluster; `url(db)` for a client, `create_database()` for a fresh db."""

    def __init__(self) -> None:
        self.bindir = find_bindir()
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="calibd-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as_root = os.geteuid() == 0
        self._names = itertools.count(1)
        self.password = f"pw-{os.urandom(6).hex()}"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_root else []
        return subprocess.run(
            [*prefix, *args], capture_output=True, text=True, timeout=120, cwd=self.root
        )

    def _check(self, what: str, done: subprocess.CompletedProcess[str]) -> None:
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise PostgresUnavailable(
                f"PostgreSQL {what} failed ({done.returncode}): {done.stderr.strip()}\n{log}"
            )

    def start(self) -> PostgresCluster:
        if self._as_root:
            pg = pwd.getpwnam("postgres")
            os.chown(self.root, pg.pw_uid, pg.pw_gid)
        initdb = self._run(
            str(self.bindir / "initdb"),
            *("-D", str(self.data), "-U", USER, "-A", "trust", "-E", "UTF8", "--no-sync"),
        )
        self._check("initdb", initdb)
        hba = self.data / "pg_hba.conf"  # the password role first; trust for the rest
        rule = f"host all {PASSWORD_USER} 127.0.0.1/32 scram-sha-256\n"
        hba.write_text(rule + hba.read_text())
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._options = options
        self.resume()
        self.psql(f"CREATE ROLE {PASSWORD_USER} LOGIN PASSWORD '{self.password}'")
        return self

    def pause(self) -> None:
        """Stop the server (fast: clients' connections are cut), keeping its data."""
        stopped = self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop")
        self._check("stop", stopped)

    def resume(self) -> None:
        """Start the server (again) on the same port and data."""
        started = self._run(
            str(self.bindir / "pg_ctl"),
            *("-D", str(self.data), "-l", str(self.log), "-o", self._options, "-w", "-t", "60"),
            "start",
        )
        self._check("start", started)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        args = ["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", self.url(database), "-c", sql]
        done = subprocess.run(
            [str(self.bindir / "psql"), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        self._check(f"psql {sql!r}", done)
        return done.stdout

    def create_database(self, prefix: str = "t", owner: str = USER) -> str:
        """A new empty database (of `owner`); its name."""
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        self.psql(f'CREATE DATABASE "{name}" OWNER {owner}')
        return name

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
