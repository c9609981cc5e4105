"""The OpenAPI of exchange mode (DESIGN §14): the seller's `POST /v1/ping` and `POST /v1/post`
(web/exchange.py) and the operator's `GET /admin/quotes` (web/quotes_admin.py), with their
schemas; openapi.py merges them into /openapi.json."""

from __future__ import annotations

from typing import Any

_SELLER: list[dict[str, list[str]]] = [{"ApiKey": []}, {"SellerBearer": []}]
_OPERATOR: list[dict[str, list[str]]] = [{"AdminBearer": []}]
_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}}
_MONEY = {"type": "number", "description": "dollars, at most two decimals"}
_TIME = {"type": "string", "format": "date-time"}
_NULLABLE_TEXT = {"type": ["string", "null"]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _error(description: str, *, retry: bool = False) -> dict[str, Any]:
    answer = _json("Error", description)
    return {**answer, "headers": _RETRY_AFTER} if retry else answer


def _seller_errors() -> dict[str, Any]:
    """What /v1/leads answers before any auction, the same for a ping and a post."""
    return {
        "400": _error("Malformed body, or two different API keys"),
        "401": _error("Unknown or missing key, or no valid signature from a seller that signs"),
        "408": _error("The body did not arrive within router.client_timeout_ms"),
        "413": _error("Body over router.max_body_kb"),
        "415": _error("Content type neither JSON nor form-encoded, or an unsupported encoding"),
        "422": _error("Invalid lead; `fields` names each bad field"),
        "429": _error("Over the seller's rate_limit", retry=True),
        "503": _error("Overloaded, or the store unavailable", retry=True),
    }


def _body(schema: str, description: str) -> dict[str, Any]:
    return {
        "required": True,
        "description": description,
        "content": {
            "application/json": {"schema": _ref(schema)},
            "application/x-www-form-urlencoded": {"schema": _ref(schema)},
        },
    }


def openapi_paths() -> dict[str, Any]:
    return {
        "/v1/ping": {
            "post": {
                "summary": "Quote a lead sent without its consumer: the ping phase only",
                "description": "Any PII sent (name, phone, email, address, city, dob, IP, "
                "TrustedForm and Jornaya ids, attributes marked pii) is dropped before anything "
                "else sees it; `phone` is not required. Answered within the seller's "
                "`ping_budget_ms`; the bids are held until `expires_at` for POST /v1/post.",
                "operationId": "postPing",
                "security": _SELLER,
                "requestBody": _body("PingLead", "The lead without its PII"),
                "responses": {
                    "200": _json("Quote", "A quote, or why there is none"),
                    **_seller_errors(),
                },
            }
        },
        "/v1/post": {
            "post": {
                "summary": "Sell a quoted lead: post the full lead to the ping's held bids",
                "description": "The held bids are posted to in order with the usual fallback, "
                "no new pings; caps and dedup are reserved now; the payout never exceeds the "
                "quote. Idempotent by `ping_id`: a resend returns the first answer "
                "(Idempotent-Replayed: true); the answer is a lead's, as for POST /v1/leads.",
                "operationId": "postPost",
                "security": _SELLER,
                "requestBody": _body("PostLead", "The full lead and its ping's id"),
                "responses": {
                    "200": {
                        **_json("SellerLead", "The outcome (sold, unsold or pending)"),
                        "headers": {
                            "Idempotent-Replayed": {
                                "description": "true when this answers an earlier post",
                                "schema": {"type": "string", "enum": ["true"]},
                            }
                        },
                    },
                    **_seller_errors(),
                    "404": _error("`ping_not_found`: no such ping for this seller"),
                    "409": _error(
                        "`ping_mismatch`: a non-PII field differs from the ping's (`fields` "
                        "names them); or `idempotency_conflict`: this ping was posted with "
                        "another lead"
                    ),
                    "410": _error("`ping_expired`: the held bids have lapsed; ping again"),
                },
            }
        },
        "/admin/quotes": {
            "get": {
                "summary": "Exchange quotes per seller over a range: quoted, accepted, posted, "
                "sold, post rate",
                "operationId": "adminQuotes",
                "security": _OPERATOR,
                "parameters": [
                    {"name": name, "in": "query", "required": False, "schema": schema}
                    for name, schema in (
                        ("from", {"type": "string"}),
                        ("to", {"type": "string"}),
                        ("tz", {"type": "string"}),
                        ("seller", {"type": "string"}),
                        ("test", {"type": "boolean"}),
                    )
                ],
                "responses": {
                    "200": _json("QuotesBySeller", "One row per seller that pinged"),
                    "400": _error("A bad range"),
                    "401": _error("Unknown or missing token"),
                    "409": _error("`ledger_off`: this router keeps no ledger"),
                    "503": _error("The ledger's database does not answer", retry=True),
                },
            }
        },
    }


def openapi_schemas() -> dict[str, Any]:
    return {
        "PingLead": {
            "description": "A lead as for POST /v1/leads, without `phone` required; its PII "
            "is dropped",
            "allOf": [{"$ref": "#/components/schemas/Lead"}],
            "required": ["vertical"],
        },
        "PostLead": {
            "description": "The full lead (as for POST /v1/leads) and the ping it was quoted by",
            "allOf": [{"$ref": "#/components/schemas/Lead"}],
            "required": ["ping_id", "vertical", "phone"],
            "properties": {"ping_id": {"type": "string", "maxLength": 64}},
        },
        "Quote": {
            "type": "object",
            "required": ["ping_id", "accepted"],
            "properties": {
                "ping_id": {"type": "string"},
                "accepted": {"type": "boolean"},
                "bid": {
                    **_MONEY,
                    "description": "what the seller earns if the post sells, rounded down to "
                    "its price_step (accepted only)",
                },
                "expires_at": {**_TIME, "description": "when the held bids lapse"},
                "reason": {
                    "type": "string",
                    "description": "why there is no quote: no_valid_bid, no_eligible_buyer, "
                    "consent_required, vertical_not_allowed, no_buyer_for_vertical",
                },
            },
        },
        "QuoteRecord": {
            "type": "object",
            "description": "A seller ping's quote as the ledger keeps it",
            "required": ["ping_id", "seller_id", "vertical", "quoted_at", "accepted", "test"],
            "properties": {
                "ping_id": {"type": "string"},
                "seller_id": {"type": "string"},
                "sub_id": _NULLABLE_TEXT,
                "vertical": {"type": "string"},
                "quoted_at": _TIME,
                "accepted": {"type": "boolean"},
                "bid": {"type": ["number", "null"]},
                "reason": _NULLABLE_TEXT,
                "expires_at": {"type": ["string", "null"], "format": "date-time"},
                "test": {"type": "boolean"},
                "lead_id": {**_NULLABLE_TEXT, "description": "the lead its post became"},
            },
        },
        "QuotesBySeller": {
            "type": "object",
            "required": ["from", "to", "sellers"],
            "properties": {
                "from": _TIME,
                "to": _TIME,
                "sellers": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["seller_id", "quotes", "accepted", "posted", "sold"],
                        "properties": {
                            "seller_id": {"type": "string"},
                            "quotes": {"type": "integer", "description": "pings answered"},
                            "accepted": {"type": "integer", "description": "quoted a price"},
                            "posted": {"type": "integer", "description": "posted afterwards"},
                            "sold": {"type": "integer", "description": "posts that sold"},
                            "post_rate": {
                                "type": ["number", "null"],
                                "description": "posted / accepted",
                            },
                            "quoted": {**_MONEY, "description": "the accepted quotes' sum"},
                        },
                    },
                },
            },
        },
    }


__all__ = ["openapi_paths", "openapi_schemas"]
