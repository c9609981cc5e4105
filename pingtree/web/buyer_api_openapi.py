"""The OpenAPI entries of a buyer's own API (buyer_api.py) and of the operator's returns queue
(returns_admin.py), to merge into the document of pingtree/web/openapi.py: `openapi_paths()`
into `paths`, `openapi_schemas()` into `components.schemas`, `SECURITY_SCHEMES` into
`components.securitySchemes`. They refer to its `Error` schema, `ApiKey` and `AdminBearer`
schemes, and the buyers' `BuyerSwitch` schema (buyers_openapi.py)."""

from __future__ import annotations

from typing import Any

from pingtree.ledger.buyer_leads import FEEDBACK_EVENTS
from pingtree.web.buyer_api import MAX_ACK_IDS, MAX_NOTE_CHARS
from pingtree.web.openapi_parts import PATH_ID as _ID
from pingtree.web.openapi_parts import error as _error
from pingtree.web.openapi_parts import json_answer as _json
from pingtree.web.openapi_parts import query as _query

_BUYER: list[dict[str, list[str]]] = [{"ApiKey": []}, {"BuyerBearer": []}]
_OPERATOR: list[dict[str, list[str]]] = [{"AdminBearer": []}]
_MONEY = {"type": "number", "description": "currency units, to the cent"}
_TIME = {"type": "string", "format": "date-time"}
_TEXT_OR_NULL = {"type": ["string", "null"]}
_COUNT = {"type": "integer", "minimum": 0}
_CURSOR = {"type": ["string", "null"], "description": "the next page's; null at the end"}

SECURITY_SCHEMES = {
    "BuyerBearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "the buyer's `portal.api_key` (X-API-Key works too)",
    },
}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "required": list(properties) if required is None else required,
        "properties": properties,
    }


_RETURN = _object(
    {
        "id": {"type": "string"},
        "lead_id": {"type": "string"},
        "buyer_id": {"type": "string"},
        "seller_id": {"type": "string"},
        "reason": {"type": "string"},
        "note": _TEXT_OR_NULL,
        "status": {"type": "string", "enum": ["pending", "approved", "denied"]},
        "requested_at": _TIME,
        "decided_at": {"type": ["string", "null"], "format": "date-time"},
        "decided_by": {**_TEXT_OR_NULL, "description": "an operator's name, or auto"},
        "amount": {**_MONEY, "description": "the sale's price, given back when approved"},
    }
)

_BUYER_LEAD = _object(
    {
        "id": {"type": "string", "description": "pingtree's id of the lead"},
        "seller": {"type": "string"},
        "vertical": _TEXT_OR_NULL,
        "test": {"type": "boolean"},
        "price": _MONEY,
        "received_at": _TIME,
        "sold_at": _TIME,
        "lead": {
            "type": "object",
            "description": "the lead as posted; its PII null once retention erased it",
            "additionalProperties": True,
        },
        "pii_erased_at": {"type": ["string", "null"], "format": "date-time"},
        "return": {
            "type": ["object", "null"],
            "required": ["id", "status", "reason"],
            "properties": {
                "id": {"type": "string"},
                "status": {"type": "string"},
                "reason": {"type": "string"},
            },
        },
    }
)


def openapi_schemas() -> dict[str, Any]:
    return {
        "BuyerLead": _BUYER_LEAD,
        "BuyerLeadPage": _object(
            {
                "leads": {"type": "array", "items": {"$ref": "#/components/schemas/BuyerLead"}},
                "next_cursor": _CURSOR,
            }
        ),
        "Return": _RETURN,
        "ReturnPage": _object(
            {
                "returns": {"type": "array", "items": {"$ref": "#/components/schemas/Return"}},
                "next_cursor": _CURSOR,
            }
        ),
        "Acknowledged": _object({"acknowledged": {"type": "array", "items": {"type": "string"}}}),
        "Feedback": _object(
            {
                "id": {"type": "string"},
                "lead_id": {"type": "string"},
                "event": {"type": "string", "enum": list(FEEDBACK_EVENTS)},
                "value": {"type": ["number", "null"]},
            }
        ),
        "BuyerStats": _object(
            {
                "buyer_id": {"type": "string"},
                "days": _COUNT,
                "sold": _COUNT,
                "spent": _MONEY,
                "returns": _object({s: _COUNT for s in ("pending", "approved", "denied")}),
                "refunded": _MONEY,
                "return_rate": {"type": ["number", "null"], "description": "returns / sold"},
                "feedback": _object({event: _COUNT for event in FEEDBACK_EVENTS}),
                "unacknowledged": {**_COUNT, "description": "sales not acknowledged (pull)"},
            }
        ),
    }


_UNAUTHORIZED = _error("unknown or missing buyer key")
_NOT_THEIRS = _error("no lead of this buyer's by that id")


def _list_paths() -> dict[str, Any]:
    """The list of leads and the acknowledgement of pulled ones."""
    return {
        "/v1/buyer/leads": {
            "get": {
                "summary": "The leads sold to this buyer, in full, oldest sale first; with "
                "`deliveries: [{method: pull}]`, only those not acknowledged",
                "operationId": "buyerLeads",
                "security": _BUYER,
                "parameters": [
                    _query("since", {"type": "string"}, "sold at or after (RFC 3339 or date)"),
                    _query("cursor", {"type": "string"}, "the previous page's next_cursor"),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "at most"),
                ],
                "responses": {
                    "200": _json("BuyerLeadPage", "a page of leads"),
                    "400": _error("bad since, cursor or limit"),
                    "401": _UNAUTHORIZED,
                },
            }
        },
        "/v1/buyer/leads/ack": {
            "post": {
                "summary": "Acknowledge pulled leads: they leave the list",
                "operationId": "buyerAck",
                "security": _BUYER,
                "requestBody": _body(
                    _object(
                        {
                            "ids": {
                                "type": "array",
                                "items": {"type": "string"},
                                "maxItems": MAX_ACK_IDS,
                            }
                        }
                    )
                ),
                "responses": {
                    "200": _json("Acknowledged", "the ids of this buyer's leads acknowledged"),
                    "400": _error("not {ids: [...]}"),
                    "401": _UNAUTHORIZED,
                },
            }
        },
    }


