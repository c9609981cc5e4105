"""The ledger through real `pingtree serve` processes, real buyers on loopback, a real Redis and a
real PostgreSQL (DESIGN §12): a router SIGKILLed under load and restarted has every answered lead
on record exactly once (on its state file; on Redis + PostgreSQL); a PostgreSQL that is down, at
start or under traffic, delays rows and never an auction, while /healthz and the metrics say how
far behind the ledger is; three routers on Redis + PostgreSQL report, cent for cent, what their
buyers say they bought. The embedded ledger through HTTP is test_ledger.py's."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.buyers import BuyerServer
from tests.conftest import ADMIN_TOKEN, OTHER_KEY, SELLER_KEY, config_dict, make_buyer
from tests.e2e.router_processes import (
    Answer,
    Seller,
    StartRouters,
    consumer,
    seller,
)
from tests.postgres_server import PostgresProcess
from tests.processes import children_of, ends_within

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SELLERS = [
    {"id": "acme-media", "api_key": SELLER_KEY, "revshare": 0.8, "reveal": ["buyer", "price"]},
    {"id": "other-media", "api_key": OTHER_KEY, "payout": 15, "reveal": ["buyer", "price"]},
]
BUDGET_MS = 1500
# A claim outlives its router by the budget and the router's grace (auction/router.py): a lead
# cut off by the kill is resent after that, and answered by a takeover or a new auction.
CLAIM_LEASE_S = BUDGET_MS / 1000 + 2.0


@pytest.fixture(scope="module")
def postgres_process() -> Iterator[PostgresProcess]:
    """A PostgreSQL the tests stop and start; each test leaves it running."""
    server = PostgresProcess()
    server.start()
    yield server
    server.remove()


def market(buyers: BuyerServer, **router: Any) -> dict[str, Any]:
    """Every lead sells: `firm` bids 41.35, `backup` 17.85; posts take a little time, so a kill
    finds some in flight."""
    buyers.set("firm", bid=41.35, post_delay_s=0.01)
    buyers.set("backup", bid=17.85, post_delay_s=0.01)
    return config_dict(
        [make_buyer("firm", buyers), make_buyer("backup", buyers)],
        router={"budget_ms": BUDGET_MS, "post_reserve_ms": 500, **router},
        sellers=SELLERS,
    )


# the operator's view -------------------------------------------------------------------------


async def admin_json(client: Seller, url: str) -> Any:
    """An operator's GET, its money as Decimal: compared cent for cent, never as floats."""
    async with client.session.get(url, headers=ADMIN) as response:
        text = await response.text()
        assert response.status == 200, text
        return json.loads(text, parse_float=Decimal)


async def filed_leads(client: Seller, base: str) -> list[dict[str, Any]]:
    """The whole lead list, page after page of 100."""
    leads: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = await admin_json(client, f"{base}/admin/leads?limit=100&cursor={cursor}")
        leads += page["leads"]
        cursor = page["next_cursor"]
        if cursor is None:
            return leads


async def ledger_health(client: Seller, base: str) -> dict[str, Any]:
    async with client.session.get(f"{base}/healthz") as response:
        return dict((await response.json())["ledger"])


async def caught_up(client: Seller, base: str, timeout_s: float = 20.0) -> dict[str, Any]:
    """/healthz's ledger once it is up with no backlog (read from the outbox when asked: every
    record put before this call is in it until filed)."""
    asked = time.monotonic()
    health: dict[str, Any] = {}
    while time.monotonic() - asked < timeout_s:
        health = await ledger_health(client, base)
        if health["up"] and health["backlog"] == 0:
            return health
        await asyncio.sleep(0.05)
    raise AssertionError(f"the ledger did not catch up in {timeout_s} s: {health}")


async def ledger_metrics(client: Seller, base: str) -> dict[str, float]:
    _, text, _ = await client.get(f"{base}/metrics")
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name in ("pingtree_ledger_up", "pingtree_ledger_backlog")
    }


def money(value: Any) -> Decimal:
    return Decimal(str(value))


def check_exactly_once(leads: list[dict[str, Any]], answered: set[str], report: Any) -> None:
    """Every answered lead listed once and nothing else; the rollups count each lead once: the
    report's totals are the list's own count, sales and revenue."""
    ids = [lead["id"] for lead in leads]
    assert len(ids) == len(set(ids)), Counter(ids).most_common(3)
    assert set(ids) == answered, (len(set(ids) - answered), len(answered - set(ids)))
    totals = report["totals"]
    sold = [lead for lead in leads if lead["status"] == "sold"]
    assert (totals["leads"], totals["sold"]) == (len(answered), len(sold))
    assert money(totals["revenue"]) == sum((money(lead["price"]) for lead in sold), Decimal(0))


# sending -----------------------------------------------------------------------------------------


