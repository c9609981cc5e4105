"""The shared outbox on Redis: one Stream read by one consumer group, so any router's ledger writer
may file any router's entries, and a dead router's taken entries are taken by another.

- **Put** is XADD, one per entry, in one MULTI/EXEC: one round trip, all or none. An entry's
  Stream id is its put time (Redis's clock, ms): `Taken.put_at` and the backlog's age read it.
  Nothing trims the Stream: an entry leaves it only when it is done.
- **Take** is one script (TAKE): first the entries idle for `lease_s` or more (their holder died
  or stalled: XPENDING with IDLE finds them, XCLAIM moves them to the caller), then new ones
  (XREADGROUP). Oldest first: anything pending was delivered before anything still unread. A
  lease is the pending entry's idle time, so it lasts the `lease_s` of whoever takes it over
  (every writer uses the same). XPENDING then XCLAIM rather than XAUTOCLAIM: the script needs
  the previous holder (to drop it from the group once it holds nothing) and the entry's delivery
  count after the claim (the lease's token).
- **Done** is one script (DONE): XACK and XDEL of each entry whose pending record still names the
  caller *and* the delivery count it was taken with; otherwise its lease ran out and it was taken
  again (by another writer, or by this one under a newer lease), and it is left to that holder,
  as the contract says. (Filing is idempotent, so acknowledging a superseded lease would cost no
  row; but it would drop the entry from under a holder still filing it, and the contract keeps
  the rule the delivery queue keeps.) A token is `<stream id> <delivery count> <consumer>`.
- **Consumers.** A consumer with nothing pending leaves the group (XREADGROUP makes it again when
  it reads), so the group does not collect one consumer per router restart.
- **Backlog** is XLEN (done entries are deleted, so every entry there waits, taken or not) and the
  first entry's id, in one round trip.

**Keys:** `<prefix>:{l}:outbox` (store/redis_keys.py). **Durability** is Redis's, as the delivery
queue's. **Failure:** every error is StoreUnavailable, fast (store/redis_client.py). Needs Redis
6.2 or later (XPENDING's IDLE).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from redis.asyncio import Redis

from pingtree.core.errors import StoreUnavailable
from pingtree.store.outbox.base import Backlog, Entry, Kind, Taken
from pingtree.store.redis_client import as_bytes, client_for, redis_errors_as_unavailable
from pingtree.store.redis_keys import OutboxKeys

__all__ = ["RedisOutbox"]

_KINDS: dict[bytes, Kind] = {b"lead": "lead", b"audit": "audit", b"quote": "quote"}

_FORGET_IF_IDLE = """
local function forget_if_idle(consumer)
  if #redis.call('XPENDING', stream, group, '-', '+', 1, consumer) == 0 then
    redis.call('XGROUP', 'DELCONSUMER', stream, group, consumer)
  end
end
"""

# KEYS stream · ARGV group, consumer, lease (ms), limit. → {{stream id, delivery count, fields}…}
TAKE = (
    """
local stream, group, consumer = KEYS[1], ARGV[1], ARGV[2]
local idle, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
"""
    + _FORGET_IF_IDLE
    + """
redis.pcall('XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM')  -- BUSYGROUP once it exists
local taken = {}
local lapsed = redis.call('XPENDING', stream, group, 'IDLE', idle, '-', '+', limit)
if #lapsed > 0 then
  local ids, previous = {}, {}
  for _, pending in ipairs(lapsed) do
    table.insert(ids, pending[1])
    previous[pending[2]] = true
  end
  for _, entry in ipairs(redis.call('XCLAIM', stream, group, consumer, idle, unpack(ids))) do
    if entry then  -- an entry deleted meanwhile is dropped from the pending list
      local count = redis.call('XPENDING', stream, group, entry[1], entry[1], 1)[1][4]
      table.insert(taken, {entry[1], count, entry[2]})
    end
  end
  for name in pairs(previous) do
    if name ~= consumer then forget_if_idle(name) end
  end
end
if #taken < limit then
  local read = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', limit - #taken,
    'STREAMS', stream, '>')
  if read then
    for _, entry in ipairs(read[1][2]) do table.insert(taken, {entry[1], 1, entry[2]}) end
  end
end
forget_if_idle(consumer)
return taken
"""
)

# KEYS stream · ARGV group, then per entry: stream id, delivery count, consumer. → how many done
DONE = (
    """
local stream, group = KEYS[1], ARGV[1]
"""
    + _FORGET_IF_IDLE
    + """
