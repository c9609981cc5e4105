"""The outbox: what the router has to tell the ledger, kept durably until the ledger has it
(DESIGN §12: rows written off the hot path, none lost, none twice).

The router puts an entry when a lead's answer is known, before the seller hears it; the ledger's
writer (ledger/writer.py) takes entries in batches, files them and marks them done. Entries are
opaque bytes (core/record.py encodes them) under a `kind` ("lead" or "audit") and an `id` (the
lead's, or the audit entry's): the ledger files by id, so an entry filed twice is one row.

Implementations (tests/store/test_outbox.py is the contract): `sqlite.SqliteOutbox` (embedded, on
the state file, or in memory without one) and `redis.RedisOutbox` (shared by every router: any
router's writer may file any entry, and a dead router's taken entries are taken again).

Semantics every implementation keeps:
- `put` is durable when it returns (the state file's commit; Redis's write). The same (kind, id)
  put twice may be kept twice: filing is idempotent, so that costs a repeat, never a second row.
- `take` leases up to `limit` entries, oldest first, to one consumer for `lease_s`: nobody else
  gets them until the lease runs out (the consumer died: they are taken again) or they are done.
- `done` forgets entries taken under a lease that still holds; entries whose lease ran out and
  were taken by another are left to that one.
- `backlog` says how many entries wait (taken or not) and when the oldest was put: /healthz and
  the `pingtree_ledger_backlog*` metrics read it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

Kind = Literal["lead", "audit", "quote"]  # quote: an exchange ping's (core/exchange.py)


@dataclass(frozen=True, slots=True)
class Entry:
    kind: Kind
    id: str  # the lead's id, or the audit entry's
    body: bytes  # core/record.py's stored form


@dataclass(frozen=True, slots=True)
class Taken:
    entry: Entry
    token: str  # which lease `done` speaks for (an implementation's own handle)
    put_at: float  # Unix seconds: the entry's age, for the backlog's lag


@dataclass(frozen=True, slots=True)
class Backlog:
    entries: int
    oldest_put_at: float | None  # Unix seconds; None when empty


class Outbox(Protocol):
    async def put(self, entries: Sequence[Entry]) -> None: ...

    async def take(self, limit: int, lease_s: float, consumer: str) -> list[Taken]: ...

    async def done(self, taken: Sequence[Taken]) -> None: ...

    async def backlog(self) -> Backlog: ...

    async def close(self) -> None: ...
