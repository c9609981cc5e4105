"""The one place a router is built (DESIGN §10, house rule 2): every part from the config and the
serve options, each opened by its own aiohttp cleanup context and closed by it. They are appended
in dependency order, each reading the parts before it from the app (keys.py):

    state file → store → queue → ledger (its database, and the outbox that feeds it) → loop lag
    → transport → router (with its deliveries, the config reloader and the paused buyers) → the
    paused buyers' refresh → the ranking figures' refresh → the deliveries' worker → the ledger's
    writer → the GC watcher

The live events (events.py) and the recent calls (recent_calls.py) hold nothing to open: they
are made with the app, and fed by the router's `on_finished`; the event streams end on shutdown.

aiohttp runs a context's cleanup only if its startup finished, in reverse order: a part that
fails to start leaves the ones before it closed and none after it opened. Nothing opens before
the app starts, so an app built and never started holds no file, thread or socket.

Tests inject parts (`store`, `transport`, `queue`, `registry`); the app owns what it is given and
closes it like its own. Nothing else in pingtree builds a store, a queue or a buyer client.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from aiohttp import web
from prometheus_client import CollectorRegistry

from pingtree.auction.loop_lag import LoopLag
from pingtree.auction.pauses import PausedBuyers
from pingtree.auction.ranking_stats import RankingStats
from pingtree.auction.router import Router
from pingtree.config import Config
from pingtree.core.errors import LedgerUnavailable, StoreUnavailable
from pingtree.core.outcome import Outcome
from pingtree.deliveries.service import Deliveries, default_consumer
from pingtree.ledger.audit_log import LoggedAudit, OutboxAudit
from pingtree.ledger.database import temporary_ledger
from pingtree.ledger.portal import Portal
from pingtree.ledger.sql import SqlLedger
from pingtree.ledger.writer import LedgerWriter, WriterSettings
from pingtree.metrics import Metrics
from pingtree.store.queue.base import DeliveryQueue
from pingtree.store.queue.redis import RedisQueue
from pingtree.store.queue.sqlite import SqliteQueue
from pingtree.store.sqlite_file import SqliteFile
from pingtree.store.state.base import Store
from pingtree.store.state.guard import GuardedStore
from pingtree.store.state.memory import MemoryStore
from pingtree.store.state.redis import RedisStore
from pingtree.store.state.sqlite import SqliteStore
from pingtree.transport.client import HttpTransport, Transport
from pingtree.web import (
    buyer_api,
    buyers_admin,
    console,
    deliveries_admin,
    ledger_admin,
    operators,
    returns_admin,
    sellers,
    suppression_admin,
)
from pingtree.web import exchange as seller_exchange
from pingtree.web import quotes_admin as operator_quotes
from pingtree.web.admission import InFlight, RateLimiter
from pingtree.web.events import EventBroadcaster
from pingtree.web.keys import (
    AUDIT,
    DELIVERIES,
    EVENTS,
    IN_FLIGHT,
    LEDGER,
    LEDGER_WRITER,
    METRICS,
    OUTBOX,
    PAUSED,
    PORTAL,
    QUEUE,
    RATE_LIMITER,
    RECENT_CALLS,
    RELOADER,
    ROUTER,
    STATE_FILE,
    STORE,
    TRANSPORT,
)
from pingtree.web.lead_body import HANDLER_ARGS
from pingtree.web.recent_calls import RecentCalls
from pingtree.web.reloading import ConfigReloader
from pingtree.web.responses import errors_as_json
from pingtree.web.serve_options import ServeOptions, ledger_url

log = logging.getLogger(__name__)


def create_app(
    config: Config,
    options: ServeOptions | None = None,
    *,
    store: Store | None = None,
    transport: Transport | None = None,
    queue: DeliveryQueue | None = None,
    registry: CollectorRegistry | None = None,
) -> web.Application:
    """The router's app, its routes mounted; its parts open when it starts (runner.setup()) and
    close when it is cleaned up (runner.cleanup()), even after a failed start."""
    # The body limit is enforced by read_body with a JSON 413; aiohttp's own cap sits above it.
    # HANDLER_ARGS: bodies reach read_body as sent, which inflates them itself (lead_body.py).
    app = web.Application(
        middlewares=[errors_as_json],
        client_max_size=(config.router.max_body_kb + 64) * 1024,
        handler_args=HANDLER_ARGS,
    )
    app[METRICS] = metrics = Metrics(registry)
    app[IN_FLIGHT] = in_flight = InFlight()
    app[RATE_LIMITER] = RateLimiter()
    app[EVENTS] = EventBroadcaster()
    app[RECENT_CALLS] = RecentCalls()
    app.on_shutdown.append(_end_event_streams)
    metrics.in_flight.set_function(lambda: float(in_flight.count))
    parts = _Parts(config, options or ServeOptions(), metrics, store, transport, queue)
    app.cleanup_ctx.extend(
        [
            parts.state_file,
            parts.store,
            parts.queue,
            parts.ledger,
            parts.loop_lag.running,
            parts.transport,
            parts.router,
            parts.paused_buyers,
            parts.ranking_refresh,
            parts.deliveries_worker,
            parts.ledger_writer,
            parts.gc_watcher,
        ]
    )
    sellers.add_routes(app)
    seller_exchange.add_routes(app)
    operators.add_routes(app)
    ledger_admin.add_routes(app)
    operator_quotes.add_routes(app)
    deliveries_admin.add_routes(app)
    buyers_admin.add_routes(app)
    suppression_admin.add_routes(app)
    buyer_api.add_routes(app)
    returns_admin.add_routes(app)
    console.add_routes(app)
    return app


async def _end_event_streams(app: web.Application) -> None:
    # Before the server waits for its handlers: an open stream would hold shutdown up.
    app[EVENTS].close()


def buyer_transport() -> Transport:
    """The client every call to a buyer or a CRM goes through (`pingtree try`'s too)."""
    return HttpTransport()


class _Parts:
    """The cleanup contexts of one app, one per part; see the module's docstring for the order."""

    def __init__(
        self,
        config: Config,
        options: ServeOptions,
        metrics: Metrics,
        store: Store | None,
        transport: Transport | None,
        queue: DeliveryQueue | None,
    ) -> None:
        self._config = config
        self._options = options
        self._metrics = metrics
        self._given_store = store
        self._given_transport = transport
        self._given_queue = queue
        # How late the event loop runs: a timeout then may be the router's, not the buyer's.
        # Ticking from after the state file's blocking reads: those are start-up, not lag.
        self.loop_lag = LoopLag(on_tick=metrics.loop_lag_seconds.observe)
        # False when the ledger's database did not answer at start: its writer migrates it later.
        self.ledger_migrated = True
        self.ledger_filer = False  # its writer's batches filed by a process of their own
        self.ranking_stats: RankingStats | None = None  # made with the router, started after

    async def state_file(self, app: web.Application) -> AsyncIterator[None]:
        """The embedded store and queue share the state file: one SQLite file, one writer
        thread. Without one they are in memory; with Redis, neither is embedded."""
        path = self._options.state_file
        if path is None:
            path = self._config.router.state_file
        embedded = self._given_store is None or self._given_queue is None
        if not path or not embedded or self._options.redis_url is not None:
            yield
            return
        app[STATE_FILE] = state = SqliteFile(path)
        yield
        await state.close()

    async def store(self, app: web.Application) -> AsyncIterator[None]:
        """Guarded: down after any StoreUnavailable, new leads refused at once until a probe
        finds it back, and the writes that must reach it held until then (state/guard.py)."""
        store = GuardedStore(self._given_store or self._new_store(app.get(STATE_FILE)))
        self._metrics.store_up.set_function(lambda: float(store.up))
        self._metrics.store_deferred_writes.set_function(lambda: float(store.deferred))
        app[STORE] = store
        yield
        await store.close()

    def _new_store(self, state: SqliteFile | None) -> Store:
        retention = self._config.router.retention
        if self._options.redis_url is not None:
            return RedisStore(self._options.redis_url, retention, prefix=self._options.redis_prefix)
        return SqliteStore(state, retention) if state is not None else MemoryStore(retention)

    async def queue(self, app: web.Application) -> AsyncIterator[None]:
        """Sold leads on their way to CRMs and postbacks: on the state file (in memory without
        one), or shared on Redis."""
        queue = self._given_queue or self._new_queue(app.get(STATE_FILE))
        app[QUEUE] = queue
        yield
        await queue.close()

    def _new_queue(self, state: SqliteFile | None) -> DeliveryQueue:
        if self._options.redis_url is not None:
            return RedisQueue(self._options.redis_url, prefix=self._options.redis_prefix)
        return SqliteQueue(state or ":memory:")

    async def transport(self, app: web.Application) -> AsyncIterator[None]:
        transport = self._given_transport or buyer_transport()
        await transport.start()
        app[TRANSPORT] = transport
        yield
        await transport.close()

    async def router(self, app: web.Application) -> AsyncIterator[None]:
        """The router, the deliveries it hands sales to and the reloader that swaps its config.
        Nothing of theirs to close here: the deliveries' worker is the next context's."""
        config, metrics = self._config, self._metrics
        deliveries = Deliveries(
            app[QUEUE],
            app[TRANSPORT],
            metrics,
            lambda: router.tree,
            config.router.deliveries,
            exports_dir=config.router.exports_dir,
            consumer=self._options.consumer or default_consumer(),
        )
        paused = PausedBuyers(app[STORE], lambda: router.tree.settings.pauses_refresh_ms / 1000)
        ranking = RankingStats(app.get(LEDGER), lambda: router.tree.settings.ranking)
        self.ranking_stats = ranking
        events, recent_calls = app[EVENTS], app[RECENT_CALLS]

        def finished(outcome: Outcome) -> None:
            recent_calls.observe(outcome)
            events.publish(outcome)

        router = Router(
            config,
            app[STORE],
            app[TRANSPORT],
            metrics,
            deliveries,
            self.loop_lag,
            OUTBOX in app,
            paused=paused,
            on_finished=finished,
            ranking_stats=ranking,
        )
        await router.suppression.load(config, router.tree)  # its lists' files, in a thread
        reloader = ConfigReloader(self._options.config_path, router, metrics)
        reloader.tell_others = self._options.tell_other_workers
        app[DELIVERIES] = deliveries
        app[ROUTER] = router
        app[RELOADER] = reloader
        app[PAUSED] = paused
        yield

    async def paused_buyers(self, app: web.Application) -> AsyncIterator[None]:
        """Read before the first lead, then kept fresh in the background (auction/pauses.py)."""
        paused = app[PAUSED]
        await paused.start()
        yield
        await paused.stop()

    async def ranking_refresh(self, app: web.Application) -> AsyncIterator[None]:
        """The expected-value figures: read from the ledger before the first lead, then kept
        fresh in the background (auction/ranking_stats.py); nothing read when ranking by price."""
        ranking = self.ranking_stats
        assert ranking is not None  # made by the router's context, just before
        await ranking.start()
        yield
        await ranking.stop()

    async def deliveries_worker(self, app: web.Application) -> AsyncIterator[None]:
        deliveries = app[DELIVERIES]
        await deliveries.start()
        yield
        await deliveries.stop()  # before the transport closes: attempts in flight still use it

    async def ledger(self, app: web.Application) -> AsyncIterator[None]:
        """The ledger's database, migrated, and the outbox that feeds it, beside the queue (on
        the state file, in memory, or on Redis); for `serve` without a state file, a temporary
        file its filing process can reach (removed when the router stops). A database that does
        not answer at start does not stop the router: the writer migrates and files once it
        answers (ledger/writer.py). Operator actions are audited through the same outbox."""
        url = ledger_url(self._config, self._options)
        if url is None:
            log.warning(
                "no ledger: leads are not kept on record (%s)",
                "--no-ledger"
                if not self._options.ledger
                else "this router shares Redis and was given no --database-url, a PostgreSQL"
                " for every router",
            )
            app[AUDIT] = LoggedAudit()
            yield
            return
        if url != "sqlite://" and self._config.router.dedup_secret is None:
            log.warning(
                "router.dedup_secret is not set: the ledger keeps leads past this process, and"
                " finding a consumer's leads (q, forget) reads keyed hashes made with a key"
                " that changes at every start: set it, or forget misses earlier leads"
            )
        with contextlib.ExitStack() as temporary:
            if self._options.ledger_filer and url == "sqlite://":
                url = temporary.enter_context(temporary_ledger())
            ledger = await self._open_ledger(url)
            outbox = app[STORE].outbox()  # the store's: it puts each record with its outcome
            app[LEDGER] = ledger
            app[OUTBOX] = outbox
            app[AUDIT] = OutboxAudit(outbox)
            app[PORTAL] = Portal(ledger.database)
            yield
            await ledger.close()

    async def _open_ledger(self, url: str) -> SqlLedger:
        ledger = SqlLedger.open(url, filer=self._options.ledger_filer)
        self.ledger_filer = ledger.filer is not None
        try:
            await ledger.migrate()
        except LedgerUnavailable as exc:
            log.warning("ledger: the database did not answer at start (%s); rows wait", exc)
            self.ledger_migrated = False
        return ledger

    async def ledger_writer(self, app: web.Application) -> AsyncIterator[None]:
        ledger, outbox = app.get(LEDGER), app.get(OUTBOX)
        if ledger is None or outbox is None:
            yield
            return
        writer = LedgerWriter(
            outbox,
            ledger,
            self._metrics,
            self._config.router.retention,
            consumer=self._options.consumer or default_consumer(),
            settings=WriterSettings.for_filing_process() if self.ledger_filer else WriterSettings(),
            migrated=self.ledger_migrated,
        )
        audit = app[AUDIT]
        if isinstance(audit, OutboxAudit):
            audit.on_put = writer.wake
        app[LEDGER_WRITER] = writer
        await writer.start()
        yield
        await writer.stop()

    async def gc_watcher(self, app: web.Application) -> AsyncIterator[None]:
        stop_watching = self._metrics.watch_gc()
        yield
        stop_watching()


async def redis_problem(url: str, prefix: str) -> str | None:
    """Why the store could not use Redis at `url` (a bad URL, no answer), its password masked; None
    when it answered."""
    try:
        store = await RedisStore.connect(url, prefix=prefix)
    except (StoreUnavailable, ValueError) as exc:
        cause = exc.__cause__ or exc
        said = f"{type(cause).__name__}: {cause}"
        password = urlsplit(url).password
        return said.replace(password, "***") if password else said
    await store.close()
    return None


__all__ = ["ServeOptions", "buyer_transport", "create_app", "ledger_url", "redis_problem"]
