"""A real redis-server for the tests, on a free loopback port, for the whole session.

It runs as a single-node Redis Cluster that owns every slot: a plain client works against it as
against any Redis, and the server refuses (CROSSSLOT) any script whose keys span two slots, so the
whole store suite also proves the key layout is Cluster-ready. Nothing is saved to disk; the
server dies with the session, even one that crashes (parent-death signal on Linux).
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


def _wait_until_serving(client: redis.Redis, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited ({process.returncode}):\n{log.read_text()}")
        try:
            if client.ping():
                if b"cluster_state:ok" in client.execute_command("CLUSTER", "INFO"):
                    return
                client.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
        except redis.exceptions.ResponseError as error:
            if "already busy" not in str(error):
                raise
        except redis.exceptions.ConnectionError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"no redis-server within {_START_TIMEOUT_S} s:\n{log.read_text()}")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not on PATH: run `make tools` to install it", pytrace=False)
    workdir = tmp_path_factory.mktemp("redis")
    log = workdir / "redis.log"
    port = free_port()
    command = [
        binary,
        *("--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir)),
        *("--save", "", "--appendonly", "no", "--daemonize", "no"),
        *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
        *("--cluster-port", str(free_port())),  # else port + 10000, which may not exist
        *("--logfile", str(log), "--loglevel", "warning"),
    ]
    process = subprocess.Popen(command, preexec_fn=_die_with_parent)
    try:
        with redis.Redis(host="127.0.0.1", port=port, socket_timeout=1) as client:
            _wait_until_serving(client, process, log)
        yield RedisServer(port, f"redis://127.0.0.1:{port}/0")
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The session's server, emptied for this test."""
    with redis.Redis(host="127.0.0.1", port=redis_server.port, socket_timeout=1) as client:
        client.flushall()
    yield redis_server.url
