"""A real redis-server for the tests, on a free loopback port, for the whole session.

It runs as a single-node Redis Cluster that owns every slot: a plain client works against it as
against any Redis, and the server refuses (CROSSSLOT) any script whose keys span two slots, so the
whole store suite also proves the key layout is Cluster-ready. Nothing is saved to disk; the
server dies with the session, even one that crashes (parent-death signal on Linux).

`RedisProcess` is the same server for a test that needs its own: to crash it and start it again.
"""

from __future__ import annotations

import ctypes
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

_START_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class RedisServer:
    port: int
    url: str


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> None:
    # Linux's PR_SET_PDEATHSIG: the kernel kills the server when pytest dies, however it dies.
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


def _wait_until_serving(
    client: redis.Redis, process: subprocess.Popen[bytes], log: Path, *, cluster: bool
) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited ({process.returncode}):\n{log.read_text()}")
        try:
            if client.ping():
                if not cluster:
                    return
                if b"cluster_state:ok" in client.execute_command("CLUSTER", "INFO"):
                    return
                client.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
        except redis.exceptions.ResponseError as error:
            if "already busy" not in str(error):
                raise
        except redis.exceptions.ConnectionError:  # not listening yet, or loading its file
            pass
        time.sleep(0.02)
    raise RuntimeError(f"no redis-server within {_START_TIMEOUT_S} s:\n{log.read_text()}")


class RedisProcess:
    """One redis-server the tests control: started, crashed (SIGKILL) and started again on the
    same port and folder. `durable` keeps every write in an append-only file synced at each
    command, so a crash loses nothing (what an operator's Redis for pingtree should do)."""

    def __init__(self, workdir: Path, *, cluster: bool = False, durable: bool = False) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            message = "redis-server is not on PATH: run `make tools` to install it"
            pytest.fail(message, pytrace=False)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = workdir / "redis.log"
        self._cluster = cluster
        persistence = ("yes", "--appendfsync", "always") if durable else ("no",)
        self._command = [
            binary,
            *("--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(workdir)),
            *("--save", "", "--appendonly", *persistence, "--daemonize", "no"),
            *("--logfile", str(self.log), "--loglevel", "warning"),
        ]
        if cluster:
            self._command += [
                *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
                *("--cluster-port", str(free_port())),  # else port + 10000, which may not exist
            ]
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(self._command, preexec_fn=_die_with_parent)
        with redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1) as client:
            _wait_until_serving(client, self._process, self.log, cluster=self._cluster)

    def kill(self) -> None:
        """A crash: SIGKILL, nothing flushed but what was already written."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(5)
        except subprocess.TimeoutExpired:
            self.kill()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisProcess(tmp_path_factory.mktemp("redis"), cluster=True)
    try:
        server.start()
        yield RedisServer(server.port, server.url)
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The session's server, emptied for this test."""
    with redis.Redis(host="127.0.0.1", port=redis_server.port, socket_timeout=1) as client:
        client.flushall()
    yield redis_server.url
