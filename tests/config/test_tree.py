"""The request-time index: a lead meets only the buyers that may buy its vertical and state, and
the operator still learns how many the index left out."""

from __future__ import annotations

import pytest

from pingtree.config.tree import Tree
from tests.conftest import make_buyer, make_config


def _tree() -> Tree:
    buyers = [make_buyer(f"fl{n}", filters={"states": ["FL"]}, verticals=["mva"]) for n in range(3)]
    buyers += [make_buyer(f"west{n}", filters={"states": ["CA", "TX"]}) for n in range(5)]
    buyers += [make_buyer(f"solar{n}", verticals=["solar"]) for n in range(40)]
    buyers += [make_buyer("anything")]
    return Tree(make_config(buyers))


@pytest.mark.parametrize(
    ("vertical", "state", "ids", "excluded"),
    [
        (
            "mva",
            "FL",
            ["fl0", "fl1", "fl2", "anything"],
            {"filter:vertical": 40, "filter:state": 5},
        ),
        (
            "mva",
            "TX",
            [*(f"west{n}" for n in range(5)), "anything"],
            {"filter:vertical": 40, "filter:state": 3},
        ),
        ("mva", None, ["anything"], {"filter:vertical": 40, "filter:state": 8}),
        (
            "solar",
            "FL",
            [*(f"solar{n}" for n in range(40)), "anything"],
            {"filter:vertical": 3, "filter:state": 5},
        ),
        ("pets", "FL", ["anything"], {"filter:vertical": 43, "filter:state": 5}),
    ],
    ids=[
        "FL mva",
        "TX mva: the west buyers",
        "no state",
        "solar",
        "a vertical only 'anything' buys",
    ],
)
def test_candidates_by_vertical_and_state(vertical, state, ids, excluded) -> None:
    found = _tree().candidates(vertical, state)
    assert [c.buyer.id for c in found.buyers] == ids  # in file order
    assert dict(found.excluded) == excluded
    assert len(found.buyers) + sum(excluded.values()) == 49


def test_the_index_is_built_once_per_vertical_and_state() -> None:
    tree = _tree()
    assert tree.candidates("mva", "FL") is tree.candidates("mva", "FL")
    assert tree.candidates("pets", "FL") is tree.candidates("hamsters", "FL")  # unknown: one entry


def test_a_vertical_nobody_buys() -> None:
    tree = Tree(make_config([make_buyer("a", verticals=["mva"])]))
    assert tree.buys("mva") and not tree.buys("solar")
