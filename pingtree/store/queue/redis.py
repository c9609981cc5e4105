"""The shared delivery queue and sales ledger on Redis: any router may deliver any job, and the
jobs of a router that died are taken over by another. DeliveryQueue's contract (base.py) is kept
by the scripts in redis_scripts.py, one per change:

- **Waiting.** Every job enqueued goes to `delayed` (a sorted set by due time), even one due at
  once, since only `claim` knows `now`. `claim` moves those now due (at most _PROMOTE_BATCH at a
  time) to their destination's `ready` set, by created_at, then enqueue number.
- **Turns.** A destination has at most one job in the Stream (`turns` says which): its oldest due
  one, read by a consumer of the group and then leased, or not read yet. So a claim can hand out
  no second job of a destination, and a destination's jobs go out in order of sale: a job waiting
  for its retry is in `delayed`, not in the way; one due again takes the turn back from a newer one
  not yet read. Across destinations, jobs come out in the order their turns came (a turn comes
  when a destination is free and has a job due): oldest first whenever the claims keep up.
- **Leases.** A lease is the Stream's pending entry plus `leases`, the expiry on the caller's
  clock. A claim first takes over leases that ran out (XCLAIM: the entry changes consumer, the job
  its lease token, its attempt stays), then reads new entries (XREADGROUP). `settle` counts only
  under the token its job carries; it acknowledges and deletes the entry, so the Stream is never
  longer than the number of destinations with jobs due. A consumer left with nothing pending
  leaves the group.
- **Listings.** `jobs()` reads one sorted set, `jobs:<state or 'any'>[:<destination>]`, by
  created_at; the scripts move a job between them as its state changes. `finished` orders the
  jobs for `purge`.
- **The sales ledger.** One hash of rows (compact JSON) and sorted sets by sold_at, overall and
  per buyer, on their own hash tag: one row per (lead, buyer), the first recorded kept.
- **Erasure.** An erased job's hash has `erased` set, which REPLAY refuses; ERASE takes a job not
  delivered yet out of everything CLAIM reads (stream, turn, leases, delayed and ready sets).

**Keys** are `<prefix>:{q}:...` for the queue and `<prefix>:{s}:...` for the ledger, all built by
`QueueKeys` (store/redis_keys.py, which says why the whole queue has one hash tag). Nothing here
has a TTL: a job is kept until it is settled and purged; the ledger has no retention yet.

**Durability** is Redis's: an enqueue is in Redis when it returns; kept on a crash of Redis as far
as its AOF (`appendfsync`) and replicas keep it. **Failure:** as RedisStore's, every error is
StoreUnavailable, fast: no retries, short timeouts, a bounded blocking pool (store/redis_client.py).
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from pingtree.core.errors import StoreUnavailable
from pingtree.store.queue import redis_scripts as lua
from pingtree.store.queue.base import ERASED, Job, JobState, SaleRow, Settlement
from pingtree.store.queue.settle import decode_pairs, encode_pairs, erased_sale, one_line, settled
from pingtree.store.redis_client import as_bytes, client_for, redis_errors_as_unavailable
from pingtree.store.redis_keys import QueueKeys

_PROMOTE_BATCH = 1000  # delayed jobs moved per claim: bounds one script's time after an outage
_PURGE_BATCH = 500
_SALES_PAGE = 1000


class RedisQueue:
    def __init__(
        self,
        client_or_url: str | Redis,
        *,
        prefix: str = "pingtree",
        group: str = "deliveries",
        connect_timeout_s: float = 0.25,
        timeout_s: float = 0.25,
        max_connections: int = 16,
        pool_timeout_s: float = 1.0,
    ) -> None:
        """A URL (its pool is this queue's, closed with it) or a client (shared, say with the
        RedisStore: the caller closes it). A client must answer bytes (decode_responses off)."""
        self.keys = QueueKeys(prefix)
        self._owns_client = isinstance(client_or_url, str)
        self._redis = client_for(
            client_or_url,
            "RedisQueue",
            connect_timeout_s=connect_timeout_s,
            timeout_s=timeout_s,
            max_connections=max_connections,
            pool_timeout_s=pool_timeout_s,
        )
        self._closed = False
        self._keys = self.keys.script_keys()
        self._args = self.keys.script_args(group)
        register = self._redis.register_script
        self._enqueue = register(lua.ENQUEUE)
        self._claim = register(lua.CLAIM)
        self._settle = register(lua.SETTLE)
        self._retry_now = register(lua.RETRY_NOW)
        self._replay = register(lua.REPLAY)
        self._purge = register(lua.PURGE)
        self._list = register(lua.LIST)
        self._record_sale = register(lua.RECORD_SALE)
        self._sales = register(lua.SALES)
        self._purge_sales = register(lua.PURGE_SALES)
        self._erase = register(lua.ERASE)
        self._erase_sales = register(lua.ERASE_SALES)

    @classmethod
    async def connect(cls, url: str, **options: Any) -> RedisQueue:
        """A queue whose server answered a PING: a bad URL or a dead Redis fails at start-up."""
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
            raise StoreUnavailable("the delivery queue is closed")
        with redis_errors_as_unavailable():
            yield

    async def _run(
        self, script: AsyncScript, args: Sequence[str | bytes | int], keys: Sequence[str] = ()
    ) -> Any:
        with self._io():
            return await script(keys=[*self._keys, *keys], args=[*self._args, *args])

    async def enqueue(self, jobs: Sequence[Job]) -> None:
        args: list[str | bytes] = []
        for job in jobs:
            fields = _job_fields(job)
            args += [job.id, job.key, _score(job.created_at), _score(job.due_at), str(len(fields))]
            for name, value in fields.items():
                args += [name, value]
        if args:
            await self._run(self._enqueue, args)

    async def claim(self, now: float, limit: int, lease_s: float, consumer: str) -> list[Job]:
        if limit <= 0:
            return []
        token = secrets.token_hex(8)
        args = (consumer, _score(now), _score(now + lease_s), token, limit, _PROMOTE_BATCH)
        found = await self._run(self._claim, args)
        # Stable: jobs of one sale keep the order the script gave them.
        return sorted((_job(fields) for fields in found), key=lambda job: job.created_at)

    async def settle(self, job: Job, result: Settlement, now: float) -> None:
        if job.lease is None:
            return  # never claimed: not this caller's to settle
        # From the caller's copy: while its lease holds (the script checks) nothing else changes
        # a leased job, so it is the stored one.
        change = settled(job, result, now)
        finished_at = "" if change.finished_at is None else _score(change.finished_at)
        args = (
            *(job.id, job.lease, change.state, change.attempt, _score(change.due_at)),
            *(change.target, change.last_error or "", int(change.last_error is not None)),
            *(change.line, finished_at, _score(now)),
        )
        await self._run(self._settle, args)

    async def get(self, job_id: str) -> Job | None:
        with self._io():
            fields = await self._redis.hgetall(self.keys.job(job_id))
        return _job(_flat(fields)) if fields else None

    async def jobs(
        self,
        *,
        state: JobState | None = None,
        key: str | None = None,
        limit: int = 100,
    ) -> list[Job]:
        """Newest first; `key` is a destination (`buyer:firm/crm`)."""
        if limit <= 0:
            return []
        found = await self._run(self._list, (limit,), keys=(self.keys.listing(state, key),))
        return [_job(fields) for fields in found]

    async def replay(self, job_id: str, now: float) -> bool:
        return bool(await self._run(self._replay, (job_id, _score(now))))

    async def retry_now(self, job_id: str, now: float) -> bool:
        return bool(await self._run(self._retry_now, (job_id, _score(now))))

    async def purge(self, now: float, keep_s: float) -> int:
        purged, cutoff = 0, _score(now - keep_s)
        while True:
            batch = int(await self._run(self._purge, (cutoff, _PURGE_BATCH)))
            purged += batch
            if batch < _PURGE_BATCH:
                return purged

    # the sales ledger -------------------------------------------------------------------------

    async def record_sale(self, row: SaleRow) -> None:
        keys = [self.keys.sales_rows(), self.keys.sales(None), self.keys.sales(row.buyer_id)]
        args = (f"{row.lead_id}\t{row.buyer_id}", _score(row.sold_at), encode_pairs(row.fields))
        with self._io():
            await self._record_sale(keys=keys, args=args)

    async def sales(self, buyer_id: str | None, start: float, end: float) -> list[SaleRow]:
        """Rows sold in [start, end), oldest first; every buyer's when `buyer_id` is None. Read a
        page at a time: a sale recorded meanwhile, inside the range, may shift a page by one."""
        keys = [self.keys.sales(buyer_id), self.keys.sales_rows()]
        rows: list[SaleRow] = []
        while True:
            args = (_score(start), _score(end), len(rows), _SALES_PAGE)
            with self._io():
                page = await self._sales(keys=keys, args=args)
            for member, sold_at, fields in page:
                lead_id, buyer = _text(member).split("\t", 1)
                rows.append(SaleRow(lead_id, buyer, float(sold_at), decode_pairs(fields)))
            if len(page) < _SALES_PAGE:
                return rows

    async def purge_sales(self, before: float) -> int:
        keys = [self.keys.sales_rows(), self.keys.sales(None)]
        args = (_score(before), self.keys.sales("").removesuffix(":buyer:"), _PURGE_BATCH)
        purged = 0
        while True:
            with self._io():
                batch = int(await self._purge_sales(keys=keys, args=args))
            purged += batch
            if batch < _PURGE_BATCH:
                return purged

    # erasure ----------------------------------------------------------------------------------

    async def erase(self, lead_ids: Sequence[str], now: float) -> int:
        """The leads' jobs and sale rows are found by scanning the listing of every job and the
        ledger's index (ZSCAN, by the lead's id at the start of each member), which nothing
        else needs: a forget is rare, a second index on every sale is not. Each batch found is
        then erased by one script."""
        erased = 0
        for lead_id in dict.fromkeys(lead_ids):
            # A listing's member is the job's rank: 16 digits, ':', then the id (lead.owner.dest).
            pattern = "?" * 16 + ":" + _glob_literal(lead_id) + ".*"
            ranks = await self._scan(self.keys.listing(None, None), pattern)
            job_ids = [rank.split(":", 1)[1] for rank in ranks]
            if job_ids:
                erased += int(await self._run(self._erase, (_score(now), ERASED, *job_ids)))
            await self._erase_sale_rows(lead_id)
        return erased

    async def _erase_sale_rows(self, lead_id: str) -> None:
        rows_key = self.keys.sales_rows()
        members = await self._scan(self.keys.sales(None), _glob_literal(lead_id) + "\t*")
        if not members:
            return
        with self._io():
            rows = await self._redis.hmget(rows_key, members)
        args: list[str | bytes] = []
        for member, row in zip(members, rows, strict=True):
            if row is not None:
                args += [member, row, encode_pairs(erased_sale(decode_pairs(row)))]
        if args:
            with self._io():
                await self._erase_sales(keys=[rows_key], args=args)

    async def _scan(self, key: str, pattern: str) -> list[str]:
        """The members of sorted set `key` that match `pattern` (a Redis glob)."""
        found: list[str] = []
        with self._io():
            async for member, _ in self._redis.zscan_iter(key, match=pattern, count=1000):
                found.append(_text(member))
        return found

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._owns_client:
            await self._redis.aclose()


def _score(seconds: float) -> str:
    """A time as Redis and the scripts read it: exact (repr round-trips a float), ±inf spelt
    as ZRANGEBYSCORE wants."""
    if math.isinf(seconds):
        return "+inf" if seconds > 0 else "-inf"
    return repr(float(seconds))


def _glob_literal(text: str) -> str:
    """`text` matched as it is by a Redis glob (MATCH)."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def _job_fields(job: Job) -> dict[str, str | bytes]:
    """A new job's hash: waiting, whatever state it came with."""
    fields: dict[str, str | bytes] = {
        "id": job.id,
        "lead_id": job.lead_id,
        "owner": job.owner,
        "destination": job.destination,
        "key": job.key,
        "created_at": _score(job.created_at),
        "method": job.method,
        "url": job.url,
        "headers": encode_pairs(job.headers),
        "body": job.body,
        "attempt": str(job.attempt),
        "due_at": _score(job.due_at),
        "target": job.target,
        "state": "waiting",
    }
    if job.failover_url is not None:
        fields["failover_url"] = job.failover_url
    if job.last_error is not None:
        fields["last_error"] = job.last_error
    if job.history:
        fields["history"] = "\n".join(one_line(line) for line in job.history)
    return fields


