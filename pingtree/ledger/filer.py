"""The ledger's filing process: the writer's batches filed by a child of the router, so SQL never
runs in the router's process (`SqlLedger.open(url, filer=True)`, what `pingtree serve` does).

Why a process: filing costs ~0.5 ms of Python a lead (its rows, its calls, a dozen rollup rows),
and on a thread of the router it holds the GIL while the event loop waits for it at every socket
call: answers in flight during a batch waited for it (p99 82 ms against 8 at 180 leads/s,
docs/benchmarks.md). In a process of its own it costs the router a pipe write and read a batch.

    router (FilingProcess)                       python -m pingtree.ledger.filer
      first call: start the child ──────────────▶ reads the opening frame: the URL
      file(entries) ── frame: the entries ──────▶ decodes, files them in one transaction
                    ◀── frame: the answer ──────── ("filed", unreadable) | ("unavailable", why)

Frames are a 4-byte length and a pickle, on the child's stdin and stdout: the child is this same
code started by its parent, nothing else writes to the pipe (the child's stdout is its stderr
for everything else). The URL goes in a frame, not on the command line, where `ps` shows it.

Lifetime. The child starts with the first batch, so a router that files nothing starts none, and
the router's start does not wait for it. It stops when its stdin closes: the router closing the
ledger (after its writer filed the batch in hand), or the router dying, whatever killed it. It
ignores SIGINT and SIGTERM, which a terminal or a service manager sends the whole group: its
router's own shutdown decides when the last batch is filed. A child that dies, or a call cut
short (a cancelled writer), costs the batch in hand a LedgerUnavailable, which the writer retries
(the entries are still in the outbox); the next call starts a new child.

Only filing moves: the operator's reads, `forget`, retention and migrations stay on the ledger's
threads in the router (they are rare, and an operator's question should not wait for a batch).
A ledger in memory cannot be shared with a child: its filing stays on its thread (app.py gives
`serve` without a state file a temporary file instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import signal
import struct
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import IO, Any

from pingtree.core.errors import LedgerUnavailable
from pingtree.ledger import filing
from pingtree.ledger.base import Unreadable, decoded
from pingtree.ledger.database import Database, database_url
from pingtree.ledger.quotes import decoded_quotes
from pingtree.store.outbox.base import Entry

log = logging.getLogger(__name__)

_LENGTH = struct.Struct(">I")
# The folder holding this pingtree, first on the child's path: the child runs this same code
# (a checkout on PYTHONPATH, an installed package, a benchmark's copy at a commit).
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
STOP_WAIT_S = 10.0  # a batch in hand is filed in well under a second; then the child is killed

Answer = tuple[str, Any]  # ("filed", list[Unreadable]) or ("unavailable", detail)


def _frame(value: Any) -> bytes:
    body = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(body)) + body


class FilingProcess:
    """The router's side: `file` sends a batch to the child and waits for its answer, one batch
    at a time (the writer has one in hand)."""

    def __init__(self, url: str, *, connect_timeout_s: int) -> None:
        self._opening = {"url": url, "connect_timeout_s": connect_timeout_s}
        self._child: asyncio.subprocess.Process | None = None
        self._turn = asyncio.Lock()

    @property
    def pid(self) -> int | None:
        """The child's pid while it runs (tests, logs)."""
        return None if self._child is None else self._child.pid

    async def file(self, entries: Sequence[Entry]) -> list[Unreadable]:
        """The child's `decoded` and filing of `entries`: the unreadable ones; LedgerUnavailable
        when the database or the child failed."""
        async with self._turn:
            child = self._child or await self._start()
            assert child.stdin is not None and child.stdout is not None
            try:
                child.stdin.write(_frame(list(entries)))
                await child.stdin.drain()
                size = _LENGTH.unpack(await child.stdout.readexactly(_LENGTH.size))[0]
                kind, value = pickle.loads(await child.stdout.readexactly(size))
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                code = await self._lost(child)
                detail = f"the ledger's filing process stopped (exit code {code})"
                raise LedgerUnavailable(detail) from exc
            except BaseException:
                # Cut short mid-frame (cancelled): the pipe's next bytes would be this call's.
                await self._lost(child)
                raise
        if kind == "unavailable":
            raise LedgerUnavailable(value)
        return list(value)

    async def _start(self) -> asyncio.subprocess.Process:
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (_PACKAGE_ROOT, path)))}
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "pingtree.ledger.filer",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        assert child.stdin is not None
        child.stdin.write(_frame(self._opening))
        self._child = child
        log.info("ledger: filing process %d started", child.pid)
        return child

    async def _lost(self, child: asyncio.subprocess.Process) -> int | None:
        """Forget `child`, killed if it still runs; its exit code."""
        self._child = None
        if child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                child.kill()
        return await child.wait()

    async def close(self) -> None:
        """Close the child's stdin and wait for it to stop (killed after STOP_WAIT_S)."""
        async with self._turn:
            child, self._child = self._child, None
            if child is None:
                return
            assert child.stdin is not None
            child.stdin.close()
            try:
                await asyncio.wait_for(child.wait(), STOP_WAIT_S)
            except TimeoutError:
                log.warning("ledger: filing process %d did not stop: killed", child.pid)
                await self._lost(child)


def _read_frame(stream: IO[bytes]) -> Any:
    """The next frame's value; None at the end of the stream."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    body = stream.read(_LENGTH.unpack(head)[0])
    return pickle.loads(body)


def _file(database: Database, entries: list[Entry]) -> Answer:
    leads, audits, unreadable = decoded(entries)
    quoted, unread_quotes = decoded_quotes(entries)
    if leads or audits or quoted:
        work = partial(filing.file_batch, records=leads, entries=audits, quoted=quoted)
        try:
            database.run_now(work)
        except LedgerUnavailable as exc:
            return "unavailable", str(exc)
    return "filed", unreadable + unread_quotes


def main() -> int:
    """The child: frames in on stdin, answers out on stdout, until stdin closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    frames_in, answers = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # the answers' pipe carries answers only
    logging.basicConfig(level=logging.INFO, format="%(levelname)s ledger filer: %(message)s")
    opening = _read_frame(frames_in)
    if opening is None:
        return 0
    try:
        database = Database(
            database_url(opening["url"]), connect_timeout_s=opening["connect_timeout_s"]
        )
    except LedgerUnavailable as exc:
        log.error("%s", exc)  # the router's next call says the process stopped, and retries
        return 1
    try:
        while (entries := _read_frame(frames_in)) is not None:
            answers.write(_frame(_file(database, entries)))
            answers.flush()
    finally:
        database.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
