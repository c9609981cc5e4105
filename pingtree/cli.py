"""The command line: `pingtree serve` and `pingtree validate`."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from aiohttp import web

from pingtree.config import Config, load_config
from pingtree.errors import ConfigError


def _summary(config: Config) -> str:
    """One screen: the router settings that shape an auction, the sellers, and the tree by tier."""
    r = config.router
    lines = [
        f"router: mode={r.mode} budget={r.budget_ms}ms post_reserve={r.post_reserve_ms}ms "
        f"floor={r.floor} max_bid={r.max_bid} min_margin={r.min_margin} "
        f"require_consent={'yes' if r.require_consent else 'no'} timezone={r.timezone}",
        f"sellers ({len(config.sellers)}):",
    ]
    for seller in config.sellers:
        terms = (
            f"payout {seller.payout}"
            if seller.payout is not None
            else f"revshare {seller.effective_revshare}"
        )
        verticals = ",".join(sorted(seller.verticals)) if seller.verticals else "any vertical"
        lines.append(f"  {seller.id}: {terms}, {verticals}")
    lines.append(f"buyers ({len(config.buyers)}):")
    for priority in sorted({b.priority for b in config.buyers}):
        lines.append(f"  tier {priority}:")
        for buyer in (b for b in config.buyers if b.priority == priority):
            lines.append(f"    {buyer.id}: {_buyer_terms(buyer, config)}")
    return "\n".join(lines)


def _buyer_terms(buyer: object, config: Config) -> str:
    from pingtree.config import BuyerConfig

    assert isinstance(buyer, BuyerConfig)
    parts = [f"fixed {buyer.price}" if buyer.pricing == "fixed" else "bid"]
    parts.append(",".join(sorted(buyer.verticals)) if buyer.verticals else "any vertical")
    if buyer.filters.states:
        parts.append("states " + ",".join(sorted(buyer.filters.states)))
    caps = buyer.caps
    cap_text = [
        f"{name} {value}"
        for name, value in (
            ("hourly", caps.hourly),
            ("daily", caps.daily),
            ("budget", caps.daily_budget),
        )
        if value is not None
    ]
    if cap_text:
        parts.append("caps " + " ".join(cap_text))
    if buyer.schedule:
        parts.append(
            f"{'/'.join(buyer.schedule.days)} {buyer.schedule.hours} {config.buyer_timezone(buyer)}"
        )
    if buyer.dedup_days:
        parts.append(f"dedup {buyer.dedup_days:g}d")
    return " · ".join(parts)


def _load_or_report(path: str) -> Config | None:
    """The config, or None after printing every error with its path to stderr."""
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"{path}: {len(exc.errors)} error(s)", file=sys.stderr)
        for where, message in exc.errors:
            print(f"  {where}: {message}", file=sys.stderr)
        return None


def cmd_validate(args: argparse.Namespace) -> int:
    config = _load_or_report(args.file)
    if config is None:
        return 1
    print(f"{args.file}: OK")
    print(_summary(config))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from pingtree.api import create_app

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = _load_or_report(args.config)
    if config is None:
        return 1
    app = create_app(config)
    web.run_app(
        app,
        host=args.host,
        port=args.port,
        access_log=None,
        print=lambda text: print(text, flush=True),
    )
    return 0


def cmd_sim(args: argparse.Namespace) -> int:
    from pingtree.sim import DEFAULT_SPEC, create_sim_app, load_sim

    try:
        spec = DEFAULT_SPEC if args.config is None else load_sim(args.config)
    except ConfigError as exc:
        print(f"{args.config}: {len(exc.errors)} error(s)", file=sys.stderr)
        for where, message in exc.errors:
            print(f"  {where}: {message}", file=sys.stderr)
        return 1
    base = f"http://{args.host}:{args.port}"
    print(f"simulated buyers at {base}/{{name}}/ping and /{{name}}/post, counters at {base}/stats")
    for name, buyer in spec.buyers.items():
        print(f"  {name}: {buyer.describe()}")
    web.run_app(
        create_sim_app(spec, seed=args.seed),
        host=args.host,
        port=args.port,
        access_log=None,
        handler_cancellation=True,  # a ping the router gave up on stops being held at once
        print=lambda text: print(text, flush=True),
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pingtree", description="Ping-post lead router")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the router")
    serve.add_argument("--config", required=True, help="buyers.yaml")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.set_defaults(run=cmd_serve)
    validate = commands.add_parser("validate", help="check a buyers.yaml and summarize its tree")
    validate.add_argument("file")
    validate.set_defaults(run=cmd_validate)
    sim = commands.add_parser("sim", help="run simulated buyers (for the demo, tests, benchmarks)")
    sim.add_argument("--config", help="sim.yaml: {buyers: {name: behaviour}}; default: built-in")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8081)
    sim.add_argument("--seed", type=int, help="make every random answer reproducible")
    sim.set_defaults(run=cmd_sim)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
