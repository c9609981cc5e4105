"""`pingtree serve --workers N`: one supervisor, N router processes on one host:port."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

# `serve --redis-url` defaults to it (serve.py), and workers get the URL through it.
REDIS_URL_VARIABLE = "PINGTREE_REDIS_URL"
DATABASE_URL_VARIABLE = "PINGTREE_DATABASE_URL"
# Workers stopping get this long to finish the auctions under way, then SIGKILL.
_STOP_GRACE_S = 30.0


@dataclass
class _Worker:
    number: int
    process: subprocess.Popen[bytes]
    ready_fd: int  # the read end of the pipe the worker writes one byte to once it serves
    ready: bool = False


def supervise(args: argparse.Namespace) -> int:
    """`serve --workers N`: N router processes on one host:port (SO_REUSEPORT: the kernel spreads
    connections over them), each with its own event loop and Redis client. This process only
    supervises: it forwards SIGTERM, SIGINT and SIGHUP (a reload in every worker) to them, and
    exits once they all have. A worker that reloaded on `POST /admin/reload` sends it SIGUSR1,
    and it sends the other workers SIGHUP. A worker that dies after it served is reported and
    replaced (its state is in Redis: a fresh process picks up where it left off, and its leads'
    claims run out of lease). One that dies before serving (a port taken, a file that no longer
    loads) stops them all, and the exit code is 1: a restart would fail the same way."""
    log = logging.getLogger("pingtree.serve")
    workers: dict[int, _Worker] = {}
    stop_by: float | None = None  # set once stopping: when the stragglers get SIGKILL
    failed = False

    def start(number: int) -> None:
        read_fd, write_fd = os.pipe()
        command = [sys.executable, "-m", "pingtree", "serve", "--config", args.config]
        command += ["--host", args.host, "--port", str(args.port), "--loop", args.loop]
        command += ["--log-level", args.log_level]
        command += ["--redis-prefix", args.redis_prefix, "--worker-ready-fd", str(write_fd)]
        if args.no_ledger:
            command.append("--no-ledger")
        # The Redis URL (its password with it) in the environment, not on a command line.
        environment = {**os.environ, REDIS_URL_VARIABLE: args.redis_url}
        if args.database_url is not None:  # the ledger's, likewise (its password with it)
            environment[DATABASE_URL_VARIABLE] = args.database_url
        # Its own process group: a terminal's Ctrl-C reaches the supervisor only, which
        # forwards it once. It dies with the supervisor (Linux), however that one dies.
        process = subprocess.Popen(
            command,
            env=environment,
            pass_fds=(write_fd,),
            process_group=0,
            preexec_fn=_die_with_parent,
        )
        os.close(write_fd)
        os.set_blocking(read_fd, False)
        workers[number] = _Worker(number, process, read_fd)
        log.info("worker %d started (pid %d)", number, process.pid)

    def forward(signum: int, _frame: object) -> None:
        nonlocal stop_by
        if signum != signal.SIGHUP and stop_by is None:
            stop_by = time.monotonic() + _STOP_GRACE_S
        for worker in workers.values():
            worker.process.send_signal(signum)

    def relay_reload(asked: signal.struct_siginfo) -> None:
        # A worker reloaded over HTTP: the others re-read the file too. Who asked is known from
        # the signal itself, so that one is not made to reload twice.
        others = [w for w in workers.values() if w.process.pid != asked.si_pid]
        log.info("worker pid %d reloaded buyers.yaml: SIGHUP to the other workers", asked.si_pid)
        for worker in others:
            worker.process.send_signal(signal.SIGHUP)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    # SIGUSR1 stays pending for sigtimedwait below, which tells its sender (workers unblock it).
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    for number in range(args.workers):
        start(number)
    while workers:
        asked = signal.sigtimedwait({signal.SIGUSR1}, 0.1)
        if asked is not None and stop_by is None:
            relay_reload(asked)
        for worker in list(workers.values()):
            if not worker.ready:
                with contextlib.suppress(BlockingIOError):
                    worker.ready = os.read(worker.ready_fd, 1) == b"r"
                if worker.ready:
                    log.info("worker %d (pid %d) serving", worker.number, worker.process.pid)
            code = worker.process.poll()
            if code is None:
                if stop_by is not None and time.monotonic() > stop_by:
                    worker.process.kill()
                continue
            os.close(worker.ready_fd)
            del workers[worker.number]
            how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
            pid = worker.process.pid
            if stop_by is not None:
                log.info("worker %d (pid %d) stopped: %s", worker.number, pid, how)
            elif not worker.ready:
                log.error(
                    "worker %d (pid %d) failed to start (%s): stopping", worker.number, pid, how
                )
                failed = True
                forward(signal.SIGTERM, None)
            else:
                log.error("worker %d (pid %d) died (%s): starting another", worker.number, pid, how)
                start(worker.number)
    return 1 if failed else 0


def _die_with_parent() -> None:
    """Runs in a worker between fork and exec: Linux sends it SIGTERM when the supervisor dies,
    and it takes SIGUSR1 again (the supervisor blocks it, and a signal mask survives exec)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1})
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
