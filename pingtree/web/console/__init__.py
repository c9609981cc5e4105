"""The operator console (DESIGN §13): the router's own web pages under /console, server-rendered
(Jinja2) with a little vendored JavaScript (htmx, uPlot), no CDN and no build step. Its face is
`add_routes(app)`, called once by the wiring (web/app.py).

    session.py   logging in by operator token, the session cookie, CSRF, who is asking
    guards.py    @page, @action, @form: what every route goes through
    render.py    the templates, render(), the security headers of every /console response
    login.py     the login and logout routes
    live.py      Live: the auctions as they finish
    leads.py     Leads: the search, one lead's page (timeline.py lays its trace out)
    reports.py   Reports: the report API as a table, a chart over time, its CSV
    buyers.py    Buyers: their live state, pause and resume; tryout.py: "try this buyer"
    sellers.py   Sellers: each seller's volume and payouts, beside its terms
    deliveries.py  Deliveries: dead letters, waiting jobs, replay and retry
    returns.py   Returns: buyers' returns, approve and deny
    portal.py    the buyers' own read-only page, logged into with a buyer's key
    config_page.py, config_view.py   Config: the tree's summary, validate and reload, the audit
    templates/, static/   the pages, and console.css, console.js and the vendored libraries

The console reads what the operator API reads, through the same functions (ledger_admin.py,
buyers_admin.py…), in this process: it never calls the API over HTTP.

A page is a module here with its own `add_routes(app)`, called below: its GET handlers are
`@page`, its POSTs `@action` (admins) or `@form` (any role), each taking (request, operator) and
answering `render(request, "its.html", page="<its nav key>", …)`; its template extends
base.html (blocks `title`, `head`, `scripts`, `main`); its forms carry `{{ csrf_field() }}`, its
htmx requests the CSRF header (console.js); what it needs of JavaScript goes in console.js, keyed
by an element's id or data- attributes. Its tests drive it in tests/browser (conftest.py)."""

from __future__ import annotations

from aiohttp import web

from pingtree.web.console import (
    buyers,
    leads,
    live,
    login,
    portal,
    reports,
    returns,
    sellers,
    tryout,
)
from pingtree.web.console.config_page import add_routes as add_config
from pingtree.web.console.deliveries import add_routes as add_deliveries
from pingtree.web.console.render import (
    STATIC_DIR,
    STATIC_PREFIX,
    TEMPLATES,
    security_headers,
    templates_environment,
)
from pingtree.web.console.session import SESSIONS, Sessions


def add_routes(app: web.Application) -> None:
    """The console's routes, its session store (this process's memory) and its templates."""
    app[SESSIONS] = Sessions()
    app[TEMPLATES] = templates_environment()
    app.on_response_prepare.append(security_headers)
    app.router.add_static(STATIC_PREFIX, STATIC_DIR, name="console_static")
    login.add_routes(app)
    live.add_routes(app)
    leads.add_routes(app)
    reports.add_routes(app)
    buyers.add_routes(app)
    tryout.add_routes(app)
    sellers.add_routes(app)
    add_deliveries(app)
    returns.add_routes(app)
    portal.add_routes(app)  # the buyers' page, apart from the operators'
    add_config(app)


__all__ = ["add_routes"]
