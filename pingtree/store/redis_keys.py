"""Every Redis key pingtree writes, and the one place that knows their layout: the state's
(`StateKeys`: caps, dedup, idempotency, journals, outcomes, breakers, pauses; state/redis.py),
the delivery queue's and sales ledger's (`QueueKeys`; queue/redis.py), the ledger's outbox's
(`OutboxKeys`; outbox/redis.py) and the suppression lists' (`SuppressionKeys`;
suppression/redis.py). The Lua scripts touch only the keys handed to them, or (the queue's) keys
they build from prefixes given here.

Every key is `<prefix>:{<tag>}:<what>`. The hash tag groups what one script touches into one
Redis Cluster slot:

- `{b:<buyer>}`: a buyer's cap counters, dedup claims, held reservations and breaker;
- `{i:<seller>:<key>}`: an idempotency record;
- `{o:<lead>}`: a lead's outcome, journal and journal seal;
- `{h:<seller>:<ping>}`: an exchange ping's held bids;
- `{p}`: the buyers' pauses, one hash (field: buyer id), read whole by every router;
- `{t:<tie group>}`: a tie group's turn counter (turns/redis.py), one key;
- `{q}`: the whole delivery queue, on one node: a claim hands out jobs of many destinations, and
  deliveries are a few per sale, far fewer calls than the auctions' caps and dedup, which do
  spread over the cluster;
- `{s}`: the sales ledger;
- `{l}`: the ledger's outbox, one Stream;
- `{x}`: the suppression lists' added entries, one set a list (`SuppressionKeys`;
  suppression/redis.py): a lead asks every list in one pipeline, which one slot keeps one request.
"""

from __future__ import annotations

from dataclasses import dataclass

from pingtree.store.queue.base import JobState
from pingtree.store.state.base import CapRequest


def _check_prefix(prefix: str) -> None:
    if "{" in prefix or "}" in prefix:
        raise ValueError("the key prefix must not contain braces: they are the hash tags")


@dataclass(frozen=True, slots=True)
class StateKeys:
    """The keys of the state a RedisStore keeps."""

    prefix: str = "pingtree"

    def __post_init__(self) -> None:
        _check_prefix(self.prefix)

    def idempotency(self, seller_id: str, key: str) -> str:
        # Seller ids have no ':', so seller and key never run into each other.
        return f"{self.prefix}:{{i:{seller_id}:{key}}}:idempotency"

    def _buyer(self, buyer_id: str) -> str:
        return f"{self.prefix}:{{b:{buyer_id}}}"

    def hour(self, buyer_id: str, window: str) -> str:
        return f"{self._buyer(buyer_id)}:hour:{window}"

    def day(self, buyer_id: str, window: str) -> str:
        return f"{self._buyer(buyer_id)}:day:{window}"

    def held(self, buyer_id: str, lead_id: str) -> str:
        return f"{self._buyer(buyer_id)}:held:{lead_id}"

    def dedup(self, buyer_id: str, dedup_key: str) -> str:
        return f"{self._buyer(buyer_id)}:dedup:{dedup_key}"

    def breaker(self, buyer_id: str) -> str:
        return f"{self._buyer(buyer_id)}:breaker"

    def outcome(self, lead_id: str) -> str:
        return f"{self.prefix}:{{o:{lead_id}}}:outcome"

    def journal(self, lead_id: str) -> str:
        return f"{self.prefix}:{{o:{lead_id}}}:journal"

    def seal(self, lead_id: str) -> str:
        return f"{self.prefix}:{{o:{lead_id}}}:sealed"

    def held_ping(self, seller_id: str, ping_id: str) -> str:
        # An exchange ping's held bids (store/held/redis.py), read by whichever router the post
        # reaches; one key a hold, so holds spread over the cluster like idempotency records.
        return f"{self.prefix}:{{h:{seller_id}:{ping_id}}}:held"

    def pauses(self) -> str:
        """The one hash of paused buyers: kept until resumed, with no expiry."""
        return f"{self.prefix}:{{p}}:pauses"

    def turn(self, tie_group: str) -> str:
        """A tie group's turn counter (core/ranking.tie_group_key: buyer ids and commas)."""
        return f"{self.prefix}:{{t:{tie_group}}}:turn"

    def cap_keys(self, request: CapRequest) -> list[str]:
        """The keys of one sale, in the order the cap scripts take them."""
        buyer = request.buyer_id
        return [
            self.hour(buyer, request.windows.hour),
            self.day(buyer, request.windows.day),
            self.held(buyer, request.lead_id),
            *(self.dedup(buyer, k) for k in request.dedup_keys),
        ]


@dataclass(frozen=True, slots=True)
class QueueKeys:
    """The keys of the delivery queue and sales ledger. The scripts build job, ready and listing
    keys from the prefixes given here."""

    prefix: str = "pingtree"

    def __post_init__(self) -> None:
        _check_prefix(self.prefix)

    @property
    def _queue(self) -> str:
        return f"{self.prefix}:{{q}}"

    def script_keys(self) -> list[str]:
        """KEYS[1..6] of every queue script: stream, delayed, turns, leases, finished, seq."""
        names = ("stream", "delayed", "turns", "leases", "finished", "seq")
        return [f"{self._queue}:{name}" for name in names]

    def script_args(self, group: str) -> list[str]:
        """ARGV[1..4] of every queue script: the group, then the prefixes of job hashes, ready
        sets and listings."""
        return [group, self.job(""), self.ready(""), f"{self._queue}:jobs:"]

    def job(self, job_id: str) -> str:
        return f"{self._queue}:job:{job_id}"

    def ready(self, key: str) -> str:
        return f"{self._queue}:ready:{key}"

    def listing(self, state: JobState | None, key: str | None) -> str:
        """Jobs in `state` ('any' for all), of one destination or all; the scripts' `index`."""
        name = f"{self._queue}:jobs:{state or 'any'}"
        return name if key is None else f"{name}:{key}"

    def sales_rows(self) -> str:
        return f"{self.prefix}:{{s}}:sales:rows"

    def sales(self, buyer_id: str | None) -> str:
        name = f"{self.prefix}:{{s}}:sales"
        return name if buyer_id is None else f"{name}:buyer:{buyer_id}"


@dataclass(frozen=True, slots=True)
class OutboxKeys:
    """The key of the ledger's outbox: one Stream, read by a consumer group."""

    prefix: str = "pingtree"

    def __post_init__(self) -> None:
        _check_prefix(self.prefix)

    def stream(self) -> str:
        return f"{self.prefix}:{{l}}:outbox"


@dataclass(frozen=True, slots=True)
class SuppressionKeys:
    """The keys of the suppression lists' added entries: one set a list, of 8-byte digests."""

    prefix: str = "pingtree"

    def __post_init__(self) -> None:
        _check_prefix(self.prefix)

    def entries(self, list_id: str) -> str:
        return f"{self.prefix}:{{x}}:suppression:{list_id}"
