"""Reloading buyers.yaml while the router serves (`POST /admin/reload`, SIGHUP): re-read the file
the router was started with, validate it fully, swap it in or keep the old one."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from pingtree.auction.router import Router
from pingtree.config import load_config
from pingtree.config.tree import Tree
from pingtree.core.errors import ConfigError
from pingtree.metrics import Metrics

log = logging.getLogger(__name__)


class ConfigReloader:
    """Re-reads the file the router was started with and swaps its tree, one reload at a time; a
    file that does not validate changes nothing. Reading and validating run in a worker thread
    (the models come out frozen, so handing them over is safe); the swap is one assignment on the
    event loop, and auctions under way finish on the tree they started with."""

    def __init__(self, path: Path | None, router: Router, metrics: Metrics) -> None:
        self.path = path
        self._generation = 1  # the config the router started with
        self._router = router
        self._retention = router.tree.settings.retention  # what the store was built with
        self._metrics = metrics
        self._lock = asyncio.Lock()
        self._signalled: set[asyncio.Task[None]] = set()
        # Set by `serve --workers N` in each worker: asks the supervisor to have the other
        # workers re-read the file after this one reloaded it over HTTP (see api.admin_reload).
        self.tell_others: Callable[[], None] | None = None
        metrics.config_generation.set(self._generation)

    async def reload(self) -> tuple[Tree, int]:
        """(the new tree, its generation), or ConfigError with every error and its path."""
        if self.path is None:
            raise RuntimeError("no config file to reload")
        async with self._lock:
            try:
                config = await asyncio.to_thread(load_config, self.path)
            except ConfigError as exc:
                self._metrics.config_reloads.labels("refused").inc()
                errors = "; ".join(f"{where}: {message}" for where, message in exc.errors)
                log.error("config reload refused, old config kept: %s: %s", self.path, errors)
                raise
            if config.router.retention != self._retention:
                log.warning(
                    "router.retention differs from the running one: takes effect on restart"
                )
            # The lists first (their files read in a thread): a file gone refuses the reload.
            await self._router.suppression.load(config, self._router.tree)
            tree = self._router.reload(config)
            self._generation += 1
            self._metrics.config_reloads.labels("applied").inc()
            self._metrics.config_generation.set(self._generation)
            log.info(
                "config reloaded: %d buyers, %d sellers (generation %d)",
                len(tree.buyers),
                len(tree.sellers),
                self._generation,
            )
            return tree, self._generation

    def reload_soon(self) -> None:
        """Start a reload from a signal handler; the log and the metrics tell how it went."""
        task = asyncio.get_running_loop().create_task(self._reload_logged())
        self._signalled.add(task)  # a task nobody holds may be collected before it runs
        task.add_done_callback(self._signalled.discard)

    async def _reload_logged(self) -> None:
        try:
            await self.reload()
        except ConfigError:
            pass  # logged and counted by reload()
        except Exception:
            log.exception("config reload failed, old config kept")
