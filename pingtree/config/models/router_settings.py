"""`router:` in buyers.yaml: the settings of an auction and of the router process, with their
parts: what the store keeps and for how long, the circuit breaker, the delivery queue."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from pingtree.config.checked import ConfigModel, Problem, across
from pingtree.config.models.compliance import ConsentEvidence
from pingtree.config.models.portal import ReturnRules
from pingtree.config.types import Money
from pingtree.core.zones import named_zone


def check_timezone(name: str) -> str:
    """An IANA timezone name (the router's, or a buyer's own), refused by name if unknown."""
    if named_zone(name) is None:
        raise ValueError(f"unknown timezone {name!r}")
    return name


class Retention(ConfigModel):
    """How long the store keeps things. Idempotency records outlive outcomes and traces.
    The ledger (DESIGN §12) keeps a lead's PII for `pii_days`, then erases it in place (its
    facts, sale and calls stay), and deletes the lead with its sale, calls and the audit rows
    after `ledger_days`."""

    outcomes_hours: float = Field(72, gt=0)
    idempotency_days: float = Field(7, gt=0)
    max_leads: int = Field(100_000, ge=100)
    pii_days: float = Field(180, gt=0)
    ledger_days: float = Field(730, gt=0)


class BreakerPolicy(ConfigModel):
    """A buyer whose last `window` calls failed at `failure_ratio` or more is skipped."""

    window: int = Field(20, ge=1)
    min_calls: int = Field(10, ge=1)
    failure_ratio: float = Field(0.5, gt=0, le=1)
    cooldown_s: float = Field(30, gt=0)
    # enforce: skip an open breaker's buyer. shadow: call it anyway, and trace and count what
    # would have been skipped (to try a policy before enforcing it). off: no breaker at all.
    mode: Literal["enforce", "shadow", "off"] = "enforce"
    # A timeout while this router's event loop ran later than this is not counted: the answer
    # may have come in time and been read late (breaker.call_evidence).
    max_loop_lag_ms: int = Field(100, ge=1, le=60_000)

    @across("min_calls", "window")
    def _can_open(self) -> Iterator[Problem]:
        if self.min_calls > self.window:
            yield ("min_calls",), "min_calls must not exceed window, or the breaker can never open"


class DeliverySettings(ConfigModel):
    """The delivery queue: how many deliveries go out at once per router process, how often due
    ones are looked for, and how long finished ones (and dead letters) are kept."""

    concurrency: int = Field(8, ge=1, le=256)
    poll_ms: int = Field(250, ge=10, le=60_000)
    keep_days: float = Field(7, gt=0)
    # Sale rows for GET /admin/exports/leads.csv on a router that keeps no ledger (the export
    # reads the ledger when there is one): every sale's row (the lead's PII included) kept this
    # many days in the store. Off unless set: it costs a write per sale.
    ledger_days: float | None = Field(None, gt=0, le=3650)


class RankingSettings(ConfigModel):
    """`router.ranking`: the order offers are posted in (DESIGN §14, docs/ranking.md). `price`:
    highest bid first. `expected_value`: bid x the buyer's post acceptance x (1 - its return
    rate) over the last `window_days`, from the ledger, for buyers with at least `min_sales`
    sales in that window (the others rank by their bid); the price charged stays the bid."""

    by: Literal["price", "expected_value"] = "price"
    window_days: float = Field(30, gt=0, le=365)
    min_sales: int = Field(50, ge=0)
    # How often each router reads its buyers' figures from the ledger again, in the background.
    refresh_s: float = Field(60, ge=0.1, le=86_400)


class RouterSettings(ConfigModel):
    budget_ms: int = Field(3000, ge=100, le=60_000)
    post_reserve_ms: int = Field(1000, ge=0)
    min_ping_ms: int = Field(100, ge=1)
    mode: Literal["tiered", "waterfall", "parallel"] = "tiered"
    floor: Money = Decimal("0.01")
    max_bid: Money = Decimal("1000")
    min_margin: Money = Decimal("0")
    require_consent: bool = True
    timezone: str = "UTC"
    admin_token: SecretStr | None = None
    dedup_secret: SecretStr | None = None
    max_body_kb: int = Field(64, ge=1, le=10_240)
    max_response_kb: int = Field(256, ge=1, le=10_240)
    # A seller's body must arrive within this once its head has: a stalled client gets 408.
    client_timeout_ms: int = Field(5000, ge=100, le=60_000)
    # Leads read or auctioned at once by this process; past it a new lead gets 503 at once. 32
    # is what one core keeps up with at three times its max rate (benchmark scenario 9; 48 and
    # more fell behind): raise it for buyers slow to answer (README, "Overload").
    max_in_flight: int = Field(32, ge=1, le=1_000_000)
    retention: Retention = Retention()
    breaker: BreakerPolicy = BreakerPolicy()
    deliveries: DeliverySettings = DeliverySettings()
    # The embedded store's file (SQLite): deliveries, caps, dedup, idempotency and the post
    # journal survive a restart. None: memory only (tests, throwaway runs).
    state_file: str | None = None
    # The CSV mirror: every sale appended to {exports_dir}/{buyer}/{date}.csv. None: off.
    exports_dir: str | None = None
    # How often this router re-reads the buyers paused by an operator (POST /admin/buyers/{id}/
    # pause) from the store: a pause made on another router takes effect here within this.
    pauses_refresh_ms: int = Field(1000, ge=50, le=60_000)
    # Compliance gates (DESIGN §16): the consent evidence every lead must carry (a seller's own
    # `consent` replaces it), and the time the top-level `checks` may take, out of budget_ms.
    consent: ConsentEvidence | None = None
    checks_budget_ms: int = Field(300, ge=10, le=60_000)
    ranking: RankingSettings = RankingSettings()
    # Equal offers (equal price, or equal expected value): `priority` (lower priority number,
    # earlier answer, file order), `round_robin` or `weighted` (buyers' `weight`), shared by
    # every router on one store (docs/ranking.md).
    tie_break: Literal["priority", "round_robin", "weighted"] = "priority"
    # What a buyer may return, and when (DESIGN §15); a buyer's `returns:` overrides it.
    returns: ReturnRules = ReturnRules()

    _tz = field_validator("timezone")(check_timezone)

    @across("post_reserve_ms", "budget_ms")
    def _reserve_fits(self) -> Iterator[Problem]:
        if self.post_reserve_ms >= self.budget_ms:
            yield ("post_reserve_ms",), "post_reserve_ms must be less than budget_ms"

    @across("checks_budget_ms", "budget_ms")
    def _checks_fit(self) -> Iterator[Problem]:
        if self.checks_budget_ms >= self.budget_ms:
            yield ("checks_budget_ms",), "checks_budget_ms must be less than budget_ms"

    @across("floor", "max_bid")
    def _floor_fits(self) -> Iterator[Problem]:
        if self.floor > self.max_bid:
            yield ("floor",), "floor must not exceed max_bid"
