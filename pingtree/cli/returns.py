"""`pingtree returns list|approve|deny`: buyers' returns on a running router, through its
operator API (cli/admin_client.py: `--url`, `--token`; DESIGN §15)."""

from __future__ import annotations

import argparse
import sys
from typing import Any
from urllib.parse import urlencode

from rich.console import Console
from rich.table import Table

from pingtree.cli.admin_client import add_options, ask


def add_commands(subparsers: Any) -> None:
    returns = subparsers.add_parser("returns", help="buyers' returns: the queue, approve, deny")
    actions = returns.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="returns, newest first")
    listing.add_argument("--status", choices=("pending", "approved", "denied"))
    listing.add_argument("--buyer")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--cursor", help="next_cursor of the page before")
    listing.set_defaults(run=cmd_list)
    commands = [listing]
    for verb in ("approve", "deny"):
        decision = actions.add_parser(verb, help=f"{verb} a pending return")
        decision.add_argument("id", help="the return's id (rt_…)")
        decision.set_defaults(run=cmd_decide, verb=verb)
        commands.append(decision)
    for command in commands:
        add_options(command)


def cmd_list(args: argparse.Namespace) -> int:
    params = {"status": args.status, "buyer": args.buyer, "limit": args.limit}
    params["cursor"] = args.cursor
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    code, answer = ask(args, "GET", f"/admin/returns?{query}")
    if code:
        return code
    table = Table("id", "requested", "buyer", "lead", "reason", "amount", "status", "by")
    for found in answer["returns"]:
        table.add_row(
            found["id"],
            found["requested_at"],
            found["buyer_id"],
            found["lead_id"],
            found["reason"],
            str(found["amount"]),
            found["status"],
            found["decided_by"] or "",
        )
    console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 200)
    console.print(table)
    more = answer["next_cursor"]
    console.print(
        f"{len(answer['returns'])} returns" + (f"; more: --cursor {more}" if more else "")
    )
    return 0


def cmd_decide(args: argparse.Namespace) -> int:
    code, answer = ask(args, "POST", f"/admin/returns/{args.id}/{args.verb}")
    if code:
        return code
    print(f"{answer['id']}: {answer['status']} ({answer['buyer_id']}, lead {answer['lead_id']})")
    return 0


__all__ = ["add_commands", "cmd_decide", "cmd_list"]
