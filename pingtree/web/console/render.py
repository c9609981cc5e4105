"""The console's pages as HTML: one Jinja2 environment per app (the package's templates/,
autoescaped, an undefined name an error), `render` adding what every page shows (who is logged
in, their CSRF token, the navigation), and the security headers of every /console response.

The Content-Security-Policy allows scripts, styles, images and connections from this router only,
and no inline script or style at all: the pages carry none (console.js does what JavaScript they
need, from data- attributes; a lead's timeline is SVG, whose x and width are attributes, not
styles). Pages are never cached (they may show PII); static files are revalidated each time."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from markupsafe import Markup, escape

from pingtree.core import jsonenc
from pingtree.core.errors import PingtreeError
from pingtree.web.console.session import CSRF_FIELD, csrf_token, current_session

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
STATIC_PREFIX = "/console/static"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ]
)

# (key, label, path): every page of the console, in the order of the navigation.
NAV: tuple[tuple[str, str, str], ...] = (
    ("live", "Live", "/console"),
    ("leads", "Leads", "/console/leads"),
    ("reports", "Reports", "/console/reports"),
    ("buyers", "Buyers", "/console/buyers"),
    ("sellers", "Sellers", "/console/sellers"),
    ("deliveries", "Deliveries", "/console/deliveries"),
    ("returns", "Returns", "/console/returns"),
    ("config", "Config", "/console/config"),
)

TEMPLATES = web.AppKey("console_templates", jinja2.Environment)


def templates_environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.globals["nav"] = NAV
    environment.globals["static"] = lambda name: f"{STATIC_PREFIX}/{name}"
    environment.filters["money"] = money
    environment.filters["shown"] = shown
    return environment


def shown(value: Any) -> str:
    """A lead's value as its JSON says it: true, 12.5, {"a": 1}; nothing for None."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return jsonenc.dumps(value).decode()


def money(value: Decimal | float | None) -> str:
    """An amount as the API's JSON gives it, to the cent: 41.35; nothing for None."""
    return "" if value is None else f"{Decimal(str(value)):.2f}"


def render(
    request: web.Request, template: str, *, status: int = 200, **context: Any
) -> web.Response:
    """`template` rendered with `context`, and for every page: `operator` (None on the login
    page), `csrf` (the session's token; None without one), `csrf_field()` (a form's hidden
    field with it), `status` and `page` (the navigation's key of the page shown, if any)."""
    found = current_session(request)
    token = csrf_token(request)
    context.setdefault("page", None)
    html = (
        request.app[TEMPLATES]
        .get_template(template)
        .render(
            operator=found[1] if found is not None else None,
            csrf=token,
            csrf_field=lambda: _csrf_field(token),
            status=status,
            **context,
        )
    )
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def _csrf_field(token: str | None) -> Markup:
    if token is None:
        return Markup("")
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, escape(token))


def see_other(location: str) -> web.Response:
    """A redirect after a form (303: the browser GETs `location`)."""
    return web.Response(status=303, headers={"Location": location})


def render_error(request: web.Request, error: PingtreeError) -> web.Response:
    """An error a console route raised, as a page with its status (the API's would be JSON)."""
    return render(
        request,
        "error.html",
        status=error.status,
        code=error.code,
        detail=error.detail,
        fields=error.fields,
    )


def is_console(path: str) -> bool:
    return path == "/console" or path.startswith("/console/")


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every /console response, errors and redirects too (an on_response_prepare signal)."""
    if not is_console(request.path):
        return
    headers = response.headers
    headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "same-origin"
    if request.path.startswith(STATIC_PREFIX + "/"):
        headers["Cache-Control"] = "no-cache"
    else:  # pages, downloads and streams alike: any of them may hold what should not be kept
        headers["Cache-Control"] = "no-store"


__all__ = [
    "CONTENT_SECURITY_POLICY",
    "NAV",
    "STATIC_DIR",
    "STATIC_PREFIX",
    "TEMPLATES",
    "is_console",
    "money",
    "render",
    "render_error",
    "security_headers",
    "see_other",
    "shown",
    "templates_environment",
]
