"""The embedded store's file: one SQLite database, its one connection and the one thread that does
all its I/O, so the event loop never waits on the disk. Three table sets share it, each its own
`migrate` component: the delivery queue (queue/sqlite.py, "deliveries"), the embedded store's
caps, dedup claims, idempotency records, journals and outcomes (state/sqlite.py, "store") and the
ledger's outbox (outbox/sqlite.py, "outbox"); one `SqliteFile`, one writer thread, one commit for
whatever they queued together.

**Durability.** WAL mode. With `synchronous="NORMAL"` (the default) a write is in the WAL, handed
to the operating system, when its call returns: it survives the process crashing or being killed,
but a power loss or an OS crash can take back the last transactions since the WAL was last synced
(at a checkpoint); the file itself is never corrupted. `synchronous="FULL"` syncs the WAL at every
commit, so a returned call survives power loss too, for one fsync per group commit.

**One writer.** sqlite3 connections are not safe across threads, and SQLite takes one writer at a
time anyway: every call goes, in order, to one thread that owns the connection. Writes queued
together are committed as one transaction (group commit), each in its own savepoint so a failing
one takes none of the others with it; a call returns only once its transaction is committed. A
read waits for the writes queued before it, so a caller reads what it wrote. A call cancelled
before the thread reaches it does not happen; one cancelled later still does (an enqueue is
idempotent, so the caller may simply retry).

**One process.** The file is opened by one process at a time: `<file>.lock` holds an exclusive
flock while it is open, and a second process is refused at once, naming the first's pid.

**Errors.** An SQLite failure (a full disk, an unreadable file, a lock held past `busy_timeout_s`
by another process) stops here as StoreUnavailable; a programming error is raised as it is.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fcntl
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from pingtree.core.errors import StoreUnavailable

T = TypeVar("T")
Work = Callable[[sqlite3.Connection], T]

# Enough to amortize a commit over a burst, small enough that a read never waits long behind it.
_MAX_GROUP = 256


@dataclass(slots=True)
class _Call:
    work: Work[Any]
    write: bool
    # An asyncio future (with its loop) for the event loop's calls, a concurrent one for the
    # callers that block at start-up (migrate, read_now).
    done: asyncio.Future[Any] | concurrent.futures.Future[Any]
    loop: asyncio.AbstractEventLoop | None = None


Answer = tuple[_Call, bool, Any]  # the call, whether it succeeded, its result or its error


class SqliteFile:
    """One SQLite file (or ":memory:"), one connection, one thread. Opening is synchronous, at
    start-up; every call after runs on the thread."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        busy_timeout_s: float = 5.0,
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous is NORMAL or FULL, not {synchronous!r}")
        self.path = str(path)
        self._lock = None if self.path == ":memory:" else _lock_for_this_process(self.path)
        with _unavailable():
            connection = sqlite3.connect(
                self.path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
            try:
                connection.execute("PRAGMA journal_mode=WAL")  # ":memory:" stays "memory"
                connection.execute(f"PRAGMA synchronous={synchronous}")
                connection.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version"
                    " (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
                )
            except BaseException:
                connection.close()
                if self._lock is not None:
                    os.close(self._lock)
                raise
        self._connection = connection
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name="pingtree-sqlite", daemon=True)
        self._thread.start()

    def migrate(self, component: str, steps: Sequence[Sequence[str]]) -> None:
        """Brings `component`'s tables to version len(steps): step n (statements, run in one
        transaction with the version) is run once, in order, on any file older than n. A file
        newer than this code is refused. Blocks the caller: for start-up."""
        done: concurrent.futures.Future[None] = concurrent.futures.Future()

        def work(connection: sqlite3.Connection) -> None:
            _migrate(connection, self.path, component, steps)

        self._submit(_Call(work, True, done))
        with _unavailable():
            done.result()

    def read_now(self, work: Work[T]) -> T:
        """`work` run on the thread (after whatever is queued), its answer handed to a caller
        that blocks for it. For start-up, like `migrate`: a store loading its state."""
        return self._now(work, write=False)

    def write_now(self, work: Work[T]) -> T:
        """`work` in a transaction, committed, its answer handed to a caller that blocks for
        it. For start-up: a component setting its rows right once the file is this process's."""
        return self._now(work, write=True)

    def _now(self, work: Work[T], *, write: bool) -> T:
        done: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._submit(_Call(work, write, done))
        with _unavailable():
            return done.result()

    async def read(self, work: Work[T]) -> T:
        return await self._call(work, write=False)

    async def write(self, work: Work[T]) -> T:
        """`work` in a transaction, committed (with whatever other writes were queued with it)
        before this returns."""
        return await self._call(work, write=True)

    async def _call(self, work: Work[T], *, write: bool) -> T:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()
        self._submit(_Call(work, write, done, loop))
        with _unavailable():
            return await done

    def _submit(self, call: _Call) -> None:
        if self._closed:
            raise StoreUnavailable("the state file is closed")
        self._calls.put(call)

    async def close(self) -> None:
        """Runs what is queued, then closes the file (checkpointing the WAL into it)."""
        if self._closed:
            return
        self._closed = True
        self._calls.put(None)
        await asyncio.to_thread(self._thread.join)
        if self._lock is not None:
            os.close(self._lock)  # another process may open the file now

    # the thread -------------------------------------------------------------------------------

    def _serve(self) -> None:
        while True:
            batch = [self._calls.get()]
            while len(batch) < _MAX_GROUP:
                try:
                    batch.append(self._calls.get_nowait())
                except queue.Empty:
                    break
            answers: list[Answer] = []
            writes: list[_Call] = []
            for call in batch:
                if call is None:  # close: the last thing ever queued
                    answers += self._commit(writes)
                    _hand_back(answers)
                    self._connection.close()
                    return
                if not _still_wanted(call):
                    continue
                if call.write:
                    writes.append(call)
                    continue
                answers += self._commit(writes)
                writes = []
                try:
                    answers.append((call, True, call.work(self._connection)))
                except Exception as error:
                    answers.append((call, False, error))
            answers += self._commit(writes)
            _hand_back(answers)

    def _commit(self, writes: list[_Call]) -> list[Answer]:
        if not writes:
            return []
        connection = self._connection
        answers: list[Answer] = []
        try:
            connection.execute("BEGIN IMMEDIATE")
            for call in writes:
                connection.execute("SAVEPOINT call")
                try:
                    answers.append((call, True, call.work(connection)))
                except Exception as error:
                    connection.execute("ROLLBACK TO call")
                    answers.append((call, False, error))
                connection.execute("RELEASE call")
            connection.execute("COMMIT")
        except Exception as error:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            return [(call, False, error) for call in writes]
        return answers


