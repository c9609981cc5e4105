"""What the console's browser tests drive: a real `pingtree serve` (tests/e2e/router_processes.py)
with real simulated buyers (tests/buyers.py), both on an event loop of their own in a thread of
their own, so the tests themselves are plain synchronous functions driving Playwright's sync API;
and Debian's Chromium, which `make tools` installs (Playwright downloads nothing).

    ConsoleRouter   the router: its URL, a seller sending leads, an operator calling the API, a
                    plain HTTP client (no browser, no cookie jar), the ledger caught up
    Tab             one browser page: go to a console page, log in as an operator, and every
                    Content-Security-Policy violation or script error it met
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
from collections.abc import Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright

from pingtree.core import jsonenc
from tests.buyers import BuyerServer
from tests.conftest import ADMIN_TOKEN
from tests.e2e.router_processes import Seller, Served, StartRouters, routers, seller
from tests.e2e.test_ledger_durable import caught_up

CHROMIUM = Path("/usr/bin/chromium")
T = TypeVar("T")


class Background:
    """An event loop in its own thread: the buyers answer from it and the router's clients run
    on it while a test's thread drives the browser."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="console", daemon=True)
        self._thread.start()

    def run(self, work: Coroutine[Any, Any, T], timeout_s: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout_s)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


@dataclass
class HttpAnswer:
    status: int
    headers: dict[str, str]
    text: str


@dataclass
class ConsoleRouter:
    """One `pingtree serve` for a test module, and its buyers."""

    served: Served
    buyers: BuyerServer
    background: Background
    seller: Seller

    @property
    def base(self) -> str:
        return self.served.base

    def url(self, path: str) -> str:
        return self.base + path

    def send(self, lead: dict[str, Any]) -> dict[str, Any]:
        """A lead sent as a seller sends it (POST /v1/leads); its answer, which must be a 200."""
        answer = self.background.run(self.seller.send(self.base, lead))
        assert answer.status == 200, answer.body
        return answer.body

    def http(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        cookies: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        data: dict[str, str] | None = None,
        json: Any = None,
    ) -> HttpAnswer:
        """One request by a plain HTTP client, redirects not followed: `token` as an operator's
        Bearer token, `cookies` as the only cookies sent."""
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        if cookies:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())

        async def call() -> HttpAnswer:
            async with self.seller.session.request(
                method,
                self.url(path),
                headers=sent,
                data=data,
                json=json,
                allow_redirects=False,
            ) as response:
                return HttpAnswer(response.status, dict(response.headers), await response.text())

        return self.background.run(call())

    def api(self, path: str, token: str) -> Any:
        """An operator's GET on the API: its JSON, which must come with a 200."""
        answer = self.http("GET", path, token=token)
        assert answer.status == 200, answer.text
        return jsonenc.loads(answer.text)

    def caught_up(self) -> None:
        """Until everything put in the ledger's outbox so far is filed (/healthz's backlog, read
        by the router every second: this takes more than a second; `filed` is quicker)."""
        self.background.run(caught_up(self.seller, self.base))

    def filed(self, *lead_ids: str, timeout_s: float = 10.0) -> None:
        """Until each lead is in the ledger's list (GET /admin/leads?q=ID): the writer files
        within a tenth of a second of an answer, when nothing holds it up."""
        for lead_id in lead_ids:
            path = f"/admin/leads?q={lead_id}"
            self.eventually(lambda path=path: self.api(path, ADMIN_TOKEN)["leads"], timeout_s)

    def eventually(self, found: Callable[[], Any], timeout_s: float = 10.0) -> Any:
        """`found()` once it is truthy, asked every 50 ms; an AssertionError at the timeout."""
        give_up = time.monotonic() + timeout_s
        while time.monotonic() < give_up:
            if result := found():
                return result
            time.sleep(0.05)
        raise AssertionError(f"not found within {timeout_s} s")


class RouterProcesses:
    """`routers()` (tests/e2e/router_processes.py) entered and left on the background loop."""

    def __init__(self, background: Background, tmp_path: Path) -> None:
        self._background = background
        self._routers: AbstractAsyncContextManager[StartRouters] = routers(tmp_path)
        self._seller: AbstractAsyncContextManager[Seller] = seller()

    def start(self, config: dict[str, Any]) -> tuple[Served, Seller]:
        start = self._background.run(self._routers.__aenter__())
        client = self._background.run(self._seller.__aenter__())
        (served,) = self._background.run(start(config, None))
        return served, client

    def stop(self) -> None:
        self._background.run(self._seller.__aexit__(None, None, None))
        self._background.run(self._routers.__aexit__(None, None, None))


def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless; as root it needs --no-sandbox (its sandbox refuses root)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is not installed: `make tools` installs it (Debian's `chromium`), as "
            "`make test` does; the console's tests drive it with Playwright",
            pytrace=False,
        )
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)


_CSP_WORDS = re.compile(r"Content Security Policy|Content-Security-Policy|Refused to", re.I)


@dataclass
class Tab:
    """A page of a fresh browser context (no cookie yet) on the console's router."""

    page: Page
    router: ConsoleRouter
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("console", self._console_message)
        self.page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))

    def _console_message(self, message: ConsoleMessage) -> None:
        if _CSP_WORDS.search(message.text):
            self.problems.append(f"CSP: {message.text}")

    def goto(self, path: str) -> int:
        """Open a console page; the status of the page it ends on."""
        response = self.page.goto(self.router.url(path))
        assert response is not None
        return response.status

    def log_in(self, token: str, *, then: str = "/console") -> None:
        """Log in from the login page (reached by opening `then`), and land on `then`."""
        self.goto(then)
        self.page.get_by_label("Operator token").fill(token)
        self.page.get_by_role("button", name="Log in").click()
        self.page.wait_for_url(self.router.url(then))

    def cookie(self, name: str) -> dict[str, Any]:
        found = [c for c in self.page.context.cookies() if c["name"] == name]
        assert len(found) == 1, self.page.context.cookies()
        return dict(found[0])


__all__ = [
    "CHROMIUM",
    "Background",
    "ConsoleRouter",
    "HttpAnswer",
    "RouterProcesses",
    "Tab",
    "launch_chromium",
]
