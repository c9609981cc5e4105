"""Ids sort as text in the order they were made, and do not repeat."""

from __future__ import annotations

import re

from pingtree.ids import lead_id, ping_id


def test_ids_sort_by_time_and_look_alike() -> None:
    made = [lead_id(now_ms=ms) for ms in (0, 1, 999, 1_000, 1_764_000_000_000, 2**48 - 1)]
    assert made == sorted(made)
    assert all(re.fullmatch(r"ld_[0-9A-HJKMNP-TV-Z]{26}", i) for i in made)
    assert re.fullmatch(r"pg_[0-9A-HJKMNP-TV-Z]{26}", ping_id())


def test_ids_do_not_repeat() -> None:
    assert len({ping_id() for _ in range(10_000)}) == 10_000