def _lead_paths() -> dict[str, Any]:
    """One lead, and what a buyer says of it: a return, a feedback."""
    return {
        "/v1/buyer/leads/{id}": {
            "get": {
                "summary": "One lead sold to this buyer",
                "operationId": "buyerLead",
                "security": _BUYER,
                "parameters": [_ID],
                "responses": {
                    "200": _json("BuyerLead", "the lead"),
                    "401": _UNAUTHORIZED,
                    "404": _NOT_THEIRS,
                },
            }
        },
        "/v1/buyer/leads/{id}/return": {
            "post": {
                "summary": "Return a lead (DESIGN §15): approved at once when its reason is "
                "auto-approved, else queued for the operator",
                "operationId": "buyerReturn",
                "security": _BUYER,
                "parameters": [_ID],
                "requestBody": _body(
                    _object(
                        {
                            "reason": {"type": "string"},
                            "note": {"type": "string", "maxLength": MAX_NOTE_CHARS},
                        },
                        required=["reason"],
                    )
                ),
                "responses": {
                    "201": _json("Return", "the return as filed"),
                    "400": _error("bad body"),
                    "401": _UNAUTHORIZED,
                    "404": _NOT_THEIRS,
                    "409": _error("already_returned"),
                    "422": _error("return_window_closed, return_rate_exceeded, unknown_reason"),
                },
            }
        },
        "/v1/buyer/leads/{id}/feedback": {
            "post": {
                "summary": "What became of a lead: contacted, converted (with a value)",
                "operationId": "buyerFeedback",
                "security": _BUYER,
                "parameters": [_ID],
                "requestBody": _body(
                    _object(
                        {
                            "event": {"type": "string", "enum": list(FEEDBACK_EVENTS)},
                            "value": {"type": ["number", "null"], "minimum": 0},
                        },
                        required=["event"],
                    )
                ),
                "responses": {
                    "201": _json("Feedback", "the fact as kept"),
                    "400": _error("bad event or value"),
                    "401": _UNAUTHORIZED,
                    "404": _NOT_THEIRS,
                },
            }
        },
    }


def _account_paths() -> dict[str, Any]:
    """The buyer's figures and its own pause switch."""
    return {
        "/v1/buyer/stats": {
            "get": {
                "summary": "This buyer's figures over the last `days` (default 30)",
                "operationId": "buyerStats",
                "security": _BUYER,
                "parameters": [_query("days", {"type": "integer", "minimum": 1}, "how far back")],
                "responses": {"200": _json("BuyerStats", "its figures"), "401": _UNAUTHORIZED},
            }
        },
        **{
            f"/v1/buyer/{switch}": {
                "post": {
                    "summary": f"{switch.capitalize()} this buyer (portal.self_pause: true)",
                    "operationId": f"buyer{switch.capitalize()}",
                    "security": _BUYER,
                    "responses": {
                        "200": _json("BuyerSwitch", "its switch"),
                        "401": _UNAUTHORIZED,
                        "403": _error("portal.self_pause is false"),
                    },
                }
            }
            for switch in ("pause", "resume")
        },
    }


def _decision(verb: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": f"{verb.capitalize()} a pending return (admins; audited)",
            "operationId": f"{verb}Return",
            "security": _OPERATOR,
            "parameters": [_ID],
            "responses": {
                "200": _json("Return", "the return decided"),
                "401": _error("no operator token"),
                "403": _error("a viewer"),
                "404": _error("no such return"),
                "409": _error("return_decided: decided already"),
            },
        }
    }


def _buyer_paths() -> dict[str, Any]:
    """The buyer's routes; each may answer 400 for a request with two different keys
    (web/auth.py), whatever else it answers 400 for."""
    paths = {**_list_paths(), **_lead_paths(), **_account_paths()}
    for operations in paths.values():
        for operation in operations.values():
            operation["responses"].setdefault("400", _TWO_KEYS)
    return paths


_TWO_KEYS = _error("two different API keys (X-API-Key, Authorization: Bearer)")


def openapi_paths() -> dict[str, Any]:
    status = {"type": "string", "enum": ["pending", "approved", "denied"]}
    return {
        **_buyer_paths(),
        "/admin/returns": {
            "get": {
                "summary": "Buyers' returns, newest first",
                "operationId": "listReturns",
                "security": _OPERATOR,
                "parameters": [
                    _query("status", status, "only this status"),
                    _query("buyer", {"type": "string"}, "only this buyer's"),
                    _query("cursor", {"type": "string"}, "the previous page's next_cursor"),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "at most"),
                ],
                "responses": {
                    "200": _json("ReturnPage", "a page of returns"),
                    "400": _error("bad parameter"),
                    "401": _error("no operator token"),
                },
            }
        },
        "/admin/returns/{id}/approve": _decision("approve"),
        "/admin/returns/{id}/deny": _decision("deny"),
    }


__all__ = ["SECURITY_SCHEMES", "openapi_paths", "openapi_schemas"]
