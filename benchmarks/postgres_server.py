"""A benchmark's own PostgreSQL: Debian's server binaries (package `postgresql`) making a cluster in
a temp folder, served on a free loopback port only, trusting connections from there, stopped with
the benchmark and dying with it. Run as root, it runs as the `postgres` user, which PostgreSQL
requires. fsync is off: a benchmark loads its data fast and measures reads, not durability.
"""

from __future__ import annotations

import ctypes
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from rig import RigError, free_port

_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_wal_size": "4GB",
    "shared_buffers": "512MB",
}


@dataclass(frozen=True, slots=True)
class PostgresServer:
    port: int
    folder: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def size_bytes(self, database: str) -> int:
        with psycopg.connect(self.url(database)) as connection:
            found = connection.execute("SELECT pg_database_size(current_database())").fetchone()
        return int(found[0]) if found else 0


def _bin_dir() -> Path:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4])
    )
    if not found:
        raise RigError("PostgreSQL's server is not installed (`make tools` installs `postgresql`)")
    return Path(found[-1]).parent


def _as_postgres() -> dict[str, Any]:
    if os.geteuid() != 0:
        return {}
    user = pwd.getpwnam("postgres")
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _die_with_parent() -> None:
    # After Popen's change of user, which would reset it.
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    binaries, as_user = _bin_dir(), _as_postgres()
    folder = Path(tempfile.mkdtemp(prefix="pingtree-bench-postgres-"))
    if as_user:
        os.chown(folder, as_user["user"], as_user["group"])
    data, port = folder / "data", free_port()
    process: subprocess.Popen[bytes] | None = None
    try:
        initdb = [str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]
        initdb += ["-E", "UTF8", "--locale=C", "--no-sync"]
        subprocess.run(initdb, capture_output=True, check=True, **as_user)
        (data / "pg_hba.conf").write_text("host all all 127.0.0.1/32 trust\n")
        argv = [str(binaries / "postgres"), "-D", str(data), "-p", str(port)]
        argv += [f"-c{name}={value}" for name, value in _SETTINGS.items()]
        with (folder / "postgres.log").open("wb") as log:
            process = subprocess.Popen(
                argv, stdout=log, stderr=log, preexec_fn=_die_with_parent, **as_user
            )
        server = PostgresServer(port, folder)
        _wait_until_serving(server, process)
        yield server
    finally:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # a fast shutdown
            process.wait(30)
        shutil.rmtree(folder, ignore_errors=True)


def _wait_until_serving(server: PostgresServer, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = (server.folder / "postgres.log").read_text(errors="replace")
            raise RigError(f"postgres exited ({process.returncode}):\n{log[-2000:]}")
        try:
            with psycopg.connect(server.url(), connect_timeout=2):
                return
        except psycopg.OperationalError:
            time.sleep(0.05)
    raise RigError("postgres did not answer within 20 s")
