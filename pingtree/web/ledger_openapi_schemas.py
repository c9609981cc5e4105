"""The component schemas of the ledger's operator routes (ledger_openapi.py has their paths): a
lead in a list and a page of them, one lead in full (the operator view of openapi_schemas.py and
the lead as the ledger keeps it), a report and its rows (ledger/base.py ReportRow's fields, in
order), the audit, and what forget answers. `openapi_schemas()` merges into the document's
`components.schemas`."""

from __future__ import annotations

from typing import Any

from pingtree.core.lead import PII_FIELDS
from pingtree.web.ledger_views import REPORT_COLUMNS

_TEXT = {"type": "string"}
_NULLABLE_TEXT = {"type": ["string", "null"]}
_TIME = {"type": "string", "format": "date-time", "description": "UTC, RFC 3339, ms"}
_MONEY = {"type": "number", "description": "currency units, to the cent"}
_NULLABLE_MONEY = {"type": ["number", "null"], "description": "currency units, to the cent"}
_COUNT = {"type": "integer", "minimum": 0}
_RATE = {
    "type": ["number", "null"],
    "minimum": 0,
    "maximum": 1,
    "description": "a fraction, 4 places; null when there is nothing to divide by",
}
STATUS = {"type": "string", "enum": ["sold", "unsold", "rejected", "pending"]}

_SUMMARY_FIELDS: dict[str, Any] = {
    "id": {"type": "string", "description": "pingtree's id"},
    "lead_id": {**_NULLABLE_TEXT, "description": "the seller's"},
    "seller_id": _TEXT,
    "sub_id": _NULLABLE_TEXT,
    "vertical": _NULLABLE_TEXT,
    "state": _NULLABLE_TEXT,
    "status": STATUS,
    "reason": _NULLABLE_TEXT,
    "buyer_id": {**_NULLABLE_TEXT, "description": "sold (or pending) to"},
    "price": _NULLABLE_MONEY,
    "payout": _NULLABLE_MONEY,
    "margin": _NULLABLE_MONEY,
    "test": {"type": "boolean"},
    "received_at": _TIME,
    "auction_ms": {"type": "integer"},
    "shared": {"type": "boolean", "description": "sold shared (docs/shared-leads.md)"},
    "sales": {"type": "array", "items": {"$ref": "#/components/schemas/Sale"}},
}

_PII_NOTE = "PII: masked for a viewer; null without one, and once erased"
_KEPT_LEAD_FIELDS: dict[str, Any] = {
    "lead_id": _NULLABLE_TEXT,
    "vertical": _TEXT,
    "sub_id": _NULLABLE_TEXT,
    "state": _NULLABLE_TEXT,
    "zip": _NULLABLE_TEXT,
    "tcpa_consent": {"type": ["boolean", "null"]},
    "consent_timestamp": _NULLABLE_TEXT,
    "source_url": _NULLABLE_TEXT,
    "test": {"type": "boolean"},
    **{name: {**_NULLABLE_TEXT, "description": _PII_NOTE} for name in sorted(PII_FIELDS)},
    "attributes": {
        "type": "object",
        "description": "the vertical's attributes; those marked pii (or repeating the lead's "
        "PII) are masked for a viewer and gone once erased",
        "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
    },
}

_ROW_FIELDS: dict[str, Any] = {
    "key": {
        "type": "string",
        "description": "the buyer, seller, vertical, sub_id or state ('' for none); by=hour: "
        "the local hour (2026-03-02T09:00-05:00); by=day: the local date; `total` in the CSV",
    },
    "leads": {**_COUNT, "description": "by=buyer or a buyer filter: the leads it was called for"},
    "sold": _COUNT,
    "sold_pct": {**_RATE, "description": "sold / leads"},
    "revenue": {**_MONEY, "description": "the sales' prices (gross)"},
    "payout": {**_MONEY, "description": "what the sellers earn of them"},
    "margin": {**_MONEY, "description": "revenue - payout"},
    "revenue_per_lead": {**_NULLABLE_MONEY, "description": "revenue / leads"},
    "pings": {**_COUNT, "description": "pings sent and fixed-price offers"},
    "bids": {**_COUNT, "description": "valid bids among them"},
    "bid_rate": {**_RATE, "description": "bids / pings"},
    "wins": {**_COUNT, "description": "sales"},
    "win_rate": {**_RATE, "description": "wins / bids"},
    "post_accept_rate": {**_RATE, "description": "posts accepted / posts sent"},
    "returns": _COUNT,
    "returns_amount": _MONEY,
    "net_revenue": {**_MONEY, "description": "revenue - returns_amount"},
    "return_rate": {**_RATE, "description": "returns / wins"},
    "chargebacks_amount": {**_MONEY, "description": "payouts taken back by approved returns"},
    "contacted": {**_COUNT, "description": "sales the buyer said it contacted"},
    "converted": {**_COUNT, "description": "sales the buyer said converted"},
    "conversion_rate": {**_RATE, "description": "converted / wins"},
    "conversion_value": {**_MONEY, "description": "the values of those conversions"},
    "rejected": {**_COUNT, "description": "leads rejected (0 in a buyer's rows: none called)"},
    "suppressed": {**_COUNT, "description": "of those, on a suppression list of scope all"},
    "consent_failed": {**_COUNT, "description": "of those, without the consent evidence asked"},
    "check_failed": {**_COUNT, "description": "of those, refused by an outside check"},
    "ping_p50_ms": {
        "type": ["integer", "null"],
        "description": "the upper bound of the histogram bucket holding the median ping",
    },
    "ping_p95_ms": {"type": ["integer", "null"], "description": "the same for the 95th"},
}
assert tuple(_ROW_FIELDS) == REPORT_COLUMNS, "the documented report columns drifted"