def _still_wanted(call: _Call) -> bool:
    """False for a call cancelled before the thread reached it: it does not happen. (Read from
    this thread, an asyncio future's state may be a moment old: a call cancelled just now still
    happens, as one cancelled after the thread took it always did.)"""
    if isinstance(call.done, concurrent.futures.Future):
        return call.done.set_running_or_notify_cancel()
    return not call.done.cancelled()


def _hand_back(answers: list[Answer]) -> None:
    """Each answer to its caller: the event loop's all at once, in one callback per loop (one
    wake-up of the loop per batch rather than per call: most of a call's cost)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Answer]] = {}
    for answer in answers:
        call = answer[0]
        if call.loop is None:
            _settle(answer)
        else:
            by_loop.setdefault(call.loop, []).append(answer)
    for loop, settled in by_loop.items():
        with suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
            loop.call_soon_threadsafe(_settle_all, settled)


def _settle_all(answers: list[Answer]) -> None:
    for answer in answers:
        _settle(answer)


def _settle(answer: Answer) -> None:
    call, ok, value = answer
    if call.done.done():  # cancelled meanwhile
        return
    if ok:
        call.done.set_result(value)
    else:
        call.done.set_exception(value)


def _migrate(
    connection: sqlite3.Connection, path: str, component: str, steps: Sequence[Sequence[str]]
) -> None:
    row = connection.execute(
        "SELECT version FROM schema_version WHERE component = ?", (component,)
    ).fetchone()
    version = 0 if row is None else int(row[0])
    if version > len(steps):
        raise StoreUnavailable(
            f"{path}: its {component} tables are version {version}, newer than this pingtree's"
            f" ({len(steps)}): run the pingtree that wrote it"
        )
    for step in steps[version:]:
        for statement in step:
            connection.execute(statement)
    connection.execute(
        "INSERT INTO schema_version (component, version) VALUES (?, ?)"
        " ON CONFLICT (component) DO UPDATE SET version = excluded.version",
        (component, len(steps)),
    )


def _lock_for_this_process(path: str) -> int:
    """One process per state file: the store keeps its state in memory and writes it through,
    so a second process on the file would decide on state the first one never sees (caps
    passed, a consumer sold twice). An exclusive flock on `<file>.lock`, held while the file is
    open: the kernel drops it when the process dies, however it dies. Returns its descriptor."""
    lock_path = f"{path}.lock"
    try:
        descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StoreUnavailable(f"the state file failed ({lock_path}: {exc.strerror})") from exc
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(descriptor, 20).decode(errors="replace").strip() or "?"
        os.close(descriptor)
        raise StoreUnavailable(
            f"the state file {path} is in use by another process (pid {holder}): one pingtree "
            "process per state file (several routers share state through Redis)"
        ) from None
    os.ftruncate(descriptor, 0)
    os.write(descriptor, str(os.getpid()).encode())
    return descriptor


@contextmanager
def _unavailable() -> Iterator[None]:
    """SQLite's failures stop here; its programming errors (a bad statement, a broken
    constraint) are bugs, and are raised as they are."""
    try:
        yield
    except (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError):
        raise
    except sqlite3.Error as error:
        raise StoreUnavailable(
            f"the state file failed ({type(error).__name__}: {error}); "
            f"retry after {StoreUnavailable.retry_after_s} s"
        ) from error
