"""What a lead must get past before its auction, cheapest first: the cap on leads in flight, the
seller's rate limit, and (for a seller configured to sign) its Standard Webhooks signature.

All three are per router process. The in-flight cap is meant so: it protects this process's
event loop. Rate limits are too: N routers behind a load balancer each allow a seller its
`per_second`, so set it to the seller's share of one router (docs/reliability.md). The state
here is a counter and a bucket per seller id; `now` is always an argument.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from pingtree.config import SellerConfig
from pingtree.config.models import RateLimit
from pingtree.core.errors import BadSignature, Overloaded, RateLimited
from pingtree.core.signing import (
    DEFAULT_TOLERANCE_S,
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify,
)


class InFlight:
    """Leads this process is reading or auctioning. Past the limit a new one is refused at once
    (503 with Retry-After), before its key is looked up or its body read: shedding must cost
    less than serving, or an overloaded router only gets slower."""

    def __init__(self) -> None:
        self.count = 0

    def enter(self, limit: int) -> None:
        if self.count >= limit:
            raise Overloaded(
                f"{limit} leads are under way (router.max_in_flight); retry after "
                f"{Overloaded.retry_after_s} s"
            )
        self.count += 1

    def leave(self) -> None:
        self.count -= 1


@dataclass
class _Bucket:
    tokens: float
    at: float  # when `tokens` was counted, seconds (a monotonic clock)


class RateLimiter:
    """A token bucket per seller: `per_second` tokens a second, up to its capacity (`burst`). The
    seller's current limit is read on every lead, so a reload applies at once; its bucket keeps
    the tokens it had (never more than the new capacity)."""

    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}

    def take(self, seller_id: str, limit: RateLimit, now: float) -> float | None:
        """Take a token: None, or the seconds until the next one is due (nothing taken)."""
        bucket = self._buckets.get(seller_id)
        if bucket is None:
            bucket = self._buckets[seller_id] = _Bucket(float(limit.capacity), now)
        refilled = bucket.tokens + max(now - bucket.at, 0.0) * limit.per_second
        bucket.tokens, bucket.at = min(float(limit.capacity), refilled), now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        return (1 - bucket.tokens) / limit.per_second

    def admit(self, seller: SellerConfig, now: float) -> None:
        """RateLimited (429, Retry-After in whole seconds, at least 1) when over the limit."""
        if seller.rate_limit is None:
            return
        wait_s = self.take(seller.id, seller.rate_limit, now)
        if wait_s is not None:
            limit = seller.rate_limit
            raise RateLimited(
                f"over this seller's rate limit ({limit.per_second:g} a second, burst "
                f"{limit.capacity})",
                retry_after_s=max(1, math.ceil(wait_s)),
            )


def check_signature(
    seller: SellerConfig, headers: Mapping[str, str], body: bytes, now: int
) -> None:
    """For a seller with `signing`: BadSignature (401) naming the header at fault, unless the
    body carries a valid Standard Webhooks signature made within five minutes of `now`.
    `headers` is looked up case-insensitively (aiohttp's headers are)."""
    if seller.signing is None:
        return
    signed = (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)
    missing = [name for name in signed if not headers.get(name)]
    if missing:
        raise BadSignature(
            f"this seller signs its leads: {', '.join(missing)} missing (Standard Webhooks)",
            fields={name: "missing" for name in missing},
        )
    stamp = headers[TIMESTAMP_HEADER].strip()
    if not (stamp.isascii() and stamp.isdigit()):
        raise BadSignature(
            f"{TIMESTAMP_HEADER} must be Unix seconds",
            fields={TIMESTAMP_HEADER: "not Unix seconds"},
        )
    if abs(now - int(stamp)) > DEFAULT_TOLERANCE_S:
        raise BadSignature(
            f"{TIMESTAMP_HEADER} is more than {DEFAULT_TOLERANCE_S // 60} minutes from the "
            "router's clock (a replay, or a clock that is off)",
            fields={TIMESTAMP_HEADER: f"outside ±{DEFAULT_TOLERANCE_S} s"},
        )
    if not verify(seller.signing.secret, {n: headers[n] for n in signed}, body, now=now):
        raise BadSignature(
            f"{SIGNATURE_HEADER} does not match the body with this seller's secret",
            fields={SIGNATURE_HEADER: "no v1 signature matches"},
        )
