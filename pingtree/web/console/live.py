"""Live (`/console`): the auctions this router finishes, as they finish.

GET /console          the page
GET /console/events   the same server-sent events as GET /admin/events (operators.py's
                      stream), for the session's operator: EventSource sends the cookie,
                      not a Bearer token"""

from __future__ import annotations

from aiohttp import web

from pingtree.config import Operator
from pingtree.core.errors import Unauthorized
from pingtree.web.console.guards import page
from pingtree.web.console.render import render
from pingtree.web.console.session import current_session
from pingtree.web.operators import event_stream


@page
async def live_page(request: web.Request, operator: Operator) -> web.StreamResponse:
    return render(request, "live.html", page="live")


async def live_events(request: web.Request) -> web.StreamResponse:
    if current_session(request) is None:
        raise Unauthorized("no console session: log in again")
    return await event_stream(request)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/console", live_page)
    app.router.add_get("/console/events", live_events)


__all__ = ["add_routes", "live_events", "live_page"]
