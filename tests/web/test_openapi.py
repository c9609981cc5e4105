"""/openapi.json is accurate: a valid OpenAPI 3.1 document, every route served is documented (and
the other way round), and real answers of a running router validate against its schemas."""

from __future__ import annotations

from typing import Any

import jsonschema
from openapi_spec_validator import validate

from pingtree.web.app import create_app
from pingtree.web.console.render import is_console
from pingtree.web.openapi import openapi_document
from tests.conftest import ADMIN_TOKEN, make_buyer, make_config, sample
from tests.web.documented import assert_documented


def _schema(name: str) -> dict[str, Any]:
    """A component schema with its $refs resolvable, for jsonschema."""
    document = openapi_document()
    return {"$ref": f"#/components/schemas/{name}", "components": document["components"]}


def test_the_document_is_valid_openapi() -> None:
    validate(openapi_document())


def test_every_route_is_documented_and_every_documented_route_exists(buyers) -> None:
    app = create_app(make_config([make_buyer("a", buyers)]))
    # The console's pages and files (/console…) are HTML for a browser, not an API.
    served = {
        (resource.canonical, route.method.lower())
        for resource in app.router.resources()
        for route in resource
        if route.method != "HEAD" and not is_console(resource.canonical)
    }
    documented = {
        (path, method) for path, item in openapi_document()["paths"].items() for method in item
    }
    assert served == documented


async def test_real_answers_match_their_schemas(buyers, start_router) -> None:
    buyers.set("a", bid=12.5)
    router = await start_router(make_config([make_buyer("a", buyers)]))
    status, seller_answer, _ = await router.send(sample("solar"))
    assert status == 200
    assert_documented("/v1/leads", "post", 200, "application/json", seller_answer)
    operator_answer = await router.admin(seller_answer["id"])
    assert_documented("/admin/leads/{id}", "get", 200, "application/json", operator_answer)

    bad = {**sample("solar"), "phone": "12", "lead_id": "another"}
    status, error, _ = await router.send(bad)
    assert status == 422
    assert_documented("/v1/leads", "post", 422, "application/json", error)

    async with router.session.get(router.url("/openapi.json")) as response:
        assert response.status == 200
        assert await response.json() == openapi_document()
    async with router.session.get(
        router.url("/admin/leads/x"), headers={"Authorization": "Bearer no"}
    ) as r:
        assert r.status == 401
        assert_documented("/admin/leads/{id}", "get", 401, "application/json", await r.json())
    assert ADMIN_TOKEN not in str(openapi_document())


def test_lead_schema_accepts_the_samples() -> None:
    for name in ("mva-legal", "solar", "final-expense"):
        jsonschema.validate(sample(name), _schema("Lead"))


def test_no_schema_asks_for_a_multiple_of_a_fraction() -> None:
    """`multipleOf: 0.01` reads well and fails amounts pingtree sends: 19.99 is no multiple of
    0.01 as a binary float, and validators that divide floats (Python's jsonschema) refuse it."""

    def fractional_multiples(node: Any) -> list[Any]:
        if isinstance(node, list):
            return [found for item in node for found in fractional_multiples(item)]
        if not isinstance(node, dict):
            return []
        own = [node] if isinstance(node.get("multipleOf"), float) else []
        return own + fractional_multiples(list(node.values()))

    assert fractional_multiples(openapi_document()) == []
