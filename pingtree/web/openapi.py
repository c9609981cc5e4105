"""The OpenAPI 3.1 document of the seller and operator APIs, served at /openapi.json.

Written by hand next to the code it describes; tests/web/test_openapi.py holds the two together
(every route served is documented, every documented route is served, the examples validate). The
component schemas are openapi_schemas.py's; the ledger's routes are ledger_openapi.py's (their
schemas ledger_openapi_schemas.py's), the deliveries' deliveries_openapi.py's, the buyers' and
the events' buyers_openapi.py's.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pingtree import __version__
from pingtree.web.buyer_api_openapi import SECURITY_SCHEMES as buyer_api_security
from pingtree.web.buyer_api_openapi import openapi_paths as buyer_api_paths
from pingtree.web.buyer_api_openapi import openapi_schemas as buyer_api_schemas
from pingtree.web.buyers_openapi import openapi_paths as buyer_paths
from pingtree.web.buyers_openapi import openapi_schemas as buyer_schemas
from pingtree.web.deliveries_openapi import openapi_paths as delivery_paths
from pingtree.web.deliveries_openapi import openapi_schemas as delivery_schemas
from pingtree.web.exchange_openapi import openapi_paths as exchange_paths
from pingtree.web.exchange_openapi import openapi_schemas as exchange_schemas
from pingtree.web.ledger_openapi import openapi_paths as ledger_paths
from pingtree.web.ledger_openapi_schemas import openapi_schemas as ledger_schemas
from pingtree.web.openapi_schemas import SCHEMAS
from pingtree.web.suppression_openapi import openapi_paths as suppression_paths
from pingtree.web.suppression_openapi import openapi_schemas as suppression_schemas

_ERROR_CODES = {
    "400": "Malformed body (not JSON, not a JSON object, bad form encoding, a key or form field "
    "given twice, a gzip or deflate body that does not inflate), or two different API keys",
    "401": "Unknown or missing key",
    "404": "No such lead for this caller",
    "409": "Idempotency key reused for a different lead",
    "413": "Body over router.max_body_kb (a gzip or deflate body: once inflated)",
    "415": "Content type is neither JSON nor form-encoded, or a Content-Encoding other than gzip "
    "or deflate (`unsupported_encoding`, with Accept-Encoding)",
    "422": "Invalid lead; `fields` names each bad field",
    "503": "Overloaded or store unavailable; see Retry-After",
}
_LEAD_ERRORS = {
    "401": "Unknown or missing key (`unauthorized`), or, for a seller configured to sign, no "
    "valid Standard Webhooks signature (`bad_signature`, `fields` naming the header)",
    "408": "The body did not arrive within router.client_timeout_ms",
    "409": "Idempotency key reused for a different lead; or, with Retry-After, the first request"
    " with this key is still running (sent again then, it is answered)",
    "429": "Over the seller's rate_limit; see Retry-After",
    "503": "router.max_in_flight leads under way (`overloaded`), or the store unavailable; "
    "see Retry-After",
}
_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _errors(*codes: str) -> dict[str, Any]:
    return {code: _error(_ERROR_CODES[code]) for code in codes}


def _json(schema: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


_LEAD_ID_PARAM = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}

_SELLER_SECURITY: list[dict[str, list[str]]] = [{"ApiKey": []}, {"SellerBearer": []}]


@cache
def openapi_document() -> dict[str, Any]:
    document = _document()
    # The ledger's routes (ledger_admin.py), the delivery routes (deliveries_admin.py) and the
    # buyers' and events' (buyers_admin.py, operators.py) describe themselves.
    document["paths"].update(ledger_paths())
    document["paths"].update(delivery_paths())
    document["paths"].update(buyer_paths())
    document["paths"].update(exchange_paths())
    document["paths"].update(suppression_paths())
    document["paths"].update(buyer_api_paths())  # a buyer's own API and returns (buyer_api.py)
    document["components"]["securitySchemes"].update(buyer_api_security)
    document["components"]["schemas"] = {
        **SCHEMAS,
        **ledger_schemas(),
        **delivery_schemas(),
        **buyer_schemas(),
        **exchange_schemas(),
        **suppression_schemas(),
        **buyer_api_schemas(),
    }
    return document


def _document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "pingtree",
            "version": __version__,
            "description": "Ping-post lead router: the seller API and the operator API.",
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "SellerBearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the seller's API key",
                },
                "AdminBearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an operator's token (`operators:`, role admin or viewer; "
                    "router.admin_token is an admin): a viewer gets 403 on what changes state",
                },
            },
        },
        "paths": {
            "/v1/leads": {
                "post": {
                    "summary": "Sell a lead: run its auction and answer within the budget",
                    "operationId": "postLead",
                    "security": _SELLER_SECURITY,
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "maxLength": 255},
                            "description": "defaults to the lead's lead_id; scoped to the seller",
                        },
                        *(
                            {
                                "name": name,
                                "in": "header",
                                "required": False,
                                "schema": {"type": "string"},
                                "description": "Standard Webhooks: required from a seller with "
                                "`signing`, over the exact body",
                            }
                            for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
                        ),
                    ],
                    "requestBody": {
                        "required": True,
                        "description": "Plain, or gzip or deflate with Content-Encoding",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Lead"}},
                            "application/x-www-form-urlencoded": {
                                "schema": {"$ref": "#/components/schemas/Lead"}
                            },
                        },
                    },
                    "responses": {
                        "200": {
                            **_json(
                                "SellerLead", "The outcome (sold, unsold, rejected or pending)"
                            ),
                            "headers": {
                                "Idempotent-Replayed": {
                                    "description": "true when this answers an earlier request",
                                    "schema": {"type": "string", "enum": ["true"]},
                                }
                            },
                        },
                        **_errors("400", "413", "415", "422"),
                        "401": _error(_LEAD_ERRORS["401"]),
                        "409": {**_error(_LEAD_ERRORS["409"]), "headers": _RETRY_AFTER},
                        "408": _error(_LEAD_ERRORS["408"]),
                        "429": {**_error(_LEAD_ERRORS["429"]), "headers": _RETRY_AFTER},
                        "503": {**_error(_LEAD_ERRORS["503"]), "headers": _RETRY_AFTER},
                    },
                }
            },
            "/v1/leads/{id}": {
                "get": {
                    "summary": "The seller's view of one of its own leads",
                    "operationId": "getLead",
                    "security": _SELLER_SECURITY,
                    "parameters": [_LEAD_ID_PARAM],
                    "responses": {
                        "200": _json("SellerLead", "The outcome"),
                        "400": _error("Two different API keys (X-API-Key, Authorization: Bearer)"),
                        **_errors("401", "404", "503"),
                    },
                }
            },
            "/admin/reload": {
                "post": {
                    "summary": "Re-read buyers.yaml, validate it and swap it in (like SIGHUP)",
                    "description": "Leads that arrive afterwards use the new file; auctions "
                    "under way finish on the config they started with. A file that does not "
                    "validate changes nothing. Audited, with what changed.",
                    "operationId": "adminReload",
                    "security": [{"AdminBearer": []}],
                    "responses": {
                        "200": _json("Reloaded", "The new config is serving"),
                        **_errors("401"),
                        "403": _error("A viewer's token: this changes state (admins only)"),
                        "409": _error("The router was not started from a file: nothing to re-read"),
                        "422": _error(
                            "The file is invalid (`fields`: every error by its path); "
                            "the running config is kept"
                        ),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Readiness: the router serves and its store answers",
                    "description": "While the store (Redis) is down the router answers new "
                    "leads with 503 and Retry-After, and this says so; it recovers by itself "
                    "when the store comes back.",
                    "operationId": "healthz",
                    "security": [],
                    "responses": {
                        "200": _json("Health", "ok: leads are being routed"),
                        "503": {
                            **_json("Health", "degraded: the store is unavailable"),
                            "headers": {
                                "Retry-After": {
                                    "description": "seconds",
                                    "schema": {"type": "string"},
                                }
                            },
                        },
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics, every one named pingtree_…",
                    "operationId": "metrics",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "Prometheus text format",
                            "content": {"text/plain": {}},
                        }
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "operationId": "openapi",
                    "security": [],
                    "responses": {
                        "200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}
                    },
                }
            },
        },
    }
