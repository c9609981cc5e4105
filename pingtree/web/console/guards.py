"""What every console route goes through, so no page can forget it:

    @page      a GET: the operator of the session, or a redirect to the login page
    @action    a POST that changes state: session and CSRF token checked (403 without), and the
               operator an admin (403 for a viewer, before anything is done)
    @form      a POST that changes nothing of the router's (logging out, revealing a lead's
               PII, which is audited): session and CSRF token checked, any role

The handler is called with the request and the operator; what it raises (a 400 for a bad
filter, a 404, a 409 with no ledger) becomes an error page with that status, not the API's JSON.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from aiohttp import web

from pingtree.config import Operator
from pingtree.core.errors import PingtreeError
from pingtree.web.auth import require_admin
from pingtree.web.console.render import render_error
from pingtree.web.console.session import checked_post, console_operator

ConsoleHandler = Callable[[web.Request, Operator], Awaitable[web.StreamResponse]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def page(handler: ConsoleHandler) -> Handler:
    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        operator = console_operator(request)
        try:
            return await handler(request, operator)
        except PingtreeError as exc:
            return render_error(request, exc)

    return guarded


def _posted(handler: ConsoleHandler, *, admin_only: bool) -> Handler:
    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            operator = await checked_post(request)
            if admin_only:
                require_admin(operator)
            return await handler(request, operator)
        except PingtreeError as exc:
            return render_error(request, exc)

    return guarded


def action(handler: ConsoleHandler) -> Handler:
    return _posted(handler, admin_only=True)


def form(handler: ConsoleHandler) -> Handler:
    return _posted(handler, admin_only=False)


__all__ = ["ConsoleHandler", "Handler", "action", "form", "page"]
