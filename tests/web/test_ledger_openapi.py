"""The ledger's operator routes answer as /openapi.json says (web/ledger_openapi.py): every status
they answered with in these calls is documented for its route, and every body is valid against
its documented schema, closed (tests/web/documented.py): no field undocumented, none missing, null
only where the document allows it. On the embedded ledger, without one (Redis and no database
URL: 409 `ledger_off`) and with its database down (503)."""

from __future__ import annotations

import asyncio
from typing import Any

from pingtree.web.app import ServeOptions, create_app
from pingtree.web.ledger_views import REPORT_COLUMNS
from tests.buyers import BuyerServer
from tests.conftest import (
    ADMIN_TOKEN,
    RouterClient,
    ServeApp,
    StartRouter,
    make_buyer,
    make_config,
    sample,
)
from tests.web.documented import ask

VIEWER_TOKEN = "viewer-token-for-openapi-tests"
LEADS, LEAD, REPORTS = "/admin/leads", "/admin/leads/{id}", "/admin/reports"
AUDIT, FORGET = "/admin/audit", "/admin/forget"


def consumer(n: int, **fields: Any) -> dict[str, Any]:
    lead = sample("mva-legal")
    lead.update(lead_id=f"doc-{n}", phone=f"+1305555{2000 + n:04d}", email=f"d{n}@example.com")
    return {**lead, **fields}


async def get(router: RouterClient, path: str, route: str, token: str | None = ADMIN_TOKEN) -> Any:
    status, answer, _ = await ask(router.session, "GET", router.url(path), route, token=token)
    assert status == 200, answer
    return answer


async def until(router: RouterClient, path: str, items: str, count: int) -> list[Any]:
    """The list at `path` once it holds `count` items: the writer files within moments."""
    async with asyncio.timeout(10):
        while True:
            found = (await get(router, path, path.split("?")[0]))[items]
            if len(found) >= count:
                return list(found)
            await asyncio.sleep(0.05)


async def test_the_ledger_routes_answer_as_documented(
    buyers: BuyerServer, start_router: StartRouter
) -> None:
    buyers.set("firm-a", bid=19.99)  # no binary float is a multiple of 0.01 here
    router = await start_router(
        make_config(
            [make_buyer("firm-a", buyers, verticals=["mva"])],
            router={"dedup_secret": "openapi-tests-dedup-secret"},
            operators=[{"name": "vic", "token": VIEWER_TOKEN, "role": "viewer"}],
        )
    )
    sold = [(await router.send(consumer(n)))[1]["id"] for n in range(2)]
    await router.send(consumer(9, vertical="solar"))  # nobody buys it: no buyer, no price
    listed = await until(router, f"{LEADS}?limit=500", "leads", 3)
    assert [lead["price"] for lead in listed] == [None, 19.99, 19.99]

    page = await get(router, f"{LEADS}?limit=2&tz=America/New_York&from=2020-01-01", LEADS)
    assert page["next_cursor"] is not None
    last = await get(router, f"{LEADS}?limit=2&cursor={page['next_cursor']}", LEADS)
    assert last["next_cursor"] is None and len(last["leads"]) == 1
    for lead in listed:
        for token in (ADMIN_TOKEN, VIEWER_TOKEN):
            view = await get(router, f"{LEADS}/{lead['id']}", LEAD, token)
            assert view["lead"]["vertical"] and view["pii_erased_at"] is None

    for query in ("by=buyer", "by=hour&tz=America/New_York", "by=state&test=true", "by=sub_id"):
        report = await get(router, f"{REPORTS}?{query}", REPORTS)
        assert report["rows"] and report["totals"]["key"] == "total", query
    status, csv_text, headers = await ask(
        router.session,
        "GET",
        router.url(f"{REPORTS}?by=day&format=csv"),
        REPORTS,
        token=ADMIN_TOKEN,
    )
    assert status == 200 and headers["Content-Disposition"].startswith("attachment; filename=")
    assert csv_text.splitlines()[0] == ",".join(REPORT_COLUMNS)

    async def refused(
        method: str, path: str, route: str, token: str | None, body: Any = None
    ) -> int:
        status, _, _ = await ask(
            router.session, method, router.url(path), route, token=token, body=body
        )
        return status

    for path, route in [
        (LEADS, LEADS),
        (f"{LEADS}/{sold[0]}", LEAD),
        (REPORTS, REPORTS),
        (AUDIT, AUDIT),
    ]:
        assert await refused("GET", path, route, None) == 401
    assert await refused("GET", f"{LEADS}/no-such-lead", LEAD, ADMIN_TOKEN) == 404
    for query in [
        "limit=0",
        "cursor=not-ours",
        "state=F%20L",
        "from=0001-01-01&tz=Asia/Tokyo",  # before year 1 in UTC: was a 500
        "to=9999-12-31T23:00:00-10:00",  # after 9999 in UTC: was a 500
    ]:
        assert await refused("GET", f"{LEADS}?{query}", LEADS, ADMIN_TOKEN) == 400, query
    bad_tz = (f"{REPORTS}?tz=Mars/Olympus", f"{REPORTS}?tz=America", f"{LEADS}?tz={'x' * 300}")
    for path in (f"{REPORTS}?by=week", f"{REPORTS}?format=xml", *bad_tz):
        assert await refused("GET", path, REPORTS, ADMIN_TOKEN) == 400, path
    assert await refused("GET", f"{AUDIT}?from=yesterday", AUDIT, ADMIN_TOKEN) == 400

    phone = {"phone": consumer(0)["phone"]}
    assert await refused("POST", FORGET, FORGET, None, phone) == 401
    assert await refused("POST", FORGET, FORGET, VIEWER_TOKEN, phone) == 403
    assert await refused("POST", FORGET, FORGET, ADMIN_TOKEN, {"phone": "12"}) == 422
    assert await refused("POST", FORGET, FORGET, ADMIN_TOKEN, [phone]) == 400
    status, forgotten, _ = await ask(
        router.session, "POST", router.url(FORGET), FORGET, token=ADMIN_TOKEN, body=phone
    )
    assert status == 200 and forgotten["leads"] == 1
    erased = await get(router, f"{LEADS}/{sold[0]}", LEAD)
    assert erased["lead"]["phone"] is None and erased["pii_erased_at"] is not None
    (entry,) = await until(router, f"{AUDIT}?action=forget", "entries", 1)
    assert entry["operator"] == "admin"