local done, holders = 0, {}
for i = 2, #ARGV, 3 do
  local id, count, consumer = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  local pending = redis.call('XPENDING', stream, group, id, id, 1)[1]
  if pending and pending[2] == consumer and pending[4] == count then
    redis.call('XACK', stream, group, id)
    redis.call('XDEL', stream, id)
    holders[consumer] = true
    done = done + 1
  end
end
for name in pairs(holders) do forget_if_idle(name) end
return done
"""
)


class RedisOutbox:
    def __init__(
        self,
        client_or_url: str | Redis,
        *,
        prefix: str = "pingtree",
        group: str = "ledger",
        connect_timeout_s: float = 0.25,
        timeout_s: float = 0.25,
        max_connections: int = 8,
        pool_timeout_s: float = 1.0,
    ) -> None:
        """A URL (its pool is this outbox's, closed with it) or a client (shared, say with the
        RedisStore: the caller closes it). A client must answer bytes (decode_responses off)."""
        self.keys = OutboxKeys(prefix)
        self._stream = self.keys.stream()
        self._group = group
        self._owns_client = isinstance(client_or_url, str)
        self._redis = client_for(
            client_or_url,
            "RedisOutbox",
            connect_timeout_s=connect_timeout_s,
            timeout_s=timeout_s,
            max_connections=max_connections,
            pool_timeout_s=pool_timeout_s,
        )
        self._closed = False
        self._take = self._redis.register_script(TAKE)
        self._done = self._redis.register_script(DONE)

    @classmethod
    async def connect(cls, url: str, **options: Any) -> RedisOutbox:
        """An outbox whose server answered a PING: a bad URL or a dead Redis fails at start-up."""
        made = cls(url, **options)
        try:
            with made._io():
                await made._redis.ping()
        except StoreUnavailable:
            await made.close()
            raise
        return made

    @contextmanager
    def _io(self) -> Iterator[None]:
        if self._closed:
            raise StoreUnavailable("the ledger's outbox is closed")
        with redis_errors_as_unavailable():
            yield

    def put_commands(self, entries: Sequence[Entry]) -> list[tuple[str | bytes, ...]]:
        """The XADDs of `put`, for a caller that sends them in a pipeline of its own (the
        store's last writes of an auction, state/redis_phases.py)."""
        return [
            ("XADD", self._stream, "*", "kind", e.kind, "id", e.id, "body", e.body) for e in entries
        ]

    async def put(self, entries: Sequence[Entry]) -> None:
        if not entries:
            return
        with self._io():
            async with self._redis.pipeline(transaction=True) as pipe:
                for entry in entries:
                    fields = {"kind": entry.kind, "id": entry.id, "body": entry.body}
                    pipe.xadd(self._stream, fields)  # type: ignore[arg-type]
                await pipe.execute()

    async def take(self, limit: int, lease_s: float, consumer: str) -> list[Taken]:
        if limit <= 0:
            return []
        lease_ms = max(1, math.ceil(lease_s * 1000))
        with self._io():
            found = await self._take(
                keys=[self._stream], args=[self._group, consumer, lease_ms, limit]
            )
        return [_taken(stream_id, count, fields, consumer) for stream_id, count, fields in found]

    async def done(self, taken: Sequence[Taken]) -> None:
        args: list[str] = [self._group]
        for item in taken:
            args += item.token.split(" ", 2)
        if len(args) > 1:
            with self._io():
                await self._done(keys=[self._stream], args=args)

    async def backlog(self) -> Backlog:
        with self._io():
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.xlen(self._stream)
                pipe.xrange(self._stream, count=1)
                entries, first = await pipe.execute()
        oldest = _put_at(first[0][0]) if first else None
        return Backlog(int(entries), oldest)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._owns_client:
            await self._redis.aclose()


def _put_at(stream_id: object) -> float:
    """An entry's put time: its Stream id's milliseconds."""
    return int(as_bytes(stream_id).split(b"-", 1)[0]) / 1000


def _taken(stream_id: bytes, count: int, flat: list[bytes], consumer: str) -> Taken:
    fields = {as_bytes(flat[n]): as_bytes(flat[n + 1]) for n in range(0, len(flat), 2)}
    entry = Entry(_KINDS[fields[b"kind"]], fields[b"id"].decode(), fields[b"body"])
    token = f"{as_bytes(stream_id).decode()} {int(count)} {consumer}"
    return Taken(entry, token, _put_at(stream_id))
