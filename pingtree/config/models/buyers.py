"""`buyers:` in buyers.yaml: a buyer's place in the tree (priority, verticals), what it takes
(filters), when (schedule), how much (caps, dedup), how it prices a lead, and where it is called
(its ping, post and deliveries: endpoints.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from pingtree.config.checked import ConfigModel, Problem, across
from pingtree.config.models.endpoints import Destination, Endpoint
from pingtree.config.models.portal import Portal, ReturnRulesOverride, pull_deliveries
from pingtree.config.models.router_settings import check_timezone
from pingtree.config.reads import check_ping_pii_opt_ins
from pingtree.config.types import FrozenMap, Money, Scalar
from pingtree.config.verticals import vertical_names
from pingtree.core.us_states import state_code

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_HOURS = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


def _state_codes(value: Any) -> Any:
    if not isinstance(value, list | tuple | set | frozenset):
        return value
    codes = {str(given): state_code(str(given)) for given in value}
    unknown = [given for given, code in codes.items() if code is None]
    if unknown:
        raise ValueError(f"unknown state(s): {', '.join(repr(given) for given in unknown)}")
    return frozenset(codes.values())


# States as a lead gives them (lead.py reads both with states.state_code): a code or a name, any
# case, `[fl, Georgia]` is {FL, GA}; anything else is an error naming it.
StateCodes = Annotated[frozenset[str], BeforeValidator(_state_codes)]


class Range(ConfigModel):
    min: float | None = None
    max: float | None = None

    @across("min", "max")
    def _ordered(self) -> Iterator[Problem]:
        if self.min is None and self.max is None:
            yield (), "give min, max or both"
        if self.min is not None and self.max is not None and self.min > self.max:
            yield (), "min must not exceed max"


class Filters(ConfigModel):
    states: StateCodes | None = None
    zip_prefixes: tuple[str, ...] | None = None
    sellers: frozenset[str] | None = None
    require: FrozenMap[str, Scalar | tuple[Scalar, ...]] = Field(default_factory=dict)
    ranges: FrozenMap[str, Range] = Field(default_factory=dict)

    @field_validator("zip_prefixes", mode="before")
    @classmethod
    def _zip_strings(cls, value: Any) -> Any:
        # YAML reads an unquoted 021 as the octal number 17: only quoted prefixes are safe.
        if isinstance(value, list | tuple):
            if any(not isinstance(z, str) for z in value):
                raise ValueError('quote zip prefixes ("021"): unquoted numbers lose leading zeros')
            return tuple(value)
        return value

    @field_validator("zip_prefixes")
    @classmethod
    def _zip_digits(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for prefix in value or ():
            if not (prefix.isdigit() and 1 <= len(prefix) <= 5):
                raise ValueError(f"zip prefix {prefix!r} must be 1 to 5 digits")
        return value


class Schedule(ConfigModel):
    days: tuple[Weekday, ...] = WEEKDAYS
    hours: str = "00:00-24:00"

    @field_validator("days", mode="before")
    @classmethod
    def _lower_days(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return tuple(str(d).strip().lower()[:3] for d in value)
        return value

    @field_validator("hours")
    @classmethod
    def _hours_shape(cls, value: str) -> str:
        match = _HOURS.match(value.replace(" ", ""))
        if not match:
            raise ValueError("hours must look like 08:00-20:00")
        start, end = (
            _minutes(match.group(1), match.group(2)),
            _minutes(match.group(3), match.group(4)),
        )
        if start >= 24 * 60 or end > 24 * 60 or start == end:
            raise ValueError("hours must be a non-empty range within 00:00-24:00")
        return value.replace(" ", "")

    @property
    def window_minutes(self) -> tuple[int, int]:
        """(start, end) in minutes after midnight; end < start means the window spans midnight."""
        start, end = self.hours.split("-")
        return _minutes(*start.split(":")), _minutes(*end.split(":"))


def _minutes(hours: str, minutes: str) -> int:
    return int(hours) * 60 + int(minutes)


class Caps(ConfigModel):
    hourly: int | None = Field(None, ge=0)
    daily: int | None = Field(None, ge=0)
    daily_budget: Money | None = None

    @property
    def any(self) -> bool:
        return self.hourly is not None or self.daily is not None or self.daily_budget is not None


class BuyerConfig(ConfigModel):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    priority: int = Field(1, ge=1)
    verticals: frozenset[str] | None = None
    timezone: str | None = None

    _verticals = field_validator("verticals", mode="before")(lambda v: vertical_names(v))
    filters: Filters = Filters()
    schedule: Schedule | None = None
    caps: Caps = Caps()
    dedup_days: float | None = Field(None, gt=0, le=3650)
    pricing: Literal["bid", "fixed"] = "bid"
    price: Money | None = None
    # Its share of the ties it is in under `router.tie_break: weighted` (docs/ranking.md).
    weight: int = Field(1, ge=1, le=1000)
    # A post that may have been taken: no answer (timeout, connection lost) or a 2xx that says
    # neither yes nor no. `stop` leaves the lead pending; `next` lets it go on down the tree.
    on_post_timeout: Literal["stop", "next"] = "stop"
    on_post_unknown: Literal["stop", "next"] = "stop"
    # Takes shared leads (DESIGN §14): on a lead sold shared its bid buys one of max_buyers
    # places; a buyer without it bids for the whole lead. On an exclusive lead, no difference.
    shared: bool = False
    pii_attributes: frozenset[str] = frozenset()
    # PII this buyer's pings carry because its spec demands it (DESIGN §8b): some of
    # config.reads.PING_PII_OPT_INS, never more; `pingtree validate` lists each.
    ping_pii_allowed: frozenset[str] = frozenset()
    ping: Endpoint | None = None
    post: Endpoint | None = None  # none: a delivery buyer (pricing: fixed with deliveries)
    deliveries: tuple[Destination, ...] = ()
    # The buyer's own API (DESIGN §15, models/portal.py); `pull`: `deliveries: [{method: pull}]`.
    portal: Portal | None = None
    returns: ReturnRulesOverride | None = None
    pull: bool = False

    _pull = model_validator(mode="before")(pull_deliveries)

    _tz = field_validator("timezone")(lambda v: v if v is None else check_timezone(v))
    _opt_ins = field_validator("ping_pii_allowed")(check_ping_pii_opt_ins)

    @property
    def limits_sales(self) -> bool:
        """Whether a sale to this buyer must be reserved: it has a cap or dedup to keep."""
        return self.caps.any or self.dedup_days is not None

    @across("pricing", "price")
    def _priced(self) -> Iterator[Problem]:
        if self.pricing == "fixed" and (self.price is None or self.price <= 0):
            yield ("price",), "pricing: fixed needs a positive price"
        if self.pricing == "bid" and self.price is not None:
            yield ("price",), "price is only for pricing: fixed"

    @across("pricing", "ping")
    def _pinged(self) -> Iterator[Problem]:
        if self.pricing == "bid" and self.ping is None:
            yield ("ping",), "pricing: bid needs ping.url (or set pricing: fixed with a price)"

    @across("pricing", "post", "deliveries", "pull")
    def _reachable(self) -> Iterator[Problem]:
        if self.post is None and not (self.pricing == "fixed" and (self.deliveries or self.pull)):
            yield (
                ("post",),
                "post.url is required, unless the buyer is pricing: fixed with deliveries "
                "(it then buys by assignment and gets its leads by delivery)",
            )

    @across("deliveries")
    def _deliveries_named(self) -> Iterator[Problem]:
        names = [d.id for d in self.deliveries]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            yield ("deliveries",), f"give each its own id ({', '.join(repeated)} repeated)"

    @across("ping")
    def _ping_answer_priced(self) -> Iterator[Problem]:
        answer = self.ping.response if self.ping is not None else None
        if answer is not None and answer.price is None:
            yield (
                ("ping", "response", "price"),
                "ping.response needs `price`: a ping answer without one is no bid",
            )
