"""The rig's own redis-server for scenario 8: started on a free loopback port with its own folder,
nothing saved to disk, pinned to the load core (as a Redis on another host would be: its CPU is
not the router's), stopped with the scenario and dying with the rig. And what it holds: memory
from INFO, the size of each kind of key.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from rig import LOAD_CORE, RigError, Service, free_port, start, wait_for_tcp

KEY_PREFIX = "pingtree"  # RedisStore's default prefix: the scenario's routers use it
SAMPLED_KEYS = 200  # of each kind, for MEMORY USAGE


@dataclass(frozen=True, slots=True)
class Calls:
    """What Redis has run, and read: scripts, commands, and its reads of a client's socket (INFO
    stats total_reads_processed), one per request a client sends and waits on (a pipeline's
    commands arrive together), more only for a request too big for one read (16 KiB)."""

    scripts: int
    commands: int
    reads: int

    def __sub__(self, before: Calls) -> Calls:
        return Calls(
            self.scripts - before.scripts,
            self.commands - before.commands,
            self.reads - before.reads,
        )


@dataclass
class RedisServer:
    service: Service
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=10)

    def memory(self) -> dict[str, int]:
        """INFO memory's used_memory and mem_clients_normal (the clients' buffers, which come and
        go with the connections, not with what is stored), in bytes."""
        with self.client() as client:
            info: dict[str, Any] = client.info("memory")
        return {key: int(info[key]) for key in ("used_memory", "mem_clients_normal")}

    def calls(self) -> Calls:
        """Scripts and commands Redis has run since it started (INFO commandstats, less the INFO
        commands that read them; a script's own commands count as commands), and its reads."""
        with self.client() as client:
            stats: dict[str, Any] = client.info("commandstats")
            reads = int(client.info("stats")["total_reads_processed"])
        calls = {name: int(stat["calls"]) for name, stat in stats.items()}
        scripts = sum(calls.get(f"cmdstat_{name}", 0) for name in ("evalsha", "eval"))
        return Calls(scripts, sum(calls.values()) - calls.get("cmdstat_info", 0), reads)

    def stored_bytes(self) -> int:
        """What the data costs: used_memory less the clients' buffers."""
        memory = self.memory()
        return memory["used_memory"] - memory["mem_clients_normal"]

    def count(self, kind: str) -> int:
        """How many keys of a kind (`outcome`, `journal`, `idempotency`) are stored."""
        return sum(1 for _ in self._keys(kind))

    def mean_key_bytes(self, kind: str) -> float:
        """MEMORY USAGE (exact: SAMPLES 0) averaged over up to SAMPLED_KEYS keys of a kind."""
        sizes = []
        with self.client() as client:
            for key in self._keys(kind):
                sizes.append(int(client.memory_usage(key, samples=0) or 0))
                if len(sizes) == SAMPLED_KEYS:
                    break
        return sum(sizes) / len(sizes) if sizes else 0.0

    def tagged_bytes(self, tag: str) -> int:
        """MEMORY USAGE summed over every key under one hash tag (`s`: the sales ledger)."""
        with self.client() as client:
            keys = list(client.scan_iter(match=f"{KEY_PREFIX}:{{{tag}}}:*", count=1000))
            return sum(int(client.memory_usage(key, samples=0) or 0) for key in keys)

    def _keys(self, kind: str) -> Iterator[bytes]:
        with self.client() as client:
            yield from client.scan_iter(match=f"{KEY_PREFIX}:*:{kind}", count=1000)


@contextmanager
def redis_server(workdir: Path) -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RigError("redis-server is not installed (make bench-tools installs it)")
    directory = workdir / "redis"
    directory.mkdir()
    port = free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory)]
    argv += ["--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"]
    service = start("redis", argv, LOAD_CORE, workdir)
    try:
        wait_for_tcp(service, "127.0.0.1", port)
        server = RedisServer(service, port)
        _wait_until_loaded(server)
        yield server
    finally:
        service.stop()


def _wait_until_loaded(server: RedisServer, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        server.service.ensure_running()
        try:
            with server.client() as client:
                if client.ping():
                    return
        except redis.exceptions.BusyLoadingError:
            pass
        time.sleep(0.05)
    raise RigError(f"redis-server did not answer PING in {timeout_s:.0f} s")
