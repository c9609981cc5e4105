"""The console's sessions (web/console/session.py) without a browser: they expire and are
bounded, a login goes back only to a console page, and an open session follows the running
buyers.yaml: a reload that removes an operator ends their sessions, one that makes an admin a
viewer takes their admin's rights at their next request. Through HTTP against a router served
in process from a file (tests/e2e/test_operators.py's serve_file)."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie
from pathlib import Path

import pytest

from pingtree.web.console import session as sessions_module
from pingtree.web.console.session import Sessions, safe_next
from tests.buyers import BuyerServer
from tests.conftest import ServeApp, config_dict, make_buyer
from tests.e2e.test_operators import ALICE, BOB, OPERATORS, Operated, serve_file

TOKEN = "an-operators-token-0001"


def test_a_session_expires_at_its_fixed_end_however_used() -> None:
    sessions = Sessions(ttl_s=100)
    cookie, opened = sessions.open(TOKEN, now=1000.0)
    assert opened.expires_at == 1100.0
    assert sessions.get(cookie, now=1099.9) == opened  # used: the end does not move
    assert sessions.get(cookie, now=1100.0) is None
    assert len(sessions) == 0
    assert sessions.get("not-a-cookie", now=1000.0) is None


def test_sessions_are_bounded_and_closed_on_logout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sessions_module, "MAX_SESSIONS", 3)
    sessions = Sessions(ttl_s=100)
    cookies = [sessions.open(TOKEN, now=1000.0 + n)[0] for n in range(4)]
    assert len(sessions) == 3
    assert sessions.get(cookies[0], now=1010.0) is None  # the oldest made room
    sessions.close(cookies[3])
    assert sessions.get(cookies[3], now=1010.0) is None
    assert sessions.get(cookies[1], now=1010.0) is not None
    # Expired ones go at the next login, whoever logs in.
    sessions.open(TOKEN, now=5000.0)
    assert len(sessions) == 1


@pytest.mark.parametrize(
    ("asked", "goes_to"),
    [
        ("/console/leads?q=%2B1305", "/console/leads?q=%2B1305"),
        ("/console", "/console"),
        ("/console?x=//y", "/console?x=//y"),
        (None, "/console"),
        ("", "/console"),
        ("https://elsewhere.example/console", "/console"),
        ("//elsewhere.example/console", "/console"),
        ("/console//elsewhere.example", "/console"),
        ("/console\\..\\x", "/console"),
        ("/consoles", "/console"),
        ("/admin/leads", "/console"),
        ("/console/\r\nSet-Cookie: x=1", "/console"),
    ],
)
def test_a_login_goes_back_only_to_a_console_page(asked: str | None, goes_to: str) -> None:
    assert safe_next(asked) == goes_to


async def log_in(router: Operated, token: str) -> tuple[dict[str, str], str]:
    """The session's cookie and its CSRF token, logged in with the login form as a browser is."""
    async with router.session.get(router.base + "/console/login") as form:
        text = await form.text()
        login_cookie = SimpleCookie(form.headers["Set-Cookie"])["pingtree_console_login"].value
    found = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert found is not None
    async with router.session.post(
        router.base + "/console/login",
        data={"csrf_token": found[1], "token": token, "next": "/console"},
        headers={"Cookie": f"pingtree_console_login={login_cookie}"},
        allow_redirects=False,
    ) as answer:
        assert answer.status == 303, await answer.text()
        cookie = SimpleCookie(answer.headers["Set-Cookie"])["pingtree_console"].value
    cookies = {"Cookie": f"pingtree_console={cookie}"}
    async with router.session.get(router.base + "/console", headers=cookies) as page:
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', await page.text())
    assert csrf is not None
    return cookies, csrf[1]


async def test_open_sessions_follow_a_reload_of_the_operators(
    buyers: BuyerServer, serve_app: ServeApp, tmp_path: Path
) -> None:
    raw = config_dict([make_buyer("a", buyers)], operators=OPERATORS)
    router = await serve_file(serve_app, tmp_path / "buyers.yaml", raw)
    alice, alice_csrf = await log_in(router, ALICE)
    bob, _ = await log_in(router, BOB)

    async def reveal_as_alice() -> int:
        async with router.session.post(
            router.base + "/console/leads/ld_none/reveal",
            headers={**alice, "X-CSRF-Token": alice_csrf},
        ) as answer:
            return answer.status

    assert await reveal_as_alice() == 404  # an admin: past the guard, and no such lead

    # alice becomes a viewer, bob leaves the file.
    router.write(
        config_dict([make_buyer("a", buyers)], operators=[{**OPERATORS[0], "role": "viewer"}])
    )
    assert (await router.call("POST", "/admin/reload", ALICE))[0] == 200
    async with router.session.get(
        router.base + "/console", headers=bob, allow_redirects=False
    ) as page:
        assert (page.status, page.headers["Location"]) == (303, "/console/login?next=/console")
    async with router.session.get(router.base + "/console", headers=alice) as page:
        assert page.status == 200
        assert "alice" in await page.text()
    assert await reveal_as_alice() == 403
