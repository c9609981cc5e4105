"""What a reload changed, as the audit keeps it (DESIGN §13): which buyers, sellers and operators
were added, removed or changed (by id or name, with the names of the top-level keys that
changed), which router settings and which other top-level sections changed.

Names only, never values: a changed `api_key`, `token` or `ping` is said to have changed, and
nothing of a secret or of a URL (whose query and userinfo may hold credentials) is written. PURE:
two configs in, plain data out."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from pingtree.config.models import Config

# The sections of entries kept by identity, and the field that names each entry.
_ENTRIES = (("buyers", "id"), ("sellers", "id"), ("operators", "name"))


def config_diff(old: Config, new: Config) -> dict[str, Any]:
    """`{"buyers": {"added": [...], "removed": [...], "changed": {id: [key, ...]}}, "sellers":
    {...}, "operators": {...}, "router": [key, ...], "other": [section, ...]}`; every list sorted,
    empty when nothing of its kind changed."""
    diff: dict[str, Any] = {}
    for section, name in _ENTRIES:
        diff[section] = _entries_diff(getattr(old, section), getattr(new, section), name)
    diff["router"] = _changed_keys(old.router, new.router)
    kept = {section for section, _ in _ENTRIES} | {"router"}
    diff["other"] = [key for key in _changed_keys(old, new) if key not in kept]
    return diff


def is_empty(diff: dict[str, Any]) -> bool:
    """Whether a diff says nothing changed (a reload of the same file)."""
    return not any(any(part.values()) if isinstance(part, dict) else part for part in diff.values())


def _entries_diff(old: Iterable[BaseModel], new: Iterable[BaseModel], name: str) -> dict[str, Any]:
    before = {getattr(entry, name): entry for entry in old}
    after = {getattr(entry, name): entry for entry in new}
    changed = {
        ident: keys
        for ident in sorted(before.keys() & after.keys())
        if (keys := _changed_keys(before[ident], after[ident]))
    }
    return {
        "added": sorted(after.keys() - before.keys()),
        "removed": sorted(before.keys() - after.keys()),
        "changed": changed,
    }


def _changed_keys(old: BaseModel, new: BaseModel) -> list[str]:
    """The fields whose values differ (secrets compare by value, and are only named)."""
    fields = type(old).model_fields
    return sorted(key for key in fields if getattr(old, key) != getattr(new, key))


__all__ = ["config_diff", "is_empty"]
