"""A buyer's own API (DESIGN §15; docs/buyer-api.md), behind the buyer's `portal.api_key` in
X-API-Key or Authorization: Bearer (looked up by digest, as sellers' keys are):

    GET  /v1/buyer/leads?since&cursor&limit      the leads sold to it, in full, oldest sale first
    GET  /v1/buyer/leads/{id}                    one of them
    POST /v1/buyer/leads/ack {"ids": [...]}      pulled leads acknowledged (`method: pull`)
    POST /v1/buyer/leads/{id}/return {reason, note}
    POST /v1/buyer/leads/{id}/feedback {event: contacted|converted, value}
    GET  /v1/buyer/stats?days=30
    POST /v1/buyer/pause {reason} | /v1/buyer/resume   with `portal.self_pause: true`

A buyer sees its own leads only: any other id is a 404, whoever bought it. Everything is read
from and written to the ledger (ledger/portal.py); a router without one answers 409 `ledger_off`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from pingtree.config import BuyerConfig, Operator
from pingtree.config.models.portal import ReturnRules
from pingtree.config.tree import Tree
from pingtree.core import jsonenc
from pingtree.core.errors import BadRequest, Forbidden
from pingtree.ledger.base import FiledLead
from pingtree.ledger.buyer_leads import FEEDBACK_EVENTS, BuyerLeadQuery
from pingtree.ledger.portal import Portal
from pingtree.ledger.returns import ReturnClaim
from pingtree.web.auth import authenticate_buyer
from pingtree.web.buyers_admin import pause, resume
from pingtree.web.keys import CLOCK, METRICS, PORTAL, ROUTER
from pingtree.web.ledger_admin import LedgerOff
from pingtree.web.ledger_views import lead_detail
from pingtree.web.ranges import instant, limit
from pingtree.web.responses import json_response

MAX_NOTE_CHARS = 2000
MAX_ACK_IDS = 500


def now(app: web.Application) -> datetime:
    """The time the API goes by: the wall clock, or the one a test set (keys.CLOCK)."""
    clock = app.get(CLOCK)
    return clock() if clock is not None else datetime.now(UTC)


def portal(app: web.Application) -> Portal:
    found = app.get(PORTAL)
    if found is None:
        raise LedgerOff("this router keeps no ledger, where a buyer's leads are kept")
    return found


def return_rules(tree: Tree, buyer: BuyerConfig) -> ReturnRules:
    """The router's rules, with what the buyer's `returns:` overrides."""
    rules = tree.settings.returns
    return buyer.returns.over(rules) if buyer.returns is not None else rules


def chargeback_sellers(tree: Tree) -> frozenset[str]:
    return frozenset(seller.id for seller in tree.sellers.values() if seller.chargeback)


def buyer_lead_view(filed: FiledLead, row: Any) -> dict[str, Any]:
    """A lead as its buyer sees it: the lead as posted (PII while retention keeps it: null once
    erased), its price and sale time, and its return if it made one. No trace, no other bids."""
    outcome = filed.record.outcome
    returned = None
    if row.return_id is not None:
        returned = {"id": row.return_id, "status": row.return_status, "reason": row.return_reason}
    return {
        "id": outcome.id,
        "seller": outcome.seller_id,
        "vertical": outcome.vertical,
        "test": outcome.test,
        "price": Decimal(row.price_cents).scaleb(-2),
        "received_at": outcome.received_at,
        "sold_at": row.sold_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "lead": lead_detail(filed, None)["lead"],
        "pii_erased_at": filed.pii_erased_at,
        "return": returned,
    }


async def list_leads(request: web.Request) -> web.Response:
    leads, cursor = await buyer_leads(request, authenticate_buyer(request), request.query)
    return json_response({"leads": leads, "next_cursor": cursor})


async def buyer_leads(
    request: web.Request, buyer: BuyerConfig, query: Any
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the buyer's leads as `query` asks (since, cursor, limit); a pull buyer's are
    those it has not acknowledged. The buyer's page too."""
    since = instant("since", query["since"], ZoneInfo("UTC")) if query.get("since") else None
    page, cursor = await portal(request.app).leads(
        BuyerLeadQuery(
            buyer_id=buyer.id,
            since=since,
            unacked=buyer.pull,
            cursor=query.get("cursor") or None,
            limit=limit(query.get("limit"), default=100),
        )
    )
    return [buyer_lead_view(filed, row) for filed, row in page], cursor


async def get_lead(request: web.Request) -> web.Response:
    buyer = authenticate_buyer(request)
    filed, row = await portal(request.app).lead(buyer.id, request.match_info["id"])
    return json_response(buyer_lead_view(filed, row))


