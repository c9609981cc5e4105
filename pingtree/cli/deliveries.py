"""`pingtree deliveries list|show|retry|replay`: the operator's deliveries, through a running
router's admin API (`--url`, `--token` or PINGTREE_ADMIN_TOKEN). Exit 0 on success, 1 when the
router refused (no such delivery, not in a state the action applies to), 2 when it could not be
asked (no token, bad token, unreachable)."""

from __future__ import annotations

import argparse
import sys
from typing import Any
from urllib.parse import quote

from rich.console import Console
from rich.table import Table

from pingtree.cli.admin_client import TOKEN_ENV, add_options, ask

_STATES = ("waiting", "leased", "delivered", "dead", "disabled")


def add_commands(subparsers: Any) -> None:
    """Add `deliveries` and its four commands to pingtree's subparsers (`build_parser`)."""
    deliveries = subparsers.add_parser(
        "deliveries", help="list, show, retry and replay deliveries of a running router"
    )
    commands = deliveries.add_subparsers(dest="deliveries_command", required=True)
    listing = commands.add_parser("list", help="deliveries, newest first")
    listing.add_argument("--state", choices=_STATES)
    listing.add_argument("--destination", help="a destination key: buyer:ID/NAME")
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(run=cmd_list)
    for name, run, text in (
        ("show", cmd_show, "one delivery: its request (no body) and every attempt"),
        ("retry", cmd_retry, "send a waiting delivery now instead of after its backoff"),
        ("replay", cmd_replay, "send a dead or disabled delivery again from its first attempt"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("id", help="the delivery's id (its webhook-id)")
        command.set_defaults(run=run)
    for command in (listing, *(commands.choices[n] for n in ("show", "retry", "replay"))):
        add_options(command)


def _console() -> Console:
    return Console(file=sys.stdout, width=None if sys.stdout.isatty() else 160)


def cmd_list(args: argparse.Namespace) -> int:
    query = f"?limit={args.limit}"
    if args.state:
        query += f"&state={args.state}"
    if args.destination:
        query += f"&destination={quote(args.destination, safe='')}"
    code, answer = ask(args, "GET", "/admin/deliveries" + query)
    if code:
        return code
    table = Table("id", "destination", "state", "target", "attempt", "due", "last error")
    for job in answer["deliveries"]:
        table.add_row(
            job["id"],
            job["key"],
            job["state"],
            job["target"],
            str(job["attempt"]),
            job["due_at"] or "",
            job["last_error"] or "",
        )
    console = _console()
    console.print(table)
    console.print(f"{len(answer['deliveries'])} deliveries")
    return 0


def _show(job: dict[str, Any]) -> None:
    console = _console()
    table = Table("field", "value", show_header=False)
    for name in ("id", "key", "state", "target", "attempt", "created_at", "due_at", "method"):
        table.add_row(name, str(job[name]) if job[name] is not None else "")
    table.add_row("url", job["url"])
    table.add_row("failover_url", job["failover_url"] or "")
    for name, value in job["headers"]:
        table.add_row(f"header {name}", value)
    table.add_row("body", f"{job['body_bytes']} bytes, sha256 {job['body_sha256']}")
    table.add_row("last_error", job["last_error"] or "")
    console.print(table)
    if job["history"]:
        console.print("attempts:")
        for line in job["history"]:
            console.print(f"  {line}", markup=False)


def _job_path(job_id: str, action: str = "") -> str:
    return f"/admin/deliveries/{quote(job_id, safe='')}" + (f"/{action}" if action else "")


def cmd_show(args: argparse.Namespace) -> int:
    code, answer = ask(args, "GET", _job_path(args.id))
    if code:
        return code
    _show(answer)
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    code, answer = ask(args, "POST", _job_path(args.id, "retry"))
    if code:
        return code
    print(f"{answer['id']}: due now ({answer['state']})")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    code, answer = ask(args, "POST", _job_path(args.id, "replay"))
    if code:
        return code
    print(f"{answer['id']}: replayed from attempt 1 ({answer['state']})")
    return 0


__all__ = ["TOKEN_ENV", "add_commands", "cmd_list", "cmd_replay", "cmd_retry", "cmd_show"]
