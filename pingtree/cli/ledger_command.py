"""`pingtree ledger migrate`: the ledger's schema brought to this version's newest migration, on
the database itself (`pingtree serve` migrates on start too; this is for a deploy that migrates
before it starts routers, or that wants to know where a database is).

Which database, as `pingtree serve` decides (web/app.py's `ledger_url`): `--database-url`, else
$PINGTREE_DATABASE_URL, else the SQLite file beside the state file of `--config` (or `--state`).
Exit 0 when the schema is at the newest revision, 1 when the database did not answer (or holds a
schema this version does not know), 2 when there is no database to migrate or the URL cannot be
a ledger's. The URL is shown with its password masked.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from pingtree.cli.config_file import load_or_report
from pingtree.cli.workers import DATABASE_URL_VARIABLE
from pingtree.config.urls import masked_database_url
from pingtree.core.errors import LedgerUnavailable

# A deploy step waits this long for a database that does not answer, then says so.
_CONNECT_TIMEOUT_S = 5


def add_commands(subparsers: Any) -> None:
    ledger = subparsers.add_parser("ledger", help="the ledger's database itself")
    commands = ledger.add_subparsers(dest="ledger_command", required=True)
    migrate = commands.add_parser(
        "migrate", help="bring the ledger's schema to this version's newest and say where it is"
    )
    migrate.add_argument(
        "--database-url",
        help="postgresql://… or sqlite:///PATH; default: $"
        f"{DATABASE_URL_VARIABLE}, else the SQLite file beside --config's state file",
    )
    migrate.add_argument("--config", help="buyers.yaml: the ledger `pingtree serve` would use")
    migrate.add_argument(
        "--state", metavar="FILE", help="with --config: the state file `serve --state` is given"
    )
    migrate.set_defaults(run=cmd_migrate)


def cmd_migrate(args: argparse.Namespace) -> int:
    from pingtree.ledger.database import url_problem

    url = args.database_url or os.environ.get(DATABASE_URL_VARIABLE) or None
    if url is None:
        found = _url_from_config(args)
        if isinstance(found, int):
            return found
        url = found
    shown = masked_database_url(url)
    problem = url_problem(url)
    if problem is not None:
        print(f"--database-url {shown}: {problem}", file=sys.stderr)
        return 2
    try:
        before, after = asyncio.run(_migrate(url))
    except LedgerUnavailable as exc:
        print(f"ledger at {shown}: {exc.detail}", file=sys.stderr)
        return 1
    if before == after:
        print(f"ledger at {shown}: at revision {after}, the newest: nothing to do")
    else:
        print(f"ledger at {shown}: migrated from {before or 'an empty database'} to {after}")
    return 0


def _url_from_config(args: argparse.Namespace) -> str | int:
    """The ledger `serve --config … [--state …]` would use, or an exit code after saying why
    there is none."""
    from pingtree.web.app import ServeOptions, ledger_url

    if args.config is None:
        print(
            f"which ledger? give --database-url (or ${DATABASE_URL_VARIABLE}), or --config "
            "(and --state) for the SQLite file beside the state file",
            file=sys.stderr,
        )
        return 2
    config = load_or_report(args.config)
    if config is None:
        return 2
    url = ledger_url(config, ServeOptions(state_file=args.state))
    if url is None or url == "sqlite://":  # None: never, without --redis-url
        print(
            f"{args.config}: no state file (router.state_file or --state), so the ledger is a "
            "temporary file of the router's: nothing to migrate; give --database-url for a "
            "database",
            file=sys.stderr,
        )
        return 2
    return url


async def _migrate(url: str) -> tuple[str | None, str | None]:
    """The schema's revision before and after migrating."""
    from pingtree.ledger.migrate import current_revision
    from pingtree.ledger.sql import SqlLedger

    ledger = SqlLedger.open(url, connect_timeout_s=_CONNECT_TIMEOUT_S)
    try:
        before = await ledger.database.run(current_revision)
        await ledger.migrate()
        after = await ledger.database.run(current_revision)
    finally:
        await ledger.close()
    return before, after


__all__ = ["add_commands", "cmd_migrate"]
