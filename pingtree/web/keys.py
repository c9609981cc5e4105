"""The app's typed state: one `AppKey` per part. The route modules read theirs from here; only the
wiring (app.py) sets them, each once its part has started (a part's cleanup context reads the
ones before it)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiohttp import web

from pingtree.auction.pauses import PausedBuyers
from pingtree.auction.router import Router
from pingtree.deliveries.service import Deliveries
from pingtree.ledger.base import AuditLog, Ledger
from pingtree.ledger.portal import Portal
from pingtree.ledger.writer import LedgerWriter
from pingtree.metrics import Metrics
from pingtree.store.outbox.base import Outbox
from pingtree.store.queue.base import DeliveryQueue
from pingtree.store.sqlite_file import SqliteFile
from pingtree.store.state.guard import GuardedStore
from pingtree.transport.client import Transport
from pingtree.web.admission import InFlight, RateLimiter
from pingtree.web.events import EventBroadcaster
from pingtree.web.recent_calls import RecentCalls
from pingtree.web.reloading import ConfigReloader

ROUTER = web.AppKey("router", Router)
STATE_FILE = web.AppKey("state_file", SqliteFile)  # only with an embedded store or queue on disk
STORE = web.AppKey("store", GuardedStore)
QUEUE = web.AppKey("queue", DeliveryQueue)
TRANSPORT = web.AppKey("transport", Transport)
METRICS = web.AppKey("metrics", Metrics)
IN_FLIGHT = web.AppKey("in_flight", InFlight)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
RELOADER = web.AppKey("reloader", ConfigReloader)
DELIVERIES = web.AppKey("deliveries", Deliveries)
# The ledger's: absent on a router that keeps no ledger (Redis without --database-url).
LEDGER = web.AppKey("ledger", Ledger)
OUTBOX = web.AppKey("outbox", Outbox)
LEDGER_WRITER = web.AppKey("ledger_writer", LedgerWriter)
PAUSED = web.AppKey("paused", PausedBuyers)
EVENTS = web.AppKey("events", EventBroadcaster)  # this router's finished auctions, live
RECENT_CALLS = web.AppKey("recent_calls", RecentCalls)
# The buyers' own API and the returns queue on the ledger (absent with it).
PORTAL = web.AppKey("portal", Portal)
# The time the buyers' API goes by (return windows): the wall clock unless a test sets one.
CLOCK: web.AppKey[Callable[[], datetime]] = web.AppKey("clock")
# Where operator actions are audited (the ledger's outbox); absent: logged only (web/audit.py).
AUDIT: web.AppKey[AuditLog] = web.AppKey("audit")

__all__ = [
    "AUDIT",
    "CLOCK",
    "DELIVERIES",
    "EVENTS",
    "IN_FLIGHT",
    "LEDGER",
    "LEDGER_WRITER",
    "METRICS",
    "OUTBOX",
    "PAUSED",
    "PORTAL",
    "QUEUE",
    "RATE_LIMITER",
    "RECENT_CALLS",
    "RELOADER",
    "ROUTER",
    "STATE_FILE",
    "STORE",
    "TRANSPORT",
]
