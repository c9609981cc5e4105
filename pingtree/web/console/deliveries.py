"""Deliveries (`/console/deliveries`): the sold leads' jobs to CRMs and postbacks as GET
/admin/deliveries shows them (deliveries_admin.find_jobs: no body, no secret), dead letters
first, then the waiting ones and the latest delivered; and their two actions, admins only,
done and audited as the API's endpoints do them (deliveries_admin.act_on_job):

    GET  /console/deliveries?destination=KEY      the page
    POST /console/deliveries/{id}/retry           a waiting job due now (its backoff skipped)
    POST /console/deliveries/{id}/replay          a dead or disabled job sent again from attempt 1

A viewer sees the same jobs with no button, and @action refuses their POST (403)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from pingtree.config import Operator
from pingtree.core.errors import BadRequest
from pingtree.web.console.guards import action, page
from pingtree.web.console.render import render, see_other
from pingtree.web.deliveries_admin import JobAction, act_on_job, find_jobs
from pingtree.web.keys import DELIVERIES

PATH = "/console/deliveries"
# (key, heading, the job states it lists, how many of each state at most)
SECTIONS: tuple[tuple[str, str, tuple[str, ...], int], ...] = (
    ("dead", "Dead letters", ("dead", "disabled"), 100),
    ("waiting", "Waiting", ("waiting", "leased"), 100),
    ("delivered", "Delivered lately", ("delivered",), 20),
)
ACTIONS: dict[str, str] = {
    "retry": "Retry asked: the job is due now and goes with the next round of deliveries.",
    "replay": "Replay asked: the job waits to be sent again from its first attempt.",
}
_MAX_DESTINATION = 200


@page
async def deliveries_page(request: web.Request, operator: Operator) -> web.StreamResponse:
    destination = request.query.get("destination", "").strip()
    if len(destination) > _MAX_DESTINATION:
        raise BadRequest("bad destination", fields={"destination": "an owner/destination key"})
    deliveries = request.app[DELIVERIES]
    sections: list[dict[str, Any]] = []
    for key, heading, states, limit in SECTIONS:
        jobs: list[dict[str, Any]] = []
        for state in states:
            query = {"state": state, "destination": destination, "limit": str(limit)}
            jobs += await find_jobs(deliveries, query)
        jobs.sort(key=lambda job: job["created_at"], reverse=True)
        sections.append({"key": key, "heading": heading, "states": states, "jobs": jobs})
    done = request.query.get("done", "")
    return render(
        request,
        "deliveries.html",
        page="deliveries",
        sections=sections,
        destination=destination,
        done=ACTIONS.get(done),
        done_job=request.query.get("job", "") if done in ACTIONS else "",
    )


async def _act(request: web.Request, operator: Operator, what: JobAction) -> web.StreamResponse:
    job_id = request.match_info["id"]
    await act_on_job(request, operator, request.app[DELIVERIES], job_id, what)
    return see_other(f"{PATH}?{urlencode({'done': what, 'job': job_id})}")


@action
async def retry(request: web.Request, operator: Operator) -> web.StreamResponse:
    return await _act(request, operator, "retry")


@action
async def replay(request: web.Request, operator: Operator) -> web.StreamResponse:
    return await _act(request, operator, "replay")


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH, deliveries_page)
    app.router.add_post(PATH + "/{id}/retry", retry)
    app.router.add_post(PATH + "/{id}/replay", replay)


__all__ = ["add_routes", "deliveries_page", "replay", "retry"]
