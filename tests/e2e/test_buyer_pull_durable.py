"""Pull with acknowledgements (DESIGN §15, `deliveries: [{method: pull}]`) through a real
`pingtree serve` that is SIGKILLed: a lead stays listed until its buyer acknowledges it, at least
once, across the kill and the restart on the same state (the ledger beside the state file);
leads answered just before the kill are listed after it; acknowledged ones never come back. On
Redis + PostgreSQL the list and its acknowledgements are every router's."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import config_dict
from tests.e2e.router_processes import Seller, StartRouters, consumer, routers, seller

PULL_KEY = "puller-portal-key"


def pull_market() -> dict[str, Any]:
    """One buyer, bought by assignment at 30 (no post, no ping), its leads pulled."""
    puller = {
        "id": "puller",
        "pricing": "fixed",
        "price": 30,
        "deliveries": [{"method": "pull"}],
        "portal": {"api_key": PULL_KEY},
    }
    return config_dict([puller], router={"dedup_secret": "pull-tests-secret"})


async def pulled(session: aiohttp.ClientSession, base: str) -> list[str]:
    headers = {"Authorization": f"Bearer {PULL_KEY}"}
    async with session.get(f"{base}/v1/buyer/leads?limit=500", headers=headers) as response:
        assert response.status == 200, await response.text()
        return [lead["id"] for lead in (await response.json())["leads"]]


async def pulled_once_filed(
    session: aiohttp.ClientSession, base: str, count: int, timeout_s: float = 20.0
) -> list[str]:
    """The pull list once it holds `count` leads (the writer files them within moments)."""
    async with asyncio.timeout(timeout_s):
        while True:
            ids = await pulled(session, base)
            if len(ids) >= count:
                return ids
            await asyncio.sleep(0.05)


async def ack(session: aiohttp.ClientSession, base: str, ids: list[str]) -> list[str]:
    headers = {"X-API-Key": PULL_KEY}
    url = f"{base}/v1/buyer/leads/ack"
    async with session.post(url, json={"ids": ids}, headers=headers) as response:
        assert response.status == 200, await response.text()
        return list((await response.json())["acknowledged"])


async def sell(client: Seller, base: str, first: int, count: int) -> list[str]:
    ids = []
    for n in range(first, first + count):
        answer = await client.send(base, consumer(n))
        assert (answer.status, answer.body["status"]) == (200, "sold"), answer.body
        ids.append(answer.body["id"])
    return ids


async def test_pulled_leads_are_listed_until_acknowledged_across_a_sigkill(
    tmp_path: Path,
) -> None:
    state = ["--state", str(tmp_path / "state.db")]
    async with routers(tmp_path) as start, seller() as client:
        start_router: StartRouters = start
        (router,) = await start_router(pull_market(), None, options=state)
        first = await sell(client, router.base, 0, 6)
        assert await pulled_once_filed(client.session, router.base, 6) == first
        assert await ack(client.session, router.base, [*first[:3], "ld_not_theirs"]) == sorted(
            first[:3]
        )
        assert await pulled(client.session, router.base) == first[3:]  # acked leave the list
        # Answered, maybe not filed yet (on their way in the outbox): the kill loses none.
        late = await sell(client, router.base, 10, 4)
        router.process.send_signal(signal.SIGKILL)
        router.process.wait()

        (again,) = await start_router(pull_market(), None, options=state)
        # Redelivered: every lead not acknowledged, the ones answered before the kill too.
        assert await pulled_once_filed(client.session, again.base, 7) == first[3:] + late
        assert await pulled(client.session, again.base) == first[3:] + late  # nothing twice
        assert await ack(client.session, again.base, first[3:] + late) == sorted(first[3:] + late)
        assert await ack(client.session, again.base, first[3:]) == sorted(first[3:])  # idempotent
        assert await pulled(client.session, again.base) == []


async def test_routers_on_one_postgresql_share_the_pull_list_and_its_acks(
    tmp_path: Path, redis_url: str, postgres_url: str
) -> None:
    async with routers(tmp_path) as start, seller() as client:
        one, two = await start(
            pull_market(), redis_url, count=2, options=["--database-url", postgres_url]
        )
        ids = await sell(client, one.base, 0, 3) + await sell(client, two.base, 3, 3)
        assert sorted(await pulled_once_filed(client.session, two.base, 6)) == sorted(ids)
        await ack(client.session, one.base, ids[:4])  # acknowledged on one router…
        assert sorted(await pulled(client.session, two.base)) == sorted(ids[4:])  # …gone on both
        two.process.send_signal(signal.SIGKILL)
        two.process.wait()
        assert sorted(await pulled(client.session, one.base)) == sorted(ids[4:])
