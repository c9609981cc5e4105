"""Who is asking: a seller by its API key (`X-API-Key` or `Authorization: Bearer`), the operator
by `router.admin_token`. Both are read from the router's current tree on every request, never
kept aside: after a reload, keys and token are the new file's. Compared digest to digest, so the
time a comparison takes says nothing about the secret."""

from __future__ import annotations

import hashlib
import hmac

from aiohttp import web

from pingtree.config import SellerConfig
from pingtree.core.errors import BadRequest, Unauthorized
from pingtree.web.keys import ROUTER


def _presented_key(request: web.Request) -> str | None:
    """The key in X-API-Key or Authorization: Bearer. Two different keys (two X-API-Key headers,
    or one that a Bearer token contradicts) are a 400: which seller is meant would be a guess.
    The same key sent twice is one key."""
    keys: dict[str, set[str]] = {}
    for value in request.headers.getall("X-API-Key", []):
        if value.strip():
            keys.setdefault(value.strip(), set()).add("X-API-Key")
    for value in request.headers.getall("Authorization", []):
        scheme, _, token = value.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            keys.setdefault(token.strip(), set()).add("Authorization")
    if len(keys) > 1:
        headers = sorted(set().union(*keys.values()))
        raise BadRequest(
            f"the request carries {len(keys)} different API keys ({' and '.join(headers)}): "
            "send one",
            fields={name: "conflicting API keys" for name in headers},
        )
    return next(iter(keys), None)


def authenticate_seller(request: web.Request) -> SellerConfig:
    key = _presented_key(request)
    seller = request.app[ROUTER].tree.seller_for_key(key) if key else None
    if seller is None:
        raise Unauthorized("unknown or missing API key (X-API-Key or Authorization: Bearer)")
    return seller


def authenticate_operator(request: web.Request) -> None:
    token = request.app[ROUTER].tree.settings.admin_token
    if token is None:
        raise Unauthorized("the operator API is disabled: set router.admin_token")
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    expected = hashlib.sha256(token.get_secret_value().encode()).digest()
    # Header bytes that are not UTF-8 arrive surrogate-escaped: hash them as they came.
    given = hashlib.sha256(presented.strip().encode("utf-8", "surrogateescape")).digest()
    if scheme.lower() != "bearer" or not hmac.compare_digest(expected, given):
        raise Unauthorized("admin token required (Authorization: Bearer)")


__all__ = ["authenticate_operator", "authenticate_seller"]
