"""The ledger's database: a URL made an engine, the thread its work runs on, and the one place a
database exception becomes `LedgerUnavailable`.

URLs (`--database-url`, `$PINGTREE_DATABASE_URL`):
- `sqlite:///PATH` a file (its folder is made), in WAL mode; `sqlite:////abs/path` for an
  absolute one. Without a URL the ledger is the file beside the state file (`ledger_file_beside`).
- `sqlite://` or `sqlite:///:memory:` in memory, one shared connection (tests, `pingtree demo`).
- `postgresql://…` or `postgres://…` (psycopg 3; the `postgres` extra), for several routers.

The engine is SQLAlchemy's synchronous one, run off the event loop: every call goes to this
ledger's own threads (one for SQLite, whose writes are serial anyway; a few for PostgreSQL), each
call one transaction. A call whose caller is cancelled while it runs still completes: filing is
idempotent, so the writer may simply file its batch again.

Bounded waits: PostgreSQL connections time out after `CONNECT_TIMEOUT_S` (libpq takes 2 at
least), a busy pool after `POOL_TIMEOUT_S`, and a pooled connection is checked before use (one
that died with its server is replaced, not handed out); SQLite waits `BUSY_TIMEOUT_S` for a lock.
What goes wrong in the database leaves this module as `LedgerUnavailable`, whose detail names the
kind of error (`described`), never a value: a database's own message may quote a row's values,
PII among them (and statements' parameters are hidden from SQLAlchemy's messages and logs).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from alembic.util.exc import CommandError
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import StaticPool

from pingtree.core import jsonenc
from pingtree.core.errors import ConfigError, LedgerUnavailable

T = TypeVar("T")

CONNECT_TIMEOUT_S = 5
POOL_TIMEOUT_S = 10.0
BUSY_TIMEOUT_S = 5.0
POSTGRES_THREADS = 4  # a report need not wait for a batch being filed


def ledger_file_beside(state_file: str | Path) -> Path:
    """The default ledger: a file beside the state file, named after it (`state.db` →
    `state-ledger.db`, in the same folder)."""
    path = Path(state_file)
    return path.with_name(f"{path.stem}-ledger{path.suffix or '.db'}")


def default_url(state_file: str | Path | None) -> str:
    """The ledger's URL without `--database-url`: the SQLite file beside the state file, or, for
    a router without one (its store in memory), a ledger in memory that lives as long as it."""
    if state_file is None:
        return "sqlite://"
    return f"sqlite:///{ledger_file_beside(state_file)}"


TEMPORARY_PREFIX = "pingtree-ledger-"


@contextmanager
def temporary_ledger() -> Iterator[str]:
    """The URL of a SQLite file in a folder of its own under the system's temporary folder,
    removed on leaving: the ledger of a router without a state file whose filing runs in another
    process (filer.py), which a database in memory would not reach. Its folder is named after the
    router's pid; the folders of routers that died without removing theirs (SIGKILL: PII in
    them) are removed here first."""
    _remove_orphans(Path(tempfile.gettempdir()))
    with tempfile.TemporaryDirectory(prefix=f"{TEMPORARY_PREFIX}{os.getpid()}-") as folder:
        yield f"sqlite:///{folder}/ledger.db"


def _remove_orphans(under: Path) -> None:
    for folder in under.glob(f"{TEMPORARY_PREFIX}*-*"):
        pid = folder.name.removeprefix(TEMPORARY_PREFIX).partition("-")[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:
            continue  # another user's process: alive


def database_url(url: str) -> URL:
    """The SQLAlchemy URL of a ledger URL (module docstring); ConfigError for any other. The
    error never repeats the URL, which may hold a password."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError:
        raise ConfigError([("database_url", "not a database URL")]) from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite" and driver in ("", "pysqlite"):
        return parsed.set(drivername="sqlite")
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg"):
        _require_psycopg()
        return parsed.set(drivername="postgresql+psycopg")
    message = "a ledger URL starts with sqlite:// or postgresql:// (or postgres://)"
    raise ConfigError([("database_url", message)])


