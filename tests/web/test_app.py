"""The wiring (web/app.py) through the app's lifecycle, as `pingtree serve` runs it (the runner's
setup, then its cleanup): each part opens when the app starts, in dependency order, and a part
that cannot start leaves the ones started before it closed: the state file's lock released, the
store and the transport closed, and nothing after it running."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from pingtree.core.errors import StoreUnavailable
from pingtree.store.sqlite_file import SqliteFile
from pingtree.store.state.memory import MemoryStore
from pingtree.transport.client import MockTransport
from pingtree.web.app import create_app
from pingtree.web.serving import PingtreeRunner
from tests.conftest import make_buyer, make_config


def sqlite_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "pingtree-sqlite"}


def deliveries_running() -> bool:
    return any(task.get_name() == "pingtree-deliveries" for task in asyncio.all_tasks())


async def no_buyers(url: str, body: bytes) -> tuple[int, bytes]:
    raise AssertionError("no buyer is called here")


class RecordingTransport(MockTransport):
    """The buyer client, saying when it started and closed (and whether the deliveries' worker
    still ran then); `fails`: its start raises."""

    def __init__(self, *, fails: bool = False) -> None:
        super().__init__(no_buyers)
        self.fails = fails
        self.events: list[str] = []

    async def start(self) -> None:
        if self.fails:
            raise RuntimeError("the buyer client could not start")
        self.events.append("started")

    async def close(self) -> None:
        self.events.append("closed" + (" under the worker" if deliveries_running() else ""))


class RecordingStore(MemoryStore):
    closed = False

    async def close(self) -> None:
        self.closed = True
        await super().close()


async def start_fails(app: web.Application) -> type[BaseException]:
    """Start the app as serve does, expecting its start to fail; then clean up as serve does.
    The exception's type."""
    runner = PingtreeRunner(app)
    try:
        with pytest.raises(Exception) as failed:
            await runner.setup()
    finally:
        await runner.cleanup()
    return failed.type


async def lock_is_free(path: Path) -> bool:
    """Whether another SqliteFile may open the state file: its owner closed it (the lock is per
    open file, so this process's own is refused too)."""
    try:
        file = SqliteFile(path)
    except StoreUnavailable:
        return False
    await file.close()
    return True


async def test_an_app_built_but_not_started_holds_nothing(tmp_path: Path) -> None:
    before = sqlite_threads()
    create_app(make_config([make_buyer("a")], router={"state_file": str(tmp_path / "state.db")}))
    create_app(make_config([make_buyer("a")]))  # the in-memory queue's SQLite thread
    assert not (tmp_path / "state.db").exists()
    assert sqlite_threads() == before


async def test_a_queue_that_refuses_the_state_file_closes_the_store_and_the_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as newer:  # a state file written by a newer pingtree
        newer.execute("CREATE TABLE schema_version (component TEXT PRIMARY KEY, version INT)")
        newer.execute("INSERT INTO schema_version VALUES ('deliveries', 99)")
    newer.close()
    before = sqlite_threads()
    store, transport = RecordingStore(), RecordingTransport()
    config = make_config([make_buyer("a")], router={"state_file": str(path)})
    app = create_app(config, store=store, transport=transport)
    assert await start_fails(app) is StoreUnavailable
    assert store.closed
    assert await lock_is_free(path)
    assert sqlite_threads() == before
    assert transport.events == []  # the parts after the queue never started
    assert not deliveries_running()


async def test_a_transport_that_fails_to_start_closes_the_store_queue_and_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    before = sqlite_threads()
    store, transport = RecordingStore(), RecordingTransport(fails=True)
    config = make_config([make_buyer("a")], router={"state_file": str(path)})
    app = create_app(config, store=store, transport=transport)
    assert await start_fails(app) is RuntimeError
    assert store.closed
    assert await lock_is_free(path)
    assert sqlite_threads() == before
    assert not deliveries_running()


async def test_a_failure_after_every_part_started_closes_them_all_in_reverse(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    store, transport = RecordingStore(), RecordingTransport()
    app = create_app(
        make_config([make_buyer("a")], router={"state_file": str(path)}),
        store=store,
        transport=transport,
    )

    async def serve_hook_fails(app: web.Application) -> AsyncIterator[None]:
        assert deliveries_running()  # every part of the app is up by now
        raise RuntimeError("a hook serve adds could not start")
        yield

    app.cleanup_ctx.append(serve_hook_fails)
    assert await start_fails(app) is RuntimeError
    assert transport.events == ["started", "closed"]  # the deliveries' worker had stopped
    assert store.closed
    assert await lock_is_free(path)
    assert not deliveries_running()
