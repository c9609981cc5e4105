"""The OpenAPI entries of the ledger's operator routes (ledger_admin.py, ledger_views.py), to merge
into the document of pingtree/web/openapi.py: `openapi_paths()` into `paths`; their component
schemas are ledger_openapi_schemas.py's. They refer to the document's `Error` schema and
`AdminBearer` scheme. The parameters are web/ranges.py's (tests/web/test_ledger_openapi.py holds
real answers against all of it).
"""

from __future__ import annotations

from typing import Any

from pingtree.ledger.base import REPORT_BY
from pingtree.web.ledger_openapi_schemas import STATUS
from pingtree.web.openapi_parts import json_answer as _json
from pingtree.web.openapi_parts import query as _query
from pingtree.web.ranges import DEFAULT_LIMIT, ID_PATTERN, MAX_LIMIT

_OPERATOR: list[dict[str, list[str]]] = [{"AdminBearer": []}]
_TEXT = {"type": "string"}


_RANGE = [
    _query(
        "from",
        _TEXT,
        "an ISO date (its midnight in `tz`) or an RFC 3339 time (in `tz` without an offset): "
        "from then on",
    ),
    _query("to", _TEXT, "the same forms; exclusive: `to=2026-03-02` ends as March 2 begins"),
    _query("tz", {"type": "string", "default": "UTC"}, "an IANA time zone, e.g. America/New_York"),
]
_FILTERS = [
    _query("seller", {"type": "string", "pattern": ID_PATTERN}, "a seller's id"),
    _query(
        "buyer",
        {"type": "string", "pattern": ID_PATTERN},
        "the buyer the lead was sold to; a report: that buyer's share (its calls too)",
    ),
    _query("vertical", {"type": "string", "pattern": ID_PATTERN}, "a vertical"),
    _query("sub_id", {"type": "string", "pattern": ID_PATTERN}, "a seller's sub_id"),
    _query("state", {"type": "string", "pattern": ID_PATTERN}, "a two-letter state code"),
    _query(
        "test",
        {"type": "string", "enum": ["true", "false", "yes", "no", "1", "0"], "default": "false"},
        "true: test leads are counted too, with the others (without it they are left out)",
    ),
]
_PAGE = [
    _query("cursor", _TEXT, "`next_cursor` of the page before"),
    _query(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
        "how many on this page",
    ),
]


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


_401 = _error("An operator's token required")
_409 = _error(
    "`ledger_off`: this router keeps no ledger (it shares Redis and was given no --database-url)"
)
_503 = {
    **_error("`ledger_unavailable`: the ledger's database does not answer; see Retry-After"),
    "headers": {"Retry-After": {"description": "seconds", "schema": {"type": "string"}}},
}


def _leads_path() -> dict[str, Any]:
    return {
        "get": {
            "summary": "Leads on record, newest first, a page at a time",
            "description": "Every answered lead (sold, unsold, rejected, pending), every "
            "router's. `q` finds a lead by its id or the seller's lead_id, or a consumer's leads "
            "by a phone (any format) or an email, through their keyed hashes.",
            "operationId": "adminListLeads",
            "security": _OPERATOR,
            "parameters": [
                _query("q", _TEXT, "a pingtree id, a seller's lead_id, a phone or an email"),
                _query("status", STATUS, "one status"),
                _query(
                    "reason",
                    {"type": "string", "pattern": ID_PATTERN},
                    "the outcome's reason, e.g. suppressed (leads only, not reports)",
                ),
                *_FILTERS,
                *_RANGE,
                *_PAGE,
            ],
            "responses": {
                "200": _json("LeadPage", "A page of leads"),
                "400": _error("A bad filter, range, tz, cursor or limit (`fields` names it)"),
                "401": _401,
                "409": _409,
                "503": _503,
            },
        }
    }


def _lead_path() -> dict[str, Any]:
    return {
        "get": {
            "summary": "One lead: the operator view (buyer, price, payout, margin, bids, "
            "trace) and the lead itself",
            "description": "From the ledger once filed (the lead's PII shown to an admin, "
            "masked to a viewer, null once erased); until then, or without a ledger, from the "
            "store while it keeps the outcome (`lead` null).",
            "operationId": "adminGetLead",
            "security": _OPERATOR,
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": _TEXT}],
            "responses": {
                "200": _json("LedgerLead", "The lead"),
                "401": _401,
                "404": _error("No such lead (or its retention has passed)"),
                "503": {
                    **_error("The store or the ledger's database does not answer"),
                    "headers": _503["headers"],
                },
            },
        }
    }


