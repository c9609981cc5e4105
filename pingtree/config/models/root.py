"""buyers.yaml as a whole: `Config`, made of its sections (`router:`, `sellers:`, `buyers:`,
`verticals:`, `operators:`, each modelled in its own module), and the checks no one section can
make alone: repeated ids, keys, operator names and tokens, unknown sellers, fixed prices the
router would decline, what mappings may read (reads.py). The loader reports the checks across
entries at their paths (`cross_errors`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import Field, field_validator

from pingtree.config.checked import ConfigModel, Problem, across, parsed
from pingtree.config.models.buyers import BuyerConfig
from pingtree.config.models.compliance import CheckConfig
from pingtree.config.models.operators import ADMIN_TOKEN_NAME, OperatorConfig
from pingtree.config.models.router_settings import RouterSettings
from pingtree.config.models.sellers import SellerConfig
from pingtree.config.models.suppression import SuppressionList
from pingtree.config.reads import mapping_errors
from pingtree.config.types import FrozenMap
from pingtree.config.verticals import VerticalSchema


class Config(ConfigModel):
    router: RouterSettings = RouterSettings()
    pii_attributes: frozenset[str] = frozenset()
    verticals: FrozenMap[str, VerticalSchema] = Field(default_factory=dict)
    sellers: tuple[SellerConfig, ...] = Field(min_length=1)
    buyers: tuple[BuyerConfig, ...] = Field(min_length=1)
    operators: tuple[OperatorConfig, ...] = ()
    checks: tuple[CheckConfig, ...] = ()  # DESIGN §16: run before the auction (gates/checks.py)
    suppression: tuple[SuppressionList, ...] = ()

    @field_validator("router", mode="before")
    @classmethod
    def _empty_router(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("verticals", mode="before")
    @classmethod
    def _vertical_names(cls, value: Any) -> Any:
        if isinstance(value, dict):  # compared as the lead's are: trimmed, lower-case
            return {str(k).strip().lower(): v for k, v in value.items()}
        return value

    @across("buyers", "sellers", "pii_attributes", "verticals")
    def _pings_without_pii(self) -> Iterator[Problem]:
        yield from mapping_errors(self)

    @across("router", "buyers", items_that_failed=True)
    def _fixed_prices_can_win(self) -> Iterator[Problem]:
        # A fixed price is an offer ranked like a bid (DESIGN §3): outside floor..max_bid every
        # auction would decline it, so the buyer would never buy a lead.
        floor, max_bid = self.router.floor, self.router.max_bid
        for index, buyer in enumerate(self.buyers):
            if not parsed(buyer, "pricing", "price"):
                continue
            price = buyer.price if buyer.pricing == "fixed" else None
            if price is not None and price > max_bid:
                yield (
                    ("buyers", index, "price"),
                    f"{price} is above router.max_bid ({max_bid}): every auction would decline "
                    "it (above_max_bid), so this buyer could never buy a lead",
                )
            elif price is not None and 0 < price < floor:
                yield (
                    ("buyers", index, "price"),
                    f"{price} is below router.floor ({floor}): every auction would decline it "
                    "(below_floor), so this buyer could never buy a lead",
                )

    @across("sellers", "verticals", "buyers")
    def _shared_leads_have_buyers(self) -> Iterator[Problem]:
        # Not an error of one seller alone: its shared leads would all sell exclusive, silently.
        if any(buyer.shared for buyer in self.buyers):
            return
        why = "sell: shared, but no buyer has shared: true: every lead would sell exclusive"
        for index, seller in enumerate(self.sellers):
            if seller.sell == "shared":
                yield ("sellers", index, "sell"), why
        for name, schema in self.verticals.items():
            if schema.sell == "shared":
                yield ("verticals", name, "sell"), why

    @across("sellers", "buyers", "operators")
    def _unique(self) -> Iterator[Problem]:
        # The loader reports these at their paths (with every other error); a Config built in
        # code gets them here, from the same check.
        sellers = [{"id": s.id, "api_key": s.api_key.get_secret_value()} for s in self.sellers]
        buyers = [
            {"id": b.id, "filters": {"sellers": sorted(b.filters.sellers or ())}}
            | ({"portal": {"api_key": b.portal.api_key.get_secret_value()}} if b.portal else {})
            for b in self.buyers
        ]
        errors = cross_errors(
            {"sellers": sellers, "buyers": buyers, "operators": self._raw_operators()}
        )
        if errors:
            yield (), "; ".join(f"{path}: {message}" for path, message in errors)

    @across("checks")
    def _check_ids(self) -> Iterator[Problem]:
        first: dict[str, int] = {}
        for index, check in enumerate(self.checks):
            if check.id in first:
                yield (
                    ("checks", index, "id"),
                    f"the same id {check.id!r} as checks[{first[check.id]}]",
                )
            first.setdefault(check.id, index)

    @across("router", "checks")
    def _checks_leave_time_to_ping(self) -> Iterator[Problem]:
        # The checks' time comes out of the ping phase (budget less the post reserve).
        r = self.router
        if self.checks and r.checks_budget_ms + r.post_reserve_ms >= r.budget_ms:
            yield (
                ("router", "checks_budget_ms"),
                f"with post_reserve_ms ({r.post_reserve_ms}) it leaves no time to ping buyers "
                f"within budget_ms ({r.budget_ms})",
            )

    @across("suppression", "buyers")
    def _suppression_lists_known(self) -> Iterator[Problem]:
        # A list named twice would be matched under one id and listed under the other; a buyer
        # misspelt in a scope would be sold the leads its list was meant to keep from it.
        buyers, seen = {b.id for b in self.buyers}, set()
        for index, listed in enumerate(self.suppression):
            if listed.id in seen:
                yield ("suppression", index, "id"), f"the same id {listed.id!r} as another list"
            seen.add(listed.id)
            for buyer_id in () if listed.scope == "all" else listed.scope:
                if buyer_id not in buyers:
                    yield ("suppression", index, "scope"), f"unknown buyer {buyer_id!r}"

    @across("router", "operators")
    def _admin_token_apart(self) -> Iterator[Problem]:
        token = self.router.admin_token
        if token is None:
            return
        router = {"admin_token": token.get_secret_value()}
        for path, message in _operators_beside_admin_token(router, self._raw_operators()):
            yield (), f"{path}: {message}"

    def _raw_operators(self) -> list[dict[str, Any]]:
        return [{"name": o.name, "token": o.token.get_secret_value()} for o in self.operators]

    def buyer_timezone(self, buyer: BuyerConfig) -> str:
        return buyer.timezone or self.router.timezone

    def pii_for(self, buyer: BuyerConfig, vertical: str | None = None) -> frozenset[str]:
        """Attributes withheld from this buyer's pings: the operator's, the buyer's, and those the
        vertical's schema marks `pii` (every vertical the buyer may buy when none is given)."""
        pii = self.pii_attributes | buyer.pii_attributes
        if vertical is not None:
            schema = self.verticals.get(vertical)
            return pii | schema.pii_attributes if schema else pii
        for name, schema in self.verticals.items():
            if buyer.verticals is None or name in buyer.verticals:
                pii |= schema.pii_attributes
        return pii


