"""The one way both halves of the store (state/redis.py, queue/redis.py) reach Redis: the client
and its pool, and where redis-py's errors stop.

Every redis-py error stops here as StoreUnavailable (503, Retry-After). Short socket timeouts and
no retries (redis-py's default is ten, with backoff, and would run a script twice when only its
answer was lost) make a dead Redis fail in milliseconds; a hung one fails within the socket
timeout (plus the pool's wait, when every connection is stuck on it). A timeout is marked `slow`
(state/guard.py tells a busy store from a hung one).

Every request a pool made here writes to Redis is counted (`round_trips()`, exported as
`pingtree_redis_round_trips_total`), by its connection as it writes it: one per single command,
one per pipeline (its commands go out in one write and their answers are read together), one per
script call (EVALSHA; redis-py's NOSCRIPT fallback is two more, SCRIPT LOAD and EVALSHA again).
A new connection's handshake (CLIENT SETINFO, SELECT) is not a request of pingtree's and is left
out: a pool makes at most `max_connections` of them. A client the caller made is not counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import cast

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from pingtree.core.errors import StoreUnavailable

# Which part of pingtree a pool is for, by the user `client_for` is given. What shares a pool is
# counted with it: the held bids, turns, suppression lists and ledger outbox on the store's client
# are `state`; `outbox` is an outbox on a pool of its own (a URL given to RedisOutbox).
_PARTS = {"RedisStore": "state", "RedisQueue": "queue", "RedisOutbox": "outbox"}
# This process's requests written to Redis, by part. A dict of ints, bumped by the connections
# on the event loop's thread: a counter costs nothing measurable beside the write it counts.
_round_trips = dict.fromkeys(_PARTS.values(), 0)


def round_trips() -> dict[str, int]:
    """Requests this process's pools have written to Redis so far, by part (every part, 0 too)."""
    return dict(_round_trips)


class _CountsRoundTrips(AbstractConnection):
    """Counts each write of a request (or of a whole pipeline) into `_round_trips[part]`. Every
    request reaches the socket through `send_packed_command`: a single command by send_command,
    a pipeline's packed commands at once; nothing else of redis-py's writes, but for the
    handshake of a new connection, which is not counted."""

    part = "state"
    _handshaking = False

    async def on_connect_check_health(self, check_health: bool = True) -> None:
        self._handshaking = True
        try:
            await super().on_connect_check_health(check_health)
        finally:
            self._handshaking = False

    async def send_packed_command(
        self, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        if not self._handshaking:
            _round_trips[self.part] += 1
        await super().send_packed_command(command, check_health)


_counted_classes: dict[tuple[type[AbstractConnection], str], type[AbstractConnection]] = {}


def _counted(base: type[AbstractConnection], part: str) -> type[AbstractConnection]:
    """`base` (TCP, TLS or Unix socket: the URL's scheme chose it) counting its requests."""
    key = (base, part)
    if key not in _counted_classes:
        made = type(f"Counted{base.__name__}", (_CountsRoundTrips, base), {"part": part})
        _counted_classes[key] = cast(type[AbstractConnection], made)
    return _counted_classes[key]


def client_for(
    url_or_client: str | Redis,
    user: str,
    *,
    connect_timeout_s: float,
    timeout_s: float,
    max_connections: int,
    pool_timeout_s: float,
) -> Redis:
    """The client a Redis-backed part of pingtree uses: the caller's, or one on its own pool."""
    if isinstance(url_or_client, str):
        # A blocking pool: a burst of calls beyond `max_connections` waits (up to pool_timeout_s)
        # for a connection, where redis-py's default pool fails them at once. A few dozen
        # connections keep a single-threaded Redis as busy as hundreds would.
        pool = BlockingConnectionPool.from_url(
            url_or_client,
            max_connections=max_connections,
            timeout=pool_timeout_s,
            socket_connect_timeout=connect_timeout_s,
            socket_timeout=timeout_s,
            # No retries: a script whose answer was lost may have run, and must not run twice.
            # A connection the server closed is found and replaced when taken from the pool;
            # redis-py 8 skips that check on RESP3 connections, hence RESP2.
            retry=Retry(NoBackoff(), 0),
            protocol=2,
        )
        pool.connection_class = _counted(pool.connection_class, _PARTS.get(user, "state"))
        client: Redis = Redis.from_pool(pool)
    else:
        client = url_or_client
    if client.connection_pool.connection_kwargs.get("decode_responses"):
        raise ValueError(f"{user} needs a client with decode_responses=False")
    return client


@contextmanager
def redis_errors_as_unavailable() -> Iterator[None]:
    """redis-py's errors stop here. The detail names the error's kind only: no URL, no secret."""
    try:
        yield
    except (RedisError, OSError) as error:
        # A timeout, or no free connection in time (the pool's wait timed out), may only mean
        # a busy moment; refused, reset or closed means the server is gone (state/guard.py).
        slow = isinstance(error, RedisTimeoutError | TimeoutError) or isinstance(
            error.__cause__, TimeoutError
        )
        raise StoreUnavailable(
            f"the store did not answer ({type(error).__name__}); "
            f"retry after {StoreUnavailable.retry_after_s} s",
            slow=slow,
        ) from error


def as_bytes(answer: object) -> bytes:
    """An answer of the client as the bytes it is: decode_responses is off (`client_for` refuses
    a client with it on), though redis-py's types also allow str."""
    assert isinstance(answer, bytes), type(answer)
    return answer
