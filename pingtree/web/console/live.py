"""Live (`/console`): the auctions this router finishes, as they finish, and over the last
`WINDOW_MINUTES` the leads, sold %, revenue and answer time, minute by minute (console.js draws
them with uPlot from the table's rows). No PII: a row is what GET /admin/events tells of a lead.

    GET /console          the page, seeded with the ledger's leads of the window (if it keeps one)
    GET /console/events   the same server-sent events as GET /admin/events (operators.py's
                          stream), for the session's operator: EventSource sends the cookie,
                          not a Bearer token

Each router tells its own auctions (as /admin/events does): behind a load balancer, the page
shows the router it reached; the seed, from the shared ledger, is every router's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from pingtree.config import Operator
from pingtree.core.errors import Unauthorized
from pingtree.web.console.guards import page
from pingtree.web.console.render import render
from pingtree.web.console.session import current_session
from pingtree.web.ledger_admin import LedgerOff, find_leads
from pingtree.web.operators import event_stream

WINDOW_MINUTES = 15
SEED_LEADS = 200  # the table shows the newest; the figures are drawn from all of them


@page
async def live_page(request: web.Request, operator: Operator) -> web.StreamResponse:
    since = datetime.now(UTC) - timedelta(minutes=WINDOW_MINUTES)
    # Test leads too: the stream tells of them (tagged), so the figures count them either way.
    query = {"from": since.isoformat(timespec="seconds"), "limit": str(SEED_LEADS), "test": "true"}
    leads: list[dict[str, Any]] = []
    ledger = True
    try:
        leads, _ = await find_leads(request, query)
    except LedgerOff:
        ledger = False
    return render(
        request,
        "live.html",
        page="live",
        leads=leads,
        ledger=ledger,
        window_minutes=WINDOW_MINUTES,
    )


async def live_events(request: web.Request) -> web.StreamResponse:
    if current_session(request) is None:
        raise Unauthorized("no console session: log in again")
    return await event_stream(request)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/console", live_page)
    app.router.add_get("/console/events", live_events)


__all__ = ["WINDOW_MINUTES", "add_routes", "live_events", "live_page"]