def index_label(index: int, item: Any) -> str:
    """`[2:lawfirm-a]` rather than `[2]`: the operator finds the buyer by its id."""
    ident = item.get("id") if isinstance(item, dict) else None
    return f"[{index}]" if ident is None else f"[{index}:{ident}]"


def cross_errors(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """Checks across entries (repeated ids, keys, operator names and tokens, unknown sellers),
    each at its own path and all at once, even when other fields are invalid too."""
    sellers = [s for s in raw.get("sellers") or () if isinstance(s, dict)]
    buyers = [b for b in raw.get("buyers") or () if isinstance(b, dict)]
    operators = [o for o in raw.get("operators") or () if isinstance(o, dict)]
    errors: list[tuple[str, str]] = []

    def repeats(section: str, items: list[dict[str, Any]], key: str) -> None:
        first: dict[Any, str] = {}
        for index, item in enumerate(items):
            value, where = item.get(key), f"{section}{index_label(index, item)}"
            if not isinstance(value, str) or not value:
                continue
            if value in first:
                secret = key in ("api_key", "token")  # named, never shown
                shown = f"the same {key}" if secret else f"the same {key} {value!r}"
                errors.append((f"{where}.{key}", f"{shown} as {first[value]}"))
            else:
                first[value] = where

    repeats("sellers", sellers, "id")
    repeats("sellers", sellers, "api_key")
    repeats("buyers", buyers, "id")
    errors += _repeated_portal_keys(buyers)
    repeats("operators", operators, "name")
    repeats("operators", operators, "token")
    errors += _operators_beside_admin_token(raw.get("router"), operators)
    # Only text can be an id: a list or a mapping where one belongs is reported by the models at
    # its own path, and must not stop these checks (it is not hashable).
    known = {s["id"] for s in sellers if isinstance(s.get("id"), str)}
    for index, buyer in enumerate(buyers):
        filters = buyer.get("filters")
        named = filters.get("sellers") if isinstance(filters, dict) else None
        for seller_id in named if isinstance(named, list) else ():
            if isinstance(seller_id, str) and seller_id not in known:
                where = f"buyers{index_label(index, buyer)}.filters.sellers"
                errors.append((where, f"unknown seller {seller_id!r}"))
    return errors


def _repeated_portal_keys(buyers: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Two buyers with one `portal.api_key` would see each other's leads: refused, unshown."""
    first: dict[str, str] = {}
    errors: list[tuple[str, str]] = []
    for index, buyer in enumerate(buyers):
        portal = buyer.get("portal")
        key = portal.get("api_key") if isinstance(portal, dict) else None
        if not isinstance(key, str) or not key:
            continue
        where = f"buyers{index_label(index, buyer)}"
        if key in first:
            errors.append((f"{where}.portal.api_key", f"the same api_key as {first[key]}"))
        else:
            first[key] = where
    return errors


def _operators_beside_admin_token(
    router: Any, operators: list[dict[str, Any]]
) -> list[tuple[str, str]]:
    """`router.admin_token` is the operator `admin`: no operator of the list may take its name
    or its token, or the audit could not tell who acted."""
    token = router.get("admin_token") if isinstance(router, dict) else None
    if not isinstance(token, str) or not token:
        return []
    errors: list[tuple[str, str]] = []
    for index, operator in enumerate(operators):
        where = f"operators[{index}]"
        if operator.get("name") == ADMIN_TOKEN_NAME:
            errors.append(
                (f"{where}.name", f"{ADMIN_TOKEN_NAME!r} is router.admin_token's operator")
            )
        if operator.get("token") == token:
            errors.append((f"{where}.token", "the same token as router.admin_token"))
    return errors
