"""Per-seller rate limits: `sellers[].rate_limit: {per_second, burst}`, a token bucket per seller
and router process, off unless configured. Past it: 429 JSON with Retry-After (whole seconds, at
least 1), before the body is read; other sellers are not affected; a token comes back after
1 / per_second; a reload applies a new limit at once."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from pingtree.config import parse_config
from pingtree.web.keys import METRICS
from tests.buyers import BuyerServer
from tests.conftest import (
    ADMIN_TOKEN,
    OTHER_KEY,
    SELLER_KEY,
    RouterClient,
    config_dict,
    make_buyer,
    sample,
)


def _lead() -> dict[str, Any]:
    return {**sample("mva-legal"), "lead_id": uuid.uuid4().hex}


def _sellers(rate_limit: dict[str, Any] | None) -> list[dict[str, Any]]:
    limited: dict[str, Any] = {"id": "acme-media", "api_key": SELLER_KEY, "revshare": 0.8}
    if rate_limit is not None:
        limited["rate_limit"] = rate_limit
    return [limited, {"id": "other-media", "api_key": OTHER_KEY, "payout": 20}]


async def _statuses(router: RouterClient, count: int, key: str = SELLER_KEY) -> list[int]:
    answers = await asyncio.gather(*(router.send(_lead(), key=key) for _ in range(count)))
    return sorted(status for status, _, _ in answers)


@pytest.fixture
def write_config(tmp_path: Path, buyers: BuyerServer) -> Any:
    buyers.set("firm", bid=30)
    path = tmp_path / "buyers.yaml"

    def write(rate_limit: dict[str, Any] | None) -> Path:
        document = config_dict([make_buyer("firm", buyers)], sellers=_sellers(rate_limit))
        path.write_text(yaml.safe_dump(document))
        return path

    return write


async def test_a_seller_over_its_rate_gets_429_with_retry_after(
    start_router: Any, write_config: Any
) -> None:
    path = write_config({"per_second": 2, "burst": 3})
    router = await start_router(parse_config(yaml.safe_load(path.read_text()), env={}))
    assert await _statuses(router, 3) == [200, 200, 200]  # the burst
    async with router.session.post(
        router.url("/v1/leads"), data=b"never read", headers={"X-API-Key": SELLER_KEY}
    ) as r:
        assert r.status == 429
        assert r.headers["Retry-After"] == "1"
        answer = await r.json()
    assert answer["error"] == "rate_limited" and "2 a second" in answer["detail"]
    assert await _statuses(router, 5, key=OTHER_KEY) == [200] * 5  # no limit of its own
    await asyncio.sleep(0.55)  # one token back at 2 a second
    assert await _statuses(router, 2) == [200, 429]
    metrics = router.app[METRICS].registry
    assert metrics.get_sample_value("pingtree_rate_limited_total", {"seller": "acme-media"}) == 2


async def test_a_reload_applies_a_new_limit_at_once(start_router: Any, write_config: Any) -> None:
    path = write_config(None)
    router = await start_router(
        parse_config(yaml.safe_load(path.read_text()), env={}), config_path=path
    )
    assert await _statuses(router, 4) == [200] * 4  # off unless configured
    write_config({"per_second": 0.5, "burst": 1})
    async with router.session.post(
        router.url("/admin/reload"), headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ) as r:
        assert r.status == 200
    assert await _statuses(router, 3) == [200, 429, 429]
    async with router.session.post(
        router.url("/v1/leads"), json=_lead(), headers={"X-API-Key": SELLER_KEY}
    ) as r:
        assert r.headers["Retry-After"] == "2"  # 1 / 0.5 s
