"""Every Prometheus metric pingtree exports, on an injected registry. Labels are ids from the
config (buyer, seller), statuses and reason codes: never a value from a lead."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from pingtree.core.outcome import Outcome
from pingtree.store.redis_client import round_trips

_AUCTION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
_BUYER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
_PRICE_BUCKETS = (1, 2, 5, 10, 20, 35, 50, 75, 100, 150, 250, 500, 1000)
_ATTEMPT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# A young collection takes well under a millisecond; a full one walks every tracked object.
_GC_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
# A loop that keeps up runs its timers within a millisecond or two; past ~0.1 s, deadlines slip.
_LOOP_LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 5.0)
# Sale to delivered: at once for most, up to the retry schedule's hours for the rest.
_DELIVERY_BUCKETS = (0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)


class MoneyCounter(Collector):
    """A counter of money in currency units (dollars), by one label, summed exactly: a Decimal
    running total per label value, made a float only when scraped. prometheus_client's Counter
    adds floats, and 29.15 + 58.31 would show as 87.46000000000001; this shows 87.46 (the
    float nearest a sum of cents prints as that sum). Exposed as a Counter is: `<name>_total`
    and `<name>_created` per label value, nothing before the first `inc`."""

    def __init__(
        self, name: str, documentation: str, label: str, registry: CollectorRegistry
    ) -> None:
        self._name = name
        self._documentation = documentation
        self._label = label
        self._totals: dict[str, tuple[Decimal, float]] = {}  # label value: (total, created)
        registry.register(self)

    def inc(self, label_value: str, amount: Decimal) -> None:
        total, created = self._totals.get(label_value) or (Decimal(0), time.time())
        self._totals[label_value] = (total + amount, created)

    def _family(self) -> CounterMetricFamily:
        return CounterMetricFamily(self._name, self._documentation, labels=[self._label])

    def describe(self) -> Iterator[Metric]:
        yield self._family()  # the names, for the registry's check against duplicates

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        for label_value, (total, created) in list(self._totals.items()):
            family.add_metric([label_value], float(total), created=created)
        yield family


class RedisRoundTrips(Collector):
    """`pingtree_redis_round_trips_total{part}`: the requests this process has written to Redis
    (one per command, pipeline or script call), read when scraped from the counts its Redis
    connections keep (store/redis_client.py says what counts). Every part from the start, at 0
    on the embedded store."""

    _NAME = "pingtree_redis_round_trips"
    _DOCUMENTATION = (
        "Requests this process wrote to Redis (each command, pipeline or script call), by part:"
        " state (the store, and the held bids, turns, suppression and ledger outbox on its"
        " connections), queue (deliveries), outbox (one on connections of its own)"
    )

    def __init__(self, registry: CollectorRegistry) -> None:
        registry.register(self)

    def _family(self) -> CounterMetricFamily:
        return CounterMetricFamily(self._NAME, self._DOCUMENTATION, labels=["part"])

    def describe(self) -> Iterator[Metric]:
        yield self._family()

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        for part, count in round_trips().items():
            family.add_metric([part], count)
        yield family


class DeliveryMetrics:
    """The delivery queue's metrics. `destination` is a destination's key (`buyer:firm/crm`,
    `seller:acme/postback`): ids from the config, so the label set stays bounded."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.attempts = Counter(
            "pingtree_delivery_attempts", "Delivery attempts", ["destination"], registry=r
        )
        self.successes = Counter(
            "pingtree_delivery_successes",
            "Deliveries a destination took (2xx)",
            ["destination"],
            registry=r,
        )
        self.retries = Counter(
            "pingtree_delivery_retries",
            "Attempts to be tried again (later, or on the failover URL)",
            ["destination"],
            registry=r,
        )
        self.dead_letters = Counter(
            "pingtree_delivery_dead_letters",
            "Deliveries given up on, kept for replay",
            ["destination"],
            registry=r,
        )
        self.disabled = Counter(
            "pingtree_delivery_disabled",
            "Deliveries set aside as disabled: the destination answered 410 Gone (since the"
            " last reload, later ones are set aside without a call)",
            ["destination"],
            registry=r,
        )
        self.attempt_seconds = Histogram(
            "pingtree_delivery_attempt_seconds",
            "One delivery attempt's HTTP exchange",
            ["destination"],
            buckets=_ATTEMPT_BUCKETS,
            registry=r,
        )
        self.latency_seconds = Histogram(
            "pingtree_delivery_latency_seconds",
            "From the sale to its delivery, retries included",
            ["destination"],
            buckets=_DELIVERY_BUCKETS,
            registry=r,
        )


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        r = self.registry
        self.leads = Counter(
            "pingtree_leads",
            "Leads answered, by seller and status",
            ["seller", "status"],
            registry=r,
        )
        self.auction_seconds = Histogram(
            "pingtree_auction_duration_seconds",
            "Receipt to answer",
            ["status"],
            buckets=_AUCTION_BUCKETS,
            registry=r,
        )
        self.pings = Counter(
            "pingtree_pings", "Pings by buyer and result", ["buyer", "result", "reason"], registry=r
        )
        self.posts = Counter(
            "pingtree_posts", "Posts by buyer and result", ["buyer", "result", "reason"], registry=r
        )
        self.skips = Counter(
            "pingtree_skips", "Buyers skipped, by reason", ["buyer", "reason"], registry=r
        )
        # The compliance gates (DESIGN §16): each check's outcome, and the consent gate's refusals.
        self.checks = Counter(
            "pingtree_checks", "Checks by result", ["check", "result", "reason"], registry=r
        )
        self.timeouts = Counter(
            "pingtree_buyer_timeouts", "Buyer calls that timed out", ["buyer", "step"], registry=r
        )
        self.bids = Histogram(
            "pingtree_bid_price",
            "Valid bids, in currency units",
            ["buyer"],
            buckets=_PRICE_BUCKETS,
            registry=r,
        )
        self.buyer_seconds = Histogram(
            "pingtree_buyer_response_seconds",
            "Buyer answer time",
            ["buyer", "step"],
            buckets=_BUYER_BUCKETS,
            registry=r,
        )
        self.revenue = MoneyCounter(
            "pingtree_revenue", "Sold price, excluding test leads", "buyer", registry=r
        )
        self.payouts = MoneyCounter(
            "pingtree_payouts", "Seller payouts, excluding test leads", "seller", registry=r
        )
        self.requests = Counter(
            "pingtree_http_responses",
            "API responses by route and status",
            ["route", "status"],
            registry=r,
        )
        self.config_reloads = Counter(
            "pingtree_config_reloads",
            "Reloads of buyers.yaml: applied, or refused with the old config kept",
            ["result"],
            registry=r,
        )
        for result in ("applied", "refused"):  # both at 0 from the start, for alert rules
            self.config_reloads.labels(result)
        self.config_generation = Gauge(
            "pingtree_config_generation",
            "The config serving: 1 at start, one more per applied reload",
            registry=r,
        )
        # Both read from the store guard when scraped (create_app binds them).
        self.store_up = Gauge(
            "pingtree_store_up",
            "1 while the store answers, 0 while it is down and new leads get 503",
            registry=r,
        )
        self.store_deferred_writes = Gauge(
            "pingtree_store_deferred_writes",
            "Outcomes, answers and releases waiting for the store to come back",
            registry=r,
        )
        self.breaker_shadow_skips = Counter(
            "pingtree_breaker_shadow_skips",
            "Calls the breaker would have skipped, made anyway (router.breaker.mode: shadow)",
            ["buyer"],
            registry=r,
        )
        # The ledger (ledger/writer.py): how far behind the system of record is.
        self.ledger_up = Gauge(
            "pingtree_ledger_up",
            "1 while the ledger's database takes rows, 0 while the writer waits for it",
            registry=r,
        )
        self.ledger_backlog = Gauge(
            "pingtree_ledger_backlog",
            "Records in the outbox, not filed in the ledger yet (every router's, on Redis)",
            registry=r,
        )
        self.ledger_lag_seconds = Gauge(
            "pingtree_ledger_lag_seconds",
            "Age of the oldest record not filed yet: how far behind the ledger is (0: none)",
            registry=r,
        )
        self.ledger_filed = Counter(
            "pingtree_ledger_filed",
            "Records this router's writer filed in the ledger, by kind (lead, audit)",
            ["kind"],
            registry=r,
        )
        self.ledger_unreadable = Counter(
            "pingtree_ledger_unreadable",
            "Outbox entries the writer could not decode (logged with their id, then dropped)",
            registry=r,
        )
        # Leads turned away before their auction: shed load, and sellers over their limits.
        self.in_flight = Gauge(
            "pingtree_auctions_in_flight",
            "Leads being read or auctioned now (refused past router.max_in_flight)",
            registry=r,
        )
        self.overload_refusals = Counter(
            "pingtree_overload_refusals",
            "Leads refused with 503 because router.max_in_flight were under way",
            registry=r,
        )
        self.rate_limited = Counter(
            "pingtree_rate_limited",
            "Leads refused with 429: the seller was over its rate_limit",
            ["seller"],
            registry=r,
        )
        self.bad_signatures = Counter(
            "pingtree_bad_signatures",
            "Leads refused with 401: no valid signature from a seller configured to sign",
            ["seller"],
            registry=r,
        )
        self.loop_lag_seconds = Histogram(
            "pingtree_event_loop_lag_seconds",
            "How late this process's event loop ran a 25 ms timer: past ~0.1 s, every lead"
            " waits and buyer answers are read after their deadlines (router.max_in_flight)",
            buckets=_LOOP_LAG_BUCKETS,
            registry=r,
        )
        self.breaker_excused = Counter(
            "pingtree_breaker_excused_timeouts",
            "Buyer timeouts not counted against the buyer's breaker: this router's event loop"
            " ran late meanwhile (router.breaker.max_loop_lag_ms)",
            ["buyer"],
            registry=r,
        )
        self.gc_pause_seconds = Histogram(
            "pingtree_gc_pause_seconds",
            "Garbage collections in this process, by generation: the event loop stands still"
            " for each, and every auction under way waits",
            ["generation"],
            buckets=_GC_BUCKETS,
            registry=r,
        )
        self.quotes = Counter(
            "pingtree_quotes",
            "Sellers' pings answered (POST /v1/ping), by seller and whether a quote was given",
            ["seller", "accepted"],
            registry=r,
        )
        self.returns = Counter(
            "pingtree_returns",
            "Returns by buyer: `filed` as each is filed, `approved` (by an operator or"
            " auto_approve) and `denied` as each is decided",
            ["buyer", "status"],
            registry=r,
        )
        self.deliveries = DeliveryMetrics(r)
        self.redis_round_trips = RedisRoundTrips(r)

    def watch_gc(self) -> Callable[[], None]:
        """Time every garbage collection into `gc_pause_seconds` until the returned function is
        called. Two clock reads per collection: cheap enough to leave on."""
        pauses = [self.gc_pause_seconds.labels(str(generation)) for generation in range(3)]
        started = 0.0

        def timed(phase: str, info: dict[str, int]) -> None:
            nonlocal started
            if phase == "start":
                started = time.perf_counter()
            else:
                pauses[info["generation"]].observe(time.perf_counter() - started)

        gc.callbacks.append(timed)
        return lambda: gc.callbacks.remove(timed)

    def _child(self, metric: Counter | Histogram, *labels: str) -> Any:
        """`metric.labels(*labels)`, remembered: the label sets are few (config ids, statuses,
        reason codes) and an auction touches a dozen of them."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def observe(self, outcome: Outcome) -> None:
        """Count one finished auction from its outcome and trace."""
        child = self._child
        child(self.leads, outcome.seller_id, outcome.status).inc()
        child(self.auction_seconds, outcome.status).observe(outcome.auction_ms / 1000)
        for event in outcome.trace:
            reason = event.reason or ""
            if event.step == "skip":
                shadowed = event.result == "shadow"  # not skipped: the call went out anyway
                if shadowed:
                    child(self.breaker_shadow_skips, event.buyer_id).inc()
                else:
                    child(self.skips, event.buyer_id, reason).inc()
                continue
            if event.step == "check":  # a compliance gate: no buyer called
                child(self.checks, event.buyer_id, event.result, reason).inc()
                continue
            if event.step == "offer":  # a fixed price: no call went out
                continue
            counter = self.pings if event.step == "ping" else self.posts
            child(counter, event.buyer_id, event.result, reason).inc()
            # A post_unknown with a status is a 2xx nobody could read, not a call that timed out.
            if reason == "timeout" or (reason == "post_unknown" and event.http_status is None):
                child(self.timeouts, event.buyer_id, event.step).inc()
            if event.duration_ms is not None:
                seconds = event.duration_ms / 1000
                child(self.buyer_seconds, event.buyer_id, event.step).observe(seconds)
            if event.step == "ping" and event.result == "bid" and event.bid is not None:
                child(self.bids, event.buyer_id).observe(float(event.bid))
        if outcome.status == "sold" and not outcome.test and outcome.price is not None:
            for sale in outcome.sale_lines():  # a shared lead's: each buyer its own price
                self.revenue.inc(sale.buyer_id, sale.price)
            self.payouts.inc(outcome.seller_id, outcome.payout or Decimal(0))
