"""Who is using the console (DESIGN §13): an operator logs in with their token (the one the
operator API takes in `Authorization: Bearer`) and gets a session, kept here, in this process's
memory; the browser holds only the session's random id, in a cookie that is `HttpOnly`,
`SameSite=Strict`, `Path=/console`, `Secure` when the request came over TLS, and expires
`SESSION_TTL_S` (12 h) after the login, however busy the session is (a fixed lifetime, not a
sliding one: a stolen cookie is worth half a day at most).

The session keeps the operator's token, never their name or role: every request looks the token
up in the running tree (`Tree.operator_for_token`, by digest, as the operator API does), so a
reload that removes an operator or makes them a viewer applies to their open sessions at once.

Every POST carries the session's CSRF token, in the form field `csrf_token` or the header
`X-CSRF-Token` (htmx's requests: console.js adds it), compared in constant time; without it, or
without a session, the POST is refused with 403 before anything is read or done. The login form
has no session yet: it is guarded by a double-submit cookie of its own (`pingtree_console_login`).

Sessions live in one process: several routers behind a load balancer need sticky sessions (or
the operator logs in once per router), and `serve --workers N` gives each worker its own, so
there a console session holds only while the browser's connection stays with one worker."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from urllib.parse import quote

from aiohttp import web
from aiohttp.web_request import FileField
from multidict import MultiDictProxy

from pingtree.config import Operator
from pingtree.core.errors import BadRequest, Forbidden
from pingtree.web.keys import ROUTER
from pingtree.web.lead_body import media_type

COOKIE = "pingtree_console"
LOGIN_COOKIE = "pingtree_console_login"  # the login form's own CSRF token, before any session
COOKIE_PATH = "/console"
LOGIN_PATH = "/console/login"
SESSION_TTL_S = 12 * 3600
LOGIN_FORM_TTL_S = 3600
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
# Past this many open sessions the oldest is closed: logins need a valid token, so this only
# bounds the memory of operators who never log out.
MAX_SESSIONS = 10_000


@dataclass(frozen=True, slots=True)
class Session:
    token: str  # the operator's: looked up again on every request
    csrf: str
    expires_at: float  # time.time()


class Sessions:
    """The open sessions of this process, by the SHA-256 of their cookie's value."""

    def __init__(self, ttl_s: float = SESSION_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._open: dict[str, Session] = {}

    def open(self, token: str, now: float) -> tuple[str, Session]:
        """A new session for the operator of `token`: (the cookie's value, the session)."""
        self._close_expired(now)
        while len(self._open) >= MAX_SESSIONS:
            del self._open[next(iter(self._open))]  # dicts keep order: the oldest first
        cookie = secrets.token_urlsafe(32)
        session = Session(token, secrets.token_urlsafe(32), now + self.ttl_s)
        self._open[_digest(cookie)] = session
        return cookie, session

    def get(self, cookie: str, now: float) -> Session | None:
        key = _digest(cookie)
        session = self._open.get(key)
        if session is not None and session.expires_at <= now:
            del self._open[key]
            return None
        return session

    def close(self, cookie: str) -> None:
        self._open.pop(_digest(cookie), None)

    def _close_expired(self, now: float) -> None:
        for key in [key for key, session in self._open.items() if session.expires_at <= now]:
            del self._open[key]

    def __len__(self) -> int:
        return len(self._open)


SESSIONS = web.AppKey("console_sessions", Sessions)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def current_session(request: web.Request) -> tuple[Session, Operator] | None:
    """The request's session and its operator as the running tree knows them, or None: no
    cookie, an unknown or expired one, or a token the tree no longer has (that session is
    closed). A dictionary lookup and a digest: cheap enough to ask again rather than keep."""
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    sessions = request.app[SESSIONS]
    session = sessions.get(cookie, time.time())
    if session is None:
        return None
    operator = request.app[ROUTER].tree.operator_for_token(session.token)
    if operator is None:
        sessions.close(cookie)
        return None
    return session, operator


def console_operator(request: web.Request) -> Operator:
    """The operator of the request's session; without one, a redirect to the login page, which
    sends them back here once logged in."""
    found = current_session(request)
    if found is None:
        raise web.HTTPSeeOther(login_url(request.path_qs))
    return found[1]


def login_url(back_to: str) -> str:
    return f"{LOGIN_PATH}?next={quote(back_to, safe='/')}" if back_to else LOGIN_PATH


def safe_next(text: str | None) -> str:
    """Where to go after logging in: a console page of this host, never another site."""
    if not text or not text.isprintable() or "\\" in text:
        return COOKIE_PATH
    path = text.partition("?")[0]
    if path == COOKIE_PATH or (path.startswith(COOKIE_PATH + "/") and "//" not in path):
        return text
    return COOKIE_PATH


async def checked_post(request: web.Request) -> Operator:
    """A POST's operator, once its session and CSRF token are checked: 403 without either
    (a forged form has no session's token, whatever cookie the browser adds)."""
    found = current_session(request)
    if found is None:
        raise Forbidden("no console session: log in again")
    session, operator = found
    presented = request.headers.get(CSRF_HEADER)
    if presented is None and media_type(request.headers) in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        field = (await posted_form(request)).get(CSRF_FIELD)
        presented = field if isinstance(field, str) else None
    if not presented or not hmac.compare_digest(presented.encode(), session.csrf.encode()):
        raise Forbidden("this form's CSRF token is missing or wrong: reload the page")
    return operator


async def posted_form(
    request: web.Request,
) -> MultiDictProxy[str | bytes | bytearray | FileField]:
    """The POST's form fields; a 400 for a Content-Type aiohttp cannot parse (its parser, the
    standard library's email one, raises IndexError on a parameter such as `a*` without a
    value), not a 500."""
    try:
        return await request.post()
    except (IndexError, ValueError):
        raise BadRequest("the form's Content-Type is malformed") from None


def csrf_token(request: web.Request) -> str | None:
    """The CSRF token the request's session's forms carry, None without a session."""
    found = current_session(request)
    return found[0].csrf if found is not None else None


def came_over_tls(request: web.Request) -> bool:
    """TLS to this process, or to a proxy that says so. Trusting X-Forwarded-Proto can only
    make the cookie stricter: a client that lies gets a cookie its browser will not send back."""
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.secure or forwarded == "https"


def set_session_cookie(request: web.Request, response: web.StreamResponse, cookie: str) -> None:
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=int(request.app[SESSIONS].ttl_s),
        path=COOKIE_PATH,
        httponly=True,
        samesite="Strict",
        secure=came_over_tls(request),
    )


def end_session(request: web.Request, response: web.StreamResponse) -> None:
    """Close the request's session here, and tell the browser to drop its cookie."""
    cookie = request.cookies.get(COOKIE)
    if cookie:
        request.app[SESSIONS].close(cookie)
    response.del_cookie(COOKIE, path=COOKIE_PATH)


__all__ = [
    "COOKIE",
    "COOKIE_PATH",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "LOGIN_COOKIE",
    "LOGIN_FORM_TTL_S",
    "LOGIN_PATH",
    "SESSIONS",
    "SESSION_TTL_S",
    "Session",
    "Sessions",
    "came_over_tls",
    "checked_post",
    "console_operator",
    "csrf_token",
    "current_session",
    "end_session",
    "login_url",
    "safe_next",
    "set_session_cookie",
]
