"""The operator's routes for deliveries and exports, all behind an operator's token (DESIGN §6,
§13); retry and replay change state (admins only, audited), and the export holds the leads' PII
(admins only). `add_routes(app)` mounts them on the app that holds `Deliveries` under
`keys.DELIVERIES`; their OpenAPI entries are in deliveries_openapi.py.

    GET  /admin/deliveries?state=&destination=&limit=   newest first
    GET  /admin/deliveries/{id}                         one job, with its attempts
    POST /admin/deliveries/{id}/retry                   a waiting job: due now
    POST /admin/deliveries/{id}/replay                  a dead or disabled job: again from attempt 1
    GET  /admin/exports/leads.csv?buyer=&from=&to=      the sales as CSV (the ledger's), streamed

A job is shown without its body: the admin API shows no PII anywhere (the body is the lead).
Its size and SHA-256 let an operator match it with what a receiver logged; `pingtree try`
shows the exact request a buyer would get. URLs are shown without query string or credentials,
and headers with secret-sounding names (Authorization, X-Api-Key…) as `***`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from aiohttp import web

from pingtree.config import Operator, masked_url
from pingtree.config.dialect import secret_header
from pingtree.core.errors import BadRequest, NotFound, PingtreeError
from pingtree.deliveries.exports import csv_chunks, record_rows
from pingtree.deliveries.jobs import iso_time
from pingtree.deliveries.service import Deliveries
from pingtree.store.queue.base import Job, JobState
from pingtree.web.audit import audited
from pingtree.web.auth import authenticate_operator, require_admin
from pingtree.web.deliveries_openapi import JOB_STATES, MAX_LIMIT
from pingtree.web.keys import DELIVERIES, LEDGER
from pingtree.web.ranges import instant
from pingtree.web.responses import json_response


class LedgerOff(PingtreeError):
    status = 409
    code = "ledger_off"


MAX_EXPORT_DAYS = 366
_BUYER_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class NotNow(PingtreeError):
    """The job exists but is not in a state the action applies to."""

    status = 409
    code = "conflict"


def job_view(job: Job) -> dict[str, Any]:
    """What the operator sees of a job: everything but the body (PII) and secrets."""
    return {
        "id": job.id,
        "lead_id": job.lead_id,
        "owner": job.owner,
        "destination": job.destination,
        "key": job.key,
        "state": job.state,
        "target": job.target,
        "attempt": job.attempt,
        "created_at": iso_time(job.created_at),
        "due_at": iso_time(job.due_at) if job.due_at > 0 else None,
        "method": job.method,
        "url": masked_url(job.url),
        "failover_url": masked_url(job.failover_url) if job.failover_url else None,
        "headers": [[name, "***" if secret_header(name) else value] for name, value in job.headers],
        "body_bytes": len(job.body),
        "body_sha256": hashlib.sha256(job.body).hexdigest(),
        "last_error": job.last_error,
        "history": list(job.history),
    }


def _limit(text: str | None) -> int:
    if text is None:
        return 100
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
        raise BadRequest("bad limit", fields={"limit": f"a whole number from 1 to {MAX_LIMIT}"})
    return int(text)


def _state(text: str | None) -> JobState | None:
    if text is None or text == "":
        return None
    if text not in JOB_STATES:
        raise BadRequest("bad state", fields={"state": f"one of {', '.join(JOB_STATES)}"})
    state: JobState = text  # type: ignore[assignment]  # checked just above
    return state


def _instant(name: str, text: str, *, end: bool) -> float:
    """An ISO date (the whole day: `to` includes it) or date-time (UTC when it has no offset):
    ranges.py's reading, in UTC, with a date's day included when it ends the range."""
    moment = instant(name, text, ZoneInfo("UTC"))
    return (moment + timedelta(days=1) if end and len(text) == 10 else moment).timestamp()


def export_range(query: dict[str, str], now: float) -> tuple[float, float]:
    """[start, end) of an export: `from` defaults to today's start (UTC), `to` to now."""
    today = datetime.fromtimestamp(now, UTC).date().isoformat()
    start = _instant("from", query.get("from") or today, end=False)
    end = _instant("to", query["to"], end=True) if query.get("to") else now
    if end <= start:
        raise BadRequest("empty range", fields={"to": "must be after from"})
    if end - start > MAX_EXPORT_DAYS * 86400:
        raise BadRequest("range too long", fields={"to": f"at most {MAX_EXPORT_DAYS} days"})
    return start, end


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
JobAction = Literal["retry", "replay"]


async def find_jobs(deliveries: Deliveries, query: Mapping[str, str]) -> list[dict[str, Any]]:
    """The jobs `query` asks for (GET /admin/deliveries's `state`, `destination` and `limit`),
    newest first, as the operator sees them. The console's Deliveries page too."""
    jobs = await deliveries.queue.jobs(
        state=_state(query.get("state")),
        key=query.get("destination") or None,
        limit=_limit(query.get("limit")),
    )
    return [job_view(job) for job in jobs]


