"""Shared field types of the config models."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, PlainSerializer

K = TypeVar("K")
V = TypeVar("V")


def _read_only(value: Mapping[Any, Any]) -> Mapping[Any, Any]:
    return MappingProxyType(dict(value))


# A mapping inside a frozen model: a plain dict there would not be frozen (request-time code could
# change it), so it is kept read-only, and dumped as a dict.
FrozenMap = Annotated[
    Mapping[K, V], AfterValidator(_read_only), PlainSerializer(dict, return_type=dict[K, V])
]
