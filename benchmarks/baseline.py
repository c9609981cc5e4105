"""The least a router on pingtree's stack can do for the same work: the yardstick of scenario 1.

One aiohttp server, one shared ClientSession: parse the lead with orjson, ping every buyer at once
with an anonymized copy, take the highest bid, post the lead to it, answer JSON. No validation, no
normalization, no store, no idempotency, no trace, no metrics, no deadline bookkeeping. Whatever
pingtree spends beyond this is the price of what it does for the operator.

Usage: `python baseline.py --config market.json --host 127.0.0.1 --port 8090`, where market.json
is `{"buyers": [{"id": "b1", "ping": URL, "post": URL}, ...], "timeout_s": 1.0}` (the rig writes
it beside the router's buyers.yaml).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web

# What never goes into a ping (DESIGN §8): everything else is a vertical attribute.
PII = {"first_name", "last_name", "phone", "email", "address", "city", "dob", "ip_address"}
PII |= {"trustedform_url", "jornaya_leadid"}
LEAD_FIELDS = {"lead_id", "vertical", "sub_id", "state", "zip", "tcpa_consent", "test"}
LEAD_FIELDS |= {"consent_timestamp", "source_url"} | PII
JSON_HEADERS = {"Content-Type": "application/json"}

BUYERS: web.AppKey[list[dict[str, str]]] = web.AppKey("buyers")
SESSION = web.AppKey("session", aiohttp.ClientSession)
IDS: web.AppKey[Iterator[int]] = web.AppKey("ids")
TIMEOUT_S: web.AppKey[float] = web.AppKey("timeout_s")


def ping_body(lead: dict[str, Any], ping_id: str) -> bytes:
    attributes = {k: v for k, v in lead.items() if k not in LEAD_FIELDS}
    return orjson.dumps(
        {
            "ping_id": ping_id,
            "vertical": lead.get("vertical"),
            "state": lead.get("state"),
            "zip": lead.get("zip"),
            "seller": "bench",
            "sub_id": lead.get("sub_id"),
            "attributes": attributes,
            "tcpa_consent": lead.get("tcpa_consent"),
            "has_trustedform": bool(lead.get("trustedform_url")),
            "test": False,
        }
    )


async def call(session: aiohttp.ClientSession, url: str, body: bytes) -> dict[str, Any] | None:
    """The buyer's JSON answer, or None for anything else: a failed buyer just loses."""
    try:
        async with session.post(url, data=body, allow_redirects=False) as answer:
            decoded = orjson.loads(await answer.read())
    except (aiohttp.ClientError, orjson.JSONDecodeError):
        return None
    return decoded if isinstance(decoded, dict) else None


async def post_lead(request: web.Request) -> web.Response:
    lead = orjson.loads(await request.read())
    session, buyers = request.app[SESSION], request.app[BUYERS]
    lead_ids = request.app[IDS]
    lead_number = next(lead_ids)
    ping = ping_body(lead, f"pg_{lead_number}")
    try:  # one deadline for the whole fan-out, not a timer per call
        async with asyncio.timeout(request.app[TIMEOUT_S]):
            answers = await asyncio.gather(*(call(session, b["ping"], ping) for b in buyers))
    except TimeoutError:
        answers = [None] * len(buyers)
    bids = [
        (float(answer["bid"]), buyer)
        for buyer, answer in zip(buyers, answers, strict=True)
        if answer and answer.get("accepted") is True
    ]
    status, payout = "unsold", None
    if bids:
        price, winner = max(bids, key=lambda pair: pair[0])
        post = orjson.dumps({**lead, "ping_id": f"pg_{lead_number}", "price": price})
        taken = await call(session, winner["post"], post)
        if taken and taken.get("accepted") is True:
            status, payout = "sold", round(price * 0.8, 2)
    answer = {"id": f"ld_{lead_number}", "lead_id": lead.get("lead_id"), "status": status}
    return web.Response(
        body=orjson.dumps(answer | {"payout": payout}), content_type="application/json"
    )


def create_app(market: dict[str, Any]) -> web.Application:
    app = web.Application()
    app[BUYERS] = market["buyers"]
    app[IDS] = itertools.count(1)
    app[TIMEOUT_S] = market.get("timeout_s", 1.0)

    async def session_ctx(app: web.Application) -> AsyncIterator[None]:
        # The cheapest aiohttp client: an unlimited pool (every buyer of every lead in flight
        # has its keep-alive connection), headers set once, no cookie jar, no per-call timers.
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, limit_per_host=0),
            headers=JSON_HEADERS,
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=None, sock_read=None),
        ) as session:
            app[SESSION] = session
            yield

    app.cleanup_ctx.append(session_ctx)
    app.router.add_post("/v1/leads", post_lead)
    return app


def new_event_loop(choice: str) -> asyncio.AbstractEventLoop:
    """uvloop unless told otherwise: the yardstick is the fastest this stack goes."""
    if choice != "asyncio":
        try:
            import uvloop

            return uvloop.new_event_loop()
        except ImportError:
            if choice == "uvloop":
                raise
    return asyncio.new_event_loop()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="the baseline router of the benchmarks")
    parser.add_argument("--config", required=True, help="market.json: the buyers' URLs")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--loop", default="auto", choices=["auto", "asyncio", "uvloop"])
    args = parser.parse_args(argv)
    market = orjson.loads(Path(args.config).read_bytes())
    loop = new_event_loop(args.loop)
    print(f"baseline: event loop {type(loop).__module__.split('.')[0]}", flush=True)
    web.run_app(
        create_app(market), host=args.host, port=args.port, access_log=None, print=None, loop=loop
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
