"""The newcomer's five minutes: `pingtree demo --once` runs a whole market and summarizes it, the
bundled buyers.yaml and sim.yaml stay valid, and `pingtree send` sells a sample file."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
from asyncio.subprocess import PIPE, STDOUT
from collections import Counter
from pathlib import Path

import aiohttp
from rich.console import Console

from pingtree.config import load_config
from pingtree.demo.report import render, summarize
from pingtree.sim import load_sim
from tests.conftest import SELLER_KEY, make_buyer, make_config
from tests.e2e.test_cli import _free_port

ROOT = Path(__file__).resolve().parents[2]


def _pingtree(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pingtree", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def _row(output: str, label: str) -> str:
    """The value cell of a row of the market table."""
    match = re.search(rf"│ {re.escape(label)}\s+│\s+(.+?)\s+│", output)
    assert match, (label, output)
    return match.group(1)


def test_demo_once_runs_a_market_and_summarizes_it() -> None:
    port, sim_port = _free_port(), _free_port()
    result = _pingtree(
        "demo", "--once", "--leads", "60", "--port", str(port), "--sim-port", str(sim_port)
    )
    assert result.returncode == 0, result.stderr + result.stdout
    output = result.stdout
    assert _row(output, "leads sent") == "60"
    sold = int(_row(output, "sold").split()[0])
    counted = sum(
        int(_row(output, s).split()[0]) for s in ("sold", "unsold", "rejected", "pending")
    )
    replayed = int(_row(output, "replayed (idempotent resends)"))
    assert counted + replayed == 60 and sold >= 30
    revenue = float(_row(output, "revenue").replace(",", ""))
    payouts = float(_row(output, "seller payouts").replace(",", ""))
    margin = float(_row(output, "margin").replace(",", ""))
    assert revenue > payouts > 0 and abs(revenue - payouts - margin) < 0.011
    assert re.search(r"auction ms p50 / p95 / p99\s+│\s+\d+ / \d+ / \d+", output)
    assert "Per buyer" in output and "leadvault-aggregator" in output
    assert re.search(r"How lead ld_\w+ sold: ", output)
    assert "demo-admin-token" not in output and "demo-acme-key" not in output


CONSOLE_LINE = re.compile(
    r"The console: (http://\S+/console) \(log in with the operator token (\S+)\)"
)


def test_the_demo_prints_the_console_and_a_token_that_logs_in_to_it() -> None:
    """Left up (no --once), the demo says where its console is and which token opens it: that
    token, posted to the login form as a browser would, gets a session whose pages open."""
    port, sim_port = _free_port(), _free_port()
    command = [sys.executable, "-m", "pingtree", "demo", "--leads", "20"]
    command += ["--port", str(port), "--sim-port", str(sim_port)]
    env = {k: v for k, v in os.environ.items() if k != "PINGTREE_ADMIN_TOKEN"}
    demo = subprocess.Popen(command, cwd=ROOT, env=env, stdout=PIPE, stderr=STDOUT, text=True)
    try:
        found = _console_line(demo)
        assert found is not None, "the demo printed no console line"
        url, token = found[1], found[2]
        assert url == f"http://127.0.0.1:{port}/console"
        assert token == "demo-admin-token"  # buyers.yaml's default, an admin
        assert asyncio.run(_logs_in(url, token)) == (200, "admin")
    finally:
        demo.send_signal(signal.SIGINT)  # what Ctrl-C does: the demo stops its servers
        try:
            demo.wait(20)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
    assert demo.returncode == 0


def _console_line(demo: subprocess.Popen[str]) -> re.Match[str] | None:
    """The console line, read as the demo prints it; None if the demo ended (or was stopped
    after 90 s: a demo that prints no such line waits forever) without printing one."""
    assert demo.stdout is not None
    stop = threading.Timer(90, demo.kill)
    stop.start()
    try:
        for line in demo.stdout:
            if found := CONSOLE_LINE.search(line):
                return found
        return None
    finally:
        stop.cancel()


async def _logs_in(url: str, token: str) -> tuple[int, str]:
    """Log in at `url`'s login form; (the status of /console with the session, the role shown)."""
    # unsafe: the jar keeps the cookies of an IP address (127.0.0.1), as a browser does
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get(f"{url}/login") as form:
            page = await form.text()
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert csrf is not None, page
        posted = {"csrf_token": csrf[1], "token": token, "next": "/console"}
        async with session.post(f"{url}/login", data=posted, allow_redirects=False) as answer:
            assert answer.status == 303, await answer.text()
        async with session.get(url, allow_redirects=False) as live:
            text = await live.text()
        role = re.search(r'class="role role-(\w+)"', text)
        return live.status, role[1] if role else ""


