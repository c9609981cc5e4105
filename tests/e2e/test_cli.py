"""The CLI as an operator meets it: `pingtree serve` in its own process, answering real sellers
with real local buyers; `pingtree validate` on a good and a bad file."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import yaml

from tests.buyers import BuyerServer
from tests.conftest import SELLER_KEY, sample


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_config(path: Path, buyers: BuyerServer) -> None:
    config = {
        "router": {"budget_ms": 2000, "post_reserve_ms": 500, "admin_token": "${TEST_ADMIN_TOKEN}"},
        "sellers": [{"id": "acme-media", "api_key": "${TEST_SELLER_KEY}", "revshare": 0.5}],
        "buyers": [
            {
                "id": "firm-a",
                "verticals": ["mva"],
                "ping": {"url": buyers.url("firm-a", "ping")},
                "post": {"url": buyers.url("firm-a", "post")},
            },
            {
                "id": "firm-b",
                "priority": 2,
                "pricing": "fixed",
                "price": 15,
                "post": {"url": buyers.url("firm-b", "post")},
            },
        ],
    }
    path.write_text(yaml.safe_dump(config))


@pytest.fixture(params=["asyncio", "uvloop"])
async def served(
    tmp_path: Path, buyers: BuyerServer, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    config = tmp_path / "buyers.yaml"
    _write_config(config, buyers)
    port = _free_port()
    env = {**os.environ, "TEST_ADMIN_TOKEN": "cli-admin-token", "TEST_SELLER_KEY": SELLER_KEY}
    command = [
        sys.executable,
        "-m",
        "pingtree",
        "serve",
        "--config",
        str(config),
        "--port",
        str(port),
        "--loop",
        request.param,
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # noqa: ASYNC220
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(f"{base}/healthz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError("pingtree serve did not come up")
        yield base
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
        assert SELLER_KEY not in output.decode() and "cli-admin-token" not in output.decode()


async def test_serve_sells_a_lead_to_a_real_buyer(served: str, buyers: BuyerServer) -> None:
    buyers.set("firm-a", bid=42.5)
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{served}/v1/leads", json=sample("mva-legal"), headers={"X-API-Key": SELLER_KEY}
        ) as r:
            assert r.status == 200
            answer = await r.json()
        assert answer["status"] == "sold" and answer["payout"] == 21.25
        headers = {"Authorization": "Bearer cli-admin-token"}
        async with session.get(f"{served}/admin/leads/{answer['id']}", headers=headers) as r:
            view = await r.json()
        assert view["buyer_id"] == "firm-a" and view["price"] == 42.5
    assert len(buyers.recorded("firm-a").posts) == 1


def _validate(path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pingtree", "validate", str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )


async def test_validate_summarizes_a_good_tree(tmp_path: Path, buyers: BuyerServer) -> None:
    config = tmp_path / "buyers.yaml"
    _write_config(config, buyers)
    result = _validate(config, TEST_ADMIN_TOKEN="t" * 12, TEST_SELLER_KEY=SELLER_KEY)
    assert result.returncode == 0, result.stderr
    assert "tier 1:" in result.stdout and "tier 2:" in result.stdout
    assert "firm-b: fixed 15" in result.stdout
    assert SELLER_KEY not in result.stdout


def test_validate_lists_every_error_with_its_path(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(
        """
router: {budget_ms: 1000, post_reserve_ms: 2000, mode: auction}
sellers:
  - {id: acme, api_key: "${MISSING_KEY}"}
buyers:
  - {id: a, pricing: fixed, post: {url: "http://127.0.0.1:9/post"}}
  - {id: b, ping: {url: "ftp://nope"}, post: {url: "http://127.0.0.1:9/post"}, caps: {daily: -1}}
"""
    )
    result = _validate(config)
    assert result.returncode == 1
    for path in (
        "router.mode",
        "router.post_reserve_ms",
        "sellers[0:acme].api_key",
        "buyers[0:a]",
        "buyers[1:b].ping.url",
        "buyers[1:b].caps.daily",
    ):
        assert path in result.stderr, (path, result.stderr)


ROOT = Path(__file__).resolve().parents[2]
DEMO = ["demo", "--once", "--leads", "5"]


@pytest.mark.parametrize(
    ("command", "busy", "free"),
    [
        (["sim", "--config", "sim.yaml"], "--port", None),
        (DEMO, "--port", "--sim-port"),
        (DEMO, "--sim-port", "--port"),
    ],
    ids=["sim", "demo-router", "demo-sim"],
)
def test_a_busy_port_is_one_line_naming_it_not_a_traceback(
    command: list[str], busy: str, free: str | None
) -> None:
    """`make demo` with something on 8080 printed a traceback; `serve` says one line."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ports = [busy, str(port)] + ([free, str(_free_port())] if free else [])
        result = subprocess.run(
            [sys.executable, "-m", "pingtree", *command, *ports],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0], result.stderr
    assert "address already in use" in lines[0].lower(), result.stderr
    if command[0] == "demo":
        assert f"({busy})" in lines[0], result.stderr


def test_validate_reports_a_field_error_beside_the_checks_across_fields(tmp_path: Path) -> None:
    """A new operator's file: a misspelt key and a bidder without post.url; a fixed price no
    auction could accept, on a buyer whose caps are wrong too. All at once, each at its path
    (pydantic alone skips a check across fields once a field of its model failed)."""
    config = tmp_path / "buyers.yaml"
    config.write_text(
        """
router: {max_bid: 100}
sellers:
  - {id: acme, api_key: acme-media-key-1}
buyers:
  - id: firm-a
    prioirty: 2
    ping: {url: "http://127.0.0.1:9/ping"}
  - id: firm-b
    pricing: fixed
    price: 150
    caps: {daily: -1}
    post: {url: "http://127.0.0.1:9/post"}
"""
    )
    result = _validate(config)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "4 error(s)" in result.stderr, result.stderr
    for line in (
        "buyers[0:firm-a].prioirty: unknown key; did you mean 'priority'?",
        "buyers[0:firm-a].post: post.url is required",
        "buyers[1:firm-b].caps.daily: Input should be greater than or equal to 0",
        "buyers[1:firm-b].price: 150 is above router.max_bid (100)",
    ):
        assert f"  {line}" in result.stderr, (line, result.stderr)
