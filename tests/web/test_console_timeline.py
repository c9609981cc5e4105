"""A lead's trace laid out as the console's timeline (web/console/timeline.py): pure geometry,
tested as tables, with no browser."""

from __future__ import annotations

from typing import Any

import pytest

from pingtree.web.console.timeline import GUTTER, MIN_BAR_W, RIGHT_PAD, WIDTH, describe, tick_values
from pingtree.web.console.timeline import timeline as laid_out

PLOT = WIDTH - RIGHT_PAD - GUTTER


@pytest.mark.parametrize(
    ("total_ms", "ticks"),
    [
        (1, [0, 1]),
        (4, [0, 1, 2, 3, 4]),
        (7, [0, 2, 4, 6]),
        (12, [0, 2, 4, 6, 8, 10, 12]),
        (45, [0, 10, 20, 30, 40]),
        (212, [0, 50, 100, 150, 200]),
        (1500, [0, 500, 1000, 1500]),
        (2000, [0, 500, 1000, 1500, 2000]),
    ],
)
def test_the_axis_has_a_round_step(total_ms: int, ticks: list[int]) -> None:
    assert tick_values(total_ms) == ticks


def event(at: int, buyer: str, step: str, result: str, **more: Any) -> dict[str, Any]:
    return {"at_ms": at, "buyer_id": buyer, "step": step, "result": result, **more}


TRACE = [
    event(0, "closed", "skip", "skipped", reason="schedule"),
    event(60, "firm", "ping", "bid", http_status=200, duration_ms=40, bid=41.35),
    event(90, "slow", "ping", "failed", reason="timeout", duration_ms=90),
    event(150, "firm", "post", "accepted", http_status=200, duration_ms=50, bid=41.35),
]


@pytest.mark.parametrize(
    ("buyer", "index", "step", "start_ms", "end_ms", "label"),
    [
        # a skip is a dot at its time, labelled by its reason
        ("closed", 0, "skip", 0, None, "schedule"),
        # a call is a bar from when it went out (at_ms - duration_ms) to its answer (at_ms)
        ("firm", 0, "ping", 20, 60, "bid 41.35"),
        ("firm", 1, "post", 100, 150, "accepted"),
        ("slow", 0, "ping", 0, 90, "timeout"),
    ],
)
def test_each_event_is_placed_on_its_buyers_lane(
    buyer: str, index: int, step: str, start_ms: int, end_ms: int | None, label: str
) -> None:
    drawn = laid_out(TRACE, auction_ms=200)
    assert [lane.buyer_id for lane in drawn.lanes] == ["closed", "firm", "slow"]  # trace order
    mark = next(lane for lane in drawn.lanes if lane.buyer_id == buyer).marks[index]
    scale = PLOT / 200
    assert (mark.step, mark.label) == (step, label)
    assert mark.x == pytest.approx(GUTTER + start_ms * scale)
    if end_ms is None:
        assert not mark.bar
    else:
        assert mark.width == pytest.approx(max(MIN_BAR_W, (end_ms - start_ms) * scale))


def test_the_axis_spans_the_auction_or_its_last_event_and_a_call_without_duration_is_a_dot() -> (
    None
):
    late = [event(300, "firm", "post", "unknown", reason="post_unknown")]
    drawn = laid_out(late, auction_ms=250)
    assert drawn.total_ms == 300
    (mark,) = drawn.lanes[0].marks
    assert not mark.bar and mark.x == pytest.approx(GUTTER + PLOT)
    assert laid_out([], auction_ms=0).lanes == ()


def test_an_event_is_described_in_one_line() -> None:
    assert describe(TRACE[1]) == "ping · bid · 41.35 · HTTP 200 · 40 ms at 60 ms"
    assert describe(TRACE[0]) == "skip · skipped · schedule at 0 ms"
