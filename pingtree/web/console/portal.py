"""The buyer's page (DESIGN §15): a small, read-only view for a buyer, on the console's templates,
logged into with the buyer's own key (`portal.api_key`), apart from the operators' console.

    GET  /console/portal              its leads (newest sales of the last `days`), its returns,
                                      its figures; the login form without a session
    POST /console/portal/login        the key: a session (cookie `pingtree_portal`), or 401
    POST /console/portal/logout       CSRF-checked
    GET  /console/portal/leads.csv    the same leads in full (the lead as posted), as CSV

A portal session is session.py's kind (this process's memory, a fixed 12 h, HttpOnly,
SameSite=Strict) in a store of its own, under its own cookie and path: it holds the buyer's key
and looks the buyer up in the running tree on every request, and it is never an operator's. The
login form carries a double-submit token as the console's does. The page changes nothing."""

from __future__ import annotations

import csv
import hmac
import io
import secrets
import time
from datetime import timedelta
from typing import Any

from aiohttp import web

from pingtree.config import BuyerConfig
from pingtree.core import jsonenc
from pingtree.core.errors import Forbidden, PingtreeError
from pingtree.ledger.buyer_leads import BuyerLeadQuery
from pingtree.web.buyer_api import buyer_lead_view, now, portal
from pingtree.web.console.render import render, render_error, see_other
from pingtree.web.console.session import (
    CSRF_FIELD,
    SESSION_TTL_S,
    Session,
    Sessions,
    came_over_tls,
    posted_form,
)
from pingtree.web.keys import ROUTER

PORTAL_PATH = "/console/portal"
COOKIE = "pingtree_portal"
LOGIN_COOKIE = "pingtree_portal_login"
PORTAL_SESSIONS = web.AppKey("portal_sessions", Sessions)
DAYS = 30
SHOWN = 500


def _session(request: web.Request) -> tuple[str, Session, BuyerConfig] | None:
    cookie = request.cookies.get(COOKIE)
    session = request.app[PORTAL_SESSIONS].get(cookie, time.time()) if cookie else None
    if cookie is None or session is None:
        return None
    buyer = request.app[ROUTER].tree.buyer_for_key(session.token)
    if buyer is None:  # a reload took the key away: the session goes with it
        request.app[PORTAL_SESSIONS].close(cookie)
        return None
    return cookie, session, buyer


async def portal_page(request: web.Request) -> web.StreamResponse:
    found = _session(request)
    if found is None:
        return _login_form(request)
    _, session, buyer = found
    try:
        leads = await _leads(request, buyer)
        returns, _ = await portal(request.app).returns(None, buyer.id, None, SHOWN)
        figures = await portal(request.app).stats(buyer.id, now(request.app), DAYS)
    except PingtreeError as exc:
        return render_error(request, exc)
    return render(
        request,
        "portal.html",
        buyer=buyer.id,
        leads=leads[::-1],  # newest first on the page
        returns=returns,
        figures=figures,
        days=DAYS,
        portal_csrf=session.csrf,
    )


async def _leads(request: web.Request, buyer: BuyerConfig) -> list[dict[str, Any]]:
    """The buyer's sales of the last DAYS, oldest first, at most SHOWN of them."""
    since = now(request.app) - timedelta(days=DAYS)
    query = BuyerLeadQuery(buyer.id, since=since, limit=SHOWN)
    page, _ = await portal(request.app).leads(query)
    return [buyer_lead_view(filed, row) for filed, row in page]


def _login_form(
    request: web.Request, *, message: str | None = None, status: int = 200
) -> web.Response:
    token = secrets.token_urlsafe(32)
    response = render(
        request, "portal_login.html", status=status, login_csrf=token, message=message
    )
    response.set_cookie(
        LOGIN_COOKIE, token, max_age=3600, path=f"{PORTAL_PATH}/login", httponly=True,
        samesite="Strict", secure=came_over_tls(request),
    )  # fmt: skip
    return response


async def log_in(request: web.Request) -> web.StreamResponse:
    posted = await posted_form(request)
    expected = request.cookies.get(LOGIN_COOKIE, "")
    presented = _text(posted.get(CSRF_FIELD))
    if not expected or not hmac.compare_digest(presented.encode(), expected.encode()):
        return render_error(request, Forbidden("this login form is stale: try again"))
    key = _text(posted.get("key")).strip()
    if not key or request.app[ROUTER].tree.buyer_for_key(key) is None:
        return _login_form(request, message="That key is not a buyer's.", status=401)
    cookie, _ = request.app[PORTAL_SESSIONS].open(key, time.time())
    response = see_other(PORTAL_PATH)
    response.set_cookie(
        COOKIE, cookie, max_age=SESSION_TTL_S, path=PORTAL_PATH, httponly=True,
        samesite="Strict", secure=came_over_tls(request),
    )  # fmt: skip
    response.del_cookie(LOGIN_COOKIE, path=f"{PORTAL_PATH}/login")
    return response


async def log_out(request: web.Request) -> web.StreamResponse:
    found = _session(request)
    presented = _text((await posted_form(request)).get(CSRF_FIELD))
    if found is None or not hmac.compare_digest(presented.encode(), found[1].csrf.encode()):
        return render_error(request, Forbidden("no portal session, or a stale form"))
    request.app[PORTAL_SESSIONS].close(found[0])
    response = see_other(PORTAL_PATH)
    response.del_cookie(COOKIE, path=PORTAL_PATH)
    return response


async def leads_csv(request: web.Request) -> web.StreamResponse:
    found = _session(request)
    if found is None:
        return see_other(PORTAL_PATH)
    leads = await _leads(request, found[2])
    return web.Response(
        body=_csv(leads).encode(),
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="leads-{found[2].id}.csv"',
        },
    )


_SALE_COLUMNS = ("id", "sold_at", "seller", "vertical", "test", "price", "return_status")


def _csv(leads: list[dict[str, Any]]) -> str:
    """A row per lead: its sale, then the lead's fields as posted (attributes as JSON)."""
    fields = sorted({name for lead in leads for name in lead["lead"]} - {"attributes"})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([*_SALE_COLUMNS, *fields, "attributes"])
    for lead in leads:
        sale = {**lead, "return_status": (lead["return"] or {}).get("status")}
        values = [sale[name] for name in _SALE_COLUMNS] + [lead["lead"].get(f) for f in fields]
        attributes = jsonenc.dumps(lead["lead"].get("attributes") or {}).decode()
        writer.writerow(["" if v is None else v for v in values] + [attributes])
    return buffer.getvalue()


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def add_routes(app: web.Application) -> None:
    app[PORTAL_SESSIONS] = Sessions()
    app.router.add_get(PORTAL_PATH, portal_page)
    app.router.add_post(f"{PORTAL_PATH}/login", log_in)
    app.router.add_post(f"{PORTAL_PATH}/logout", log_out)
    app.router.add_get(f"{PORTAL_PATH}/leads.csv", leads_csv)


__all__ = ["PORTAL_PATH", "add_routes"]
