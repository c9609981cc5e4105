"""Leads: the ledger's lead list and one lead's page (DESIGN §13).

    GET  /console/leads?<GET /admin/leads's parameters>   the search, a page at a time
    GET  /console/leads/{id}                             one lead: its auction as a timeline, its
                                                         trace, bids, deliveries, and the lead
                                                         with its PII masked, for everyone
    POST /console/leads/{id}/reveal                      the same page with the PII shown:
                                                         admins only, audited (`reveal`)

The list is GET /admin/leads's (ledger_admin.find_leads), the lead GET /admin/leads/{id}'s
(ledger_admin.one_lead). The API shows an admin a lead's PII at once; the console masks it for
everyone by default, and shows it to an admin who asks, for that one page: a reveal is a POST
with the session's CSRF token, written to the audit (who, which lead, which fields: never their
values) before the page is sent. Nothing of it is kept: the next view is masked again."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from pingtree.config import Operator
from pingtree.core.errors import BadRequest, PingtreeError
from pingtree.core.lead import PII_FIELDS
from pingtree.deliveries.jobs import POSTBACK, buyer_owner, job_id, seller_owner
from pingtree.web.audit import audited
from pingtree.web.console.guards import action, page
from pingtree.web.console.render import render
from pingtree.web.console.timeline import describe, timeline
from pingtree.web.deliveries_admin import job_view
from pingtree.web.keys import DELIVERIES, ROUTER
from pingtree.web.ledger_admin import LedgerOff, find_leads, one_lead
from pingtree.web.masking import mask

STATUSES = ("sold", "unsold", "rejected", "pending")
# The list's form: GET /admin/leads's parameters, in the order the form shows them.
SEARCH_FIELDS = (
    "q", "status", "reason", "seller", "buyer", "vertical", "sub_id", "state", "from", "to",
)  # fmt: skip
SEARCH_PARAMETERS = (*SEARCH_FIELDS, "tz", "test", "limit")
PAGE_SIZES = ("25", "50", "100", "200")


class NothingToReveal(PingtreeError):
    status = 409
    code = "nothing_to_reveal"


@page
async def leads_page(request: web.Request, operator: Operator) -> web.StreamResponse:
    query = {name: request.query[name] for name in SEARCH_PARAMETERS if request.query.get(name)}
    leads: list[dict[str, Any]] = []
    next_cursor: str | None = None
    problem: PingtreeError | None = None
    try:
        leads, next_cursor = await find_leads(request, {**query, **_cursor(request)})
    except (BadRequest, LedgerOff) as exc:  # the form stays, saying what is wrong
        problem = exc
    tree = request.app[ROUTER].tree
    return render(
        request,
        "leads.html",
        status=problem.status if problem is not None else 200,
        page="leads",
        leads=leads,
        search=query,
        problem=problem,
        next_url=f"/console/leads?{urlencode({**query, 'cursor': next_cursor})}"
        if next_cursor
        else None,
        first_url=f"/console/leads?{urlencode(query)}" if request.query.get("cursor") else None,
        statuses=STATUSES,
        sellers=sorted(tree.sellers),
        buyers=sorted(tree.buyers),
        page_sizes=PAGE_SIZES,
    )


def _cursor(request: web.Request) -> dict[str, str]:
    cursor = request.query.get("cursor")
    return {"cursor": cursor} if cursor else {}


@page
async def lead_page(request: web.Request, operator: Operator) -> web.StreamResponse:
    lead_id = request.match_info["id"]
    view = await one_lead(request.app, lead_id, mask)
    return await _lead(request, operator, view, revealed=False)


@action
async def reveal(request: web.Request, operator: Operator) -> web.StreamResponse:
    """The lead with its PII shown to this admin, once the audit has it."""
    lead_id = request.match_info["id"]
    view = await one_lead(request.app, lead_id, None)
    shown = pii_shown(view, _pii_attributes(request, view))
    if not shown:
        raise NothingToReveal("this lead holds no PII to show (not filed yet, or erased)")
    await audited(request, operator, "reveal", lead_id, {"fields": shown})
    return await _lead(request, operator, view, revealed=True)


def pii_shown(view: dict[str, Any], pii_attributes: frozenset[str]) -> list[str]:
    """The names of the lead's PII fields that hold a value, its PII attributes too."""
    lead = view.get("lead")
    if not lead or view.get("pii_erased_at"):
        return []
    named = [name for name in sorted(PII_FIELDS) if lead.get(name) is not None]
    attributes = lead.get("attributes") or {}
    return named + [
        f"attributes.{name}" for name in sorted(pii_attributes) if attributes.get(name) is not None
    ]


def _pii_attributes(request: web.Request, view: dict[str, Any]) -> frozenset[str]:
    """The attributes the ledger keeps as PII for this lead's vertical (masked like the rest)."""
    vertical = view.get("vertical")
    return request.app[ROUTER].tree.ledger_pii(vertical) if vertical else frozenset()


async def _lead(
    request: web.Request, operator: Operator, view: dict[str, Any], *, revealed: bool
) -> web.Response:
    lead = view.get("lead")
    return render(
        request,
        "lead.html",
        page="leads",
        view=view,
        lead_fields=_lead_fields(lead),
        attributes=sorted(((lead or {}).get("attributes") or {}).items()),
        pii_fields=PII_FIELDS,
        pii_attributes=_pii_attributes(request, view),
        timeline=timeline(_post_phase(view["trace"]), view["auction_ms"]),
        describe=describe,
        deliveries=await _deliveries(request.app, view),
        revealed=revealed,
        can_reveal=operator.admin and not revealed and bool(lead) and not view["pii_erased_at"],
    )


def _post_phase(trace: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the timeline draws: an exchange post's trace starts with its ping phase's events, at
    negative times (before the post came, maybe minutes before), which the trace table lists."""
    return [event for event in trace if event["at_ms"] >= 0]


def _lead_fields(lead: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """The lead's fields but its attributes, PII first, each once."""
    if not lead:
        return []
    names = sorted(name for name in lead if name != "attributes")
    return sorted(
        ((name, lead[name]) for name in names), key=lambda item: item[0] not in PII_FIELDS
    )


async def _deliveries(app: web.Application, view: dict[str, Any]) -> list[dict[str, Any]]:
    """A sold lead's deliveries still in the queue, as GET /admin/deliveries/{id} shows them
    (no body, no secret): one per destination of its buyer and the seller's postback, as the
    running tree names them (a destination a reload removed is not looked for)."""
    deliveries = app.get(DELIVERIES)
    buyer_id = view.get("buyer_id")
    if deliveries is None or view.get("status") != "sold" or buyer_id is None:
        return []
    buyer = app[ROUTER].tree.buyers.get(buyer_id)
    destinations = buyer.deliveries if buyer is not None else ()
    wanted = [job_id(view["id"], buyer_owner(buyer_id), d.id) for d in destinations]
    wanted.append(job_id(view["id"], seller_owner(view["seller_id"]), POSTBACK))
    jobs = [await deliveries.queue.get(ident) for ident in wanted]
    return [job_view(job) for job in jobs if job is not None]


def add_routes(app: web.Application) -> None:
    app.router.add_get("/console/leads", leads_page)
    app.router.add_get("/console/leads/{id}", lead_page)
    app.router.add_post("/console/leads/{id}/reveal", reveal)


__all__ = ["NothingToReveal", "add_routes", "lead_page", "leads_page", "pii_shown", "reveal"]
