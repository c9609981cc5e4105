"""`pingtree suppress add LIST FILE.csv` and `pingtree suppress lists`: a running router's
suppression lists (DESIGN §16), through its operator API (cli/admin_client.py: `--url`,
`--token`). The file is read as a list's file is (gates/suppression_file.py: one value a line,
its first field, an optional header row) and sent in batches; the router normalizes and hashes
each value, and says how many were added and how many were not a valid phone or email. Values
are never printed."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pingtree.cli.admin_client import add_options, ask
from pingtree.gates.suppression_file import line_value
from pingtree.web.suppression_admin import BATCH_VALUES


def add_commands(subparsers: Any) -> None:
    suppress = subparsers.add_parser("suppress", help="a running router's suppression lists")
    actions = suppress.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add a CSV file's phones or emails to a list")
    add.add_argument("list", help="the list's id in the router's config")
    add.add_argument("file", help="one value a line (the first field), optional header row")
    add.set_defaults(run=cmd_add)
    lists = actions.add_parser("lists", help="the lists in force and their sizes")
    lists.set_defaults(run=cmd_lists)
    for command in (add, lists):
        add_options(command)


def cmd_add(args: argparse.Namespace) -> int:
    try:
        batches = list(_batches(Path(args.file)))
    except OSError as exc:
        print(f"{args.file}: cannot read: {exc.strerror}", file=sys.stderr)
        return 2
    totals = {"received": 0, "added": 0, "invalid": 0}
    for values in batches:
        code, answer = ask(args, "POST", f"/admin/suppression/{args.list}", body={"values": values})
        if code:
            return code
        for name in totals:
            totals[name] += int(answer[name])
    print(
        f"{args.list}: {totals['received']} value(s) sent, {totals['added']} added, "
        f"{totals['invalid']} not a valid phone or email"
    )
    return 0


def cmd_lists(args: argparse.Namespace) -> int:
    code, answer = ask(args, "GET", "/admin/suppression")
    if code:
        return code
    for listed in answer["lists"]:
        scope = listed["scope"] if listed["scope"] == "all" else ",".join(listed["scope"])
        print(
            f"{listed['id']}\t{listed['match']}\tscope {scope}\t{listed['file_entries']} from "
            f"its file ({listed['file_bad_lines']} bad lines)\t{listed['added_entries']} added"
        )
    return 0


def _batches(path: Path) -> Iterator[list[str]]:
    batch: list[str] = []
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, 1):
            value = line_value(line)
            if not value or (number == 1 and not any(c.isdigit() or c == "@" for c in value)):
                continue  # blank, or a header row
            batch.append(value)
            if len(batch) == BATCH_VALUES:
                yield batch
                batch = []
    if batch:
        yield batch
