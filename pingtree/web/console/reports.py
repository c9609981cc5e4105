"""Reports (`/console/reports`): GET /admin/reports as a page: its table (a row per key of `by`,
the totals at the foot), a chart of the same filters and range over time (by hour or by day,
a line per measure chosen: console.js draws it with uPlot from the series table), and its CSV.

    GET /console/reports?by&from&to&tz&<filters>&grain&measure…   the page
    GET /console/reports.csv?by&from&to&tz&<filters>               the API's CSV, byte for byte,
                                                                   for the session's operator
                                                                   (a download sends the cookie,
                                                                   not a Bearer token)

Both read the report through ledger_admin's `find_report`, as the API does: the same
parameters, the same 400s, the same figures. Reports carry no PII (the ledger's rollups have
none)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from pingtree.config import Operator
from pingtree.core.errors import BadRequest
from pingtree.ledger.base import REPORT_BY, ReportRow
from pingtree.web.console.guards import page
from pingtree.web.console.render import render
from pingtree.web.ledger_admin import FoundReport, find_report, send_report_csv
from pingtree.web.ledger_views import report_row
from pingtree.web.ranges import zone

# What the API reads of a report's query (GET /admin/reports's parameters, `format` aside).
REPORT_PARAMETERS = (
    "by",
    "from",
    "to",
    "tz",
    "seller",
    "buyer",
    "vertical",
    "sub_id",
    "state",
    "test",
)
FILTERS = ("seller", "buyer", "vertical", "sub_id", "state")
GRAINS = ("hour", "day")
# (column, heading, kind): the table's columns; the CSV has every column of the API's.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("leads", "Leads", "count"),
    ("sold", "Sold", "count"),
    ("sold_pct", "Sold %", "rate"),
    ("revenue", "Revenue", "money"),
    ("payout", "Payout", "money"),
    ("margin", "Margin", "money"),
    ("revenue_per_lead", "Rev./lead", "money"),
    ("pings", "Pings", "count"),
    ("bid_rate", "Bid %", "rate"),
    ("win_rate", "Win %", "rate"),
    ("post_accept_rate", "Post OK %", "rate"),
    ("returns", "Returns", "count"),
    ("net_revenue", "Net revenue", "money"),
    ("ping_p50_ms", "Ping p50 ms", "count"),
    ("ping_p95_ms", "Ping p95 ms", "count"),
)
# (measure, label, axis): what the chart can draw, one line each; counts and money have an axis
# each. Leads, sold and revenue unless the operator chose otherwise.
MEASURES: tuple[tuple[str, str, str], ...] = (
    ("leads", "Leads", "count"),
    ("sold", "Sold", "count"),
    ("pings", "Pings", "count"),
    ("bids", "Bids", "count"),
    ("returns", "Returns", "count"),
    ("revenue", "Revenue", "money"),
    ("payout", "Payout", "money"),
    ("margin", "Margin", "money"),
    ("net_revenue", "Net revenue", "money"),
)
DEFAULT_MEASURES = ("leads", "sold", "revenue")
HOURLY_UP_TO = timedelta(days=3)  # a chart over a longer range is drawn by day unless asked


@page
async def reports_page(request: web.Request, operator: Operator) -> web.StreamResponse:
    query = request.query
    asked = report_query(query)
    try:
        found = await find_report(request, asked)
        grain = _grain(query.get("grain"), found)
        series = found if found.by == grain else await find_report(request, {**asked, "by": grain})
    except BadRequest as exc:
        return _page(request, status=400, error=exc)
    tz = zone(asked.get("tz"))
    return _page(
        request,
        found=found,
        grain=grain,
        rows=[report_row(row) for row in found.report.rows],
        totals=report_row(found.report.totals),
        series=series_rows(series, grain, tz),
        shown_from=found.start.astimezone(tz).isoformat(timespec="minutes"),
        shown_to=found.end.astimezone(tz).isoformat(timespec="minutes"),
        csv_url="/console/reports.csv?" + urlencode(asked),
        links=_leads_links(asked, found),
    )


@page
async def reports_csv(request: web.Request, operator: Operator) -> web.StreamResponse:
    return await send_report_csv(request, await find_report(request, report_query(request.query)))


def report_query(query: Mapping[str, str]) -> dict[str, str]:
    """The parameters the API reads, those given (an empty field is no filter)."""
    return {name: query[name] for name in REPORT_PARAMETERS if query.get(name)}


def _grain(text: str | None, found: FoundReport) -> str:
    if text in GRAINS:
        return text
    if text:
        raise BadRequest("bad grain", fields={"grain": "hour or day"})
    if found.by in GRAINS:
        return found.by
    return "hour" if found.end - found.start <= HOURLY_UP_TO else "day"


def series_rows(series: FoundReport, grain: str, tz: ZoneInfo) -> list[dict[str, Any]]:
    """The chart's points: every hour or day of the range, in time order, keyed as the report
    keys them (the local time or date in `tz` an hour begins at, ledger/reports.py), a period
    without leads at zero (a line is not drawn across it as if it had some)."""
    found = {row.key: report_row(row) for row in series.report.rows}
    hour = series.start.replace(minute=0, second=0, microsecond=0)
    points: dict[str, dict[str, Any]] = {}
    while hour < series.end:
        local = hour.astimezone(tz)
        key = local.date().isoformat() if grain == "day" else local.isoformat(timespec="minutes")
        if key not in points:
            points[key] = found.pop(key) if key in found else report_row(ReportRow(key=key))
        hour += timedelta(hours=1)
    points.update(found)  # none should be left; if one is, it is shown, not lost
    return list(points.values())


def _leads_links(asked: Mapping[str, str], found: FoundReport) -> dict[str, str]:
    """Each row's leads: the Leads page with this report's range and filters, and the row's key
    as one more (a report by buyer, seller, vertical, sub_id or state; not by time)."""
    if found.by not in FILTERS:
        return {}
    kept = {name: value for name, value in asked.items() if name != "by"}
    return {
        row.key: "/console/leads?" + urlencode({**kept, found.by: row.key})
        for row in found.report.rows
        if row.key
    }


def _page(request: web.Request, *, status: int = 200, **shown: Any) -> web.Response:
    query = request.query
    measures = query.getall("measure", [])
    chosen = [name for name, _, _ in MEASURES if name in measures] or list(DEFAULT_MEASURES)
    shown.setdefault("error", None)
    shown.setdefault("found", None)
    shown.setdefault("links", {})
    return render(
        request,
        "reports.html",
        status=status,
        page="reports",
        form={name: query.get(name, "") for name in (*REPORT_PARAMETERS, "grain")},
        report_by=REPORT_BY,
        grains=GRAINS,
        filters=FILTERS,
        columns=COLUMNS,
        measures=MEASURES,
        chosen=chosen,
        **shown,
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/console/reports", reports_page)
    app.router.add_get("/console/reports.csv", reports_csv)


__all__ = ["COLUMNS", "MEASURES", "add_routes", "report_query", "reports_csv", "reports_page"]