def _reports_path() -> dict[str, Any]:
    csv_text = {
        "type": "string",
        "description": "a header row (the ReportRow fields in order), a row per key, then the "
        "totals with key `total`; an empty cell for null",
    }
    return {
        "get": {
            "summary": "A report by one dimension, from hourly rollups",
            "description": "Edges are whole hours (from rounded down, to up). Without from "
            "and to: the last 7 days of `tz`, today included. Test leads are left out unless "
            "test=true. Narrowed to a buyer (or by=buyer), figures are that buyer's share.",
            "operationId": "adminReport",
            "security": _OPERATOR,
            "parameters": [
                _query(
                    "by", {"type": "string", "enum": list(REPORT_BY), "default": "day"}, "rows by"
                ),
                *_RANGE,
                *_FILTERS,
                _query(
                    "format",
                    {"type": "string", "enum": ["json", "csv"], "default": "json"},
                    "csv: the same rows, and the totals, as CSV",
                ),
            ],
            "responses": {
                "200": {
                    "description": "The report",
                    "headers": {
                        "Content-Disposition": {
                            "description": "with format=csv: attachment; "
                            'filename="report-BY-FROM_TO.csv"',
                            "schema": _TEXT,
                        }
                    },
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Report"}},
                        "text/csv": {"schema": csv_text},
                    },
                },
                "400": _error(
                    "A bad by, format, filter, tz or range, or a `status` (a report counts "
                    "every status) (`fields` names it)"
                ),
                "401": _401,
                "409": _409,
                "503": _503,
            },
        }
    }


def _audit_path() -> dict[str, Any]:
    return {
        "get": {
            "summary": "Who did what when, newest first",
            "operationId": "adminAudit",
            "security": _OPERATOR,
            "parameters": [
                _query("operator", _TEXT, "an operator's name"),
                _query("action", _TEXT, "reload, pause, resume, retry, replay, forget…"),
                _query("target", _TEXT, "what it acted on: a buyer id, a delivery id…"),
                *_RANGE,
                *_PAGE,
            ],
            "responses": {
                "200": _json("AuditPage", "A page of entries"),
                "400": _error("A bad range, tz, cursor or limit (`fields` names it)"),
                "401": _401,
                "409": _409,
                "503": _503,
            },
        }
    }


def _forget_path() -> dict[str, Any]:
    consumer = {
        "oneOf": [
            {"type": "object", "required": ["phone"], "properties": {"phone": _TEXT}},
            {"type": "object", "required": ["email"], "properties": {"email": _TEXT}},
        ]
    }
    return {
        "post": {
            "summary": "Erase one consumer's PII everywhere pingtree keeps it",
            "description": "The ledger's leads of that phone or email (found by its keyed "
            "hash; a lead still in the outbox is filed erased), their deliveries, queued or "
            "done, and their CSV mirror lines. The facts stay. Audited with a keyed hash only.",
            "operationId": "adminForget",
            "security": _OPERATOR,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": consumer}},
            },
            "responses": {
                "200": _json("Forgotten", "Erased"),
                "400": _error('Not JSON, or not exactly one of {"phone"} or {"email"} as text'),
                "401": _401,
                "403": _error("A viewer's token: this changes state (admins only)"),
                "409": _409,
                "422": _error("Neither a phone nor an email (`lead_invalid`)"),
                "503": {
                    **_error(
                        "The ledger's database, or the store, does not answer; or the ledger "
                        "is erased and the deliveries or the CSV mirror could not be "
                        "(`forget_incomplete`): erasing again is safe"
                    ),
                    "headers": _503["headers"],
                },
            },
        }
    }


def openapi_paths() -> dict[str, Any]:
    """Path items of these routes, to merge into the document's `paths`."""
    return {
        "/admin/leads": _leads_path(),
        "/admin/leads/{id}": _lead_path(),
        "/admin/reports": _reports_path(),
        "/admin/audit": _audit_path(),
        "/admin/forget": _forget_path(),
    }


__all__ = ["openapi_paths"]
