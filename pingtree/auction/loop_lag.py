"""How late this process's event loop runs: a timer every `every_s`, and how late each one fired.

Every buyer call's deadline is a timer on this loop, beside every other auction's work. When the
loop falls behind (more leads than one core serves in time, a long garbage collection), an
answer that came in time is read after its deadline and ends as a timeout: the lag says whether
a timeout measured the buyer or this router (breaker.call_evidence). It reads the loop's own
clock only. The ticks of the last `keep_s` seconds are kept: few, and fewer the later they run.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import suppress


class LoopLag:
    def __init__(
        self,
        *,
        every_s: float = 0.025,
        keep_s: float = 120.0,
        on_tick: Callable[[float], None] | None = None,
    ) -> None:
        """`on_tick(seconds_late)` after every tick (a metric); `keep_s` must outlast any call
        (60 s at most, config's timeouts) for `worst_since` to see the whole of it."""
        self._every_s = every_s
        self._keep_s = keep_s
        self._on_tick = on_tick
        self._ticks: deque[tuple[float, float]] = deque()  # (fired at, seconds late), oldest first
        self._due: float | None = None  # the next tick's due time, while running
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._due = loop.time() + self._every_s
        self._task = loop.create_task(self._tick())

    async def stop(self) -> None:
        self._due = None
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def running(self, _app: object) -> AsyncIterator[None]:
        """For aiohttp's cleanup_ctx: ticking while the app runs."""
        self.start()
        try:
            yield
        finally:
            await self.stop()

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while self._due is not None:
            await asyncio.sleep(max(self._due - loop.time(), 0.0))
            now = loop.time()
            late = max(now - self._due, 0.0)
            self._ticks.append((now, late))
            while self._ticks[0][0] < now - self._keep_s:
                self._ticks.popleft()
            self._due = now + self._every_s
            if self._on_tick is not None:
                self._on_tick(late)

    def worst_since(self, since: float) -> float:
        """The most the loop ran late at any moment from `since` (the loop's time) to now: the
        ticks that fired since, and the one overdue now. 0 when not running."""
        due = self._due
        if due is None:
            return 0.0
        worst = max(asyncio.get_running_loop().time() - due, 0.0)
        for fired, late in reversed(self._ticks):
            if fired < since:
                break
            worst = max(worst, late)
        return worst
