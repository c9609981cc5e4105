"""Who is asking: a seller by its API key (`X-API-Key` or `Authorization: Bearer`), an operator
by its token (`operators:`, or `router.admin_token`, the admin named `admin`) in `Authorization:
Bearer`. Both are read from the router's current tree on every request, never kept aside: after
a reload, keys and tokens are the new file's. Looked up by digest, so the time a lookup takes
says nothing about the secret.

Every /admin route starts with `authenticate_operator`; the ones that change state then call
`require_admin`, which refuses a viewer (403) before anything is done."""

from __future__ import annotations

from aiohttp import web

from pingtree.config import BuyerConfig, Operator, SellerConfig
from pingtree.core.errors import BadRequest, Forbidden, Unauthorized
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


def authenticate_buyer(request: web.Request) -> BuyerConfig:
    """The buyer whose `portal.api_key` the request carries (its own API, DESIGN §15), or 401."""
    key = _presented_key(request)
    buyer = request.app[ROUTER].tree.buyer_for_key(key) if key else None
    if buyer is None:
        raise Unauthorized("unknown or missing API key (X-API-Key or Authorization: Bearer)")
    return buyer


def authenticate_operator(request: web.Request) -> Operator:
    """The operator whose token the request carries, or 401."""
    tree = request.app[ROUTER].tree
    if not tree.operator_api_on:
        raise Unauthorized("the operator API is disabled: set router.admin_token or operators")
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    operator = tree.operator_for_token(presented.strip()) if scheme.lower() == "bearer" else None
    if operator is None:
        raise Unauthorized("an operator token is required (Authorization: Bearer)")
    return operator


def require_admin(operator: Operator) -> None:
    """A viewer reads; only an admin changes anything (DESIGN §13)."""
    if not operator.admin:
        raise Forbidden(f"{operator.name} is a viewer: this changes state and needs an admin")


__all__ = [
    "Operator",
    "authenticate_buyer",
    "authenticate_operator",
    "authenticate_seller",
    "require_admin",
]
