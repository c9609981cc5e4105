"""The component schemas of the OpenAPI document (openapi.py): the lead a seller sends, the
seller's and the operator's views of its outcome, the trace, and the bodies of the operator's
other answers and of every error."""

from __future__ import annotations

from typing import Any

from pingtree.core.lead import KNOWN_FIELDS

_NULLABLE_STRING = {"type": ["string", "null"]}
# Not `multipleOf: 0.01`: 19.99 is no exact multiple of 0.01 as a binary float, and validators
# that divide floats (Python's jsonschema among them) would refuse amounts pingtree sends.
_MONEY = {"type": ["number", "null"], "description": "currency units, to the cent"}
_STATUS = {"type": "string", "enum": ["sold", "unsold", "rejected", "pending"]}

_LEAD_FIELDS: dict[str, dict[str, Any]] = {
    "lead_id": {
        "type": "string",
        "description": "the seller's own reference; the default idempotency key",
    },
    "vertical": {"type": "string", "examples": ["mva", "solar", "final_expense"]},
    "sub_id": {"type": "string"},
    "first_name": {"type": "string"},
    "last_name": {"type": "string"},
    "phone": {"type": "string", "description": "any US format; normalized to E.164"},
    "email": {"type": "string", "format": "email"},
    "address": {"type": "string"},
    "city": {"type": "string"},
    "state": {"type": "string", "description": "two-letter code or name"},
    "zip": {"type": "string", "description": "5 digits or ZIP+4"},
    "dob": {"type": "string", "description": "YYYY-MM-DD or MM/DD/YYYY"},
    "ip_address": {"type": "string"},
    "tcpa_consent": {"type": "boolean"},
    "consent_timestamp": {"type": "string", "format": "date-time"},
    "trustedform_url": {"type": "string"},
    "jornaya_leadid": {"type": "string"},
    "source_url": {"type": "string"},
    "test": {"type": "boolean", "description": "runs the auction but counts nowhere"},
}
assert set(_LEAD_FIELDS) == KNOWN_FIELDS, "the documented lead fields drifted from lead.py"


