"""What `pingtree validate` and the console's Config page say of the newer terms of a
buyers.yaml (DESIGN §14 to §16): how sellers and verticals sell (shared, max_buyers), a seller's
exchange settings when set, buyers' `shared`, `weight`, `pull`, portal (said to be there, its key
never shown) and `self_pause`, the ranking and tie-break, the return rules, and the suppression
lists by id, match, scope and file. No secret in either."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from pingtree.config import parse_config
from tests.conftest import ADMIN_TOKEN, OTHER_KEY, SELLER_KEY, StartRouter, config_dict, make_buyer
from tests.web.test_console_sessions import log_in

PORTAL_KEY = "portal-key-of-firm-0123"


def market(tmp_path: Path) -> dict[str, Any]:
    dnc = tmp_path / "dnc.csv"
    dnc.write_text("phone\n3055550100\n")
    raw = config_dict(
        [
            make_buyer(
                "firm",
                shared=True,
                weight=3,
                portal={"api_key": PORTAL_KEY, "self_pause": True},
                returns={"window_days": 7},
            ),
            make_buyer("puller", pricing="fixed", price=12, deliveries=[{"method": "pull"}]),
        ],
        router={
            "ranking": {"by": "expected_value", "min_sales": 20},
            "tie_break": "weighted",
            "returns": {"window_days": 2, "max_pct": 15, "auto_approve": ["bad_phone"]},
        },
        verticals={"final-expense": {"sell": "shared", "max_buyers": 3}},
        suppression=[{"id": "dnc", "match": "phone", "file": str(dnc), "scope": ["firm"]}],
    )
    raw["sellers"][0].update(sell="shared", max_buyers=2, ping_budget_ms=400, ping_ttl_s=30)
    return raw


def test_validate_summarizes_the_market_terms_and_no_secret(tmp_path: Path) -> None:
    path = tmp_path / "buyers.yaml"
    path.write_text(yaml.safe_dump(market(tmp_path)))
    result = subprocess.run(
        [sys.executable, "-m", "pingtree", "validate", str(path)],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "ranking: by expected_value over 30d, from 20 sales; tie_break weighted" in out
    assert "returns: within 2d at most 15% reasons bad_phone," in out
    assert "auto_approve bad_phone" in out
    assert "vertical final-expense: sell shared, max_buyers 3" in out
    assert "acme-media: revshare 0.8, any vertical, sell shared, max_buyers 2, " in out
    assert "ping_budget 400ms, ping_ttl 30s" in out and "price_step" not in out
    assert "shared · weight 3 · portal, self_pause · returns within 7d" in out
    assert "puller: fixed 12.00 · any vertical · pull" in out
    assert f"dnc: phone · buyers firm · file {tmp_path / 'dnc.csv'}" in out
    for secret in (PORTAL_KEY, SELLER_KEY, OTHER_KEY, ADMIN_TOKEN):
        assert secret not in out + result.stderr


async def test_the_config_page_shows_the_market_terms_and_no_secret(
    tmp_path: Path, start_router: StartRouter
) -> None:
    router = await start_router(parse_config(market(tmp_path), env={}))
    operator = SimpleNamespace(base=router.url("").rstrip("/"), session=router.session)
    cookies, _ = await log_in(operator, ADMIN_TOKEN)  # type: ignore[arg-type]
    async with router.session.get(router.url("/console/config"), headers=cookies) as page:
        assert page.status == 200
        html = await page.text()
    assert "by expected_value over 30d, from 20 sales; tie_break weighted" in html
    assert "within 2d at most 15%" in html
    assert "vertical final-expense" in html and "sell shared, max_buyers 3" in html
    assert '<td class="selling">sell shared, max_buyers 2</td>' in html
    assert '<td class="exchange">ping_budget 400ms · ping_ttl 30s</td>' in html
    assert "shared · weight 3 · portal, self_pause · returns within 7d" in html
    assert '<td class="market">pull</td>' in html
    assert f'<td class="mono">{tmp_path / "dnc.csv"}</td>' in html
    for secret in (PORTAL_KEY, SELLER_KEY, OTHER_KEY, ADMIN_TOKEN):
        assert secret not in html
