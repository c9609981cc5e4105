"""The held bids of seller pings, kept until the post (auction/exchange.py) or until they lapse.

Entries are opaque bytes (core/exchange.py encodes them) under the seller and its ping's id, so
one seller can never read another's. `hold` keeps one for `keep_s` (past the bids' own expiry,
so a late post is told 410 `ping_expired` rather than 404); `get` reads it, None once gone.
A post reads a hold; it never consumes it: the post's idempotency claim, keyed on the ping id,
is what makes a second post of one ping replay the first one's answer.

Implementations (tests/store/test_held_bids.py is the contract): `memory.MemoryHeldBids`,
`sqlite.SqliteHeldBids` (a table in the state file), `redis.RedisHeldBids` (shared by every
router: a post may reach another router than the ping did).
"""

from __future__ import annotations

from typing import Protocol


class HeldBids(Protocol):
    async def hold(self, seller_id: str, ping_id: str, body: bytes, keep_s: float) -> None: ...

    async def get(self, seller_id: str, ping_id: str) -> bytes | None: ...
