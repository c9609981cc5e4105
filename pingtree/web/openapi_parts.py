"""The pieces every part's OpenAPI paths are built of (openapi.py puts the document together):
an error answer, a JSON answer by schema name, a query parameter, a path id."""

from __future__ import annotations

from typing import Any

ERROR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
PATH_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}


def error(description: str) -> dict[str, Any]:
    """An error answer: the JSON error body (`Error`) every 4xx and 5xx carries."""
    return {"description": description, **ERROR}


def json_answer(schema: str, description: str) -> dict[str, Any]:
    """A JSON answer whose body is the named component schema."""
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    """An optional query parameter."""
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }
