"""Returns (`/console/returns`): the buyers' returns as GET /admin/returns gives them, pending
first by default, with Approve and Deny for an admin on each pending one (DESIGN §13, §15).

    GET  /console/returns?status=pending|approved|denied|all
    POST /console/returns/{id}/approve   admins (@action: CSRF, 403 for a viewer)
    POST /console/returns/{id}/deny      admins

Both act through returns_admin's `decide`, as the API does: the same reversal in the ledger,
audited the same way, naming the session's operator. A viewer gets the page without buttons."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from aiohttp import web

from pingtree.config import Operator
from pingtree.web.console.guards import action, page
from pingtree.web.console.render import render, see_other
from pingtree.web.returns_admin import STATUSES, decide, find_returns

_SHOWN = (*STATUSES, "all")


@page
async def returns_page(request: web.Request, operator: Operator) -> web.StreamResponse:
    status = request.query.get("status") or "pending"
    if status not in _SHOWN:
        status = "pending"
    query = {"limit": "200", **({} if status == "all" else {"status": status})}
    found, more = await find_returns(request, query, operator)
    return render(
        request,
        "returns.html",
        page="returns",
        returns=found,
        more=more is not None,
        shown=status,
        statuses=_SHOWN,
        done=_done(request.query),
    )


def _done(query: Mapping[str, str]) -> dict[str, str] | None:
    """What the last Approve or Deny did, said once on the page it redirected to."""
    did, return_id = query.get("did"), query.get("return")
    if did in ("approved", "denied") and return_id:
        return {"did": did, "id": return_id}
    return None


@action
async def approve_from_console(request: web.Request, operator: Operator) -> web.StreamResponse:
    decided = await decide(request, operator, request.match_info["id"], True)
    return see_other("/console/returns?" + urlencode({"did": "approved", "return": decided["id"]}))


@action
async def deny_from_console(request: web.Request, operator: Operator) -> web.StreamResponse:
    decided = await decide(request, operator, request.match_info["id"], False)
    return see_other("/console/returns?" + urlencode({"did": "denied", "return": decided["id"]}))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/console/returns", returns_page)
    app.router.add_post("/console/returns/{id}/approve", approve_from_console)
    app.router.add_post("/console/returns/{id}/deny", deny_from_console)


__all__ = ["add_routes", "approve_from_console", "deny_from_console", "returns_page"]