async def test_without_a_ledger_the_routes_say_ledger_off_and_a_lead_comes_from_the_store(
    buyers: BuyerServer, serve_app: ServeApp, redis_url: str
) -> None:
    buyers.set("firm-a", bid=30)
    config = make_config([make_buyer("firm-a", buyers)])
    router = RouterClient(*await serve_app(create_app(config, ServeOptions(redis_url=redis_url))))
    _, answer, _ = await router.send(consumer(1))
    view = await get(router, f"{LEADS}/{answer['id']}", LEAD)
    assert view["lead"] is None and view["buyer_id"] == "firm-a"
    for method, path, body in [
        ("GET", LEADS, None),
        ("GET", REPORTS, None),
        ("GET", AUDIT, None),
        ("POST", FORGET, {"email": "d1@example.com"}),
    ]:
        status, error, _ = await ask(
            router.session, method, router.url(path), path, token=ADMIN_TOKEN, body=body
        )
        assert (status, error["error"]) == (409, "ledger_off"), path
    status, health, _ = await ask(
        router.session, "GET", router.url("/healthz"), "/healthz", token=None
    )
    assert status == 200 and "ledger" not in health


async def test_a_ledger_whose_database_is_down_answers_503_and_healthz_says_so(
    buyers: BuyerServer, serve_app: ServeApp
) -> None:
    buyers.set("firm-a", bid=30)
    config = make_config([make_buyer("firm-a", buyers)])
    nobody = ServeOptions(database_url="postgresql://pingtree@127.0.0.1:9/nothing-listens")
    router = RouterClient(*await serve_app(create_app(config, nobody)))
    _, answer, _ = await router.send(consumer(1))  # sold all the same: the record waits
    assert answer["status"] == "sold"
    for path, route in [(LEADS, LEADS), (f"{LEADS}/{answer['id']}", LEAD), (REPORTS, REPORTS)]:
        status, error, headers = await ask(
            router.session, "GET", router.url(path), route, token=ADMIN_TOKEN
        )
        assert (status, error["error"]) == (503, "ledger_unavailable"), path
        assert headers["Retry-After"] == "1"
    async with asyncio.timeout(10):
        while True:
            _, health, _ = await ask(
                router.session, "GET", router.url("/healthz"), "/healthz", token=None
            )
            if not health["ledger"]["up"]:
                break
            await asyncio.sleep(0.05)
    assert health["status"] == "ok"  # the ledger down costs no lead: never a 503
