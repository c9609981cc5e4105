"""The OpenAPI entries of the buyers' operator routes (buyers_admin.py) and of the live events
(GET /admin/events, operators.py), to merge into the document of pingtree/web/openapi.py:
`openapi_paths()` into `paths`, `openapi_schemas()` into `components.schemas`. They refer to its
`Error` schema and `AdminBearer` scheme."""

from __future__ import annotations

from typing import Any

from pingtree.web.buyers_admin import MAX_REASON_CHARS
from pingtree.web.openapi_parts import PATH_ID as _ID
from pingtree.web.openapi_parts import error as _error
from pingtree.web.openapi_parts import json_answer as _json
from pingtree.web.recent_calls import KINDS

_OPERATOR: list[dict[str, list[str]]] = [{"AdminBearer": []}]
_MONEY = {"type": ["number", "null"], "description": "currency units, to the cent"}
_COUNT = {"type": ["integer", "null"], "minimum": 0}
_NULLABLE_TEXT = {"type": ["string", "null"]}


def _cap(number: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "required": ["cap", "used", "left"],
        "properties": {"cap": number, "used": number, "left": number},
    }


_PAUSE = {
    "type": ["object", "null"],
    "description": "null unless an operator paused the buyer",
    "required": ["by", "at", "reason"],
    "properties": {
        "by": {"type": "string", "description": "the operator's name"},
        "at": {"type": "string", "format": "date-time"},
        "reason": _NULLABLE_TEXT,
    },
}

_BUYER_SWITCH = {
    "id": {"type": "string"},
    "enabled": {"type": "boolean", "description": "false while paused"},
    "paused": _PAUSE,
}


def openapi_schemas() -> dict[str, Any]:
    return {
        "BuyerSwitch": {
            "type": "object",
            "required": list(_BUYER_SWITCH),
            "properties": _BUYER_SWITCH,
        },
        "BuyerState": {
            "type": "object",
            "required": [*_BUYER_SWITCH, "caps", "breaker", "recent", "schedule_open"],
            "properties": {
                **_BUYER_SWITCH,
                "priority": {"type": "integer"},
                "pricing": {"type": "string", "enum": ["bid", "fixed"]},
                "schedule_open": {"type": "boolean", "description": "takes leads at this hour"},
                "caps": {
                    "type": "object",
                    "description": "sales in the buyer's current hour and day, its timezone's",
                    "required": ["timezone", "hour", "day", "hourly", "daily", "daily_budget"],
                    "properties": {
                        "timezone": {"type": "string"},
                        "hour": {"type": "string", "examples": ["2026-01-01T09-0500"]},
                        "day": {"type": "string", "format": "date"},
                        "hourly": _cap(_COUNT, "cap and left are null without a cap"),
                        "daily": _cap(_COUNT, "cap and left are null without a cap"),
                        "daily_budget": _cap(_MONEY, "spend today; null without a budget"),
                    },
                },
                "breaker": {
                    "type": "object",
                    "required": ["mode", "state"],
                    "properties": {
                        "mode": {"type": "string", "enum": ["enforce", "shadow", "off"]},
                        "state": {"type": "string", "enum": ["closed", "open", "half_open"]},
                    },
                },
                "recent": {
                    "type": "object",
                    "description": "this router's calls to the buyer over the last minutes",
                    "required": list(KINDS),
                    "properties": {kind: {"type": "integer", "minimum": 0} for kind in KINDS},
                },
            },
        },
        "BuyerStates": {
            "type": "object",
            "required": ["buyers", "recent_window_s", "recent_calls_of"],
            "properties": {
                "buyers": {"type": "array", "items": {"$ref": "#/components/schemas/BuyerState"}},
                "recent_window_s": {"type": "integer", "description": "300: five minutes"},
                "recent_calls_of": {"type": "string", "const": "this router"},
            },
        },
        "LeadEvent": {
            "type": "object",
            "description": "the data of an `event: lead` frame: no PII",
            "required": ["id", "seller_id", "status", "auction_ms", "received_at", "test"],
            "properties": {
                "id": {"type": "string"},
                "seller_id": {"type": "string"},
                "vertical": _NULLABLE_TEXT,
                "status": {"type": "string", "enum": ["sold", "unsold", "rejected", "pending"]},
                "reason": _NULLABLE_TEXT,
                "buyer_id": _NULLABLE_TEXT,
                "price": _MONEY,
                "payout": _MONEY,
                "auction_ms": {"type": "integer"},
                "received_at": {"type": "string", "format": "date-time"},
                "test": {"type": "boolean"},
                "sales": {
                    "type": "array",
                    "description": "every sale of a sold lead: a shared lead's each, best "
                    "first; an exclusive one's one; none unless sold",
                    "items": {
                        "type": "object",
                        "required": ["buyer_id", "price", "payout"],
                        "properties": {
                            "buyer_id": {"type": "string"},
                            "price": {"type": "number"},
                            "payout": {"type": "number"},
                        },
                    },
                },
                "quote": {
                    **_MONEY,
                    "description": "an exchange post (POST /v1/post): what its ping was quoted; "
                    "null for a lead posted whole",
                },
            },
        },
    }