async def act_on_job(
    request: web.Request,
    operator: Operator,
    deliveries: Deliveries,
    job_id: str,
    action: JobAction,
) -> dict[str, Any]:
    """`retry` (a waiting job, due now) or `replay` (a dead or disabled one, from attempt 1),
    done for `operator`, an admin (the caller checked), and audited; the job as it is after.
    NotFound without the job, NotNow when it is not in a state the action applies to. The
    console's Deliveries page too."""
    job = await deliveries.queue.get(job_id)
    if job is None:
        raise NotFound("no such delivery (or it was purged)")
    done = await (deliveries.retry_now(job_id) if action == "retry" else deliveries.replay(job_id))
    if not done:
        wanted = "waiting" if action == "retry" else "dead or disabled"
        raise NotNow(f"this delivery is {job.state}: {action} applies to {wanted} ones")
    detail = {"lead_id": job.lead_id, "destination": job.destination, "was": job.state}
    await audited(request, operator, action, job_id, detail)
    after = await deliveries.queue.get(job_id)
    return job_view(after or job)


def _utc(moment: float) -> datetime:
    return datetime.fromtimestamp(moment, UTC)


def _handlers(key: web.AppKey[Deliveries]) -> dict[str, Handler]:
    async def list_deliveries(request: web.Request) -> web.Response:
        authenticate_operator(request)
        jobs = await find_jobs(request.app[key], request.query)
        return json_response({"deliveries": jobs})

    async def show(request: web.Request) -> web.Response:
        authenticate_operator(request)
        job = await request.app[key].queue.get(request.match_info["id"])
        if job is None:
            raise NotFound("no such delivery (or it was purged)")
        return json_response(job_view(job))

    async def act(request: web.Request, action: JobAction) -> web.Response:
        operator = authenticate_operator(request)
        require_admin(operator)
        job_id = request.match_info["id"]
        return json_response(await act_on_job(request, operator, request.app[key], job_id, action))

    async def retry(request: web.Request) -> web.Response:
        return await act(request, "retry")

    async def replay(request: web.Request) -> web.Response:
        return await act(request, "replay")

    async def export(request: web.Request) -> web.StreamResponse:
        """The sales of [from, to) as CSV: from the ledger; on a router without one, from the
        deliveries' own sale rows when router.deliveries.ledger_days keeps them. The rows carry
        the leads' PII, which a viewer never sees in clear: admins only."""
        require_admin(authenticate_operator(request))
        deliveries, ledger = request.app[key], request.app.get(LEDGER)
        if ledger is None and deliveries.ledger_s is None:
            raise LedgerOff(
                "this router keeps no ledger, nor sale rows (router.deliveries.ledger_days)"
            )
        buyer = request.query.get("buyer") or None
        if buyer is not None and not _BUYER_ID.match(buyer):
            raise BadRequest("bad buyer", fields={"buyer": "a buyer id"})
        start, end = export_range(dict(request.query), deliveries.now())
        if ledger is not None:
            filed = await ledger.sold(buyer, _utc(start), _utc(end))
            # A lead sold shared is found once per sale: its rows are made once, one per sale.
            once = {lead.record.outcome.id: lead.record for lead in filed}
            rows = [row for record in once.values() for row in record_rows(record, buyer)]
        else:
            rows = await deliveries.queue.sales(buyer, start, end)
        span = f"{iso_time(start)[:10]}_{iso_time(end)[:10]}"
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/csv; charset=utf-8",
                "Content-Disposition": f'attachment; filename="leads-{buyer or "all"}-{span}.csv"',
            }
        )
        await response.prepare(request)
        for chunk in csv_chunks(rows):
            await response.write(chunk)
        await response.write_eof()
        return response

    return {
        "list": list_deliveries,
        "show": show,
        "retry": retry,
        "replay": replay,
        "export": export,
    }


def add_routes(
    app: web.Application, *, deliveries_key: web.AppKey[Deliveries] = DELIVERIES
) -> None:
    """Mount the routes; `app[deliveries_key]` must hold the Deliveries by the first request."""
    handlers = _handlers(deliveries_key)
    app.router.add_get("/admin/deliveries", handlers["list"])
    app.router.add_get("/admin/deliveries/{id}", handlers["show"])
    app.router.add_post("/admin/deliveries/{id}/retry", handlers["retry"])
    app.router.add_post("/admin/deliveries/{id}/replay", handlers["replay"])
    app.router.add_get("/admin/exports/leads.csv", handlers["export"])


__all__ = [
    "MAX_EXPORT_DAYS",
    "MAX_LIMIT",
    "JobAction",
    "NotNow",
    "act_on_job",
    "add_routes",
    "export_range",
    "find_jobs",
    "job_view",
]
