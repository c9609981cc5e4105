"""The console's foundation in a real Chromium against a real `pingtree serve` (DESIGN §13): a
logged-out operator is sent to the login page and back; a wrong token is refused, saying so;
logging out ends the session (its cookie is worth nothing after, to any client); a POST without
its session's CSRF token is refused, 403; the session cookie is HttpOnly and SameSite=Strict,
with an expiry; every /console response carries the security headers, and the pages break
none of their Content-Security-Policy (every `tab` checks that when its test ends)."""

from __future__ import annotations

import re
import time
from http.cookies import SimpleCookie

import pytest
from playwright.sync_api import expect

from tests.browser.console import ConsoleRouter, Tab
from tests.e2e.test_operators import ALICE, BOB

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SESSION_COOKIE = "pingtree_console"
PAGES = ["/console", "/console/leads?status=sold&q=%2B13055551001", "/console/leads/ld_nothing"]


@pytest.mark.parametrize("path", PAGES)
def test_a_logged_out_operator_is_sent_to_log_in_then_back_to_the_page(tab: Tab, path: str) -> None:
    tab.goto(path)
    assert tab.page.url.startswith(tab.router.url("/console/login?next="))
    expect(tab.page.get_by_role("heading", name="Log in to the console")).to_be_visible()
    tab.page.get_by_label("Operator token").fill(BOB)
    tab.page.get_by_role("button", name="Log in").click()
    tab.page.wait_for_url(tab.router.url(path))
    expect(tab.page.locator("header .who")).to_contain_text("bob viewer")


def test_a_wrong_token_is_refused_with_a_message(tab: Tab) -> None:
    tab.goto("/console")
    tab.page.get_by_label("Operator token").fill("not-anyones-token-at-all")
    with tab.page.expect_response(tab.router.url("/console/login")) as posted:
        tab.page.get_by_role("button", name="Log in").click()
    assert posted.value.status == 401
    expect(tab.page.get_by_role("alert")).to_have_text(
        "That token is not an operator's: check it and try again."
    )
    assert [c for c in tab.page.context.cookies() if c["name"] == SESSION_COOKIE] == []
    # The form still works: the right token now logs in, back to the page first asked for.
    tab.page.get_by_label("Operator token").fill(ALICE)
    tab.page.get_by_role("button", name="Log in").click()
    tab.page.wait_for_url(tab.router.url("/console"))


def test_logging_out_ends_the_session_for_every_client(tab: Tab, console: ConsoleRouter) -> None:
    tab.log_in(ALICE)
    cookie = tab.cookie(SESSION_COOKIE)["value"]
    assert console.http("GET", "/console", cookies={SESSION_COOKIE: cookie}).status == 200
    tab.page.get_by_role("button", name="Log out").click()
    tab.page.wait_for_url(re.compile(r".*/console/login$"))
    assert [c for c in tab.page.context.cookies() if c["name"] == SESSION_COOKIE] == []
    # The old cookie, sent again by a client that kept it, opens nothing now.
    again = console.http("GET", "/console", cookies={SESSION_COOKIE: cookie})
    assert (again.status, again.headers["Location"]) == (303, "/console/login?next=/console")
    assert tab.goto("/console") == 200 and "/console/login" in tab.page.url


def test_a_post_without_its_csrf_token_is_refused(tab: Tab, console: ConsoleRouter) -> None:
    tab.log_in(ALICE)
    cookies = {SESSION_COOKIE: tab.cookie(SESSION_COOKIE)["value"]}
    token = tab.page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert token
    # A forged logout: the session's cookie, no token or another one. Refused, and nothing done.
    for form in ({}, {"csrf_token": "x" * len(token)}, {"csrf_token": ""}):
        refused = console.http("POST", "/console/logout", cookies=cookies, data=form)
        assert refused.status == 403, refused.text
        assert "CSRF" in refused.text
    wrong_header = {"X-CSRF-Token": token[::-1]}
    refused = console.http("POST", "/console/logout", cookies=cookies, headers=wrong_header)
    assert refused.status == 403
    assert console.http("GET", "/console", cookies=cookies).status == 200
    # No session at all: 403 too, not a redirect that a script could follow.
    assert console.http("POST", "/console/logout", data={"csrf_token": token}).status == 403
    # A forged login (no login form's cookie) is refused as well.
    forged = console.http("POST", "/console/login", data={"token": ALICE, "csrf_token": "x"})
    assert forged.status == 403 and "Set-Cookie" not in forged.headers
    # With its token (the form field, or the header htmx sends), the same POST is done.
    done = console.http("POST", "/console/logout", cookies=cookies, headers={"X-CSRF-Token": token})
    assert (done.status, done.headers["Location"]) == (303, "/console/login")
    assert console.http("GET", "/console", cookies=cookies).status == 303


