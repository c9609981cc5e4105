"""What a router keeps in memory and reads again in the background, so that no auction waits on
a store or a ledger for it (the paused buyers: pauses.py; the ranking's figures:
ranking_stats.py): read once at start, then every `every_s()` (asked before each wait, so a
reload's interval applies), the last reading standing while its source does not answer (logged
once, and again only after it answered)."""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

log = logging.getLogger(__name__)


class Refreshed:
    """A base for such a copy: `refresh()` reads it, raising `unavailable` when its source does
    not answer; `what` names it in the log."""

    what = "it"
    unavailable: type[Exception] = Exception

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    async def refresh(self) -> None:
        raise NotImplementedError

    def every_s(self) -> float:
        raise NotImplementedError

    async def start(self) -> None:
        """Read once (a restarted router has it from its first lead), then keep it fresh."""
        await self._refresh_quietly()
        self._task = asyncio.get_running_loop().create_task(self._keep_fresh())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task

    async def _keep_fresh(self) -> None:
        while True:
            await asyncio.sleep(self.every_s())
            await self._refresh_quietly()

    async def _refresh_quietly(self) -> None:
        try:
            await self.refresh()
        except self.unavailable:
            if not self._failing:
                log.warning("%s could not be read: the last ones read still apply", self.what)
            self._failing = True
        except Exception:
            log.exception("%s could not be read", self.what)
        else:
            self._failing = False
