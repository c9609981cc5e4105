"""`pingtree leads`, `pingtree report` and `pingtree forget`: the ledger of a running router,
through its operator API (cli/admin_client.py: `--url`, `--token`). `pingtree ledger migrate`,
which works on the database itself, is ledger_command.py's."""

from __future__ import annotations

import argparse
import sys
from typing import Any
from urllib.parse import urlencode

from rich.console import Console
from rich.table import Table

from pingtree.cli.admin_client import add_options, ask

_FILTERS = ("status", "seller", "buyer", "vertical", "sub_id", "state")
_BY = ("buyer", "seller", "vertical", "sub_id", "state", "hour", "day")
_SHOWN = (
    "key", "leads", "sold", "sold_pct", "revenue", "payout", "margin", "revenue_per_lead",
    "bid_rate", "win_rate", "post_accept_rate", "ping_p95_ms",
)  # fmt: skip


def add_commands(subparsers: Any) -> None:
    leads = subparsers.add_parser("leads", help="a running router's leads, newest first")
    leads.add_argument("q", nargs="?", help="a lead id, a seller's lead_id, a phone or an email")
    leads.add_argument("--limit", type=int, default=50)
    leads.add_argument("--cursor", help="next_cursor of the page before")
    leads.add_argument("--reason", help="the outcome's reason, e.g. suppressed")
    leads.set_defaults(run=cmd_leads)

    report = subparsers.add_parser("report", help="a running router's report (JSON, table, CSV)")
    report.add_argument("--by", choices=_BY, default="day")
    report.add_argument("--csv", action="store_true", help="the rows as CSV on stdout")
    report.add_argument("--json", action="store_true", help="the answer as JSON on stdout")
    report.set_defaults(run=cmd_report)

    for command in (leads, report):
        command.add_argument("--from", dest="start", help="an ISO date or RFC 3339 time")
        command.add_argument("--to", dest="end", help="exclusive")
        command.add_argument("--tz", help="IANA zone of dates and of hours/days (default UTC)")
        for name in _FILTERS if command is leads else _FILTERS[1:]:  # a report has no status
            command.add_argument(f"--{name.replace('_', '-')}", dest=name)
        command.add_argument(
            "--test", action="store_true", help="count test leads too, with the others"
        )

    forget = subparsers.add_parser(
        "forget", help="erase one consumer's PII everywhere a running router keeps it"
    )
    who = forget.add_mutually_exclusive_group(required=True)
    who.add_argument("--phone")
    who.add_argument("--email")
    forget.set_defaults(run=cmd_forget)
    for command in (leads, report, forget):
        add_options(command)


def _query(args: argparse.Namespace, **more: Any) -> str:
    params: dict[str, Any] = {"from": args.start, "to": args.end, "tz": args.tz}
    params.update({name: getattr(args, name, None) for name in _FILTERS})
    if args.test:
        params["test"] = "true"
    params.update(more)
    return urlencode({k: v for k, v in params.items() if v not in (None, "")})


def _console() -> Console:
    return Console(file=sys.stdout, width=None if sys.stdout.isatty() else 200)


def cmd_leads(args: argparse.Namespace) -> int:
    query = _query(args, q=args.q, limit=args.limit, cursor=args.cursor, reason=args.reason)
    code, answer = ask(args, "GET", f"/admin/leads?{query}")
    if code:
        return code
    table = Table("id", "received", "seller", "vertical", "state", "status", "buyer", "price")
    for lead in answer["leads"]:
        table.add_row(
            lead["id"],
            lead["received_at"],
            lead["seller_id"],
            lead["vertical"] or "",
            lead["state"] or "",
            lead["status"] + (f" ({lead['reason']})" if lead["reason"] else ""),
            lead["buyer_id"] or "",
            "" if lead["price"] is None else str(lead["price"]),
        )
    console = _console()
    console.print(table)
    more = answer["next_cursor"]
    console.print(f"{len(answer['leads'])} leads" + (f"; more: --cursor {more}" if more else ""))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    form = "csv" if args.csv else "json"
    path = f"/admin/reports?{_query(args, by=args.by, format=form)}"
    code, answer = ask(args, "GET", path, text=args.csv or args.json)
    if code:
        return code
    if args.csv or args.json:
        sys.stdout.write(answer)
        return 0
    table = Table(*_SHOWN)
    for row in [*answer["rows"], {**answer["totals"], "key": "total"}]:
        table.add_row(*("" if row[name] is None else str(row[name]) for name in _SHOWN))
    _console().print(table)
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    body = {"phone": args.phone} if args.phone else {"email": args.email}
    code, answer = ask(args, "POST", "/admin/forget", body=body)
    if code:
        return code
    print(f"erased: {answer['leads']} leads, {answer['deliveries']} deliveries")
    return 0


__all__ = ["add_commands", "cmd_forget", "cmd_leads", "cmd_report"]
