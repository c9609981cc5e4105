"""A scenario's market as files: nginx.conf for the buyers, buyers.yaml for pingtree, market.json
for the baseline, and the lead template for the sellers.

Every buyer nginx serves gets its own loopback address (127.0.1.N, one nginx port for all): to an
HTTP client's connection pool they are different hosts, as real buyers are, so no per-host
connection limit meant for one buyer throttles the whole fan-out. Hanging buyers get 127.0.2.N on
the hang server. Buyers that the config filters out point at /never/, which answers 500 and logs
the call: the rig checks that log stays empty.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ECHO_MODULE = Path("/usr/lib/nginx/modules/ngx_http_echo_module.so")
ADMIN_TOKEN = "bench-admin-token"
SELLER_ID = "bench-seller"
SELLER_KEY = "bench-seller-key"
LEAD_PLACEHOLDER = "@LEAD_ID@"


@dataclass(frozen=True, slots=True)
class Buyer:
    id: str
    bid: float | None = 10.0  # None: declines every ping
    delay_s: float = 0.0  # ping answer delay, by the echo module's echo_sleep
    hangs: bool = False  # pinged at the hang server: never answers
    eligible: bool = True  # False: the config filters it out, so it is never called
    priority: int = 1
    verticals: tuple[str, ...] = ("mva",)
    states: tuple[str, ...] | None = None
    shared: bool = False  # takes shared leads (scenario 12)


@dataclass(frozen=True, slots=True)
class Ports:
    nginx: int
    hang: int


def instant_buyers(count: int, *, first_bid: float = 10.0) -> list[Buyer]:
    """`count` buyers that bid at once, each 2.50 above the previous: the last one wins."""
    return [Buyer(f"b{i}", bid=first_bid + 2.5 * (i - 1)) for i in range(1, count + 1)]


def served(buyers: list[Buyer]) -> list[Buyer]:
    return [b for b in buyers if b.eligible and not b.hangs]


def hanging(buyers: list[Buyer]) -> list[Buyer]:
    return [b for b in buyers if b.eligible and b.hangs]


def winner(buyers: list[Buyer]) -> Buyer:
    """The buyer every lead should be sold to: the highest bid among those that answer."""
    bidders = [b for b in served(buyers) if b.bid is not None]
    return max(bidders, key=lambda b: b.bid or 0.0)


def hang_addresses(buyers: list[Buyer], ports: Ports) -> list[str]:
    return [f"127.0.2.{n}:{ports.hang}" for n in range(1, len(hanging(buyers)) + 1)]


def endpoints(buyers: list[Buyer], ports: Ports) -> dict[str, tuple[str, str]]:
    """Each buyer's (ping URL, post URL)."""
    urls: dict[str, tuple[str, str]] = {}
    hosts = {b.id: f"127.0.1.{n}" for n, b in enumerate(served(buyers), start=1)}
    hosts |= {b.id: f"127.0.2.{n}" for n, b in enumerate(hanging(buyers), start=1)}
    never = f"http://127.0.0.1:{ports.nginx}/never/"
    for buyer in buyers:
        if buyer.id not in hosts:
            urls[buyer.id] = (f"{never}{buyer.id}/ping", f"{never}{buyer.id}/post")
        elif buyer.hangs:
            base = f"http://{hosts[buyer.id]}:{ports.hang}/{buyer.id}"
            urls[buyer.id] = (f"{base}/ping", f"{never}{buyer.id}/post")
        else:
            base = f"http://{hosts[buyer.id]}:{ports.nginx}/{buyer.id}"
            urls[buyer.id] = (f"{base}/ping", f"{base}/post")
    return urls


def _ping_location(buyer: Buyer) -> str:
    if buyer.bid is None:
        answer = {"accepted": False, "reason": "not buying today"}
    else:
        answer = {"accepted": True, "bid": buyer.bid, "bid_id": f"bid-{buyer.id}"}
    body = json.dumps(answer)
    if buyer.delay_s > 0:
        return f"echo_sleep {buyer.delay_s}; echo '{body}';"
    return f"return 200 '{body}';"


def nginx_conf(buyers: list[Buyer], ports: Ports, workdir: Path) -> str:
    listens = ["127.0.0.1"] + [f"127.0.1.{n}" for n in range(1, len(served(buyers)) + 1)]
    locations = []
    for buyer in served(buyers):
        post = json.dumps({"accepted": True, "buyer_lead_id": f"{buyer.id}-lead"})
        locations.append(f"    location = /{buyer.id}/ping {{ {_ping_location(buyer)} }}")
        locations.append(f"    location = /{buyer.id}/post {{ return 200 '{post}'; }}")
    listen_lines = "\n".join(f"    listen {host}:{ports.nginx};" for host in listens)
    return f"""# written by benchmarks/run.py: one location per simulated buyer
load_module {ECHO_MODULE};
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log warn;
events {{ worker_connections 16384; }}
http {{
  access_log off;
  client_body_temp_path {workdir}/nginx-body;
  proxy_temp_path {workdir}/nginx-proxy;
  fastcgi_temp_path {workdir}/nginx-fastcgi;
  uwsgi_temp_path {workdir}/nginx-uwsgi;
  scgi_temp_path {workdir}/nginx-scgi;
  # keep-alive as long as the run: reconnecting would measure the TCP handshake, not the router
  keepalive_requests 10000000;
  keepalive_timeout 600s;
  default_type application/json;
  server {{
{listen_lines}
{chr(10).join(locations)}
    location /never/ {{ access_log {workdir}/never.log; return 500; }}
  }}
}}
"""


def buyers_yaml(
    buyers: list[Buyer], ports: Ports, router: dict[str, Any], top: dict[str, Any] | None = None
) -> str:
    urls = endpoints(buyers, ports)
    entries = []
    for buyer in buyers:
        ping, post = urls[buyer.id]
        entry: dict[str, Any] = {"id": buyer.id, "priority": buyer.priority}
        entry["verticals"] = list(buyer.verticals)
        if buyer.states is not None:
            entry["filters"] = {"states": list(buyer.states)}
        # Calls as long as the budget: only the ping phase's own close may cut a hanging buyer.
        timeout_ms = router.get("budget_ms", 3000)
        entry["ping"] = {"url": ping, "timeout_ms": timeout_ms}
        entry["post"] = {"url": post, "timeout_ms": timeout_ms}
        if buyer.shared:
            entry["shared"] = True
        entries.append(entry)
    config = {
        "router": {"admin_token": ADMIN_TOKEN, "dedup_secret": "bench-dedup-secret", **router},
        "sellers": [{"id": SELLER_ID, "api_key": SELLER_KEY, "revshare": 0.8}],
        "buyers": entries,
        **(top or {}),  # more sections (scenario 12's `verticals:`)
    }
    return yaml.safe_dump(config, sort_keys=False, width=120)


def market_json(buyers: list[Buyer], ports: Ports) -> str:
    urls = endpoints(buyers, ports)
    entries = [
        {"id": b.id, "ping": urls[b.id][0], "post": urls[b.id][1]}
        for b in buyers
        if b.eligible and not b.hangs
    ]
    return json.dumps({"buyers": entries, "timeout_s": 3.0}, indent=2)


def lead_template(sample: Path) -> bytes:
    """The sample lead, compact, with its lead_id replaced by the placeholder the senders fill."""
    lead = json.loads(sample.read_text())
    lead["lead_id"] = LEAD_PLACEHOLDER
    body = json.dumps(lead, separators=(",", ":")).encode()
    assert body.count(LEAD_PLACEHOLDER.encode()) == 1
    return body
