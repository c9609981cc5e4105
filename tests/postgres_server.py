"""A real PostgreSQL for the tests, on a free loopback port, for the whole session.

Debian's server binaries (`initdb`, `postgres`: package `postgresql`, which `make test` installs)
make a cluster in a temp folder and serve it on 127.0.0.1 only, trusting every connection from
there (nothing else can reach it), with fsync off (the tests need speed, not durability). Run as
root, the server runs as the unprivileged `postgres` user (PostgreSQL refuses root), and its
folder is that user's. It is stopped at the end of the session by its pid, and dies with the
session even if that crashes (parent-death signal on Linux, set after the change of user, which
would clear it).

`postgres_url` is a fresh database of the session's server for one test. `PostgresProcess` is a
server a test controls itself: to stop it and start it again.
"""

from __future__ import annotations

import ctypes
import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.redis_server import free_port

_START_TIMEOUT_S = 20.0
_UNPRIVILEGED_USER = "postgres"
_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "100",
    "shared_buffers": "32MB",
}
_databases = count(1)


def bin_dir() -> Path:
    """Where Debian's PostgreSQL server binaries are (the newest, if several); the test fails,
    naming `make test`, when they are not installed."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is not None:
        return Path(initdb).resolve().parent
    pytest.fail(
        "PostgreSQL's server binaries (initdb, postgres) are not installed: `make test` "
        "installs them (Debian's `postgresql`), or `make tools` alone",
        pytrace=False,
    )


def _as_server_user() -> dict[str, Any]:
    """Popen's arguments that run a command as the unprivileged user when this is root."""
    if os.geteuid() != 0:
        return {}
    try:
        user = pwd.getpwnam(_UNPRIVILEGED_USER)
    except KeyError:
        pytest.fail(f"run as root, the tests need the {_UNPRIVILEGED_USER!r} user", pytrace=False)
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _die_with_parent() -> None:
    # Runs after Popen's change of user (which resets the parent-death signal), before exec.
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


class PostgresProcess:
    """One PostgreSQL cluster in its own temp folder: initialized once, then started, stopped
    (fast shutdown) or killed, and started again on the same port."""

    def __init__(self) -> None:
        self._bin = bin_dir()
        self._as_user = _as_server_user()
        self.port = free_port()
        # Not under pytest's tmp_path: its folders are root's own (0700) and the server's user
        # could not reach them.
        self.folder = Path(tempfile.mkdtemp(prefix="pingtree-postgres-"))
        self.data = self.folder / "data"
        self.log = self.folder / "postgres.log"
        if self._as_user:
            os.chown(self.folder, self._as_user["user"], self._as_user["group"])
        self._process: subprocess.Popen[bytes] | None = None
        self._initdb()

    def _initdb(self) -> None:
        command = [
            str(self._bin / "initdb"),
            *("-D", str(self.data), "-U", "postgres", "-E", "UTF8", "--locale=C"),
            *("--auth=trust", "--no-sync", "--no-instructions"),
        ]
        done = subprocess.run(command, capture_output=True, check=False, **self._as_user)
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{done.stderr.decode(errors='replace')}")
        # Trust only what comes from this host: the server listens on nothing else anyway.
        (self.data / "pg_hba.conf").write_text("host all all 127.0.0.1/32 trust\n")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        settings = [f"-c{name}={value}" for name, value in _SETTINGS.items()]
        command = [str(self._bin / "postgres"), "-D", str(self.data), "-p", str(self.port)]
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                [*command, *settings],
                stdout=log,
                stderr=log,
                preexec_fn=_die_with_parent,
                **self._as_user,
            )
        self._wait_until_serving()

    def _wait_until_serving(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"postgres exited ({self._process.returncode}):\n{self._log()}")
            try:
                with psycopg.connect(self.url(), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                time.sleep(0.05)
        raise RuntimeError(f"no PostgreSQL within {_START_TIMEOUT_S} s:\n{self._log()}")

    def _log(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def create_database(self) -> str:
        """A new, empty database; its URL."""
        name = f"test_{os.getpid()}_{next(_databases)}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """A fast shutdown (SIGINT): connections closed, the server gone when this returns."""
        if self._process is None or self._process.poll() is not None:
            return
        self._process.send_signal(signal.SIGINT)
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


@dataclass(frozen=True)
class PostgresServer:
    process: PostgresProcess

    def create_database(self) -> str:
        return self.process.create_database()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresProcess()
    try:
        server.start()
        yield PostgresServer(server)
    finally:
        server.remove()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh database of the session's server, for this test."""
    return postgres_server.create_database()
