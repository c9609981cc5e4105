"""The command line: its parser and the small commands (validate · sim · demo · send · try);
`serve` is serve.py's, `deliveries` deliveries.py's, `leads`, `report` and `forget` records.py's,
`ledger migrate` ledger_command.py's, `returns` returns.py's."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from pingtree.cli.config_file import load_or_report, print_config_errors
from pingtree.cli.deliveries import add_commands as add_delivery_commands
from pingtree.cli.ledger_command import add_commands as add_ledger_commands
from pingtree.cli.records import add_commands as add_record_commands
from pingtree.cli.returns import add_commands as add_return_commands
from pingtree.cli.serve import add_command as add_serve_command
from pingtree.cli.serve import bind_error
from pingtree.cli.suppress import add_commands as add_suppress_commands
from pingtree.config.summary import describe_tree
from pingtree.core import jsonenc
from pingtree.core.errors import ConfigError, PingtreeError


def cmd_validate(args: argparse.Namespace) -> int:
    config = load_or_report(args.file)
    if config is None:
        return 1
    print(f"{args.file}: OK")
    print(describe_tree(config))
    return 0


def cmd_sim(args: argparse.Namespace) -> int:
    from pingtree.sim import DEFAULT_SPEC, create_sim_app, load_sim

    try:
        spec = DEFAULT_SPEC if args.config is None else load_sim(args.config)
    except ConfigError as exc:
        print_config_errors(args.config, exc)
        return 1
    base = f"http://{args.host}:{args.port}"
    print(f"simulated buyers at {base}/{{name}}/ping and /{{name}}/post, counters at {base}/stats")
    for name, buyer in spec.buyers.items():
        print(f"  {name}: {buyer.describe()}")
    try:
        web.run_app(
            create_sim_app(spec, seed=args.seed),
            host=args.host,
            port=args.port,
            access_log=None,
            handler_cancellation=True,  # a ping the router gave up on stops being held at once
            print=lambda text: print(text, flush=True),
        )
    except OSError as exc:  # the port is taken, the host is not ours...
        print(f"cannot listen on {args.host}:{args.port}: {bind_error(exc)}", file=sys.stderr)
        return 1
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from rich.console import Console

    from pingtree.demo.run import CannotListen, DemoOptions, run_demo

    options = DemoOptions(
        config=Path(args.config),
        sim=Path(args.sim),
        samples=Path(args.samples),
        leads=args.leads,
        port=args.port,
        sim_port=args.sim_port,
        seed=args.seed,
        once=args.once,
    )
    try:
        # Piped output (CI, a file) gets a width that fits the tables instead of rich's 80.
        console = Console(width=None if sys.stdout.isatty() else 132)
        return asyncio.run(run_demo(options, console, _forever))
    except ConfigError as exc:
        print_config_errors(args.config, exc)
        return 1
    except CannotListen as exc:
        print(f"{exc}: {bind_error(exc.error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


async def _forever() -> None:
    await asyncio.Event().wait()


def cmd_send(args: argparse.Namespace) -> int:
    """Post a lead file as a seller would and print the answer; exit 0 only for HTTP 200."""
    try:
        lead = jsonenc.loads(Path(args.file).read_bytes())
    except (OSError, jsonenc.JSONDecodeError) as exc:
        print(f"{args.file}: cannot read a JSON lead: {exc}", file=sys.stderr)
        return 2
    url = (
        args.url if urlsplit(args.url).path not in ("", "/") else args.url.rstrip("/") + "/v1/leads"
    )
    headers = {"X-API-Key": args.key}
    if args.idempotency_key:
        headers["Idempotency-Key"] = args.idempotency_key
    try:
        status, replayed, answer = asyncio.run(_post_lead(url, lead, headers, form=args.form))
    except aiohttp.ClientError as exc:
        print(f"{url}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print(f"HTTP {status}" + (" (replayed)" if replayed else ""))
    print(json.dumps(answer, indent=2))
    return 0 if status == 200 else 1


async def _post_lead(
    url: str, lead: Any, headers: dict[str, str], *, form: bool
) -> tuple[int, bool, Any]:
    if form:  # booleans as the words a form sends
        fields = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in lead.items()}
        body: dict[str, Any] = {"data": fields}
    else:
        body = {"json": lead}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, headers=headers, **body) as response,
    ):
        text = await response.text()
        try:
            answer = json.loads(text)
        except ValueError:
            answer = text
        return response.status, response.headers.get("Idempotent-Replayed") == "true", answer


def cmd_try(args: argparse.Namespace) -> int:
    """The exact ping and post one buyer would get for a lead (secrets masked); with --send, the
    buyer's raw answers and how pingtree read them. Exit 0 when the buyer would buy."""
    from pingtree.cli.try_buyer import masker_for, read_lead, try_buyer
    from pingtree.web.app import buyer_transport

    logging.getLogger("pingtree.config.tree").setLevel(logging.ERROR)  # no dedup-key warning here
    config = load_or_report(args.config)
    if config is None:
        return 2
    buyer = next((b for b in config.buyers if b.id == args.buyer), None)
    if buyer is None:
        known = ", ".join(b.id for b in config.buyers)
        print(f"{args.config}: no buyer {args.buyer!r} (buyers: {known})", file=sys.stderr)
        return 2
    try:
        lead = read_lead(args.lead, config)
    except (OSError, jsonenc.JSONDecodeError) as exc:
        print(f"{args.lead}: cannot read a JSON lead: {exc}", file=sys.stderr)
        return 2
    except PingtreeError as exc:
        fields = "".join(f"\n  {name}: {message}" for name, message in exc.fields.items())
        print(f"{args.lead}: {exc.detail}{fields}", file=sys.stderr)
        return 2
    if args.send:
        sandbox = buyer.post is not None and buyer.post.sandbox_url
        where = "its sandbox" if lead.test and sandbox else "the buyer"
        print(f"sending this lead to {where} (test: {str(lead.test).lower()})\n")
    mask = masker_for(args.config, dict(os.environ))
    sent = try_buyer(
        config, buyer, lead, send=args.send, mask=mask, out=sys.stdout, transport=buyer_transport()
    )
    return asyncio.run(sent)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pingtree", description="Ping-post lead router")
    commands = parser.add_subparsers(dest="command", required=True)
    add_serve_command(commands)
    validate = commands.add_parser("validate", help="check a buyers.yaml and summarize its tree")
    validate.add_argument("file")
    validate.set_defaults(run=cmd_validate)
    sim = commands.add_parser("sim", help="run simulated buyers (for the demo, tests, benchmarks)")
    sim.add_argument("--config", help="sim.yaml: {buyers: {name: behaviour}}; default: built-in")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8081)
    sim.add_argument("--seed", type=int, help="make every random answer reproducible")
    sim.set_defaults(run=cmd_sim)
    demo = commands.add_parser("demo", help="the router and simulated buyers, with sample traffic")
    demo.add_argument("--config", default="buyers.yaml")
    demo.add_argument("--sim", default="sim.yaml", help="the simulated buyers' behaviours")
    demo.add_argument("--samples", default="samples", help="folder of sample leads")
    demo.add_argument("--leads", type=int, default=300, help="how many leads to send")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--sim-port", type=int, default=8081)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--once", action="store_true", help="exit after the summary")
    demo.set_defaults(run=cmd_demo)
    send = commands.add_parser("send", help="post a lead file as a seller would")
    send.add_argument("file", help="a JSON lead")
    send.add_argument(
        "--url", default="http://127.0.0.1:8080", help="the router (or its /v1/leads)"
    )
    send.add_argument("--key", required=True, help="the seller's API key")
    send.add_argument("--idempotency-key")
    send.add_argument("--form", action="store_true", help="send form-encoded instead of JSON")
    send.set_defaults(run=cmd_send)
    try_ = commands.add_parser("try", help="show (and --send) what one buyer would be sent")
    try_.add_argument("buyer", help="the buyer's id in the config")
    try_.add_argument("--config", default="buyers.yaml")
    try_.add_argument("--lead", required=True, help="a JSON lead (samples/*.json)")
    try_.add_argument(
        "--send", action="store_true", help="really call the buyer and show how it answered"
    )
    try_.set_defaults(run=cmd_try)
    add_delivery_commands(commands)  # pingtree deliveries list|show|retry|replay
    add_record_commands(commands)  # pingtree leads · report · forget
    add_ledger_commands(commands)  # pingtree ledger migrate
    add_suppress_commands(commands)  # pingtree suppress add|lists
    add_return_commands(commands)  # pingtree returns list|approve|deny
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
