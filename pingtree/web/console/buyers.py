"""Buyers (`/console/buyers`): each buyer's live state as GET /admin/buyers gives it (enabled or
paused and by whom, its caps used and left, its breaker, its calls of the last minutes), with
Pause and Resume for an admin, and "Try" for anyone (tryout.py).

    GET  /console/buyers                the page
    POST /console/buyers/{id}/pause     admins (@action: CSRF, 403 for a viewer); form: reason
    POST /console/buyers/{id}/resume    admins

Both read and act through buyers_admin's functions, as the API does: the same state, the same
pause shared by every router, audited the same way, naming the session's operator. A viewer
gets the same page without the buttons, and a POST of theirs is refused before anything is done.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from aiohttp import web

from pingtree.config import Operator
from pingtree.core.errors import BadRequest
from pingtree.web.buyers_admin import MAX_REASON_CHARS, buyer_states, pause, resume
from pingtree.web.console.guards import action, page
from pingtree.web.console.render import render, see_other
from pingtree.web.console.session import posted_form
from pingtree.web.recent_calls import KINDS


@page
async def buyers_page(request: web.Request, operator: Operator) -> web.StreamResponse:
    states = await buyer_states(request.app)
    return render(
        request,
        "buyers.html",
        page="buyers",
        buyers=states["buyers"],
        recent_minutes=states["recent_window_s"] // 60,
        recent_kinds=KINDS,
        max_reason=MAX_REASON_CHARS,
        done=_done(request.query),
    )


def _done(query: Mapping[str, str]) -> dict[str, str] | None:
    """What the last Pause or Resume did, said once on the page it redirected to."""
    did, buyer_id = query.get("did"), query.get("buyer")
    if did in ("paused", "resumed") and buyer_id:
        return {"did": did, "buyer": buyer_id}
    return None


@action
async def pause_from_console(request: web.Request, operator: Operator) -> web.StreamResponse:
    buyer_id = request.match_info["id"]
    posted = await posted_form(request)
    reason = posted.get("reason")
    text = reason.strip() if isinstance(reason, str) else ""
    if len(text) > MAX_REASON_CHARS:
        raise BadRequest(
            "bad reason", fields={"reason": f"text of at most {MAX_REASON_CHARS} characters"}
        )
    await pause(request, operator, buyer_id, text or None)
    return _back(buyer_id, "paused")


@action
async def resume_from_console(request: web.Request, operator: Operator) -> web.StreamResponse:
    buyer_id = request.match_info["id"]
    await resume(request, operator, buyer_id)
    return _back(buyer_id, "resumed")


def _back(buyer_id: str, did: str) -> web.Response:
    return see_other("/console/buyers?" + urlencode({"did": did, "buyer": buyer_id}))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/console/buyers", buyers_page)
    app.router.add_post("/console/buyers/{id}/pause", pause_from_console)
    app.router.add_post("/console/buyers/{id}/resume", resume_from_console)


__all__ = ["add_routes", "buyers_page", "pause_from_console", "resume_from_console"]
