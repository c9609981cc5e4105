"""Which part of the package may import which (DESIGN §10), read from the source with ast, so an
import inside a function or under TYPE_CHECKING counts too.

- store/, deliveries/ and core/ read the finished outcome (core/outcome.py) and never import the
  auction (auction/): not directly, not through anything they import.
- core/ is pure: it imports only core/ and config/.
- no module imports another module's private (`_`) names.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

import pingtree

PACKAGE = Path(pingtree.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def modules_of(part: str) -> list[str]:
    return sorted(name for name in MODULES if name == part or name.startswith(part + "."))


def import_froms(module: str) -> Iterator[tuple[str, list[str]]]:
    """(module imported from, names) for every import in `module`, relative ones made absolute."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            source = node.module or ""
            if node.level:
                source = f"{base}.{source}" if source else base
            yield source, [alias.name for alias in node.names]


@cache
def imported(module: str) -> frozenset[str]:
    """The modules of pingtree that importing `module` runs directly: each one named, the
    packages above it (their __init__ runs first), and `from package import module` ones."""
    found: set[str] = set()
    for source, names in import_froms(module):
        targets = [source] + [f"{source}.{name}" for name in names]
        for target in targets:
            parts = target.split(".")
            found |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & MODULES.keys()
    found.discard(module)
    return frozenset(found)


def reached(module: str) -> set[str]:
    seen, todo = set(), [module]
    while todo:
        for name in imported(todo.pop()) - seen:
            seen.add(name)
            todo.append(name)
    return seen


def modules_of_auction(names: set[str]) -> set[str]:
    return {name for name in names if name.startswith("pingtree.auction")}


@pytest.mark.parametrize("module", modules_of("pingtree.store") + modules_of("pingtree.deliveries"))
def test_store_and_deliveries_never_import_the_auction(module: str) -> None:
    assert not modules_of_auction(reached(module)), module


@pytest.mark.parametrize("module", modules_of("pingtree.core"))
def test_core_is_pure_and_never_imports_the_auction(module: str) -> None:
    assert not modules_of_auction(reached(module)), module
    outside = {
        name
        for name in imported(module)
        if name != "pingtree" and not name.startswith(("pingtree.core", "pingtree.config"))
    }
    assert not outside, f"{module} imports {sorted(outside)}"


@pytest.mark.parametrize("module", modules_of("pingtree"))
def test_no_private_name_is_borrowed_from_another_module(module: str) -> None:
    borrowed = [
        f"{source}.{name}"
        for source, names in import_froms(module)
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert not borrowed, f"{module} imports {borrowed}"


def test_the_walk_sees_the_imports_it_should() -> None:
    """The router does import the auctioneer, and the store the finished outcome: a walk that
    found nothing would pass every test above."""
    assert "pingtree.auction.auctioneer" in imported("pingtree.auction.router")
    assert "pingtree.core.outcome" in reached("pingtree.store.state.memory")
    assert "pingtree.core.outcome" in reached("pingtree.deliveries.service")
