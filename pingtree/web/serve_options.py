"""What `pingtree serve` adds to the config (ServeOptions), and where the ledger lives by them
(`ledger_url`): read by the app's wiring (app.py, which exports both) and by `pingtree ledger`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pingtree.config import Config
from pingtree.ledger.database import default_url

__all__ = ["ServeOptions", "ledger_url"]


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """What `pingtree serve` adds to the config: where state lives and who this process is."""

    config_path: Path | None = None  # the file POST /admin/reload and SIGHUP re-read
    state_file: str | None = None  # the embedded store's file (--state); default: the config's
    redis_url: str | None = None  # state and deliveries shared with every router on this Redis
    redis_prefix: str = "pingtree"
    # The ledger's database (postgresql://…, sqlite:///PATH); None: a SQLite file beside the
    # state file, in memory without one, and no ledger with Redis (ledger_url says why).
    database_url: str | None = None
    ledger: bool = True  # False: no ledger at all (`serve --no-ledger`)
    # The writer's batches filed by a process of their own (ledger/filer.py; `serve` does): off
    # the loop's GIL. A ledger that would be in memory is then a temporary file (removed when the
    # router stops), which that process can reach.
    ledger_filer: bool = False
    consumer: str | None = None  # this router's name on the queue's leases; default: host:pid
    # A worker of `serve --workers N`: asks the supervisor to have the others reload too.
    tell_other_workers: Callable[[], None] | None = None


def ledger_url(config: Config, options: ServeOptions) -> str | None:
    """Where the ledger lives: `--database-url`; else with Redis nowhere (several routers need
    one database: PostgreSQL); else a SQLite file beside the state file; else in memory."""
    if not options.ledger:
        return None
    if options.database_url is not None:
        return options.database_url
    if options.redis_url is not None:
        return None
    state = options.state_file if options.state_file is not None else config.router.state_file
    return default_url(state or None)
