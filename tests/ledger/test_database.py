"""The ledger's database (database.py, migrate.py): migrations, URLs, a database that is down
or comes back, and what an error may say."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from pingtree.core.errors import ConfigError, LedgerUnavailable
from pingtree.ledger.base import LeadQuery
from pingtree.ledger.database import database_url, default_url, ledger_file_beside
from pingtree.ledger.schema import metadata
from pingtree.ledger.sql import SqlLedger
from tests import postgres_server
from tests.ledger.records import make_record
from tests.postgres_server import PostgresProcess
from tests.redis_server import free_port


async def test_migrating_again_changes_nothing_and_the_schema_is_schema_py(
    ledger: SqlLedger,
) -> None:
    await ledger.file([make_record(1)], [])
    await ledger.migrate()
    assert await ledger.lead("ld_00000001") is not None

    def differences(connection: sa.Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(connection), metadata))

    assert await ledger.database.run(differences) == []


async def test_routers_starting_together_on_postgresql_migrate_once(postgres_url: str) -> None:
    ledgers = [SqlLedger.open(postgres_url) for _ in range(4)]
    try:
        await asyncio.gather(*(ledger.migrate() for ledger in ledgers))
        await ledgers[0].file([make_record(1)], [])
        assert await ledgers[3].lead("ld_00000001") is not None
    finally:
        await asyncio.gather(*(ledger.close() for ledger in ledgers))


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that takes connections and never says a word: a database that hangs."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


@pytest.mark.parametrize("where", ["closed-port", "silent-server"])
async def test_a_database_that_is_down_raises_ledger_unavailable_in_bounded_time(
    where: str, request: pytest.FixtureRequest
) -> None:
    port = free_port() if where == "closed-port" else request.getfixturevalue("silent_server")
    ledger = SqlLedger.open(f"postgresql://postgres@127.0.0.1:{port}/ledger", connect_timeout_s=2)
    calls: list[Callable[[], Awaitable[object]]] = [
        ledger.ping,
        lambda: ledger.file([make_record(1)], []),
    ]
    if where == "closed-port":  # a hanging server costs a connect timeout a call
        calls += [ledger.migrate, lambda: ledger.leads(LeadQuery())]
    try:
        for call in calls:
            started = time.monotonic()
            with pytest.raises(LedgerUnavailable):
                await call()
            assert time.monotonic() - started < 4
    finally:
        await ledger.close()


async def test_the_ledger_carries_on_once_its_postgresql_is_back() -> None:
    server = PostgresProcess()
    server.start()
    ledger = SqlLedger.open(server.url(), connect_timeout_s=2)
    try:
        await ledger.migrate()
        await ledger.file([make_record(1)], [])
        server.stop()
        with pytest.raises(LedgerUnavailable):
            await ledger.file([make_record(2)], [])
        server.start()
        await ledger.file([make_record(2)], [])
        page = await ledger.leads(LeadQuery())
        assert [filed.record.id for filed in page.leads] == ["ld_00000002", "ld_00000001"]
    finally:
        await ledger.close()
        server.remove()


@pytest.mark.parametrize(
    ("url", "driver", "database"),
    [
        ("postgresql://pt:secret@db.internal:5433/ledger", "postgresql+psycopg", "ledger"),
        ("postgres://pt@db.internal/ledger", "postgresql+psycopg", "ledger"),
        ("postgresql+psycopg://pt@db.internal/ledger", "postgresql+psycopg", "ledger"),
        ("sqlite:///var/pingtree/ledger.db", "sqlite", "var/pingtree/ledger.db"),
        ("sqlite:////var/pingtree/ledger.db", "sqlite", "/var/pingtree/ledger.db"),
        ("sqlite+pysqlite:///ledger.db", "sqlite", "ledger.db"),
        ("sqlite://", "sqlite", None),
    ],
)
def test_a_ledger_url_names_its_driver(url: str, driver: str, database: str | None) -> None:
    parsed = database_url(url)
    assert (parsed.drivername, parsed.database) == (driver, database)


def test_postgresql_without_psycopg_installed_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` fails as if missing
    with pytest.raises(ConfigError, match=r"pingtree\[postgres\]"):
        SqlLedger.open("postgresql://pt@db.internal/ledger")


async def test_a_ledger_in_memory_keeps_what_it_files_until_closed() -> None:
    ledger = SqlLedger.open("sqlite:///:memory:")
    try:
        await ledger.migrate()
        await ledger.file([make_record(1)], [])
        assert await ledger.lead("ld_00000001") is not None
    finally:
        await ledger.close()


@pytest.mark.parametrize(
    "url",
    ["mysql://root@localhost/ledger", "postgresql+asyncpg://h/db", "not a url", "redis://x"],
)
def test_a_url_that_is_not_a_ledgers_is_a_config_error_without_the_url(url: str) -> None:
    with pytest.raises(ConfigError) as raised:
        SqlLedger.open(url)
    assert raised.value.errors[0][0] == "database_url" and url not in str(raised.value)


@pytest.mark.parametrize(
    ("state_file", "ledger_file"),
    [
        ("state.db", "state-ledger.db"),
        ("/var/lib/pingtree/state.db", "/var/lib/pingtree/state-ledger.db"),
        ("data/router-1.sqlite", "data/router-1-ledger.sqlite"),
        ("state", "state-ledger.db"),
    ],
)
def test_the_default_ledger_file_is_beside_the_state_file(
    state_file: str, ledger_file: str
) -> None:
    assert ledger_file_beside(state_file) == Path(ledger_file)
    assert default_url(state_file) == f"sqlite:///{ledger_file}"


def test_a_router_without_a_state_file_keeps_its_ledger_in_memory() -> None:
    assert default_url(None) == "sqlite://"


async def test_an_error_of_the_database_quotes_nothing_a_lead_carries(ledger: SqlLedger) -> None:
    await ledger.database.run(lambda connection: connection.execute(sa.text("DROP TABLE leads")))
    record = make_record(1, lead_id="their-77", pii={"phone": "+13055550199", "first_name": "Zoe"})
    with pytest.raises(LedgerUnavailable) as raised:
        await ledger.file([record], [])
    said = str(raised.value)
    assert "+13055550199" not in said and "Zoe" not in said and "their-77" not in said
    # Nothing chained that a logged traceback would print: the database's own words may quote.
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_without_postgresql_installed_the_suite_fails_saying_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(postgres_server.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(postgres_server.shutil, "which", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match="`make test` installs them"):
        postgres_server.bin_dir()
