"""The operator's routes on the ledger (DESIGN §12, §13), behind an operator's token:

    GET  /admin/leads?status&reason&seller&buyer&vertical&sub_id&state&from&to&tz&q&cursor&limit
    GET  /admin/leads/{id}             one lead in full: the ledger's, or the store's until filed
    GET  /admin/reports?by&from&to&tz&<filters>&format=json|csv
    GET  /admin/audit?operator&action&target&from&to&cursor&limit
    POST /admin/forget {"phone": …} or {"email": …}   admins only

Without a ledger (`serve --redis-url` with no `--database-url`: there is no shared database to
keep one in) the list, reports, audit and forget answer 409 `ledger_off`; one lead is still
shown from the store while its outcome is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from pingtree.core import jsonenc
from pingtree.core.errors import (
    BadRequest,
    LeadInvalid,
    NotFound,
    PingtreeError,
    StoreUnavailable,
)
from pingtree.core.outcome import operator_view
from pingtree.ledger.base import (
    REPORT_BY,
    AuditQuery,
    LeadQuery,
    Ledger,
    Report,
    ReportBy,
    ReportQuery,
)
from pingtree.web.audit import audited
from pingtree.web.auth import authenticate_operator, require_admin
from pingtree.web.exchange import quote_record_view
from pingtree.web.keys import DELIVERIES, LEDGER, LEDGER_WRITER, ROUTER, STORE
from pingtree.web.ledger_views import (
    audit_view,
    lead_detail,
    lead_summary,
    report_csv,
    report_json,
)
from pingtree.web.masking import mask
from pingtree.web.ranges import filters, limit, time_range, zone
from pingtree.web.responses import json_response

# How long `forget` waits for records still in the outbox to be filed, so their deliveries are
# found and erased too (a record filed later is erased as it is filed, whatever this wait).
_FORGET_DRAIN_S = 5.0


class ForgetIncomplete(PingtreeError):
    status = 503
    code = "forget_incomplete"
    retry_after_s = 5


class LedgerOff(PingtreeError):
    status = 409
    code = "ledger_off"


def _ledger(request: web.Request) -> Ledger:
    ledger = request.app.get(LEDGER)
    if ledger is None:
        raise LedgerOff(
            "this router keeps no ledger: it shares Redis with others and was given no"
            " --database-url (a PostgreSQL for all of them)"
        )
    return ledger


def _now() -> datetime:
    return datetime.now(UTC)


async def list_leads(request: web.Request) -> web.Response:
    authenticate_operator(request)
    leads, next_cursor = await find_leads(request, request.query)
    return json_response({"leads": leads, "next_cursor": next_cursor})


async def find_leads(
    request: web.Request, query: Mapping[str, str]
) -> tuple[list[dict[str, Any]], str | None]:
    """The leads `query` asks for (GET /admin/leads's parameters), newest first, as a list shows
    them, and the cursor of the next page (None at the end). The console's Leads page too."""
    ledger = _ledger(request)
    start, end = time_range(query, _now(), default_days=None)
    text = (query.get("q") or "").strip() or None
    hashes = request.app[ROUTER].tree.consumer_hashes(text) if text else ()
    page = await ledger.leads(
        LeadQuery(
            filters=filters(query),
            start=start,
            end=end,
            q=text,
            q_hashes=hashes,
            cursor=query.get("cursor") or None,
            limit=limit(query.get("limit")),
        )
    )
    return [lead_summary(filed) for filed in page.leads], page.next_cursor


async def get_lead(request: web.Request) -> web.Response:
    """The ledger's lead (with its PII for an admin, masked for a viewer)."""
    operator = authenticate_operator(request)
    lead_id = request.match_info["id"]
    return json_response(await one_lead(request.app, lead_id, None if operator.admin else mask))


async def one_lead(
    app: web.Application, lead_id: str, pii_mask: Callable[[str, Any], Any] | None
) -> dict[str, Any]:
    """One lead in full, its PII masked with `pii_mask` (None: shown): the ledger's; until it
    is filed, or without a ledger, the store's outcome (`lead` null: the store keeps no lead).
    The console's lead page too."""
    ledger = app.get(LEDGER)
    filed = await ledger.lead(lead_id) if ledger is not None else None
    if filed is not None:
        detail = lead_detail(filed, pii_mask)
        assert ledger is not None
        quoted = await ledger.quotes().of_lead(lead_id)  # an exchange post's (DESIGN §14)
        if quoted is not None:
            detail["quote"] = quote_record_view(quoted)
        return detail
    outcome = await app[STORE].get_outcome(lead_id)
    if outcome is None:
        raise NotFound("no such lead (or its retention has passed)")
    view = operator_view(outcome)
    view["lead"] = None
    view["pii_erased_at"] = None
    return view


async def reports(request: web.Request) -> web.StreamResponse:
    authenticate_operator(request)
    form = request.query.get("format") or "json"
    if form not in ("json", "csv"):
        raise BadRequest("bad format", fields={"format": "json or csv"})
    found = await find_report(request, request.query)
    if form == "json":
        return json_response(report_json(found.report))
    return await send_report_csv(request, found)


@dataclass(frozen=True, slots=True)
class FoundReport:
    """A report as `query` asked for it: its grouping, its range [start, end) in UTC, its rows."""

    by: ReportBy
    start: datetime
    end: datetime
    report: Report


async def find_report(request: web.Request, query: Mapping[str, str]) -> FoundReport:
    """The report `query` asks for (GET /admin/reports's parameters but `format`). The
    console's Reports and Sellers pages too."""
    ledger = _ledger(request)
    by = query.get("by") or "day"
    if by not in REPORT_BY:
        raise BadRequest("bad by", fields={"by": f"one of {', '.join(REPORT_BY)}"})
    if query.get("status"):
        detail = "a report counts every status: sold, unsold, rejected and pending"
        raise BadRequest("no status filter in reports", fields={"status": detail})
    if query.get("reason"):
        detail = "a report counts leads of every reason; GET /admin/leads?reason= lists them"
        raise BadRequest("no reason filter in reports", fields={"reason": detail})
    tz = zone(query.get("tz"))
    start, end = time_range(query, _now(), default_days=7)
    assert start is not None and end is not None  # a default range always has both
    chosen: ReportBy = by
    report = await ledger.report(
        ReportQuery(by=chosen, start=start, end=end, tz=tz.key, filters=filters(query))
    )
    return FoundReport(chosen, start, end, report)


async def send_report_csv(request: web.Request, found: FoundReport) -> web.StreamResponse:
    """The report as a CSV download (the console's "Download CSV" sends the same bytes)."""
    span = f"{found.start.date().isoformat()}_{found.end.date().isoformat()}"
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="report-{found.by}-{span}.csv"',
        }
    )
    await response.prepare(request)
    for chunk in report_csv(found.report):
        await response.write(chunk)
    await response.write_eof()
    return response


