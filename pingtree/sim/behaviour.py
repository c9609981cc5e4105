"""The simulated buyers' behaviours: `SimBuyer` and `SimSpec`, validated once at load from
sim.yaml (every error with its path), and the built-in default set."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from pingtree.config.loading import read_yaml
from pingtree.config.models import StateCodes
from pingtree.core.errors import ConfigError

Span = float | tuple[float, float]
PostMode = Literal["accept", "reject", "refuse_200", "timeout", "error"]

_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


def _number_or_range(value: Any, what: str) -> Any:
    """A number ≥ 0, or [low, high] with 0 ≤ low ≤ high: one clear message, not one per type."""

    def number(item: Any) -> float | None:
        if isinstance(item, bool) or not isinstance(item, int | float):
            return None
        return float(item) if math.isfinite(item) and item >= 0 else None

    if isinstance(value, list | tuple) and len(value) == 2:
        low, high = number(value[0]), number(value[1])
        if low is None or high is None or low > high:
            raise ValueError(f"{what} range must be [low, high] with 0 <= low <= high")
        return (low, high)
    single = number(value)
    if single is None:
        raise ValueError(f"{what} must be a number >= 0 or a [low, high] range")
    return single


def whole_cents(span: tuple[float, float]) -> tuple[int, int]:
    """The whole cents inside [low, high]: a random bid is drawn among them, so it is exact."""
    return math.ceil(round(span[0] * 100, 6)), math.floor(round(span[1] * 100, 6))


def _percent(rate: float) -> str:
    return f"{rate * 100:g}%"


def _span_text(span: Span, unit: str = "") -> str:
    if isinstance(span, tuple):
        return f"{span[0]:g}-{span[1]:g}{unit}"
    return f"{span:g}{unit}"


class SimBuyer(BaseModel):
    """What one simulated buyer does. The four ping rates are shares of the same pings."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    bid: float | tuple[float, float] | None = (10.0, 50.0)
    decline_rate: float = Field(0.0, ge=0, le=1)
    states: StateCodes | None = None
    delay_ms: float | tuple[float, float] = 0.0
    hang_rate: float = Field(0.0, ge=0, le=1)
    error_rate: float = Field(0.0, ge=0, le=1)
    garbage_rate: float = Field(0.0, ge=0, le=1)
    post: PostMode = "accept"
    post_accept_rate: float = Field(1.0, ge=0, le=1)
    post_delay_ms: float | tuple[float, float] = 0.0
    redirect_url: str | None = Field(None, pattern=r"^https?://\S+$")

    @field_validator("bid", mode="before")
    @classmethod
    def _bid_shape(cls, value: Any) -> Any:
        if value is None:
            return None
        bid = _number_or_range(value, "bid")
        if isinstance(bid, tuple) and whole_cents(bid)[0] > whole_cents(bid)[1]:
            raise ValueError("bid range must contain a whole cent")
        return bid

    @field_validator("delay_ms", "post_delay_ms", mode="before")
    @classmethod
    def _delay_shape(cls, value: Any, info: ValidationInfo) -> Any:
        return _number_or_range(value, str(info.field_name))

    @model_validator(mode="after")
    def _shares_fit(self) -> SimBuyer:
        if self.hang_rate + self.error_rate + self.garbage_rate + self.decline_rate > 1 + 1e-9:
            raise ValueError(
                "hang_rate, error_rate, garbage_rate and decline_rate are shares of the same "
                "pings: together they must not exceed 1"
            )
        return self

    def describe(self) -> str:
        """One line an operator reads at `pingtree sim` start."""
        if self.bid is None:
            parts = ["never bids"]
        elif isinstance(self.bid, tuple):
            parts = [f"bids {self.bid[0]:.2f}-{self.bid[1]:.2f}"]
        else:
            parts = [f"bids {self.bid:.2f}"]
        if self.states is not None:
            parts.append("only in " + (",".join(sorted(self.states)) or "no state"))
        for rate, what in (
            (self.decline_rate, "declines"),
            (self.hang_rate, "never answers"),
            (self.error_rate, "HTTP 500 on"),
            (self.garbage_rate, "garbage on"),
        ):
            if rate:
                parts.append(f"{what} {_percent(rate)} of pings")
        if self.delay_ms:
            parts.append(f"answers in {_span_text(self.delay_ms, ' ms')}")
        parts.append(self._post_text())
        if self.post_delay_ms and self.post != "timeout":
            parts.append(f"posts answered in {_span_text(self.post_delay_ms, ' ms')}")
        return " · ".join(parts)

    def _post_text(self) -> str:
        if self.post == "accept":
            share = "" if self.post_accept_rate == 1 else f"{_percent(self.post_accept_rate)} of "
            redirect = f" (redirect {self.redirect_url})" if self.redirect_url else ""
            return f"accepts {share}posts{redirect}"
        return {
            "reject": "rejects every post as Duplicate",
            "refuse_200": 'refuses posts with HTTP 200 {"status": "Quota Reached"}',
            "timeout": "never answers a post",
            "error": "answers posts with HTTP 500",
        }[self.post]


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError("a buyer name is letters, digits, '.', '_' or '-' (it is a URL path)")
    return name


class SimSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    buyers: Mapping[Annotated[str, AfterValidator(_check_name)], SimBuyer] = Field(min_length=1)

    @field_validator("buyers", mode="before")
    @classmethod
    def _empty_is_default(cls, value: Any) -> Any:
        # `name:` with nothing under it in YAML is a buyer with every default.
        if isinstance(value, dict):
            return {name: {} if buyer is None else buyer for name, buyer in value.items()}
        return value

    @field_validator("buyers", mode="after")
    @classmethod
    def _read_only(cls, value: Mapping[str, SimBuyer]) -> Mapping[str, SimBuyer]:
        return MappingProxyType(dict(value))

    @field_serializer("buyers")
    def _as_dict(self, value: Mapping[str, SimBuyer]) -> dict[str, Any]:
        return {name: buyer.model_dump() for name, buyer in value.items()}


DEFAULT_SPEC = SimSpec(
    buyers={
        "steady": SimBuyer(bid=40.0),
        "spread": SimBuyer(
            bid=(10.0, 60.0), post_accept_rate=0.8, redirect_url="https://spread.example/thanks"
        ),
        "slow": SimBuyer(bid=(25.0, 45.0), delay_ms=(300.0, 900.0)),
        "picky": SimBuyer(bid=55.0, states=frozenset({"FL", "GA", "TX"})),
        "choosy": SimBuyer(bid=(30.0, 50.0), decline_rate=0.5),
        "rejects": SimBuyer(bid=(60.0, 80.0), post="reject"),
        "quota": SimBuyer(bid=(50.0, 70.0), post="refuse_200"),
        "hangs": SimBuyer(bid=(35.0, 55.0), hang_rate=0.3),
        "errors": SimBuyer(bid=(35.0, 55.0), error_rate=0.4),
        "garbage": SimBuyer(bid=45.0, garbage_rate=1.0),
        "black-hole": SimBuyer(bid=(5.0, 30.0), post="timeout"),
    }
)
"""The built-in spec of `pingtree sim` without --config: one buyer per behaviour."""


def _where(loc: tuple[int | str, ...]) -> str:
    path = ""
    for item in loc:
        if item == "[key]":
            continue
        path += f"[{item}]" if isinstance(item, int) else ("." if path else "") + str(item)
    return path or "(root)"


def parse_sim(raw: Any) -> SimSpec:
    """Validate a decoded YAML document; raise ConfigError with every error and its path."""
    if not isinstance(raw, dict):
        raise ConfigError([("(root)", "the file must be a mapping with buyers")])
    try:
        return SimSpec.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(
            [
                (_where(tuple(e["loc"])), str(e["msg"]).removeprefix("Value error, "))
                for e in exc.errors(include_url=False, include_input=False)
            ]
        ) from None


def load_sim(path: str | Path) -> SimSpec:
    return parse_sim(read_yaml(path))
