"""The operator's routes for suppression lists (DESIGN §16), behind an operator token:

    GET  /admin/suppression        every list in force: match, scope, its file's entries and bad
                                   lines, the entries added while running (viewers too)
    POST /admin/suppression/{id}   {"values": ["3055550123", …]}: add to a list; admins only

Values are normalized as a lead's phone or email would be and kept as keyed digests only
(gates/suppression.py); a value that is not a valid phone or email is counted, not refused, and
never echoed. The addition is audited with its counts, never its values, and is in force at
once: on Redis, for every router. The body may be larger than a lead's (`MAX_BODY_BYTES`):
`pingtree suppress add` sends a big file in batches of `BATCH_VALUES`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from pingtree.core import jsonenc
from pingtree.core.errors import BadRequest, NotFound, PayloadTooLarge
from pingtree.web.audit import audited
from pingtree.web.auth import authenticate_operator, require_admin
from pingtree.web.keys import ROUTER
from pingtree.web.responses import json_response

MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_VALUES = 100_000
BATCH_VALUES = 20_000  # what the CLI sends at once: well under both limits


async def list_suppression(request: web.Request) -> web.Response:
    authenticate_operator(request)
    return json_response({"lists": await request.app[ROUTER].suppression.listing()})


async def add_to_list(request: web.Request) -> web.Response:
    operator = authenticate_operator(request)
    require_admin(operator)
    list_id = request.match_info["id"]
    gate = request.app[ROUTER].suppression
    if gate.lists.get(list_id) is None:
        raise NotFound("no such suppression list in the running config")
    values = _values(await _body(request))
    added = await gate.add(list_id, values)
    counts = {"received": added.received, "added": added.added, "invalid": added.invalid}
    await audited(request, operator, "suppression_add", list_id, counts)
    return json_response({"list": list_id, **counts})


async def _body(request: web.Request) -> bytes:
    """The body, up to MAX_BODY_BYTES (above a lead's limit, which the app's reader applies)."""
    body = bytearray()
    async for chunk in request.content.iter_any():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"the body is over {MAX_BODY_BYTES} bytes: send it in batches")
    return bytes(body)


def _values(raw: bytes) -> list[str]:
    try:
        body: Any = jsonenc.loads(raw)
    except jsonenc.JSONDecodeError:
        raise BadRequest("the body is not JSON", fields={"body": "not JSON"}) from None
    values = body.get("values") if isinstance(body, dict) else None
    if not isinstance(values, list) or (isinstance(body, dict) and set(body) - {"values"}):
        raise BadRequest(
            'the body is {"values": [...]}', fields={"values": "a list of phones or emails"}
        )
    if len(values) > MAX_VALUES:
        raise BadRequest(
            "too many values", fields={"values": f"at most {MAX_VALUES} a request: batches"}
        )
    # Anything but text is counted as invalid, like a value that is not a phone or an email.
    return values


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin/suppression", list_suppression)
    app.router.add_post("/admin/suppression/{id}", add_to_list)


__all__ = ["BATCH_VALUES", "MAX_BODY_BYTES", "MAX_VALUES", "add_routes"]
