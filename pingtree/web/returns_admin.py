"""The operator's returns queue (DESIGN §15), behind an operator token:

    GET  /admin/returns?status=pending|approved|denied&buyer&cursor&limit   newest first
    POST /admin/returns/{id}/approve   admins only; audited
    POST /admin/returns/{id}/deny      admins only; audited

An approval reverses the sale as new ledger rows (ledger/returns.py): the buyer's charge, and the
seller's payout when that seller has `chargeback: true` in the running config. A return decided
already is a 409 `return_decided`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from pingtree.config import Operator
from pingtree.core.errors import BadRequest
from pingtree.web.audit import audited
from pingtree.web.auth import authenticate_operator, require_admin
from pingtree.web.buyer_api import chargeback_sellers, now, portal
from pingtree.web.keys import METRICS, ROUTER
from pingtree.web.ranges import limit
from pingtree.web.responses import json_response

STATUSES = ("pending", "approved", "denied")
MASKED_NOTE = "(hidden from viewers)"


async def list_returns(request: web.Request) -> web.Response:
    operator = authenticate_operator(request)
    found, cursor = await find_returns(request, request.query, operator)
    return json_response({"returns": found, "next_cursor": cursor})


async def find_returns(
    request: web.Request, query: Any, operator: Operator
) -> tuple[list[dict[str, Any]], str | None]:
    """The returns `query` asks for (GET /admin/returns's parameters), as `operator` may see
    them: a buyer's note is free text that may name the consumer, so a viewer gets it masked,
    as a lead's PII. The console's too."""
    status = query.get("status") or None
    if status is not None and status not in STATUSES:
        raise BadRequest("bad status", fields={"status": " or ".join(STATUSES)})
    found, cursor = await portal(request.app).returns(
        status,
        query.get("buyer") or None,
        query.get("cursor") or None,
        limit(query.get("limit")),
    )
    if not operator.admin:
        for item in found:
            item["note"] = None if item["note"] is None else MASKED_NOTE
    return found, cursor


async def approve_return(request: web.Request) -> web.Response:
    operator = authenticate_operator(request)
    require_admin(operator)
    return json_response(await decide(request, operator, request.match_info["id"], True))


async def deny_return(request: web.Request) -> web.Response:
    operator = authenticate_operator(request)
    require_admin(operator)
    return json_response(await decide(request, operator, request.match_info["id"], False))


async def decide(
    request: web.Request, operator: Operator, return_id: str, approve: bool
) -> dict[str, Any]:
    """Approve or deny a pending return, audited (`return_approve`, `return_deny`); the caller
    has checked that `operator` is an admin. The console's buttons too."""
    tree = request.app[ROUTER].tree
    decided = await portal(request.app).decide(
        return_id, approve, operator.name, chargeback_sellers(tree), now(request.app)
    )
    request.app[METRICS].returns.labels(decided["buyer_id"], decided["status"]).inc()
    action = "return_approve" if approve else "return_deny"
    detail = {"lead_id": decided["lead_id"], "buyer_id": decided["buyer_id"]}
    await audited(request, operator, action, return_id, detail)
    return decided


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin/returns", list_returns)
    app.router.add_post("/admin/returns/{id}/approve", approve_return)
    app.router.add_post("/admin/returns/{id}/deny", deny_return)


__all__ = ["add_routes", "decide", "find_returns"]
