"""Shared field types of the config models: read-only maps, money, YAML scalars."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, Field, PlainSerializer

K = TypeVar("K")
V = TypeVar("V")


def _read_only(value: Mapping[Any, Any]) -> Mapping[Any, Any]:
    return MappingProxyType(dict(value))


# A mapping inside a frozen model: a plain dict there would not be frozen (request-time code could
# change it), so it is kept read-only, and dumped as a dict.
FrozenMap = Annotated[
    Mapping[K, V], AfterValidator(_read_only), PlainSerializer(dict, return_type=dict[K, V])
]

# A price, payout or budget as the file gives it: dollars, to the cent.
Money = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
# A plain YAML value: what a filter requires, a mapping writes, an attribute may take.
Scalar = str | int | float | bool