def _flat(fields: dict[bytes | str, bytes | str]) -> list[bytes]:
    return [as_bytes(item) for pair in fields.items() for item in pair]


def _job(flat: list[bytes]) -> Job:
    """A job from its hash, as HGETALL answers it (field, value, field, value...)."""
    fields = {_text(flat[n]): flat[n + 1] for n in range(0, len(flat), 2)}

    def text(name: str) -> str | None:
        value = fields.get(name)
        return None if value is None else _text(value)

    history = text("history")
    return Job(
        id=_text(fields["id"]),
        lead_id=_text(fields["lead_id"]),
        owner=_text(fields["owner"]),
        destination=_text(fields["destination"]),
        created_at=float(fields["created_at"]),
        method=_text(fields["method"]),
        url=_text(fields["url"]),
        failover_url=text("failover_url"),
        headers=decode_pairs(fields["headers"]),
        body=fields["body"],
        attempt=int(fields["attempt"]),
        due_at=float(fields["due_at"]),
        target=_text(fields["target"]),  # type: ignore[arg-type]
        state=_text(fields["state"]),  # type: ignore[arg-type]
        last_error=text("last_error"),
        history=() if history is None else tuple(history.split("\n")),
        lease=text("lease"),
    )


def _text(value: object) -> str:
    return as_bytes(value).decode()
