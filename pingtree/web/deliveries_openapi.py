"""The OpenAPI entries of the delivery and export routes (deliveries_admin.py), to merge into the
document of pingtree/web/openapi.py: `openapi_paths()` into `paths`, `openapi_schemas()` into
`components.schemas`. They refer to its `Error` schema and `AdminBearer` scheme.
"""

from __future__ import annotations

from typing import Any, get_args

from pingtree.store.queue.base import JobState
from pingtree.web.openapi_parts import PATH_ID as _ID
from pingtree.web.openapi_parts import error as _error

MAX_LIMIT = 1000  # the most jobs GET /admin/deliveries lists at once
JOB_STATES: tuple[str, ...] = get_args(JobState)

_ADMIN: list[dict[str, list[str]]] = [{"AdminBearer": []}]
_NULLABLE_TEXT = {"type": ["string", "null"]}
_VIEWER = "A viewer's token: this changes state (admins only)"


_DELIVERY_FIELDS: dict[str, Any] = {
    "id": {"type": "string", "description": "the webhook-id: lead.owner.destination"},
    "lead_id": {"type": "string", "description": "pingtree's lead id"},
    "owner": {"type": "string", "examples": ["buyer:lawfirm-a", "seller:acme"]},
    "destination": {"type": "string", "examples": ["crm", "postback"]},
    "key": {"type": "string", "examples": ["buyer:lawfirm-a/crm"]},
    "state": {"type": "string", "enum": list(JOB_STATES)},
    "target": {"type": "string", "enum": ["primary", "failover"]},
    "attempt": {"type": "integer", "minimum": 0},
    "created_at": {"type": "string", "format": "date-time"},
    "due_at": {"type": ["string", "null"], "format": "date-time"},
    "method": {"type": "string"},
    "url": {"type": "string", "description": "without query or credentials"},
    "failover_url": _NULLABLE_TEXT,
    "headers": {
        "type": "array",
        "description": "[name, value]; secret values as ***",
        "items": {
            "type": "array",
            "prefixItems": [{"type": "string"}, {"type": "string"}],
            "minItems": 2,
            "maxItems": 2,
        },
    },
    "body_bytes": {"type": "integer", "minimum": 0},
    "body_sha256": {"type": "string"},
    "last_error": _NULLABLE_TEXT,
    "history": {"type": "array", "items": {"type": "string"}},
}


def _delivery(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Delivery"}}},
    }


def openapi_schemas() -> dict[str, Any]:
    """Component schemas of these routes, to merge into the document's `components.schemas`."""
    return {
        "Delivery": {
            "type": "object",
            "description": "A sale's delivery to one destination; no body (PII), no secrets",
            "required": list(_DELIVERY_FIELDS),
            "properties": _DELIVERY_FIELDS,
        },
        "DeliveryList": {
            "type": "object",
            "required": ["deliveries"],
            "properties": {
                "deliveries": {"type": "array", "items": {"$ref": "#/components/schemas/Delivery"}}
            },
        },
    }


def openapi_paths() -> dict[str, Any]:
    """Path items of these routes, to merge into the document's `paths`."""
    action = {
        "security": _ADMIN,
        "parameters": [_ID],
    }
    return {
        "/admin/deliveries": {
            "get": {
                "summary": "Deliveries, newest first",
                "operationId": "adminListDeliveries",
                "security": _ADMIN,
                "parameters": [
                    {
                        "name": "state",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": list(JOB_STATES)},
                    },
                    {
                        "name": "destination",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string"},
                        "description": "a destination's key: buyer:ID/NAME or seller:ID/postback",
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_LIMIT,
                            "default": 100,
                        },
                    },
                ],
                "responses": {
                    "200": {
                        "description": "The deliveries",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/DeliveryList"}
                            }
                        },
                    },
                    "400": _error("A bad state or limit"),
                    "401": _error("An operator's token required"),
                },
            }
        },
        "/admin/deliveries/{id}": {
            "get": {
                "summary": "One delivery and its attempts",
                "operationId": "adminGetDelivery",
                "security": _ADMIN,
                "parameters": [_ID],
                "responses": {
                    "200": _delivery("The delivery"),
                    "401": _error("An operator's token required"),
                    "404": _error("No such delivery (or it was purged)"),
                },
            }
        },
        "/admin/deliveries/{id}/retry": {
            "post": {
                **action,
                "summary": "Send a waiting delivery now instead of after its backoff",
                "operationId": "adminRetryDelivery",
                "responses": {
                    "200": _delivery("The delivery, due now"),
                    "401": _error("An operator's token required"),
                    "403": _error(_VIEWER),
                    "404": _error("No such delivery"),
                    "409": _error("The delivery is not waiting"),
                },
            }
        },
        "/admin/deliveries/{id}/replay": {
            "post": {
                **action,
                "summary": "Send a dead or disabled delivery again, from its first attempt",
                "description": "The request built at the sale is sent again, with the same "
                "webhook-id, signed with the current secret.",
                "operationId": "adminReplayDelivery",
                "responses": {
                    "200": _delivery("The delivery, waiting again"),
                    "401": _error("An operator's token required"),
                    "403": _error(_VIEWER),
                    "404": _error("No such delivery"),
                    "409": _error("The delivery is neither dead nor disabled"),
                },
            }
        },
        "/admin/exports/leads.csv": {
            "get": {
                "summary": "Sales as CSV (every router's), from the ledger",
                "description": "UTF-8 with a header row; `id` (pingtree's lead id) first; ISO "
                "8601 times; cells that a spreadsheet would run as formulas start with '.",
                "operationId": "adminExportLeads",
                "security": _ADMIN,
                "parameters": [
                    {
                        "name": "buyer",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string"},
                        "description": "one buyer's sales; every buyer's without",
                    },
                    {
                        "name": "from",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string"},
                        "description": "ISO date or date-time (UTC without offset); default: "
                        "today's start",
                    },
                    {
                        "name": "to",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string"},
                        "description": "ISO date (that day included) or date-time (excluded); "
                        "default: now",
                    },
                ],
                "responses": {
                    "200": {"description": "CSV", "content": {"text/csv": {}}},
                    "400": _error("A bad buyer id, date or range"),
                    "401": _error("An operator's token required"),
                    "403": _error("A viewer's token: the rows hold the leads' PII (admins only)"),
                    "409": _error(
                        "`ledger_off`: no ledger, and no sale rows of its own "
                        "(router.deliveries.ledger_days)"
                    ),
                },
            }
        },
    }


__all__ = ["JOB_STATES", "MAX_LIMIT", "openapi_paths", "openapi_schemas"]
