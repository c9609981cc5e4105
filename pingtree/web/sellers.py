"""The seller API (DESIGN §5): `POST /v1/leads` sells a lead, `GET /v1/leads/{id}` shows a
seller one of its own. The config is read from the router's current tree on every request,
never kept aside: after a reload, keys and limits are the new file's."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from pingtree.config import SellerConfig
from pingtree.core import jsonenc
from pingtree.core.errors import BadRequest, NotFound, PingtreeError, UnsupportedMediaType
from pingtree.core.lead import apply_schema, parse_lead
from pingtree.core.outcome import seller_view
from pingtree.store.state.base import IdempotencyKey
from pingtree.web.admission import check_signature
from pingtree.web.auth import authenticate_seller
from pingtree.web.keys import IN_FLIGHT, METRICS, RATE_LIMITER, ROUTER, STORE
from pingtree.web.lead_body import decode_lead_body, is_lead_type, media_type, read_body
from pingtree.web.responses import json_response

_IDEMPOTENCY_KEY_MAX = 255


def _idempotency_key(
    request: web.Request, seller: SellerConfig, lead_id: str | None, fingerprint: str
) -> IdempotencyKey | None:
    """The header's key, else the lead_id; each in its own namespace, so a header key "123"
    never meets another lead whose lead_id is "123"."""
    header = request.headers.get("Idempotency-Key", "").strip()
    if len(header) > _IDEMPOTENCY_KEY_MAX:
        raise BadRequest(
            "Idempotency-Key is too long",
            fields={"Idempotency-Key": f"at most {_IDEMPOTENCY_KEY_MAX} characters"},
        )
    if header:
        return IdempotencyKey(seller.id, "header:" + header, fingerprint, "Idempotency-Key")
    if lead_id is not None:
        return IdempotencyKey(seller.id, "lead_id:" + lead_id, fingerprint, "lead_id")
    return None


async def post_lead(request: web.Request) -> web.Response:
    """Cheapest refusals first: too many leads in flight (503), the key (400 for two that
    differ, 401), the seller's rate limit (429), the content type and encoding (415); then the
    body (408, 413, 400), its signature (401) and the lead itself (422), before any auction."""
    return await in_flight(request, _sell_lead)


async def in_flight(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.Response]]
) -> web.Response:
    """`handler` as one of the router.max_in_flight requests under way, else 503 at once."""
    settings = request.app[ROUTER].tree.settings
    counted = request.app[IN_FLIGHT]
    try:
        counted.enter(settings.max_in_flight)
    except PingtreeError:
        request.app[METRICS].overload_refusals.inc()
        raise
    try:
        return await handler(request)
    finally:
        counted.leave()


async def _sell_lead(request: web.Request) -> web.Response:
    seller, decoded = await read_lead_request(request)
    tree = request.app[ROUTER].tree
    lead = parse_lead(decoded)
    lead = apply_schema(lead, tree.config.verticals.get(lead.vertical))
    fingerprint = hashlib.sha256(jsonenc.dumps_sorted(lead.model_dump())).hexdigest()
    key = _idempotency_key(request, seller, lead.lead_id, fingerprint)
    outcome, replayed = await request.app[ROUTER].submit(seller, lead, key)
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return json_response(seller_view(outcome, seller), headers=headers)


async def read_lead_request(request: web.Request) -> tuple[SellerConfig, dict[str, Any]]:
    """The seller and its body's fields, decoded, before any lead is made of them: the key (401),
    its rate limit (429), the content type (415), the body (408, 413, 400) and its signature
    (401). /v1/leads, /v1/ping and /v1/post read their requests alike."""
    seller = authenticate_seller(request)
    metrics = request.app[METRICS]
    try:
        request.app[RATE_LIMITER].admit(seller, time.monotonic())
    except PingtreeError:
        metrics.rate_limited.labels(seller.id).inc()
        raise
    content_type = media_type(request.headers)
    if not is_lead_type(content_type):
        raise UnsupportedMediaType("send application/json or application/x-www-form-urlencoded")
    tree = request.app[ROUTER].tree
    settings = tree.settings
    body = await read_body(request, settings.max_body_kb * 1024, settings.client_timeout_ms / 1000)
    try:
        check_signature(seller, request.headers, body, int(time.time()))
    except PingtreeError:
        metrics.bad_signatures.labels(seller.id).inc()
        raise
    return seller, decode_lead_body(content_type, body)


async def get_lead(request: web.Request) -> web.Response:
    seller = authenticate_seller(request)
    outcome = await request.app[STORE].get_outcome(request.match_info["id"])
    if outcome is None or outcome.seller_id != seller.id:
        raise NotFound("no such lead for this seller")
    return json_response(seller_view(outcome, seller))


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/leads", post_lead)
    app.router.add_get("/v1/leads/{id}", get_lead)


__all__ = ["add_routes", "get_lead", "post_lead"]
