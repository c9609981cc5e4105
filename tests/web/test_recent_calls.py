"""Each buyer's last minutes of calls as one router made them (pingtree/web/recent_calls.py), the
`recent` of GET /admin/buyers: what each trace event counts as, and the window sliding."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from pingtree.core.outcome import Outcome, TraceEvent
from pingtree.web.recent_calls import KINDS, RecentCalls, call_kinds


def event(step: str, result: str, reason: str | None = None, **kw: Any) -> TraceEvent:
    return TraceEvent(5, "a", step, result, reason, **kw)  # type: ignore[arg-type]


def counted(*kinds: str) -> tuple[str, ...]:
    return kinds


CALLS = [
    pytest.param(event("ping", "bid", bid=Decimal(10)), counted("pings", "bids"), id="a bid"),
    pytest.param(event("ping", "declined", "declined"), counted("pings"), id="a decline"),
    pytest.param(
        event("ping", "failed", "timeout"), counted("pings", "timeouts"), id="a ping timed out"
    ),
    pytest.param(
        event("ping", "failed", "http_error", http_status=500),
        counted("pings", "errors"),
        id="a 500",
    ),
    pytest.param(event("ping", "failed", "bad_response"), counted("pings", "errors"), id="garbage"),
    pytest.param(event("post", "accepted"), counted("posts", "accepted"), id="a sale"),
    pytest.param(event("post", "rejected", "post_rejected"), counted("posts"), id="refused"),
    pytest.param(
        event("post", "unknown", "post_unknown"),
        counted("posts", "timeouts"),
        id="a post with no answer in time",
    ),
    pytest.param(
        event("post", "unknown", "post_unknown", http_status=200),
        counted("posts", "errors"),
        id="a 2xx nobody could read",
    ),
    pytest.param(event("skip", "skipped", "cap:daily"), counted(), id="a skip is no call"),
    pytest.param(event("skip", "skipped", "paused"), counted(), id="a paused buyer: no call"),
    pytest.param(event("post", "skipped", "bid_expired"), counted(), id="a post not sent"),
    pytest.param(event("ping", "skipped", "mapping"), counted(), id="a ping not built"),
    pytest.param(event("offer", "bid", bid=Decimal(30)), counted(), id="a fixed price"),
]


@pytest.mark.parametrize(("trace_event", "expected"), CALLS)
def test_what_a_trace_event_counts_as(trace_event: TraceEvent, expected: tuple[str, ...]) -> None:
    assert tuple(KINDS[kind] for kind in call_kinds(trace_event)) == expected


def outcome(*trace: TraceEvent) -> Outcome:
    return Outcome("ld_1", "acme", "unsold", "2026-01-01T00:00:00.000Z", 10, trace=trace)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_window_slides_and_buyers_are_counted_apart() -> None:
    clock = Clock()
    recent = RecentCalls(clock=clock)
    bid = event("ping", "bid", bid=Decimal(10))
    recent.observe(outcome(bid, TraceEvent(6, "b", "ping", "failed", "timeout")))
    clock.now += 200
    recent.observe(outcome(bid, event("post", "accepted")))
    assert recent.counts("a") == dict.fromkeys(KINDS, 0) | {
        "pings": 2,
        "bids": 2,
        "posts": 1,
        "accepted": 1,
    }
    assert recent.counts("b") == dict.fromkeys(KINDS, 0) | {"pings": 1, "timeouts": 1}
    clock.now += 110  # 310 s after the first: it left the window, the second did not
    assert recent.counts("a")["pings"] == 1
    assert recent.counts("b")["pings"] == 0
    clock.now += 300
    assert recent.counts("a") == dict.fromkeys(KINDS, 0)
    assert recent.counts("nobody") == dict.fromkeys(KINDS, 0)
