"""pingtree/config/checked.py on small models of its own: checks across fields run on what parsed,
with the paths of the file; unknown keys get a suggestion. (tests/test_config.py covers the same
through buyers.yaml.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import Field, ValidationError, model_validator

from pingtree.config.checked import ConfigModel, Problem, across, parsed


class Item(ConfigModel):
    id: str = Field(pattern=r"^[a-z]+$")
    low: int = 0
    high: int = 10

    @across("low", "high")
    def _ordered(self) -> Iterator[Problem]:
        if self.low > self.high:
            yield ("low",), "low must not exceed high"


class Shelf(ConfigModel):
    limit: int = 5
    items: tuple[Item, ...] = Field(min_length=1)

    @across("limit", "items")
    def _within_limit(self) -> Iterator[Problem]:
        for index, item in enumerate(self.items):
            if item.high > self.limit:
                yield ("items", index, "high"), f"above the shelf's limit ({self.limit})"


def errors(model: type[ConfigModel], raw: object) -> set[tuple[tuple[str | int, ...], str]]:
    with pytest.raises(ValidationError) as refused:
        model.model_validate(raw)
    return {(tuple(e["loc"]), e["msg"]) for e in refused.value.errors()}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            {"id": "a", "low": 20},
            {(("low",), "low must not exceed high")},
            id="a check alone",
        ),
        pytest.param(
            {"id": "A", "low": 20},
            {(("id",), "String should match pattern '^[a-z]+$'"),
             (("low",), "low must not exceed high")},
            id="beside a field that failed",
        ),
        pytest.param(
            {"low": 20},
            {(("id",), "Field required"), (("low",), "low must not exceed high")},
            id="beside a required field left out",
        ),
        pytest.param(
            {"id": "a", "low": "many"},
            {(("low",), "Input should be a valid integer, unable to parse string as an integer")},
            id="not run when a field it reads failed",
        ),
        pytest.param(
            {"id": "a", "hihg": 3},
            {(("hihg",), "unknown key; did you mean 'high'?")},
            id="unknown key: the close one",
        ),
        pytest.param(
            {"id": "a", "colour": 3},
            {(("colour",), "unknown key; the keys here are high, id, low")},
            id="unknown key: none close, all listed",
        ),
    ],
)  # fmt: skip
def test_a_check_runs_on_what_parsed(raw: object, expected: set[object]) -> None:
    assert errors(Item, raw) == expected


def test_a_list_keeps_the_items_that_parsed_and_their_places_in_the_file() -> None:
    raw = {
        "limit": 5,
        "items": [{"id": "BAD"}, {"id": "b", "high": 9}, {"id": "c", "high": 2, "low": 3}],
    }
    assert errors(Shelf, raw) == {
        (("items", 0, "id"), "String should match pattern '^[a-z]+$'"),
        (("items", 1, "high"), "above the shelf's limit (5)"),
        (("items", 2, "low"), "low must not exceed high"),
    }


def test_a_list_that_may_not_be_empty_and_of_which_nothing_parsed_is_not_checked() -> None:
    found = errors(Shelf, {"limit": 1, "items": [{"id": "BAD", "high": 9}]})
    assert (("items", 0, "id"), "String should match pattern '^[a-z]+$'") in found
    assert not any("limit" in message for _, message in found), found


class CarefulShelf(ConfigModel):
    limit: int = 5
    items: tuple[Item, ...] = Field(min_length=1)

    @across("limit", "items", items_that_failed=True)
    def _within_limit(self) -> Iterator[Problem]:
        for index, item in enumerate(self.items):
            if parsed(item, "high") and item.high > self.limit:
                yield ("items", index, "high"), f"above the shelf's limit ({self.limit})"


def test_a_check_may_look_into_what_parsed_of_the_items_that_failed() -> None:
    raw = {
        "limit": 5,
        "items": [
            {"id": "BAD", "high": 9},  # its id failed, its high did not
            {"id": "b", "high": "lots"},  # its high failed: nothing to check
            {"id": "c", "high": 7},
        ],
    }
    found = errors(CarefulShelf, raw)
    assert (("items", 0, "high"), "above the shelf's limit (5)") in found
    assert (("items", 2, "high"), "above the shelf's limit (5)") in found
    assert not any(loc == ("items", 1, "high") and "limit" in m for loc, m in found), found
    assert errors(Shelf, raw) >= {(("items", 2, "high"), "above the shelf's limit (5)")}
    assert (("items", 0, "high"), "above the shelf's limit (5)") not in errors(Shelf, raw)


def test_a_check_naming_a_field_the_model_lacks_is_refused_at_once() -> None:
    with pytest.raises(TypeError, match="reads unknown field"):

        class Typo(ConfigModel):
            low: int = 0

            @across("lwo")
            def _check(self) -> Iterator[Problem]:
                yield (), "never"


class Legacy(ConfigModel):
    """A plain after-validator (kept by the copy built from what parsed) reading a required
    field: pydantic skips it when a field fails; the copy must not crash on it either."""

    id: str = Field(pattern=r"^[a-z]+$")
    low: int = 0
    high: int = 10

    @model_validator(mode="after")
    def _shouts(self) -> Legacy:
        if self.id.upper() == "NO":
            raise ValueError("no")
        return self

    @across("low", "high")
    def _ordered(self) -> Iterator[Problem]:
        if self.low > self.high:
            yield ("low",), "low must not exceed high"


def test_a_plain_model_validator_reading_a_failed_field_does_not_crash_the_load() -> None:
    found = errors(Legacy, {"id": "NOT OK", "low": 20})
    assert (("id",), "String should match pattern '^[a-z]+$'") in found