def test_the_report_tells_breaker_shadow_skips_from_skips() -> None:
    """Breaker in shadow mode: a `skip`/`shadow` event is a call the breaker would have skipped,
    made anyway. The report counts it apart, never among the skips."""
    trace = [
        {"at_ms": 0, "buyer_id": "a", "step": "skip", "result": "shadow", "reason": "breaker_open"},
        {"at_ms": 0, "buyer_id": "a", "step": "ping", "result": "no_bid"},
        {"at_ms": 0, "buyer_id": "b", "step": "skip", "result": "skipped", "reason": "cap:daily"},
        {"at_ms": 1, "buyer_id": "c", "step": "ping", "result": "bid", "bid": "30.00"},
        {"at_ms": 2, "buyer_id": "c", "step": "post", "result": "accepted"},
    ]  # fmt: skip
    view = {
        "id": "ld_1", "status": "sold", "test": False, "buyer_id": "c", "price": "30.00",
        "payout": "24.00", "auction_ms": 2, "trace": trace,
    }  # fmt: skip
    summary = summarize([(200, {}, False)], [view])
    a, b = summary.buyers["a"], summary.buyers["b"]
    assert a.skipped == Counter() and b.skipped == Counter({"cap:daily": 1})
    assert (a.shadowed, a.pings, b.shadowed) == (1, 1, 0)
    console = Console(record=True, width=200)
    render(summary, console)
    rows = {line.split()[1]: line for line in console.export_text().splitlines() if "│" in line}
    assert "shadow (would skip) 1" in rows["a"] and "breaker_open" not in rows["a"]
    assert "cap:daily 1" in rows["b"] and "shadow" not in rows["b"]


def test_the_bundled_tree_and_simulator_are_valid() -> None:
    result = _pingtree("validate", "buyers.yaml")
    assert result.returncode == 0, result.stderr
    assert "tier 1:" in result.stdout and "tier 3:" in result.stdout
    config = load_config(ROOT / "buyers.yaml", {})
    spec = load_sim(ROOT / "sim.yaml")
    assert {b.id for b in config.buyers} == set(spec.buyers)  # every buyer has a simulation
    kinds = {b.pricing for b in config.buyers}
    assert kinds == {"bid", "fixed"} and len({b.priority for b in config.buyers}) == 3
    assert any(b.caps.any for b in config.buyers) and any(b.schedule for b in config.buyers)


async def _send(*args: str) -> tuple[int, str]:
    """`pingtree send …` in its own process, without blocking the loop the router runs on."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pingtree", "send", *args, cwd=ROOT, stdout=PIPE, stderr=STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, output.decode()


async def test_send_posts_a_lead_file_as_a_seller_would(buyers, start_router) -> None:
    buyers.set("a", bid=25)
    router = await start_router(make_config([make_buyer("a", buyers)]))
    base = router.url("/").rstrip("/")
    code, output = await _send("samples/solar.json", "--url", base, "--key", SELLER_KEY)
    assert code == 0, output
    assert output.startswith("HTTP 200\n") and '"status": "sold"' in output
    code, output = await _send(
        "samples/solar.json", "--url", f"{base}/v1/leads", "--key", SELLER_KEY
    )
    assert code == 0 and output.startswith("HTTP 200 (replayed)"), output
    code, output = await _send(
        "samples/mva-legal.json", "--url", base, "--key", SELLER_KEY, "--form"
    )
    assert code == 0 and '"status": "sold"' in output, output
    code, output = await _send("samples/solar.json", "--url", base, "--key", "not-a-real-key")
    assert code == 1 and output.startswith("HTTP 401"), output
    assert len(buyers.recorded("a").posts) == 2


def test_the_report_counts_each_share_of_a_lead_sold_shared_for_its_buyer() -> None:
    view = {
        "id": "ld_1", "status": "sold", "test": False, "buyer_id": "a", "price": "50.00",
        "payout": "40.00", "auction_ms": 2, "trace": [],
        "sales": [{"buyer_id": "a", "price": "30.00"}, {"buyer_id": "b", "price": "20.00"}],
    }  # fmt: skip
    summary = summarize([(200, {}, False)], [view])
    a, b = summary.buyers["a"], summary.buyers["b"]
    assert (a.wins, a.revenue, b.wins, b.revenue) == (1, 30, 1, 20)
    assert summary.revenue == 50
