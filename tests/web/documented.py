"""Real answers held against /openapi.json: the status and content type an answer came with are
documented for its route, and its body is valid against the documented schema, closed: a field
that the schema does not name fails it, so every field of an answer is documented."""

from __future__ import annotations

from functools import cache
from typing import Any

import aiohttp
import jsonschema

from pingtree.web.openapi import openapi_document

_REF = "#/components/schemas/"


def _closed(node: Any, *, open_top: bool = False) -> Any:
    """`node` with every object schema closed (unevaluatedProperties: false, which, unlike
    additionalProperties, sees what an allOf's parts name); the parts of an allOf stay open, or
    each would refuse the fields of the others."""
    if isinstance(node, list):
        return [_closed(item) for item in node]
    if not isinstance(node, dict):
        return node
    closed: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            closed[key] = {name: _closed(schema) for name, schema in value.items()}
        elif key == "allOf":
            closed[key] = [_closed(part, open_top=True) for part in value]
        else:
            closed[key] = _closed(value)
    is_object = "properties" in node or "allOf" in node
    if is_object and not open_top and "additionalProperties" not in node:
        closed["unevaluatedProperties"] = False
    return closed


@cache
def _components() -> dict[str, Any]:
    schemas = openapi_document()["components"]["schemas"]
    parts = {
        part["$ref"].removeprefix(_REF)
        for schema in schemas.values()
        for part in schema.get("allOf", [])
        if "$ref" in part
    }
    return {
        "schemas": {
            name: _closed(schema, open_top=name in parts) for name, schema in schemas.items()
        }
    }


def documented_schema(route: str, method: str, status: int, content_type: str) -> Any:
    """The schema documented for this answer (closed); fails if the answer is not documented."""
    responses = openapi_document()["paths"][route][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {route}: {status} is not documented"
    content = responses[str(status)].get("content", {})
    assert content_type in content, f"{method.upper()} {route} {status}: not {content_type}"
    return {**_closed(content[content_type].get("schema", {})), "components": _components()}


def assert_documented(route: str, method: str, status: int, content_type: str, body: Any) -> None:
    jsonschema.validate(body, documented_schema(route, method, status, content_type))


async def ask(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    route: str,
    *,
    token: str | None,
    body: Any = None,
) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
    """Call the router and check its answer is documented: (status, JSON body or text, headers)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.request(method, url, headers=headers, json=body) as response:
        content_type = response.content_type
        answer = (
            await response.json() if content_type == "application/json" else await response.text()
        )
        assert_documented(route, method.lower(), response.status, content_type, answer)
        return response.status, answer, response.headers


__all__ = ["ask", "assert_documented", "documented_schema"]
