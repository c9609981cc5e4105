"""Processes the tests start or watch, read from /proc: a router's children (its ledger filing
process), and whether one has ended."""

from __future__ import annotations

import time
from pathlib import Path


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat's fields after the command's name (state first); OSError if gone."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def ended(pid: int) -> bool:
    """No such process, or a zombie its parent has not reaped yet."""
    try:
        return _stat(pid)[0] == "Z"
    except OSError:
        return True


def ends_within(pid: int, seconds: float) -> bool:
    give_up = time.monotonic() + seconds
    while not ended(pid):
        if time.monotonic() > give_up:
            return False
        time.sleep(0.05)
    return True


def children_of(pid: int) -> list[int]:
    """The running processes whose parent is `pid`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = _stat(int(stat.parent.name))
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found
