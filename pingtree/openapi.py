"""The OpenAPI 3 document of the seller and operator APIs, served at /openapi.json."""

from __future__ import annotations

from typing import Any


def openapi_document() -> dict[str, Any]:
    return {"openapi": "3.1.0", "info": {"title": "pingtree", "version": "0.1.0"}, "paths": {}}
