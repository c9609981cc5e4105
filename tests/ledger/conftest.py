"""The ledger under test, on each backend: an SQLite file, SQLite in memory and a real
PostgreSQL (tests/postgres_server.py: a fresh database per test), migrated."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pingtree.ledger.sql import SqlLedger

BACKENDS = ["sqlite-file", "sqlite-memory", "postgresql"]


@pytest.fixture(params=BACKENDS)
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite-file":
        return f"sqlite:///{tmp_path}/made/by/the/ledger/state-ledger.db"
    if request.param == "sqlite-memory":
        return "sqlite://"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def ledger(ledger_url: str) -> AsyncIterator[SqlLedger]:
    ledger = SqlLedger.open(ledger_url)
    await ledger.migrate()
    try:
        yield ledger
    finally:
        await ledger.close()
