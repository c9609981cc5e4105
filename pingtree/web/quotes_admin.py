"""The operator's view of exchange quotes (DESIGN §14), behind an operator's token:

    GET /admin/quotes?from&to&tz&seller&test    per seller over the range: pings quoted, quotes
                                                accepted, posted, sold, the post rate (posted /
                                                accepted) and the accepted quotes' sum

A posted lead's own quote is in GET /admin/leads/{id} (`quote`). Without a ledger: 409
`ledger_off`, as the other ledger routes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from pingtree.core.money import CENT
from pingtree.ledger.quotes import SellerQuotes
from pingtree.web.auth import authenticate_operator
from pingtree.web.keys import LEDGER
from pingtree.web.ledger_admin import LedgerOff
from pingtree.web.ranges import time_range
from pingtree.web.responses import json_response


def _seller_row(row: SellerQuotes) -> dict[str, Any]:
    rate = row.post_rate
    return {
        "seller_id": row.seller_id,
        "quotes": row.quotes,
        "accepted": row.accepted,
        "posted": row.posted,
        "sold": row.sold,
        "post_rate": None if rate is None else round(rate, 4),
        "quoted": row.quoted.quantize(CENT),
    }


async def list_quotes(request: web.Request) -> web.Response:
    authenticate_operator(request)
    ledger = request.app.get(LEDGER)
    if ledger is None:
        raise LedgerOff("this router keeps no ledger: quotes are kept with it")
    start, end = time_range(request.query, datetime.now(UTC), default_days=7)
    assert start is not None and end is not None
    test = request.query.get("test", "false").lower() in ("true", "1", "yes")
    seller = request.query.get("seller") or None
    rows = await ledger.quotes().by_seller(start, end, seller, test)
    return json_response(
        {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "sellers": [_seller_row(row) for row in rows],
        }
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin/quotes", list_quotes)


__all__ = ["add_routes", "list_quotes"]
