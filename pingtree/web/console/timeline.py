"""A lead's trace (DESIGN §7) laid out as a timeline: one lane per buyer, in the order the trace
first names them, each call a bar from when it went out to when it was answered (`at_ms` is
when the router noted the answer, `duration_ms` how long the call took), each skip a dot at its
time, on a shared axis in ms from receipt. The template draws it as SVG, whose x and width are
attributes (the Content-Security-Policy allows no inline style).

PURE: the trace's events (as GET /admin/leads/{id} gives them) in, the geometry out, in the
SVG's own units (`WIDTH` wide)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

WIDTH = 1000
GUTTER = 170  # the buyers' names, left of the plot
RIGHT_PAD = 110  # a bar's label may run past the axis's end
AXIS_H = 26
LANE_H = 30
BAR_H = 14
MIN_BAR_W = 3.0
_NICE_STEPS = (1, 2, 5)


@dataclass(frozen=True, slots=True)
class Mark:
    """One event of the trace on its buyer's lane: a bar (a ping, a post) or a dot (a skip, an
    offer, a call the trace gives no duration)."""

    step: str
    result: str
    x: float
    width: float  # 0: a dot
    y: float
    label: str
    title: str  # the tooltip: the whole event in words

    @property
    def bar(self) -> bool:
        return self.width > 0


@dataclass(frozen=True, slots=True)
class Lane:
    buyer_id: str
    y: float  # the lane's middle
    marks: tuple[Mark, ...]


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True, slots=True)
class Timeline:
    width: int
    height: int
    total_ms: int
    plot_left: int
    plot_right: int
    lanes: tuple[Lane, ...]
    ticks: tuple[Tick, ...]


def timeline(trace: Sequence[Mapping[str, Any]], auction_ms: int) -> Timeline:
    """The timeline of `trace`, its axis from 0 to the auction's end (or its last event's)."""
    total = max([auction_ms, 1, *(int(event["at_ms"]) for event in trace)])
    plot_right = WIDTH - RIGHT_PAD
    scale = (plot_right - GUTTER) / total
    order: dict[str, list[Mapping[str, Any]]] = {}
    for event in trace:
        order.setdefault(str(event["buyer_id"]), []).append(event)
    lanes = []
    for index, (buyer_id, events) in enumerate(order.items()):
        middle = AXIS_H + index * LANE_H + LANE_H / 2
        marks = tuple(_mark(event, middle, scale) for event in events)
        lanes.append(Lane(buyer_id, middle, marks))
    return Timeline(
        width=WIDTH,
        height=AXIS_H + max(len(lanes), 1) * LANE_H + 4,
        total_ms=total,
        plot_left=GUTTER,
        plot_right=plot_right,
        lanes=tuple(lanes),
        ticks=tuple(Tick(GUTTER + ms * scale, f"{ms} ms") for ms in tick_values(total)),
    )


def _mark(event: Mapping[str, Any], middle: float, scale: float) -> Mark:
    at = int(event["at_ms"])
    duration = event.get("duration_ms")
    step, result = str(event["step"]), str(event["result"])
    called = step in ("ping", "post", "check") and duration is not None
    start = max(0, at - int(duration)) if called and duration is not None else at
    width = max(MIN_BAR_W, (at - start) * scale) if called else 0.0
    return Mark(
        step=step,
        result=result,
        x=GUTTER + start * scale,
        width=width,
        y=middle,
        label=_label(event),
        title=describe(event),
    )


def _label(event: Mapping[str, Any]) -> str:
    bid = event.get("bid")
    if event["step"] == "ping" and bid is not None and event["result"] == "bid":
        return f"bid {_money(bid)}"
    reason = event.get("reason")
    return str(reason) if reason else str(event["result"])


def describe(event: Mapping[str, Any]) -> str:
    """The event in one line: `ping · bid · 41.35 · HTTP 200 · 12 ms at 15 ms`."""
    parts = [str(event["step"]), str(event["result"])]
    if event.get("reason"):
        parts.append(str(event["reason"]))
    if event.get("bid") is not None:
        parts.append(_money(event["bid"]))
    if event.get("http_status") is not None:
        parts.append(f"HTTP {event['http_status']}")
    if event.get("duration_ms") is not None:
        parts.append(f"{event['duration_ms']} ms")
    return " · ".join(parts) + f" at {event['at_ms']} ms"


def _money(value: Any) -> str:
    return f"{Decimal(str(value)):.2f}"


def tick_values(total_ms: int, most: int = 6) -> list[int]:
    """0 and the multiples of a round step (1, 2 or 5 ms times a power of ten) up to
    `total_ms`, at most `most` + 1 of them."""
    magnitude = 1
    while True:
        for step in _NICE_STEPS:
            size = step * magnitude
            if total_ms // size <= most:
                return list(range(0, total_ms + 1, size))
        magnitude *= 10


__all__ = ["Lane", "Mark", "Tick", "Timeline", "describe", "tick_values", "timeline"]
