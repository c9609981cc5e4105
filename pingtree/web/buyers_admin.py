"""The operator's routes for buyers (DESIGN §13), behind an operator token:

    GET  /admin/buyers               every buyer's live state (viewers too)
    POST /admin/buyers/{id}/pause    optional JSON {"reason": "..."}; admins only
    POST /admin/buyers/{id}/resume   admins only

A buyer's state: whether it is paused (by whom, when, why), its caps with what is used and left
this hour and day in its timezone, its breaker, and its calls over the last five minutes as this
router made them (recent_calls.py: each router counts its own). Caps, breakers and pauses are
read from the store in one call each, whatever the number of buyers.

A pause is shared by every router and kept until resumed, across reloads and restarts
(auction/pauses.py); pausing and resuming are audited."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from pingtree.config import BuyerConfig, Operator
from pingtree.config.tree import Tree
from pingtree.core import jsonenc
from pingtree.core.errors import BadRequest, NotFound
from pingtree.core.rules import CapWindows, cap_windows, local_time, schedule_open
from pingtree.store.state.base import BuyerUsage, Pause
from pingtree.web.audit import audited, utc_now_text
from pingtree.web.auth import authenticate_operator, require_admin
from pingtree.web.keys import PAUSED, RECENT_CALLS, ROUTER, STORE
from pingtree.web.recent_calls import RecentCalls
from pingtree.web.responses import json_response

MAX_REASON_CHARS = 500


async def list_buyers(request: web.Request) -> web.Response:
    authenticate_operator(request)
    return json_response(await buyer_states(request.app))


async def buyer_states(app: web.Application) -> dict[str, Any]:
    """GET /admin/buyers's answer: every buyer's live state. The console's Buyers page too."""
    tree = app[ROUTER].tree
    paused = app[PAUSED]
    await paused.refresh()  # the operator sees the store's pauses, and this router is up to date
    now = datetime.now(UTC)
    windows = {
        buyer.id: cap_windows(now, tree.config.buyer_timezone(buyer))
        for buyer in tree.buyers.values()
    }
    usage = await app[STORE].buyer_usage(windows)
    recent = app[RECENT_CALLS]
    views = [
        _switch_view(buyer.id, paused.pauses.get(buyer.id))
        | _buyer_view(tree, buyer, now, windows[buyer.id], usage[buyer.id], recent)
        for buyer in tree.buyers.values()
    ]
    return {
        "buyers": views,
        "recent_window_s": int(recent.window_s),
        "recent_calls_of": "this router",
    }


def _buyer_view(
    tree: Tree,
    buyer: BuyerConfig,
    now: datetime,
    windows: CapWindows,
    usage: BuyerUsage,
    recent: RecentCalls,
) -> dict[str, Any]:
    timezone = tree.config.buyer_timezone(buyer)
    caps = buyer.caps
    budget = caps.daily_budget
    return {
        "priority": buyer.priority,
        "pricing": buyer.pricing,
        "schedule_open": schedule_open(buyer.schedule, local_time(now, timezone)),
        "caps": {
            "timezone": timezone,
            "hour": windows.hour,
            "day": windows.day,
            "hourly": _cap(caps.hourly, usage.hour_count),
            "daily": _cap(caps.daily, usage.day_count),
            "daily_budget": {
                "cap": budget,
                "used": usage.day_spend,
                "left": None if budget is None else max(budget - usage.day_spend, 0),
            },
        },
        "breaker": {"mode": tree.settings.breaker.mode, "state": usage.breaker},
        "recent": recent.counts(buyer.id),
    }


def _cap(cap: int | None, used: int) -> dict[str, int | None]:
    return {"cap": cap, "used": used, "left": None if cap is None else max(cap - used, 0)}


def _pause_view(pause: Pause | None) -> dict[str, str | None] | None:
    if pause is None:
        return None
    return {"by": pause.by, "at": pause.at, "reason": pause.reason}


async def pause_buyer(request: web.Request) -> web.Response:
    operator = authenticate_operator(request)
    require_admin(operator)
    buyer_id = request.match_info["id"]
    if buyer_id not in request.app[ROUTER].tree.buyers:
        raise NotFound("no such buyer in the running config")
    reason = await _reason(request)
    return json_response(await pause(request, operator, buyer_id, reason))


async def pause(
    request: web.Request, operator: Operator, buyer_id: str, reason: str | None
) -> dict[str, Any]:
    """Pause a buyer of the running tree for every router until resumed, audited; its switch
    as the API shows it. The caller has checked that `operator` is an admin. The console's
    Pause button too."""
    if buyer_id not in request.app[ROUTER].tree.buyers:
        raise NotFound("no such buyer in the running config")
    paused = request.app[PAUSED]
    await paused.pause(buyer_id, operator.name, utc_now_text(), reason)
    await audited(request, operator, "pause", buyer_id, {"reason": reason} if reason else None)
    return _switch_view(buyer_id, paused.pauses.get(buyer_id))


async def resume_buyer(request: web.Request) -> web.Response:
    operator = authenticate_operator(request)
    require_admin(operator)
    return json_response(await resume(request, operator, request.match_info["id"]))


async def resume(request: web.Request, operator: Operator, buyer_id: str) -> dict[str, Any]:
    """Resume a buyer, audited; its switch as the API shows it. The caller has checked that
    `operator` is an admin. The console's Resume button too."""
    paused = request.app[PAUSED]
    await paused.refresh()
    # A buyer paused and then removed from the file may still be resumed: its pause is kept.
    if buyer_id not in request.app[ROUTER].tree.buyers and buyer_id not in paused.pauses:
        raise NotFound("no such buyer in the running config")
    was = paused.pauses.get(buyer_id)
    await paused.resume(buyer_id)
    detail = {"was_paused": was is not None}
    await audited(request, operator, "resume", buyer_id, detail)
    return _switch_view(buyer_id, paused.pauses.get(buyer_id))


def _switch_view(buyer_id: str, pause: Pause | None) -> dict[str, Any]:
    return {"id": buyer_id, "enabled": pause is None, "paused": _pause_view(pause)}


async def _reason(request: web.Request) -> str | None:
    """The optional `{"reason": "..."}` of a pause; an empty body gives none."""
    raw = await request.read()
    if not raw.strip():
        return None
    try:
        body = jsonenc.loads(raw)
    except jsonenc.JSONDecodeError:
        raise BadRequest("the body is not JSON", fields={"body": "not JSON"}) from None
    if not isinstance(body, dict) or set(body) - {"reason"}:
        raise BadRequest(
            'the body is {"reason": "..."} or empty', fields={"body": "only `reason` is read"}
        )
    reason = body.get("reason")
    if reason is None:
        return None
    if not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS:
        raise BadRequest(
            "bad reason", fields={"reason": f"text of at most {MAX_REASON_CHARS} characters"}
        )
    return reason.strip() or None


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin/buyers", list_buyers)
    app.router.add_post("/admin/buyers/{id}/pause", pause_buyer)
    app.router.add_post("/admin/buyers/{id}/resume", resume_buyer)


__all__ = [
    "MAX_REASON_CHARS",
    "add_routes",
    "buyer_states",
    "list_buyers",
    "pause",
    "pause_buyer",
    "resume",
    "resume_buyer",
]
