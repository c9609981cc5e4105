"""Logging in and out of the console (session.py says what a session is):

    GET  /console/login?next=PATH   the form: an operator token
    POST /console/login             a session, then back to `next` (a console page); a wrong
                                    token is the form again, 401, saying so
    POST /console/logout            the session closed here, its cookie dropped

The login form has no session to take a CSRF token from: it carries a random one that is also
in a short-lived cookie (`LOGIN_COOKIE`, SameSite=Strict), and the POST must show both, equal.
A site that cannot read the cookie cannot forge the form, so it cannot log a browser in as
someone else."""

from __future__ import annotations

import hmac
import secrets
import time

from aiohttp import web

from pingtree.config import Operator
from pingtree.core.errors import Forbidden
from pingtree.web.console.guards import form
from pingtree.web.console.render import render, render_error, see_other
from pingtree.web.console.session import (
    COOKIE_PATH,
    CSRF_FIELD,
    LOGIN_COOKIE,
    LOGIN_FORM_TTL_S,
    LOGIN_PATH,
    SESSIONS,
    came_over_tls,
    current_session,
    end_session,
    posted_form,
    safe_next,
    set_session_cookie,
)
from pingtree.web.keys import ROUTER


async def login_page(request: web.Request) -> web.StreamResponse:
    back_to = safe_next(request.query.get("next"))
    if current_session(request) is not None:
        return see_other(back_to)
    return _login_form(request, back_to)


def _login_form(
    request: web.Request, back_to: str, *, message: str | None = None, status: int = 200
) -> web.Response:
    """The form, with a fresh login CSRF token in it and in its cookie."""
    token = secrets.token_urlsafe(32)
    tree = request.app[ROUTER].tree
    response = render(
        request,
        "login.html",
        status=status,
        next=back_to,
        login_csrf=token,
        message=message,
        console_on=tree.operator_api_on,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=LOGIN_FORM_TTL_S,
        path=LOGIN_PATH,
        httponly=True,
        samesite="Strict",
        secure=came_over_tls(request),
    )
    return response


async def log_in(request: web.Request) -> web.StreamResponse:
    posted = await posted_form(request)
    back_to = safe_next(_text(posted.get("next")))
    expected = request.cookies.get(LOGIN_COOKIE, "")
    presented = _text(posted.get(CSRF_FIELD))
    if not expected or not hmac.compare_digest(presented.encode(), expected.encode()):
        forbidden = Forbidden("this login form is stale or was not sent by this console: try again")
        return render_error(request, forbidden)
    token = _text(posted.get("token")).strip()
    tree = request.app[ROUTER].tree
    if not token or tree.operator_for_token(token) is None:
        message = "That token is not an operator's: check it and try again."
        return _login_form(request, back_to, message=message, status=401)
    cookie, _ = request.app[SESSIONS].open(token, time.time())
    response = see_other(back_to)
    set_session_cookie(request, response, cookie)
    response.del_cookie(LOGIN_COOKIE, path=LOGIN_PATH)
    return response


@form
async def log_out(request: web.Request, operator: Operator) -> web.StreamResponse:
    response = see_other(LOGIN_PATH)
    end_session(request, response)
    return response


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def add_routes(app: web.Application) -> None:
    app.router.add_get(LOGIN_PATH, login_page)
    app.router.add_post(LOGIN_PATH, log_in)
    app.router.add_post(f"{COOKIE_PATH}/logout", log_out)


__all__ = ["add_routes", "log_in", "log_out", "login_page"]
