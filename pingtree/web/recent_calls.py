"""The last minutes of each buyer's calls as this router made them, for GET /admin/buyers: pings,
bids, posts, accepted posts, timeouts and errors over the last five minutes, counted from the
traces of the auctions this router finished (the router's `on_finished`). Another router's calls
are its own to count: this is one router's view, and says so.

Counted in ten-second buckets, so a window slides by ten seconds at most and a buyer costs six
integers a bucket, whatever the traffic."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from pingtree.core.outcome import Outcome, TraceEvent

WINDOW_S = 300
KINDS = ("pings", "bids", "posts", "accepted", "timeouts", "errors")
_PINGS, _BIDS, _POSTS, _ACCEPTED, _TIMEOUTS, _ERRORS = range(len(KINDS))


def call_kinds(event: TraceEvent) -> tuple[int, ...]:
    """What one trace event counts as (indexes into KINDS): a ping or a post that went out, a
    bid, an accepted post, and a call that timed out or failed. Skips and fixed-price offers are
    no calls."""
    if event.step not in ("ping", "post") or event.result == "skipped":
        return ()
    kinds = [_PINGS if event.step == "ping" else _POSTS]
    if event.result == "bid":
        kinds.append(_BIDS)
    elif event.result == "accepted":
        kinds.append(_ACCEPTED)
    # As the metrics count them: a post_unknown with a status was answered, unreadably.
    if event.reason == "timeout" or (event.reason == "post_unknown" and event.http_status is None):
        kinds.append(_TIMEOUTS)
    elif event.result in ("failed", "unknown"):
        kinds.append(_ERRORS)
    return tuple(kinds)


class RecentCalls:
    def __init__(
        self,
        *,
        window_s: float = WINDOW_S,
        bucket_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window_s = window_s
        self._bucket_s = bucket_s
        self._buckets_kept = max(1, round(window_s / bucket_s))
        self._clock = clock
        # (bucket number, {buyer id: counts by KINDS}), oldest first
        self._buckets: deque[tuple[int, dict[str, list[int]]]] = deque()

    def observe(self, outcome: Outcome) -> None:
        """Count one finished auction's calls."""
        counts = self._current()
        for event in outcome.trace:
            kinds = call_kinds(event)
            if kinds:
                buyer = counts.setdefault(event.buyer_id, [0] * len(KINDS))
                for kind in kinds:
                    buyer[kind] += 1

    def counts(self, buyer_id: str) -> dict[str, int]:
        """The buyer's calls over the window, by kind."""
        oldest = self._bucket() - self._buckets_kept + 1
        total = [0] * len(KINDS)
        for number, buyers in self._buckets:
            if number >= oldest and buyer_id in buyers:
                total = [a + b for a, b in zip(total, buyers[buyer_id], strict=True)]
        return dict(zip(KINDS, total, strict=True))

    def _bucket(self) -> int:
        return int(self._clock() // self._bucket_s)

    def _current(self) -> dict[str, list[int]]:
        number = self._bucket()
        if not self._buckets or self._buckets[-1][0] != number:
            self._buckets.append((number, {}))
        while self._buckets[0][0] <= number - self._buckets_kept:
            self._buckets.popleft()
        return self._buckets[-1][1]


__all__ = ["KINDS", "WINDOW_S", "RecentCalls", "call_kinds"]
