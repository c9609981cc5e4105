"""Vertical schemas: what a lead of each vertical must carry, and what of it is PII.

    verticals:
      final-expense:
        required: [dob]                     # lead fields this vertical needs
        attributes:
          coverage_amount: {type: integer, required: true}
          tobacco_use: {type: boolean}
          beneficiary_name: {type: string, pii: true}   # never in a ping
          plan: {type: string, values: [basic, premium]}
        derived: [age_band]                 # added to every ping of this vertical

A vertical without a schema takes any attributes (the lead's own limits still apply). Attributes
marked `pii` join the DESIGN §8 list for leads of that vertical: withheld from pings, refused in
ping mappings at load, scrubbed from logs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator

from pingtree.config.checked import ConfigModel, Problem, across
from pingtree.config.dialect import DERIVED_SOURCES, LEAD_SOURCES
from pingtree.config.share_terms import SellMode, share_problems
from pingtree.config.types import FrozenMap, Scalar

AttributeType = Literal["string", "integer", "number", "boolean", "date"]
Derived = Literal["zip3", "age_band"]
_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


def vertical_names(value: Any) -> Any:
    """Verticals compare as the lead's do: trimmed, lower-case (`MVA` in the file is `mva`)."""
    if isinstance(value, list | tuple | set | frozenset):
        return [v.strip().lower() if isinstance(v, str) else v for v in value]
    return value


class _Frozen(ConfigModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AttributeSpec(_Frozen):
    type: AttributeType = "string"
    required: bool = False
    pii: bool = False
    values: tuple[Scalar, ...] | None = Field(None, min_length=1)


class VerticalSchema(_Frozen):
    required: tuple[str, ...] = ()
    attributes: FrozenMap[str, AttributeSpec] = Field(default_factory=dict)
    derived: tuple[Derived, ...] = ()
    # Shared leads (DESIGN §14): a seller's own `sell` wins over these.
    sell: SellMode | None = None
    max_buyers: int | None = None

    @across("sell", "max_buyers")
    def _share_terms(self) -> Iterator[Problem]:
        yield from share_problems(self.sell, self.max_buyers)

    @field_validator("required")
    @classmethod
    def _lead_fields(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [name for name in value if name not in LEAD_SOURCES]
        if unknown:
            raise ValueError(
                f"unknown lead field(s) {', '.join(unknown)}: require attributes under "
                "`attributes` with `required: true`"
            )
        return value

    @field_validator("attributes")
    @classmethod
    def _names(cls, value: Mapping[str, AttributeSpec]) -> Mapping[str, AttributeSpec]:
        for name in value:
            if not re.match(_NAME, name):
                raise ValueError(f"attribute name {name!r} must be a plain identifier")
            if name in DERIVED_SOURCES:
                raise ValueError(f"{name!r} is a derived field; list it under `derived`")
        return value

    @property
    def pii_attributes(self) -> frozenset[str]:
        return frozenset(name for name, spec in self.attributes.items() if spec.pii)
