"""`pingtree demo`: the simulated buyers and the router in one process, real HTTP between them,
a few hundred leads sent as sellers would, then what happened, and the router left up for curl."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pingtree.config import Config, load_config
from pingtree.demo.leads import DemoLead, demo_leads
from pingtree.demo.report import render, summarize
from pingtree.sim import create_sim_app, load_sim
from pingtree.web.app import create_app

TOKEN_ENV = "PINGTREE_ADMIN_TOKEN"  # buyers.yaml's router.admin_token reads it


@dataclass(frozen=True, slots=True)
class DemoOptions:
    config: Path
    sim: Path
    samples: Path
    leads: int = 300
    host: str = "127.0.0.1"
    port: int = 8080
    sim_port: int = 8081
    concurrency: int = 16
    seed: int = 7
    once: bool = False


class CannotListen(Exception):
    """A port the demo needs is taken, or not this user's to bind: `flag` is the option that
    chooses another."""

    def __init__(self, host: str, port: int, flag: str, error: OSError) -> None:
        super().__init__(f"cannot listen on {host}:{port} ({flag})")
        self.host, self.port, self.flag, self.error = host, port, flag, error


async def _serve(app: web.Application, host: str, port: int, flag: str) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    try:
        await runner.setup()
    except BaseException:
        await runner.cleanup()  # a part that failed to start: close the ones started before it
        raise
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise CannotListen(host, port, flag, exc) from None
    return runner


async def _send_all(
    session: aiohttp.ClientSession,
    url: str,
    leads: list[DemoLead],
    concurrency: int,
    tick: Callable[[], None],
) -> list[tuple[int, dict[str, Any], bool]]:
    """Send every lead, `concurrency` at a time, in order of index; answers in the same order."""
    answers: list[tuple[int, dict[str, Any], bool]] = [(0, {}, False)] * len(leads)
    gate = asyncio.Semaphore(concurrency)

    async def send(index: int, lead: DemoLead) -> None:
        async with (
            gate,
            session.post(url, json=lead.body, headers={"X-API-Key": lead.seller_key}) as r,
        ):
            answers[index] = (
                r.status,
                await r.json(),
                r.headers.get("Idempotent-Replayed") == "true",
            )
        tick()

    # Resends go after their first send, as a seller's retry would.
    await asyncio.gather(*(send(i, lead) for i, lead in enumerate(leads) if not lead.resend))
    await asyncio.gather(*(send(i, lead) for i, lead in enumerate(leads) if lead.resend))
    return answers


async def _operator_views(
    session: aiohttp.ClientSession,
    base: str,
    token: str,
    answers: list[tuple[int, dict[str, Any], bool]],
) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"}

    async def view(lead_id: str) -> dict[str, Any]:
        async with session.get(f"{base}/admin/leads/{lead_id}", headers=headers) as response:
            return dict(await response.json())

    ids = [body["id"] for status, body, replayed in answers if status == 200 and not replayed]
    return list(await asyncio.gather(*(view(lead_id) for lead_id in ids)))


def _seller_keys(config: Config) -> dict[str, str]:
    return {seller.id: seller.api_key.get_secret_value() for seller in config.sellers}


async def run_demo(
    options: DemoOptions, console: Console, wait_forever: Callable[[], Awaitable[None]]
) -> int:
    env = {**os.environ, "PINGTREE_SIM_URL": f"http://{options.host}:{options.sim_port}"}
    config = load_config(options.config, env)
    if config.router.admin_token is None:
        console.print("[red]the demo needs router.admin_token to read the operator views[/red]")
        return 1
    sim_app = create_sim_app(load_sim(options.sim), seed=options.seed)
    sim = await _serve(sim_app, options.host, options.sim_port, "--sim-port")
    try:
        router = await _serve(create_app(config), options.host, options.port, "--port")
    except CannotListen:
        await sim.cleanup()
        raise
    base = f"http://{options.host}:{options.port}"
    leads = demo_leads(options.samples, options.leads, _seller_keys(config), options.seed)
    console.print(
        f"router on {base}, {len(config.buyers)} simulated buyers on port {options.sim_port}"
    )
    try:
        async with aiohttp.ClientSession() as session:
            columns = (
                TextColumn("sending leads"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            )
            with Progress(*columns, console=console, transient=True) as progress:
                task = progress.add_task("leads", total=len(leads))
                answers = await _send_all(
                    session,
                    f"{base}/v1/leads",
                    leads,
                    options.concurrency,
                    lambda: progress.advance(task),
                )
            token = config.router.admin_token.get_secret_value()
            views = await _operator_views(session, base, token, answers)
        render(summarize(answers, views), console)
        if not options.once:
            _print_console(console, base, token, env)
            _print_try_it(console, base, leads[0].seller_key)
            await wait_forever()
    finally:
        await router.cleanup()
        await sim.cleanup()
    return 0


def _print_console(console: Console, base: str, token: str, env: dict[str, str]) -> None:
    """Where the console is and the token that logs in to it (router.admin_token: an admin).
    The demo's own token is printed; one the operator set in $PINGTREE_ADMIN_TOKEN is theirs,
    and is named, not shown (secrets are never printed back)."""
    given = env.get(TOKEN_ENV)
    shown = f"the token in ${TOKEN_ENV}" if token == given else f"the operator token {token}"
    console.print(f"The console: {base}/console (log in with {shown})", soft_wrap=True)


def _print_try_it(console: Console, base: str, key: str) -> None:
    console.print(
        f"\nThe router is still up. Sell a lead yourself:\n"
        f"  curl -s {base}/v1/leads -H 'X-API-Key: {key}' -H 'Content-Type: application/json' "
        f"-d @samples/mva-legal.json\n"
        f"  (then GET {base}/admin/leads/<id> with 'Authorization: Bearer <admin token>')\n"
        f"Metrics at {base}/metrics. Ctrl-C to stop."
    )
