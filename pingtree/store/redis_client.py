"""The one way both halves of the store (state/redis.py, queue/redis.py) reach Redis: the client
and its pool, and where redis-py's errors stop.

Every redis-py error stops here as StoreUnavailable (503, Retry-After). Short socket timeouts and
no retries (redis-py's default is ten, with backoff, and would run a script twice when only its
answer was lost) make a dead Redis fail in milliseconds; a hung one fails within the socket
timeout (plus the pool's wait, when every connection is stuck on it). A timeout is marked `slow`
(state/guard.py tells a busy store from a hung one).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from pingtree.core.errors import StoreUnavailable


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
