"""Sellers (`/console/sellers`): each seller's volume and payouts over a range, from the report
by seller (ledger_admin's `find_report`, as GET /admin/reports?by=seller gives it), beside its
terms in the running config: its id, its payout rule (a fixed payout or a revenue share), its
verticals. Never its API key. Each seller links to its leads on the Leads page.

    GET /console/sellers?from&to&tz&vertical&sub_id&state&test

A seller of the report no longer in the config (removed by a reload) is shown too, marked so;
one in the config without leads in the range shows zeros."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from pingtree.config import Operator, SellerConfig
from pingtree.core.errors import BadRequest
from pingtree.ledger.base import ReportRow
from pingtree.web.console.guards import page
from pingtree.web.console.render import render
from pingtree.web.keys import ROUTER
from pingtree.web.ledger_admin import find_report
from pingtree.web.ledger_views import report_row
from pingtree.web.ranges import zone

PARAMETERS = ("from", "to", "tz", "vertical", "sub_id", "state", "test")
# (column, heading, kind) of a seller's figures
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("leads", "Leads", "count"),
    ("sold", "Sold", "count"),
    ("sold_pct", "Sold %", "rate"),
    ("revenue", "Revenue", "money"),
    ("payout", "Payout", "money"),
    ("margin", "Margin", "money"),
    ("returns", "Returns", "count"),
    ("net_revenue", "Net revenue", "money"),
)


@page
async def sellers_page(request: web.Request, operator: Operator) -> web.StreamResponse:
    query = request.query
    asked = {name: query[name] for name in PARAMETERS if query.get(name)}
    form = {name: query.get(name, "") for name in PARAMETERS}
    try:
        found = await find_report(request, {**asked, "by": "seller"})
    except BadRequest as exc:
        return render(request, "sellers.html", status=400, page="sellers", form=form, error=exc)
    sellers = request.app[ROUTER].tree.config.sellers
    tz = zone(asked.get("tz"))
    return render(
        request,
        "sellers.html",
        page="sellers",
        form=form,
        error=None,
        sellers=seller_rows(sellers, found.report.rows, asked),
        totals=report_row(found.report.totals),
        columns=COLUMNS,
        shown_from=found.start.astimezone(tz).isoformat(timespec="minutes"),
        shown_to=found.end.astimezone(tz).isoformat(timespec="minutes"),
        report_url="/console/reports?" + urlencode({**asked, "by": "seller"}),
    )


def seller_rows(
    sellers: tuple[SellerConfig, ...],
    rows: list[ReportRow],
    asked: Mapping[str, str],
) -> list[dict[str, Any]]:
    """The config's sellers in its order, then the report's others, each with its figures."""
    figures = {row.key: report_row(row) for row in rows}
    shown = [
        {
            "id": seller.id,
            "terms": _terms(seller),
            "verticals": ", ".join(sorted(seller.verticals)) if seller.verticals else "any",
            "configured": True,
            "figures": figures.pop(seller.id, None) or report_row(ReportRow(key=seller.id)),
        }
        for seller in sellers
    ]
    shown += [
        {"id": key, "terms": "", "verticals": "", "configured": False, "figures": row}
        for key, row in figures.items()
    ]
    for seller in shown:
        seller["leads_url"] = "/console/leads?" + urlencode({**asked, "seller": seller["id"]})
    return shown


def _terms(seller: SellerConfig) -> str:
    """Its payout rule as the tree applies it: a fixed payout per lead sold, or a share."""
    if seller.payout is not None:
        return f"payout {seller.payout:.2f} a lead sold"
    return f"revshare {(seller.effective_revshare * 100).normalize():f}% of the price"


def add_routes(app: web.Application) -> None:
    app.router.add_get("/console/sellers", sellers_page)


__all__ = ["COLUMNS", "add_routes", "seller_rows", "sellers_page"]
