"""`sellers:` in buyers.yaml: who may send leads (by API key), what each is paid, what it is told
of a sale and where (its postback), and how fast and how signed its leads must come."""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from pingtree.config.checked import ConfigModel, Problem, across
from pingtree.config.dialect import Signing
from pingtree.config.models.compliance import ConsentEvidence
from pingtree.config.models.endpoints import Destination
from pingtree.config.share_terms import SellMode, share_problems
from pingtree.config.types import Money
from pingtree.config.verticals import vertical_names


class RateLimit(ConfigModel):
    """A token bucket per seller and router process: `per_second` leads on average, `burst` at
    once (default: one second's worth). Past it, 429 with Retry-After."""

    per_second: float = Field(gt=0, le=1_000_000)
    burst: int | None = Field(None, ge=1, le=1_000_000)

    @property
    def capacity(self) -> int:
        return self.burst if self.burst is not None else max(1, math.ceil(self.per_second))


class SellerConfig(ConfigModel):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    api_key: SecretStr
    revshare: Decimal | None = Field(None, ge=0, le=1)
    payout: Money | None = None
    verticals: tuple[str, ...] | None = None

    _verticals = field_validator("verticals", mode="before")(lambda v: vertical_names(v))
    reveal: tuple[Literal["buyer", "price"], ...] = ()
    # Told of each sale (DESIGN §5's seller view, signed when `sign` is set); `postback_url: X`
    # is short for `postback: {url: X}`.
    postback: Destination | None = None
    # Off unless set: leads over this rate get 429 (see RateLimit).
    rate_limit: RateLimit | None = None
    # Set: every lead must carry a valid Standard Webhooks signature over its exact body.
    signing: Signing | None = None
    # Shared leads (DESIGN §14, docs/shared-leads.md): unset, the vertical's setting applies.
    sell: SellMode | None = None
    max_buyers: int | None = None
    # The consent evidence this seller's leads must carry, instead of router.consent's.
    consent: ConsentEvidence | None = None
    # Exchange mode (POST /v1/ping, /v1/post; DESIGN §14): how long a seller's ping may take,
    # the step its quote is rounded down to, and how long its bids are held without an expiry.
    ping_budget_ms: int = Field(1000, ge=50, le=60_000)
    price_step: Decimal = Field(Decimal("0.01"), ge=Decimal("0.01"), le=1000)
    ping_ttl_s: int = Field(60, ge=1, le=86_400)
    # An approved return of this seller's lead takes its payout back (DESIGN §15).
    chargeback: bool = False

    @model_validator(mode="before")
    @classmethod
    def _postback_shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict) and "postback_url" in value:
            value = dict(value)
            url = value.pop("postback_url")
            if "postback" in value:
                raise ValueError("give postback_url or postback, not both")
            if url is not None:
                value["postback"] = {"id": "postback", "url": url}
        return value

    @field_validator("api_key")
    @classmethod
    def _key_long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 8:
            raise ValueError("api_key must be at least 8 characters")
        return value

    @across("revshare", "payout")
    def _one_payout_rule(self) -> Iterator[Problem]:
        if self.revshare is not None and self.payout is not None:
            yield (), "give revshare or payout, not both"

    @across("sell", "max_buyers")
    def _share_terms(self) -> Iterator[Problem]:
        yield from share_problems(self.sell, self.max_buyers)

    @property
    def effective_revshare(self) -> Decimal:
        """With neither rule set the seller is paid the full price: the operator keeps nothing
        unless the config says so, rather than silently taking a cut."""
        return Decimal(1) if self.revshare is None else self.revshare
