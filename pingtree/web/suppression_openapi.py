"""The OpenAPI entries of the suppression lists' operator routes (suppression_admin.py), to merge
into the document of pingtree/web/openapi.py: `openapi_paths()` into `paths`, `openapi_schemas()`
into `components.schemas`. They refer to its `Error` schema and `AdminBearer` scheme."""

from __future__ import annotations

from typing import Any

from pingtree.web.openapi_parts import PATH_ID as _ID
from pingtree.web.openapi_parts import error as _error
from pingtree.web.openapi_parts import json_answer as _json
from pingtree.web.suppression_admin import MAX_BODY_BYTES, MAX_VALUES

_OPERATOR: list[dict[str, list[str]]] = [{"AdminBearer": []}]
_COUNT = {"type": "integer", "minimum": 0}
_SCHEMAS = "#/components/schemas/"


_LIST = {
    "id": {"type": "string"},
    "match": {"type": "string", "enum": ["phone", "email"]},
    "scope": {
        "description": '"all" (a match rejects the lead) or the buyers a match skips',
        "oneOf": [
            {"type": "string", "enum": ["all"]},
            {"type": "array", "items": {"type": "string"}},
        ],
    },
    "file": {"type": ["string", "null"]},
    "file_entries": {**_COUNT, "description": "valid values read from the file"},
    "file_lines": _COUNT,
    "file_bad_lines": {**_COUNT, "description": "lines that were not a valid phone or email"},
    "file_first_bad_lines": {
        "type": "array",
        "items": {"type": "integer"},
        "description": "the first bad lines' numbers (never their text)",
    },
    "added_entries": {**_COUNT, "description": "entries added while running (the store's)"},
}

_ADDED = {
    "list": {"type": "string"},
    "received": _COUNT,
    "added": {**_COUNT, "description": "entries new to the list"},
    "invalid": {**_COUNT, "description": "values that are not a valid phone or email"},
}


def openapi_schemas() -> dict[str, Any]:
    return {
        "SuppressionList": {"type": "object", "required": list(_LIST), "properties": _LIST},
        "SuppressionLists": {
            "type": "object",
            "required": ["lists"],
            "properties": {
                "lists": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/SuppressionList"},
                }
            },
        },
        "SuppressionAdded": {"type": "object", "required": list(_ADDED), "properties": _ADDED},
    }


def openapi_paths() -> dict[str, Any]:
    return {
        "/admin/suppression": {
            "get": {
                "summary": "The suppression lists in force and their sizes",
                "security": _OPERATOR,
                "responses": {
                    "200": _json("SuppressionLists", "every list"),
                    "401": _error("no or unknown operator token"),
                    "503": _error("the store is unavailable"),
                },
            }
        },
        "/admin/suppression/{id}": {
            "post": {
                "summary": "Add phones or emails to a suppression list, in force at once (admins)",
                "description": (
                    "Values are normalized as a lead's and kept as keyed hashes, never in clear; "
                    "invalid ones are counted, never echoed. Audited with the counts. At most "
                    f"{MAX_VALUES} values and {MAX_BODY_BYTES} bytes a request."
                ),
                "security": _OPERATOR,
                "parameters": [_ID],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["values"],
                                "properties": {
                                    "values": {"type": "array", "items": {"type": "string"}}
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": _json("SuppressionAdded", "what was added"),
                    "400": _error('not {"values": [...]}, or too many values'),
                    "401": _error("no or unknown operator token"),
                    "403": _error("a viewer's token"),
                    "404": _error("no such list in the running config"),
                    "413": _error("the body is too large: send batches"),
                    "503": _error("the store is unavailable"),
                },
            }
        },
    }
