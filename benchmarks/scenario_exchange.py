"""Scenario 13: a seller's ping (issue 17: `POST /v1/ping`'s answer time p99 with 10 instant buyers
within 2 ms of a plain `/v1/leads` ping phase).

One market of 10 instant buyers (nginx) and one router, two sellers on it. The ping is the bench
seller's `POST /v1/ping` (the sample lead without its PII): the ping phase, its offers held in the
store and its quote put in the ledger's outbox. The reference is a plain `POST /v1/leads` ping
phase and nothing more: the same lead from a seller paid a fixed 500.00, whose breakeven no bid
reaches, so every bid is `below_breakeven` and the lead ends `unsold` when its ping phase does
(no post), recorded as any lead. Both at the same open-loop rate (half of scenario 1's maximum),
in alternating rounds after a warm-up of each; each percentile the median of the rounds'.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from harness import SAMPLE_LEAD, Bench, Row, verdict
from market import SELLER_ID, SELLER_KEY, instant_buyers, lead_template
from rig import run_loadgen

TARGET_MS = 2.0  # the ping's p99 at most this far above the reference's
REFERENCE_KEY = "bench-reference-key"
# Breakeven 500.00: above every instant buyer's bid (10.00 … 32.50), so no post follows the pings.
REFERENCE_SELLER = {"id": "bench-reference", "api_key": REFERENCE_KEY, "payout": 500}
PII = ("first_name", "last_name", "phone", "email", "address", "city", "dob", "ip_address")
PII += ("trustedform_url", "jornaya_leadid")


def _ping_template(workdir: Path) -> Path:
    """The sample lead without its PII (what an exchange seller pings with)."""
    lead = json.loads(lead_template(SAMPLE_LEAD))
    path = workdir / "ping.json"
    path.write_text(json.dumps({k: v for k, v in lead.items() if k not in PII}))
    return path


def _problems(label: str, result: dict[str, Any], expected: str) -> list[str]:
    """Every answer 200, and each the kind the comparison needs (a quote; an unsold lead)."""
    sent, ok = result["sent"], result["http_status"].get("200", 0)
    found: list[str] = []
    if ok != sent or result["errors"] or result["unanswered"]:
        found.append(f"{label}: {ok}/{sent} answered 200, errors {result['errors']}")
    for sample in result["samples"]:
        if expected == "quote" and not (isinstance(sample, dict) and sample.get("accepted")):
            found.append(f"{label}: a ping was not quoted: {sample}")
        if expected == "unsold" and not (
            isinstance(sample, dict) and sample.get("status") == "unsold"
        ):
            found.append(f"{label}: a reference lead was not unsold: {sample}")
    return found[:3]


def seller_ping(bench: Bench) -> tuple[list[Row], dict[str, Any]]:
    """10 instant buyers: POST /v1/ping beside a /v1/leads ping phase, open loop, p99."""
    ping_lead = _ping_template(bench.workdir)
    sellers = [{"id": SELLER_ID, "api_key": SELLER_KEY, "revshare": 0.8}, REFERENCE_SELLER]
    with bench.market(
        "s13-seller-ping", instant_buyers(10), {}, top={"sellers": sellers}
    ) as market:
        leads_url, router = market.router_url, market.router
        ping_url = leads_url.replace("/v1/leads", "/v1/ping")
        if bench.max_rate is None:
            bench.warm_up(leads_url, router, "s13 max-rate probe")
            bench.max_rate = bench.throughput(leads_url, router, "s13 max-rate probe", 3).rate
        rate = bench.max_rate / 2
        contenders = {
            "ping": (ping_url, ping_lead, SELLER_KEY, "quote"),
            "reference": (leads_url, bench.template, REFERENCE_KEY, "unsold"),
        }
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in contenders}
        seconds, warmup = bench.timings.latency_round_s, bench.timings.warmup_s
        for number in range(1, bench.timings.latency_rounds + 1):
            for name, (url, template, key, expected) in contenders.items():
                router.ensure_running()
                label = f"s13 {name} round {number}"
                prefix = bench.prefix(label)
                result = run_loadgen(
                    url, template, key, prefix, rate=rate, seconds=seconds, warmup=warmup
                )
                bench.problems += _problems(label, result, expected)
                runs[name].append(result)
    p99 = {
        name: statistics.median(r["latency_ms"]["p99"] for r in rounds)
        for name, rounds in runs.items()
    }
    excess = p99["ping"] - p99["reference"]
    scenario, measure = f"13 · seller ping {rate:.0f}/s", "answer p99 (median of rounds)"
    row = Row(scenario, measure, f"{p99['ping']:.1f} ms")
    row.reference = f"{p99['reference']:.1f} ms /v1/leads ping phase"
    row.target = f"≤ reference + {TARGET_MS:g} ms"
    row.verdict = f"{excess:+.1f} ms {verdict(excess <= TARGET_MS)}"
    figures = {
        "rate": round(rate, 1),
        "p99_ms": p99,
        **{name: [r["latency_ms"] for r in rounds] for name, rounds in runs.items()},
    }
    return [row], figures


__all__ = ["seller_ping"]