def openapi_paths() -> dict[str, Any]:
    switch_errors = {
        "401": _error("An operator's token required"),
        "403": _error("A viewer's token: this changes state (admins only)"),
        "404": _error("No such buyer in the running config"),
        "503": _error("The store is unavailable; see Retry-After"),
    }
    return {
        "/admin/buyers": {
            "get": {
                "summary": "Every buyer's live state: paused, caps used and left, breaker, "
                "recent calls",
                "description": "Caps, breakers and pauses are the store's, shared by every "
                "router; `recent` counts this router's calls over the last five minutes.",
                "operationId": "adminListBuyers",
                "security": _OPERATOR,
                "responses": {
                    "200": _json("BuyerStates", "Every buyer of the running config"),
                    "401": _error("An operator's token required"),
                    "503": _error("The store is unavailable; see Retry-After"),
                },
            }
        },
        "/admin/buyers/{id}/pause": {
            "post": {
                "summary": "Pause a buyer on every router until resumed",
                "description": "Skipped with reason `paused` from the next lead on this router, "
                "within router.pauses_refresh_ms (1 s) on the others; kept across reloads and "
                "restarts. Audited.",
                "operationId": "adminPauseBuyer",
                "security": _OPERATOR,
                "parameters": [_ID],
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    "reason": {"type": "string", "maxLength": MAX_REASON_CHARS}
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": _json("BuyerSwitch", "Paused"),
                    "400": _error('A body other than {"reason": text}'),
                    **switch_errors,
                },
            }
        },
        "/admin/buyers/{id}/resume": {
            "post": {
                "summary": "Resume a paused buyer on every router",
                "description": "A buyer not paused stays as it is. Audited.",
                "operationId": "adminResumeBuyer",
                "security": _OPERATOR,
                "parameters": [_ID],
                "responses": {"200": _json("BuyerSwitch", "Not paused"), **switch_errors},
            }
        },
        "/admin/events": {
            "get": {
                "summary": "Server-sent events of the auctions this router finishes",
                "description": "`event: lead` frames whose data is a LeadEvent (no PII); "
                '`event: dropped` with `{"count": n}` where a listener too slow to keep up '
                "lost n leads; a `: keep-alive` comment every 15 s. Each router streams its "
                "own auctions.",
                "operationId": "adminEvents",
                "security": _OPERATOR,
                "responses": {
                    "200": {
                        "description": "The stream, until the client hangs up",
                        "content": {
                            "text/event-stream": {
                                "schema": {
                                    "type": "string",
                                    "description": "the frames; an `event: lead`'s data is a "
                                    "LeadEvent (components.schemas)",
                                },
                            }
                        },
                    },
                    "401": _error("An operator's token required"),
                },
            }
        },
    }


__all__ = ["openapi_paths", "openapi_schemas"]