def _require_psycopg() -> None:
    """PostgreSQL's driver is an extra: without it, say which, rather than fail at the first
    connection with SQLAlchemy's ModuleNotFoundError."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        message = "PostgreSQL needs psycopg: pip install 'pingtree[postgres]'"
        raise ConfigError([("database_url", message)]) from None


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a ledger's (`database_url`'s ConfigError, in a line), or None."""
    try:
        database_url(url)
    except ConfigError as exc:
        return "; ".join(message for _, message in exc.errors)
    return None


def is_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def create_ledger_engine(url: URL, *, connect_timeout_s: int = CONNECT_TIMEOUT_S) -> Engine:
    common: dict[str, Any] = {
        "hide_parameters": True,
        "json_serializer": lambda value: jsonenc.dumps(value).decode(),
        "json_deserializer": jsonenc.loads,
    }
    if url.get_backend_name() == "postgresql":
        keepalive = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10}
        return sa.create_engine(
            url,
            pool_size=POSTGRES_THREADS,
            max_overflow=0,
            pool_timeout=POOL_TIMEOUT_S,
            pool_pre_ping=True,
            connect_args={"connect_timeout": connect_timeout_s, **keepalive},
            **common,
        )
    sqlite_args = {"check_same_thread": False, "timeout": BUSY_TIMEOUT_S}
    if is_memory(url):
        engine = sa.create_engine(
            "sqlite://", poolclass=StaticPool, connect_args=sqlite_args, **common
        )
    else:
        assert url.database is not None
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args=sqlite_args, **common)
    _real_sqlite_transactions(engine, wal=not is_memory(url))
    return engine


def _real_sqlite_transactions(engine: Engine, *, wal: bool) -> None:
    """pysqlite begins a transaction only before a write, and not before DDL: the ledger's
    transactions begin where SQLAlchemy says (SQLAlchemy's own recipe), IMMEDIATE so a
    transaction that reads then writes never has to upgrade its lock."""

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if wal:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def described(error: Exception) -> str:
    """What went wrong, without a value of any row: the error's kind (and PostgreSQL's SQLSTATE);
    for a failure of the connection or the server (OperationalError: refused, timed out, shut
    down, locked, disk full), the first line of its message too, which names no row."""
    orig = error.orig if isinstance(error, sa.exc.DBAPIError) else error
    words = type(orig).__name__
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate:
        words += f" ({sqlstate})"
    connection_level = sa.exc.OperationalError, sa.exc.TimeoutError, OSError
    if isinstance(error, connection_level) and str(orig).strip():
        words += ": " + str(orig).strip().splitlines()[0]
    return words


@contextmanager
def unavailable() -> Iterator[None]:
    """Database exceptions become LedgerUnavailable, described (`described`) and not chained: a
    database's message, a COPY's context, may quote a row's values (PII among them), and a
    logged traceback would print a chained exception whole."""
    try:
        yield
    except (sa.exc.SQLAlchemyError, OSError) as error:  # OSError: the SQLite file's folder
        raise LedgerUnavailable(f"the ledger's database failed: {described(error)}") from None
    except CommandError as error:  # Alembic: a schema at a revision this version does not know
        raise LedgerUnavailable(f"the ledger's schema: {error}") from None


class Database:
    """An engine and the threads its calls run on."""

    def __init__(self, url: URL, *, connect_timeout_s: int = CONNECT_TIMEOUT_S) -> None:
        self.url = url
        self.dialect = url.get_backend_name()  # "sqlite" or "postgresql"
        with unavailable():
            self.engine = create_ledger_engine(url, connect_timeout_s=connect_timeout_s)
        threads = POSTGRES_THREADS if self.dialect == "postgresql" else 1
        self._threads = concurrent.futures.ThreadPoolExecutor(threads, "pingtree-ledger")

    async def run(self, work: Callable[[Connection], T]) -> T:
        """`work` in one transaction on a ledger thread: committed when it returns, rolled back
        when it raises."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, self.run_now, work)

    async def run_blocking(self, work: Callable[[], T]) -> T:
        """A blocking `work` that takes its own connection (a migration) on a ledger thread, in
        turn with the calls (one SQLite connection in memory is all there is)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, work)

    def run_now(self, work: Callable[[Connection], T]) -> T:
        """The same, on the calling thread (a benchmark's bulk load, a blocking CLI command)."""
        with unavailable(), self.engine.begin() as connection:
            return work(connection)

    def close(self) -> None:
        self._threads.shutdown(wait=True)
        self.engine.dispose()
