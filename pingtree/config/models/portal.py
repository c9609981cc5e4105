"""A buyer's own API (DESIGN §15): `portal:` (its key, whether it may pause itself), `returns:`
(the return rules: on `router`, overridable per buyer, field by field) and the `pull` delivery
(`deliveries: [{method: pull}]`: the buyer fetches its leads and acknowledges them)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import Field, SecretStr, field_validator

from pingtree.config.checked import ConfigModel, Problem, across

DEFAULT_REASONS: tuple[str, ...] = (
    "bad_phone",
    "duplicate",
    "fraud",
    "out_of_area",
    "wrong_vertical",
    "no_consent",
)


class Portal(ConfigModel):
    """The buyer's key for /v1/buyer/* (X-API-Key or Authorization: Bearer) and whether it may
    pause and resume itself (POST /v1/buyer/pause|resume)."""

    api_key: SecretStr
    self_pause: bool = False

    @field_validator("api_key")
    @classmethod
    def _key_long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 8:
            raise ValueError("api_key must be at least 8 characters")
        return value


class ReturnRules(ConfigModel):
    """`router.returns`: how long after its sale a lead may be returned (`window_days`, may be
    fractional), the most a buyer may return (`max_pct` of its sales of the last 30 days, the new
    return counted; None: no cap), the reasons it may give, and those approved without the
    operator (the rest wait in the queue: POST /admin/returns/{id}/approve|deny)."""

    window_days: float = Field(3, ge=0, le=3650)
    max_pct: float | None = Field(None, ge=0, le=100)
    reasons: tuple[str, ...] = Field(DEFAULT_REASONS, min_length=1)
    auto_approve: tuple[str, ...] = ()

    @across("reasons", "auto_approve")
    def _approved_reasons_known(self) -> Iterator[Problem]:
        unknown = sorted(set(self.auto_approve) - set(self.reasons))
        if unknown:
            yield ("auto_approve",), f"not among reasons: {', '.join(unknown)}"


class ReturnRulesOverride(ConfigModel):
    """A buyer's `returns:`: what it gives replaces the router's, field by field."""

    window_days: float | None = Field(None, ge=0, le=3650)
    max_pct: float | None = Field(None, ge=0, le=100)
    reasons: tuple[str, ...] | None = Field(None, min_length=1)
    auto_approve: tuple[str, ...] | None = None

    def over(self, rules: ReturnRules) -> ReturnRules:
        given = self.model_dump(exclude_none=True)
        return ReturnRules.model_validate({**rules.model_dump(), **given})


def pull_deliveries(value: Any) -> Any:
    """`deliveries: [{method: pull}]` on a buyer, read as `pull: true`: a pull is no destination
    pingtree sends to (it has no URL), so it is kept apart from the deliveries that are."""
    if not isinstance(value, dict) or not isinstance(value.get("deliveries"), list):
        return value
    pushed = [d for d in value["deliveries"] if not (isinstance(d, dict) and _is_pull(d))]
    if len(pushed) == len(value["deliveries"]):
        return value
    if value.get("pull") is False:
        raise ValueError("deliveries has method: pull but pull is false")
    return {**value, "deliveries": pushed, "pull": True}


def _is_pull(delivery: dict[str, Any]) -> bool:
    return str(delivery.get("method", "")).lower() == "pull" and "url" not in delivery


__all__ = ["DEFAULT_REASONS", "Portal", "ReturnRules", "ReturnRulesOverride", "pull_deliveries"]