_AUDIT_FIELDS: dict[str, Any] = {
    "id": _TEXT,
    "at": _TIME,
    "operator": {"type": "string", "description": "the operator's name"},
    "action": {
        "type": "string",
        "examples": ["reload", "pause", "resume", "retry", "replay", "forget"],
    },
    "target": {**_NULLABLE_TEXT, "description": "a buyer, delivery…; null: the router"},
    "detail": {"type": "object", "description": "what the action needs said; never PII"},
}


def _page(items: str, schema: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": [items, "next_cursor"],
        "properties": {
            items: {"type": "array", "items": {"$ref": f"#/components/schemas/{schema}"}},
            "next_cursor": {**_NULLABLE_TEXT, "description": "null on the last page"},
        },
    }


def openapi_schemas() -> dict[str, Any]:
    """Component schemas of these routes, to merge into the document's `components.schemas`."""
    return {
        "LeadSummary": {
            "type": "object",
            "description": "A lead in a list: its facts and sale, no trace, no PII",
            "required": list(_SUMMARY_FIELDS),
            "properties": _SUMMARY_FIELDS,
        },
        "LeadPage": _page("leads", "LeadSummary"),
        "KeptLead": {
            "type": "object",
            "description": "The lead as the seller sent it, normalized, as the ledger keeps it",
            "required": list(_KEPT_LEAD_FIELDS),
            "properties": {
                **_KEPT_LEAD_FIELDS,
                "as_sent": {
                    "type": "object",
                    "description": "tcpa_consent and consent_timestamp as the seller spelled "
                    "them, when it sent them (what deliveries carry out)",
                    "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
                },
            },
        },
        "LedgerLead": {
            "description": "The operator view, and the lead itself",
            "allOf": [
                {"$ref": "#/components/schemas/OperatorLead"},
                {
                    "type": "object",
                    "required": ["lead", "pii_erased_at"],
                    "properties": {
                        "lead": {
                            "description": "null until the lead is filed in the ledger, and "
                            "on a router without one (the store keeps no lead)",
                            "oneOf": [
                                {"$ref": "#/components/schemas/KeptLead"},
                                {"type": "null"},
                            ],
                        },
                        "pii_erased_at": {
                            "type": ["string", "null"],
                            "format": "date-time",
                            "description": "when its PII was erased (forget, retention)",
                        },
                        "quote": {
                            "$ref": "#/components/schemas/QuoteRecord",
                            "description": "an exchange post's: the quote of its ping",
                        },
                    },
                },
            ],
        },
        "ReportRow": {
            "type": "object",
            "required": list(_ROW_FIELDS),
            "properties": _ROW_FIELDS,
        },
        "Report": {
            "type": "object",
            "required": ["rows", "totals"],
            "properties": {
                "rows": {
                    "type": "array",
                    "description": "one per key with leads or calls in the range, by key",
                    "items": {"$ref": "#/components/schemas/ReportRow"},
                },
                "totals": {
                    "$ref": "#/components/schemas/ReportRow",
                    "description": "the whole range (key `total`): by=buyer, each lead once",
                },
            },
        },
        "AuditEntry": {
            "type": "object",
            "required": list(_AUDIT_FIELDS),
            "properties": _AUDIT_FIELDS,
        },
        "AuditPage": _page("entries", "AuditEntry"),
        "Forgotten": {
            "type": "object",
            "required": ["erased", "leads", "deliveries"],
            "properties": {
                "erased": {"type": "boolean", "const": True},
                "leads": {**_COUNT, "description": "the consumer's leads, PII now erased"},
                "deliveries": {**_COUNT, "description": "their deliveries, bodies erased"},
            },
        },
    }


__all__ = ["STATUS", "openapi_schemas"]