async def send_all(
    client: Seller,
    bases: Sequence[str],
    leads: Sequence[tuple[dict[str, Any], str]],
    in_flight: int,
    on_answer: Callable[[Answer], None] | None = None,
) -> list[Answer | BaseException]:
    """Each (lead, seller key) to the next router in turn, `in_flight` at a time; a lead a
    router did not answer (it was killed) is its exception."""
    gate = asyncio.Semaphore(in_flight)

    async def one(n: int, lead: dict[str, Any], key: str) -> Answer | BaseException:
        async with gate:
            try:
                answer = await client.send(bases[n % len(bases)], lead, {"X-API-Key": key})
            except aiohttp.ClientError as exc:
                return exc
        if on_answer is not None:
            on_answer(answer)
        return answer

    return await asyncio.gather(*(one(n, lead, key) for n, (lead, key) in enumerate(leads)))


def answered_ok(answers: Sequence[Answer | BaseException]) -> list[Answer]:
    done = [a for a in answers if isinstance(a, Answer)]
    assert all(a.status == 200 for a in done), [a.body for a in done if a.status != 200][:3]
    return done


# a router SIGKILLed under load -------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["state-file", "redis-postgresql"])
async def test_a_router_killed_under_load_and_restarted_has_every_answered_lead_once(
    backend: str,
    start: StartRouters,
    own_loop_buyers: BuyerServer,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """200 leads, 20 at a time; the router is SIGKILLed once 80 are answered, with auctions,
    posts, outbox puts and the writer's batch in flight, and restarted on the same state (the
    state file, whose ledger is the file beside it; or Redis and PostgreSQL). The leads it cut
    off are resent, so each of the 200 has its answer. Then every answered lead is in the ledger
    once, and nothing else is."""
    if backend == "state-file":
        redis_url, options = None, ["--state", str(tmp_path / "state.db")]
    else:
        redis_url = request.getfixturevalue("redis_url")
        options = ["--database-url", request.getfixturevalue("postgres_url")]
    config = market(own_loop_buyers)
    (first,) = await start(config, redis_url, options=options)
    leads = [(consumer(n), SELLER_KEY if n % 4 else OTHER_KEY) for n in range(200)]
    answered: list[Answer] = []

    def kill_at_80(answer: Answer) -> None:
        answered.append(answer)
        if len(answered) == 80:
            first.process.kill()

    async with asyncio.timeout(45), seller() as client:
        answers = await send_all(client, [first.base], leads, 20, kill_at_80)
        killed_at = time.monotonic()
        assert first.process.wait(5) == -9
        cut_off = [n for n, answer in enumerate(answers) if not isinstance(answer, Answer)]
        assert cut_off, "the kill should have cut some leads off"
        (second,) = await start(config, redis_url, options=options)
        await asyncio.sleep(killed_at + CLAIM_LEASE_S - time.monotonic())
        resent = await send_all(client, [second.base], [leads[n] for n in cut_off], 20)
        final = answered_ok(answers) + answered_ok(resent)
        assert len(final) == 200
        ids = {answer.body["id"] for answer in final}
        assert len(ids) == 200  # one lead, one id: a resend is answered under the first's

        await caught_up(client, second.base)
        report = await admin_json(client, f"{second.base}/admin/reports?by=seller")
        check_exactly_once(await filed_leads(client, second.base), ids, report)
    print(f"{backend}: {len(answered)} answered before the kill, {len(cut_off)} cut off")


# a database that is down -------------------------------------------------------------------------


def numbered_leads() -> Callable[[int], list[tuple[dict[str, Any], str]]]:
    """`take(count)`: the next `count` consumers, each a new lead."""
    numbers = iter(range(1_000_000))
    return lambda count: [(consumer(next(numbers)), SELLER_KEY) for _ in range(count)]


async def behind(client: Seller, base: str, backlog: int) -> dict[str, Any]:
    """/healthz's ledger once it says the database is down with at least `backlog` waiting."""
    health: dict[str, Any] = {}
    for _ in range(100):
        health = await ledger_health(client, base)
        if not health["up"] and health["backlog"] >= backlog:
            return health
        await asyncio.sleep(0.1)
    raise AssertionError(f"/healthz did not say the ledger is down, {backlog} behind: {health}")


async def test_serve_starts_while_its_postgresql_is_down_and_files_once_it_answers(
    start: StartRouters, own_loop_buyers: BuyerServer, postgres_process: PostgresProcess
) -> None:
    """The database does not answer at start, so it is not migrated: the router serves all the
    same, and its writer migrates it, then files, once it answers."""
    database = postgres_process.create_database()
    postgres_process.stop()
    take = numbered_leads()
    try:
        (router,) = await start(market(own_loop_buyers), None, options=["--database-url", database])
        async with asyncio.timeout(20), seller() as client:
            answers = answered_ok(await send_all(client, [router.base], take(10), 5))
            assert [answer.body["status"] for answer in answers] == ["sold"] * 10
            await behind(client, router.base, 10)
    finally:
        postgres_process.start()
    async with asyncio.timeout(30), seller() as client:
        await caught_up(client, router.base, timeout_s=25)
        report = await admin_json(client, f"{router.base}/admin/reports?by=buyer")
        ids = {answer.body["id"] for answer in answers}
        check_exactly_once(await filed_leads(client, router.base), ids, report)
    assert "the database did not answer at start" in router.output()
    assert "migrated, filing rows" in router.output()


async def test_a_postgresql_that_is_down_delays_rows_and_never_an_auction(
    start: StartRouters,
    own_loop_buyers: BuyerServer,
    redis_url: str,
    postgres_process: PostgresProcess,
) -> None:
    """Redis and a PostgreSQL that stops under traffic: every lead is answered 200 while it is
    down, as fast as before, /healthz and the metrics show the ledger down and its backlog
    growing; once it is back the backlog drains and every answered lead is on record once.

    As fast as before: the medians of 40 leads each, 4 at a time, before and during, within 1.5
    times plus 100 ms. The answer path never touches the database; while it is down the router
    only adds its writer's retries (a refused connection, at most every 10 s) and backlog reads
    (one a second). An answer that waited for the ledger would wait at least the writer's first
    backoff (200 ms) or libpq's connect timeout (2 s or more): above the bound. Medians of tens of
    ms on a busy 2-core machine move by less than the 100 ms given."""
    database = postgres_process.create_database()
    (router,) = await start(
        market(own_loop_buyers), redis_url, options=["--database-url", database]
    )
    take = numbered_leads()
    answered: set[str] = set()
    async with asyncio.timeout(50), seller() as client:

        async def send(count: int) -> list[float]:
            answers = answered_ok(await send_all(client, [router.base], take(count), 4))
            assert len(answers) == count
            answered.update(answer.body["id"] for answer in answers)
            return [answer.seconds for answer in answers]

        await send(10)  # connections opened, code paths warm
        before = await send(40)
        await caught_up(client, router.base)
        postgres_process.stop()
        try:
            during = await send(20)
            first = await behind(client, router.base, 20)
            during += await send(20)
            second = await behind(client, router.base, first["backlog"] + 20)
            assert second["lag_s"] > first["lag_s"] > 0
            metrics = await ledger_metrics(client, router.base)
            assert metrics["pingtree_ledger_up"] == 0
            assert metrics["pingtree_ledger_backlog"] >= first["backlog"] + 20
        finally:
            postgres_process.start()
        medians = statistics.median(before), statistics.median(during)
        assert medians[1] <= 1.5 * medians[0] + 0.1, medians

        await caught_up(client, router.base, timeout_s=25)
        report = await admin_json(client, f"{router.base}/admin/reports?by=day")
        check_exactly_once(await filed_leads(client, router.base), answered, report)
    print(f"median answer before and while the database was down: {medians}")


# three routers, one ledger -----------------------------------------------------------------------


BUYERS = ("premium", "picky", "steady")


def three_buyers_market(buyers: BuyerServer) -> dict[str, Any]:
    """`premium` bids 47.35 up to a daily cap of 90, `picky` 33.10 but declines every third
    ping, `steady` 18.45 on every lead. Every time limit is far above an answer's few ms: no
    clock may decide a sale here (a post cut off would be a sale the buyer counts and the router
    does not know of), only the market."""
    buyers.set("premium", bid=47.35)
    buyers.set("picky", bid=33.10, decline_every=3)
    buyers.set("steady", bid=18.45)
    patient = {"timeout_ms": 5000}
    return config_dict(
        [
            make_buyer("premium", buyers, caps={"daily": 90}, ping=patient, post=patient),
            make_buyer("picky", buyers, ping=patient, post=patient),
            make_buyer("steady", buyers, ping=patient, post=patient),
        ],
        router={"budget_ms": 12_000, "post_reserve_ms": 6000, "max_in_flight": 200},
        sellers=SELLERS,
    )


def bought(buyers: BuyerServer) -> dict[str, list[dict[str, Any]]]:
    """What each buyer says it bought: every post it got (each one it accepted), its price the
    one the router posted."""
    return {name: list(buyers.recorded(name).posts) for name in BUYERS}


def total(values: Any) -> Decimal:
    return sum((money(value) for value in values), Decimal(0))


def check_by_buyer(report: Any, buyers: BuyerServer, answers: list[Answer]) -> None:
    """Each buyer's row: its sales and revenue as its posts say, its pings and bids as it
    counted them, the sellers' payouts on its sales as the answers told them."""
    rows = {row["key"]: row for row in report["rows"]}
    assert set(rows) == set(BUYERS)
    for name, sales in bought(buyers).items():
        row = rows[name]
        paid = [a.body["payout"] for a in answers if a.body["buyer_id"] == name]
        assert (row["sold"], row["wins"]) == (len(sales), len(sales)), name
        assert money(row["revenue"]) == total(post["price"] for post in sales), name
        assert money(row["payout"]) == total(paid), name
        assert money(row["margin"]) == money(row["revenue"]) - money(row["payout"]), name
        pinged = len(buyers.recorded(name).pings)
        declined = pinged // 3 if name == "picky" else 0
        assert (row["pings"], row["bids"]) == (pinged, pinged - declined), name
    assert report["totals"]["sold"] == len(answers)


def check_by_seller(report: Any, buyers: BuyerServer, sent: list[tuple[str, Answer]]) -> None:
    """Each seller's row: its leads, the payouts its answers told it, and the revenue of what
    the buyers bought from it (a post names its seller); the totals, every answer's payout and
    every post's price."""
    posts = [post for sales in bought(buyers).values() for post in sales]
    rows = {row["key"]: row for row in report["rows"]}
    assert set(rows) == {"acme-media", "other-media"}
    for name in rows:
        mine = [answer.body for seller_id, answer in sent if seller_id == name]
        assert (rows[name]["leads"], rows[name]["sold"]) == (len(mine), len(mine)), name
        assert money(rows[name]["payout"]) == total(body["payout"] for body in mine), name
        revenue = total(post["price"] for post in posts if post["seller"] == name)
        assert money(rows[name]["revenue"]) == revenue, name
    totals = report["totals"]
    assert money(totals["payout"]) == total(answer.body["payout"] for _, answer in sent)
    assert money(totals["revenue"]) == total(post["price"] for post in posts)


async def test_three_routers_report_what_their_buyers_bought_cent_for_cent(
    start: StartRouters,
    own_loop_buyers: BuyerServer,
    redis_url: str,
    postgres_url: str,
) -> None:
    """600 leads from two sellers over three routers, 30 at a time; once the ledger has caught
    up, any router's reports by buyer and by seller are what the buyers and the answers say."""
    buyers = own_loop_buyers
    three = await start(
        three_buyers_market(buyers), redis_url, count=3, options=["--database-url", postgres_url]
    )
    bases = [router.base for router in three]
    keys = {SELLER_KEY: "acme-media", OTHER_KEY: "other-media"}
    leads = [(consumer(n), OTHER_KEY if n % 5 == 0 else SELLER_KEY) for n in range(600)]
    async with asyncio.timeout(55), seller() as client:
        answers = answered_ok(await send_all(client, bases, leads, 30))
        assert [answer.body["status"] for answer in answers] == ["sold"] * 600
        await caught_up(client, bases[0])
        by_buyer = await admin_json(client, f"{bases[1]}/admin/reports?by=buyer")
        by_seller = await admin_json(client, f"{bases[2]}/admin/reports?by=seller")
    assert len(bought(buyers)["premium"]) == 90  # its cap
    check_by_buyer(by_buyer, buyers, answers)
    sent = [(keys[key], answer) for (_, key), answer in zip(leads, answers, strict=True)]
    check_by_seller(by_seller, buyers, sent)
    print(f"sold by buyer: { {name: len(sales) for name, sales in bought(buyers).items()} }")


# serve without a state file: a temporary ledger file, and its filing process ----------------


def ledger_folders(tmp: Path) -> dict[int, Path]:
    """The temporary ledgers under `tmp`, by the pid of the router that made each."""
    return {int(p.name.split("-")[2]): p for p in tmp.glob("pingtree-ledger-*-*")}


async def test_without_a_state_file_the_ledger_is_a_temporary_file_removed_even_after_a_kill(
    start: StartRouters, buyers: BuyerServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    config = market(buyers)
    async with seller() as client:
        [killed] = await start(config, None)
        answer = await client.send(killed.base, consumer(1))
        await caught_up(client, killed.base)
        filed = await filed_leads(client, killed.base)
        assert [lead["id"] for lead in filed] == [answer.body["id"]]
        pid = killed.process.pid
        assert (ledger_folders(tmp)[pid] / "ledger.db").is_file()
        [filer] = children_of(pid)  # the filing process, started by the first batch
        killed.process.kill()  # SIGKILL: the router removes nothing, PII stays on disk
        killed.process.wait()
        assert ends_within(filer, 10)  # its pipe closed with its router
        assert pid in ledger_folders(tmp)

        [kept] = await start(config, None)  # the next router removes the dead one's folder
        assert list(ledger_folders(tmp)) == [kept.process.pid]
        kept.process.terminate()
        kept.process.wait(10)
        assert ledger_folders(tmp) == {}