def test_a_form_with_a_content_type_the_parser_chokes_on_is_a_400(
    tab: Tab, console: ConsoleRouter
) -> None:
    # A parameter ending in * with no value made aiohttp's form parser raise IndexError (a 500).
    tab.log_in(ALICE)
    cookies = {SESSION_COOKIE: tab.cookie(SESSION_COOKIE)["value"]}
    token = tab.page.locator('meta[name="csrf-token"]').get_attribute("content")
    malformed = {"Content-Type": "application/x-www-form-urlencoded; a*"}
    form = {"csrf_token": token or "", "token": ALICE}
    for path, sent in (("/console/logout", cookies), ("/console/login", None)):
        answer = console.http("POST", path, cookies=sent, headers=malformed, data=form)
        assert answer.status in (400, 403), (path, answer.status, answer.text[:300])
    assert console.http("GET", "/console", cookies=cookies).status == 200  # still logged in


def test_the_session_cookie_is_httponly_samesite_strict_and_expires(tab: Tab) -> None:
    tab.log_in(BOB)
    cookie = tab.cookie(SESSION_COOKIE)
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/console"
    assert cookie["secure"] is False  # plain HTTP here: see the next test for TLS
    assert 12 * 3600 - 60 < cookie["expires"] - time.time() <= 12 * 3600
    assert SESSION_COOKIE not in tab.page.evaluate("document.cookie")


def test_the_session_cookie_is_secure_behind_tls(console: ConsoleRouter) -> None:
    """A proxy that ended TLS says so (X-Forwarded-Proto: https): the cookie is then Secure."""
    form = console.http("GET", "/console/login")
    login_cookie = SimpleCookie(form.headers["Set-Cookie"])["pingtree_console_login"]
    assert "Secure" not in form.headers["Set-Cookie"]
    found = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert found is not None
    answer = console.http(
        "POST",
        "/console/login",
        cookies={"pingtree_console_login": login_cookie.value},
        headers={"X-Forwarded-Proto": "https"},
        data={"csrf_token": found[1], "token": ALICE, "next": "/console"},
    )
    assert answer.status == 303
    session = SimpleCookie(answer.headers["Set-Cookie"])[SESSION_COOKIE]
    assert session["secure"] is True
    assert session["httponly"] is True and session["samesite"] == "Strict"


def test_every_console_response_has_the_security_headers(tab: Tab, console: ConsoleRouter) -> None:
    tab.log_in(ALICE)
    cookies = {SESSION_COOKIE: tab.cookie(SESSION_COOKIE)["value"]}
    answers = {
        "login": console.http("GET", "/console/login"),
        "redirect": console.http("GET", "/console"),
        "page": console.http("GET", "/console", cookies=cookies),
        "missing": console.http("GET", "/console/no-such-page", cookies=cookies),
        "refused": console.http("POST", "/console/logout", cookies=cookies),
        "static": console.http("GET", "/console/static/console.css"),
    }
    for name, answer in answers.items():
        assert answer.headers.get("Content-Security-Policy") == CSP, name
        assert answer.headers.get("X-Content-Type-Options") == "nosniff", name
        assert answer.headers.get("Referrer-Policy") == "same-origin", name
        expected = "no-cache" if name == "static" else "no-store"
        assert answer.headers.get("Cache-Control") == expected, name
    # None on the seller's or the operator's API: their answers are not pages.
    assert "Content-Security-Policy" not in console.http("GET", "/healthz").headers


def test_the_pages_keep_their_policy_and_a_violation_would_be_seen(tab: Tab) -> None:
    """Every `tab` fails its test on a CSP violation; here, proof that one is seen: an inline
    style set on a page that forbids them."""
    tab.log_in(ALICE)
    for path in ("/console", "/console/login"):
        tab.goto(path)
    assert tab.problems == []
    with tab.page.expect_console_message(lambda message: "style" in message.text):
        tab.page.evaluate("document.body.setAttribute('style', 'color: red')")
    assert any("CSP: Applying inline style violates" in p for p in tab.problems), tab.problems
    tab.problems.clear()