async def audit(request: web.Request) -> web.Response:
    authenticate_operator(request)
    entries, next_cursor = await find_audit(request, request.query)
    return json_response({"entries": entries, "next_cursor": next_cursor})


async def find_audit(
    request: web.Request, query: Mapping[str, str]
) -> tuple[list[dict[str, Any]], str | None]:
    """The audit's entries `query` asks for (GET /admin/audit's parameters), newest first, and
    the cursor of the next page (None at the end). The console's Config page too."""
    ledger = _ledger(request)
    start, end = time_range(query, _now(), default_days=None)
    page = await ledger.audit(
        AuditQuery(
            operator=query.get("operator") or None,
            action=query.get("action") or None,
            target=query.get("target") or None,
            start=start,
            end=end,
            cursor=query.get("cursor") or None,
            limit=limit(query.get("limit")),
        )
    )
    return [audit_view(entry) for entry in page.entries], page.next_cursor


async def forget(request: web.Request) -> web.Response:
    """Erase one consumer's PII everywhere pingtree keeps it (DESIGN §12): the ledger's leads,
    their deliveries (queued or done) and the CSV mirror. Audited with a keyed hash only."""
    operator = authenticate_operator(request)
    require_admin(operator)
    ledger = _ledger(request)
    field, value = await _consumer(request)
    hashes = request.app[ROUTER].tree.consumer_hashes(value)
    if not hashes:
        raise LeadInvalid(f"bad {field}", fields={field: f"not a {field}"})
    writer = request.app.get(LEDGER_WRITER)
    if writer is not None:
        await writer.drain(_FORGET_DRAIN_S)
    erased = await ledger.forget(hashes, _now())
    # Audited as soon as the ledger is erased, whatever happens to the deliveries after.
    await audited(
        request,
        operator,
        "forget",
        detail={"hash": hashes[0], "field": field, "leads": len(erased.lead_ids)},
    )
    try:
        deliveries = await request.app[DELIVERIES].erase(erased.lead_ids)
    except (StoreUnavailable, OSError) as exc:
        raise ForgetIncomplete(
            "the ledger is erased; the deliveries or the CSV mirror could not be"
            f" ({type(exc).__name__}): forget again once they can (it is safe to repeat)"
        ) from None
    return json_response({"erased": True, "leads": len(erased.lead_ids), "deliveries": deliveries})


async def _consumer(request: web.Request) -> tuple[str, str]:
    """("phone" | "email", what was given): exactly one of the two, as text."""
    try:
        body: Any = jsonenc.loads(await request.read())
    except ValueError:
        raise BadRequest("the body is not JSON", fields={"body": "a JSON object"}) from None
    named = body.items() if isinstance(body, dict) else ()
    given = {key: value for key, value in named if key in ("phone", "email")}
    if len(given) != 1 or not isinstance(next(iter(given.values())), str):
        raise BadRequest(
            "name one consumer", fields={"body": 'one of {"phone": "…"} or {"email": "…"}'}
        )
    return next(iter(given.items()))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin/leads", list_leads)
    app.router.add_get("/admin/leads/{id}", get_lead)
    app.router.add_get("/admin/reports", reports)
    app.router.add_get("/admin/audit", audit)
    app.router.add_post("/admin/forget", forget)


__all__ = [
    "FoundReport",
    "LedgerOff",
    "add_routes",
    "audit",
    "find_audit",
    "find_leads",
    "find_report",
    "forget",
    "get_lead",
    "list_leads",
    "one_lead",
    "reports",
    "send_report_csv",
]
