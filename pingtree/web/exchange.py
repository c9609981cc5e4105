"""The seller's exchange API (DESIGN §14): `POST /v1/ping` quotes a lead sent without its
consumer, `POST /v1/post` sells the full lead to the ping's held bids. Both read their request as
/v1/leads does (web/sellers.py: key, rate limit, content type, body, signature; 401…422); the
sequencing is auction/exchange.py's.

The ping drops every PII field (and every attribute marked pii) from the decoded body before the
lead is validated, so nothing past this point sees them; its `phone` is not required. The post
is a lead like /v1/leads' (its answer, record, deliveries and GET /v1/leads/{id}), made
idempotent by its ping id: the store's idempotency claim, scoped to the seller.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from pingtree.core import jsonenc
from pingtree.core.errors import LeadInvalid
from pingtree.core.exchange import Quote, parse_ping, without_pii
from pingtree.core.lead import apply_schema, parse_lead
from pingtree.core.outcome import seller_view
from pingtree.store.state.base import IdempotencyKey
from pingtree.web.keys import METRICS, ROUTER
from pingtree.web.responses import json_response
from pingtree.web.sellers import in_flight, read_lead_request

_PING_ID_MAX = 64


async def post_ping(request: web.Request) -> web.Response:
    return await in_flight(request, _quote)


async def post_post(request: web.Request) -> web.Response:
    return await in_flight(request, _sell)


async def _quote(request: web.Request) -> web.Response:
    seller, decoded = await read_lead_request(request)
    router = request.app[ROUTER]
    tree = router.tree
    # The attributes marked pii for its vertical (as the lead will name it), before it is read.
    vertical = decoded.get("vertical")
    named = vertical.strip().lower() if isinstance(vertical, str) else ""
    marked = tree.ledger_pii(named)
    lead = parse_ping(without_pii(decoded, marked))
    lead = apply_schema(lead, tree.config.verticals.get(lead.vertical))
    quoted = await router.exchange.ping(tree, seller, lead)
    accepted = "true" if quoted.accepted else "false"
    request.app[METRICS].quotes.labels(seller.id, accepted).inc()
    return json_response(quote_view(quoted))


async def _sell(request: web.Request) -> web.Response:
    seller, decoded = await read_lead_request(request)
    router = request.app[ROUTER]
    ping_id = decoded.pop("ping_id", None)
    if not isinstance(ping_id, str) or not ping_id or len(ping_id) > _PING_ID_MAX:
        raise LeadInvalid(
            "the post must name its ping", fields={"ping_id": "is required: the ping's ping_id"}
        )
    lead = parse_lead(decoded)
    lead = apply_schema(lead, router.tree.config.verticals.get(lead.vertical))
    fingerprint = hashlib.sha256(jsonenc.dumps_sorted(lead.model_dump())).hexdigest()
    key = IdempotencyKey(seller.id, "ping_id:" + ping_id, fingerprint, "ping_id")
    run = router.exchange.sell_held(seller, ping_id)
    outcome, replayed = await router.submit(seller, lead, key, run)
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return json_response(seller_view(outcome, seller), headers=headers)


def quote_view(quoted: Quote) -> dict[str, Any]:
    """What the seller is told of its ping: the quote, or why there is none."""
    if not quoted.accepted:
        return {"ping_id": quoted.ping_id, "accepted": False, "reason": quoted.reason}
    assert quoted.expires_at is not None
    return {
        "ping_id": quoted.ping_id,
        "accepted": True,
        "bid": quoted.bid,
        "expires_at": rfc3339(quoted.expires_at),
    }


def quote_record_view(quoted: Quote) -> dict[str, Any]:
    """A quote as the operator reads it (GET /admin/leads/{id}'s `quote`)."""
    return {
        "ping_id": quoted.ping_id,
        "seller_id": quoted.seller_id,
        "sub_id": quoted.sub_id,
        "vertical": quoted.vertical,
        "quoted_at": rfc3339(quoted.received_at),
        "accepted": quoted.accepted,
        "bid": quoted.bid,
        "reason": quoted.reason,
        "expires_at": None if quoted.expires_at is None else rfc3339(quoted.expires_at),
        "test": quoted.test,
        "lead_id": quoted.lead_pk,
    }


def rfc3339(unix_s: float) -> str:
    moment = datetime.fromtimestamp(unix_s, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/ping", post_ping)
    app.router.add_post("/v1/post", post_post)


__all__ = ["add_routes", "post_ping", "post_post", "quote_record_view", "quote_view"]
