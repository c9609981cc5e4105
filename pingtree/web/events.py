"""The live events of GET /admin/events (DESIGN §13): every auction this router finishes, told to
every operator listening, as server-sent events. Other routers' auctions are theirs to tell.

    event: lead       {id, seller_id, vertical, status, reason, buyer_id, price, payout,
                       auction_ms, received_at, test, sales, quote}: no PII, no trace; `sales`
                       every sale of a sold lead ({buyer_id, price, payout}: a shared lead's
                       each, an exclusive one's one), `quote` what an exchange post's ping was
                       quoted (None for a lead posted whole)
    event: dropped    {"count": n}: n leads this listener missed, where they would have been
    : keep-alive      a comment every `keep_alive_s` (15 s), so proxies keep the stream open

`publish` is called by the router as each auction finishes (its `on_finished`) and never waits:
each listener has a bounded queue, and a listener too slow to keep up loses leads (told by a
`dropped` frame in their place) rather than slowing an auction. A lead's frame is encoded once,
whoever listens; with nobody listening, publishing costs nothing."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

from pingtree.core import jsonenc
from pingtree.core.outcome import Outcome

KEEP_ALIVE = b": keep-alive\n\n"


def lead_event(outcome: Outcome) -> dict[str, Any]:
    """What a live view is told of a finished auction: no PII, no trace."""
    return {
        "id": outcome.id,
        "seller_id": outcome.seller_id,
        "vertical": outcome.vertical,
        "status": outcome.status,
        "reason": outcome.reason,
        "buyer_id": outcome.buyer_id,
        "price": outcome.price,
        "payout": outcome.payout,
        "auction_ms": outcome.auction_ms,
        "received_at": outcome.received_at,
        "test": outcome.test,
        "sales": [
            {"buyer_id": line.buyer_id, "price": line.price, "payout": line.payout}
            for line in outcome.sale_lines()
        ],
        "quote": outcome.quote,
    }


def frame(event: str, data: Any) -> bytes:
    """One server-sent event; the JSON has no newline, so it is one `data:` line."""
    return b"event: " + event.encode() + b"\ndata: " + jsonenc.dumps(data) + b"\n\n"


class Listener:
    """One operator's stream: the frames not yet written, at most `size`, and how many were
    dropped since the last one queued (told in a `dropped` frame where they would have been)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._frames: deque[bytes] = deque()
        self._dropped = 0
        self._ready = asyncio.Event()
        self.closed = False

    def offer(self, lead_frame: bytes) -> None:
        if len(self._frames) >= self._size:
            self._dropped += 1
            return
        if self._dropped:
            self._frames.append(frame("dropped", {"count": self._dropped}))
            self._dropped = 0
        self._frames.append(lead_frame)
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    async def frames(self, keep_alive_s: float) -> AsyncIterator[bytes]:
        """Frames as they come, a keep-alive when none came for `keep_alive_s`; ends on close."""
        while not self.closed:
            if not self._frames:
                if self._dropped:  # nothing queued after them: say so now
                    yield frame("dropped", {"count": self._dropped})
                    self._dropped = 0
                    continue
                self._ready.clear()
                try:
                    await asyncio.wait_for(self._ready.wait(), keep_alive_s)
                except TimeoutError:
                    yield KEEP_ALIVE
                continue
            yield self._frames.popleft()


class EventBroadcaster:
    def __init__(self, *, queue_size: int = 256, keep_alive_s: float = 15.0) -> None:
        self.queue_size = queue_size
        self.keep_alive_s = keep_alive_s
        self._listeners: set[Listener] = set()

    def publish(self, outcome: Outcome) -> None:
        """Tell every listener of a finished auction, at once, without waiting for any."""
        if not self._listeners:
            return
        lead_frame = frame("lead", lead_event(outcome))
        for listener in self._listeners:
            listener.offer(lead_frame)

    @contextmanager
    def listen(self) -> Iterator[Listener]:
        listener = Listener(self.queue_size)
        self._listeners.add(listener)
        try:
            yield listener
        finally:
            self._listeners.discard(listener)

    @property
    def listeners(self) -> int:
        return len(self._listeners)

    def close(self) -> None:
        """End every stream (the app is shutting down: streams would hold it up otherwise)."""
        for listener in self._listeners:
            listener.close()


__all__ = ["KEEP_ALIVE", "EventBroadcaster", "Listener", "frame", "lead_event"]