SCHEMAS: dict[str, Any] = {
    "Lead": {
        "type": "object",
        "required": ["vertical", "phone"],
        "properties": _LEAD_FIELDS,
        "additionalProperties": {
            "type": ["string", "number", "boolean", "null"],
            "description": "vertical attributes (case_type…), kept with their JSON type",
        },
    },
    "SellerLead": {
        "type": "object",
        "required": ["id", "status", "auction_ms"],
        "properties": {
            "id": {"type": "string", "description": "pingtree's time-sortable id"},
            "lead_id": _NULLABLE_STRING,
            "status": _STATUS,
            "reason": _NULLABLE_STRING,
            "payout": _MONEY,
            "auction_ms": {"type": "integer"},
            "redirect_url": {"type": "string"},
            "buyer_id": {**_NULLABLE_STRING, "description": "only with reveal: [buyer]"},
            "price": {**_MONEY, "description": "only with reveal: [price]"},
            "test": {"type": "boolean"},
            "shared": {"type": "boolean", "description": "only on a lead sold shared"},
            "sales": {
                "type": "array",
                "description": "a lead sold shared: each sale's payout and redirect_url, its "
                "buyer_id and price only with reveal; payout above is their sum",
                "items": {
                    "type": "object",
                    "required": ["payout"],
                    "properties": {
                        "payout": _MONEY,
                        "redirect_url": {"type": "string"},
                        "buyer_id": {"type": "string"},
                        "price": _MONEY,
                    },
                },
            },
        },
    },
    "Sale": {
        "type": "object",
        "description": "one sale of a lead: its one sale, or a share of a lead sold shared",
        "required": ["buyer_id", "price", "payout", "margin"],
        "properties": {
            "buyer_id": {"type": "string"},
            "price": _MONEY,
            "payout": {**_MONEY, "description": "the seller's, for this sale"},
            "margin": _MONEY,
            "buyer_lead_id": _NULLABLE_STRING,
            "redirect_url": _NULLABLE_STRING,
        },
    },
    "TraceEvent": {
        "type": "object",
        "required": ["at_ms", "buyer_id", "step", "result"],
        "properties": {
            "at_ms": {"type": "integer", "description": "ms after receipt"},
            "buyer_id": {
                "type": "string",
                "description": "the buyer's id; in a check step, the check's id (`consent`: "
                "the consent-evidence gate)",
            },
            "step": {"type": "string", "enum": ["skip", "offer", "ping", "post", "check"]},
            "result": {
                "type": "string",
                "enum": [
                    "skipped",
                    "shadow",
                    "bid",
                    "declined",
                    "failed",
                    "accepted",
                    "rejected",
                    "unknown",
                    "passed",
                ],
                "description": "shadow: a skip the breaker would have made, in shadow mode "
                "(the buyer was called anyway)",
            },
            "reason": {"type": "string"},
            "http_status": {"type": "integer"},
            "duration_ms": {"type": "integer"},
            "bid": {"type": "number"},
            "detail": {"type": "string"},
            "pii": {
                "type": "array",
                "items": {"type": "string", "enum": ["city", "email_domain", "ip_address"]},
                "description": "a ping that carried PII its buyer opted in to "
                "(ping_pii_allowed): the fields' names",
            },
        },
    },
    "OperatorLead": {
        "type": "object",
        "required": [
            "id",
            "seller_id",
            "status",
            "received_at",
            "auction_ms",
            "bids",
            "not_candidates",
            "trace",
        ],
        "properties": {
            "id": {"type": "string"},
            "lead_id": _NULLABLE_STRING,
            "seller_id": {"type": "string"},
            "vertical": _NULLABLE_STRING,
            "status": _STATUS,
            "reason": _NULLABLE_STRING,
            "buyer_id": _NULLABLE_STRING,
            "price": _MONEY,
            "payout": _MONEY,
            "margin": _MONEY,
            "redirect_url": _NULLABLE_STRING,
            "buyer_lead_id": _NULLABLE_STRING,
            "test": {"type": "boolean"},
            "received_at": {"type": "string", "format": "date-time"},
            "auction_ms": {"type": "integer"},
            "bids": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "buyer_id": {"type": "string"},
                        "bid": {"type": "number"},
                        "result": {"type": "string"},
                        "reason": _NULLABLE_STRING,
                    },
                },
            },
            "not_candidates": {
                "type": "object",
                "description": "buyers left out by the vertical and state index, counted by reason",
                "additionalProperties": {"type": "integer"},
            },
            "trace": {"type": "array", "items": {"$ref": "#/components/schemas/TraceEvent"}},
            "shared": {"type": "boolean", "description": "sold shared (docs/shared-leads.md)"},
            "sales": {
                "type": "array",
                "description": "every sale, best first; shared: price and payout are the sums",
                "items": {"$ref": "#/components/schemas/Sale"},
            },
        },
    },
    "Reloaded": {
        "type": "object",
        "required": ["reloaded", "buyers", "sellers", "generation"],
        "properties": {
            "reloaded": {"type": "boolean", "const": True},
            "buyers": {"type": "integer"},
            "sellers": {"type": "integer"},
            "generation": {
                "type": "integer",
                "description": "1 at start, one more per applied reload",
            },
            "workers": {
                "type": "string",
                "const": "all",
                "description": "under `serve --workers N`: the worker that answered reloaded;"
                " the others are sent SIGHUP and re-read the file too",
            },
        },
    },
    "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "degraded"]},
            "store": {
                "type": "string",
                "enum": ["unavailable"],
                "description": "present when degraded: what is wrong",
            },
            "ledger": {
                "type": "object",
                "description": "present with a ledger: it never makes this a 503 (a ledger "
                "behind or down costs no lead)",
                "required": ["up", "backlog", "lag_s"],
                "properties": {
                    "up": {"type": "boolean", "description": "its database takes rows"},
                    "backlog": {
                        "type": "integer",
                        "minimum": 0,
                        "description": "records in the outbox, not filed yet",
                    },
                    "lag_s": {
                        "type": "number",
                        "minimum": 0,
                        "description": "the oldest one's age, seconds",
                    },
                },
            },
        },
    },
    "Error": {
        "type": "object",
        "required": ["error", "detail", "fields"],
        "properties": {
            "error": {"type": "string"},
            "detail": {"type": "string"},
            "fields": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
}

__all__ = ["SCHEMAS"]