async def _json_object(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        body = jsonenc.loads(raw) if raw.strip() else {}
    except jsonenc.JSONDecodeError:
        raise BadRequest("the body is not JSON", fields={"body": "not JSON"}) from None
    if not isinstance(body, dict):
        raise BadRequest("the body is a JSON object", fields={"body": "not an object"})
    return body


def _text(body: dict[str, Any], name: str, most: int, *, required: bool) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > most:
        raise BadRequest(f"bad {name}", fields={name: f"text of 1 to {most} characters"})
    return value.strip()


async def acknowledge(request: web.Request) -> web.Response:
    buyer = authenticate_buyer(request)
    ids = (await _json_object(request)).get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise BadRequest('the body is {"ids": [lead ids]}', fields={"ids": "a list of ids"})
    if len(ids) > MAX_ACK_IDS:
        raise BadRequest("too many ids", fields={"ids": f"at most {MAX_ACK_IDS} at once"})
    done = await portal(request.app).acknowledge(buyer.id, ids, now(request.app))
    return json_response({"acknowledged": done})


async def return_lead(request: web.Request) -> web.Response:
    buyer = authenticate_buyer(request)
    body = await _json_object(request)
    tree = request.app[ROUTER].tree
    claim = ReturnClaim(
        buyer_id=buyer.id,
        lead_id=request.match_info["id"],
        reason=_text(body, "reason", 100, required=True) or "",
        note=_text(body, "note", MAX_NOTE_CHARS, required=False),
        rules=return_rules(tree, buyer),
        chargeback_sellers=chargeback_sellers(tree),
        now=now(request.app),
    )
    filed = await portal(request.app).request_return(claim)
    counted = request.app[METRICS].returns
    counted.labels(buyer.id, "filed").inc()
    if filed["status"] != "pending":  # decided as it was filed: its reason is auto_approve's
        counted.labels(buyer.id, filed["status"]).inc()
    return json_response(filed, status=201)


async def feedback(request: web.Request) -> web.Response:
    buyer = authenticate_buyer(request)
    body = await _json_object(request)
    event = body.get("event")
    if event not in FEEDBACK_EVENTS:
        raise BadRequest("bad event", fields={"event": " or ".join(FEEDBACK_EVENTS)})
    value = _money(body.get("value"))
    saved = await portal(request.app).feedback(
        buyer.id, request.match_info["id"], event, value, now(request.app)
    )
    return json_response(saved, status=201)


def _money(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise InvalidOperation
        amount = Decimal(str(value))
        if not amount.is_finite() or amount < 0 or amount > Decimal("1e9"):
            raise InvalidOperation
    except InvalidOperation:
        raise BadRequest("bad value", fields={"value": "an amount, 0 or more"}) from None
    return amount.quantize(Decimal("0.01"))


async def stats(request: web.Request) -> web.Response:
    buyer = authenticate_buyer(request)
    days = limit(request.query.get("days"), default=30, most=400)
    figures = await portal(request.app).stats(buyer.id, now(request.app), days)
    return json_response({"buyer_id": buyer.id, **figures})


def _self_pausing(request: web.Request) -> tuple[BuyerConfig, Operator]:
    buyer = authenticate_buyer(request)
    if buyer.portal is None or not buyer.portal.self_pause:
        raise Forbidden("this buyer may not pause itself (portal.self_pause is false)")
    # The audit names the buyer as the one who acted.
    return buyer, Operator(f"buyer:{buyer.id}", "admin")


async def pause_self(request: web.Request) -> web.Response:
    buyer, operator = _self_pausing(request)
    reason = _text(await _json_object(request), "reason", 500, required=False)
    return json_response(await pause(request, operator, buyer.id, reason))


async def resume_self(request: web.Request) -> web.Response:
    buyer, operator = _self_pausing(request)
    return json_response(await resume(request, operator, buyer.id))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/buyer/leads", list_leads)
    app.router.add_post("/v1/buyer/leads/ack", acknowledge)
    app.router.add_get("/v1/buyer/leads/{id}", get_lead)
    app.router.add_post("/v1/buyer/leads/{id}/return", return_lead)
    app.router.add_post("/v1/buyer/leads/{id}/feedback", feedback)
    app.router.add_get("/v1/buyer/stats", stats)
    app.router.add_post("/v1/buyer/pause", pause_self)
    app.router.add_post("/v1/buyer/resume", resume_self)


__all__ = ["add_routes", "buyer_lead_view", "buyer_leads", "chargeback_sellers", "return_rules"]
