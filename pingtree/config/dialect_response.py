"""How a buyer's answer is read (a dialect's `response:`, described in dialect.py): where each
value sits in it (`Locator`: a JSON path, an XPath or a regex), the tests that say what it means
(`Matcher`), and the map of them (`ResponseMap`). Models only; codec/response.py reads answers
with them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal
from xml.etree import ElementTree

from pydantic import Field, field_validator, model_validator

from pingtree.config.dialect import DialectModel, yaml_text
from pingtree.config.types import FrozenMap


class Locator(DialectModel):
    """Where a value sits in the buyer's answer: a dotted JSON path (`data.result.price`,
    `items.0.id`), an XPath for XML (ElementTree's subset; `lead/@id` reads an attribute), or a
    regex for text (group 1 if it has one, else the whole match)."""

    path: str | None = Field(None, min_length=1)
    xpath: str | None = Field(None, min_length=1)
    regex: str | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> Locator:
        given = [k for k in ("path", "xpath", "regex") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of path (JSON), xpath (XML) or regex (text)")
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"regex does not compile: {exc}") from None
        if self.path is not None and "" in self.path.split("."):
            raise ValueError(f"path {self.path!r} has an empty segment: data.result.price")
        if self.xpath is not None:
            _check_xpath(self.xpath)
        return self

    @property
    def kind(self) -> Literal["path", "xpath", "regex"]:
        return "path" if self.path is not None else "xpath" if self.xpath is not None else "regex"


_XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


# `b:status` → `status`: answers are read with their namespaces stripped, so the prefixes an
# operator copies from a buyer's documentation are stripped from the path too.
_PREFIX = re.compile(r"(^|[/\[@])[A-Za-z_][\w.-]*:(?=[A-Za-z_*])")


def split_xpath(xpath: str) -> tuple[str, str | None]:
    """An answer's XPath as (element path without namespace prefixes, attribute name or None):
    `lead/@id` → ("lead", "id"), `@code` → ("", "code"), `/b:response/b:status` →
    ("/response/status", None). A `@` in a predicate (`item[@id='1']`) belongs to the path."""
    path, attribute = xpath.strip(), None
    head, at, tail = path.rpartition("@")
    name = tail.rpartition(":")[2]  # `@xlink:href` reads `href`: namespaces are stripped
    if at and (not head or head.endswith("/")) and _XML_NAME.match(name):
        path, attribute = head.rstrip("/"), name
    return _PREFIX.sub(r"\1", path), attribute


def _check_xpath(xpath: str) -> None:
    # ElementTree understands a subset of XPath: refuse at load what it would refuse per answer.
    path, _ = split_xpath(xpath)
    relative = "." + path if path.startswith("//") else path.lstrip("/") or "."
    try:
        ElementTree.Element("answer").find(relative)
    except Exception:  # its path compiler raises SyntaxError, KeyError, TypeError… by case
        raise ValueError(f"xpath {xpath!r} is not one ElementTree can read") from None


class Matcher(Locator):
    """A test on the answer: the value found is one of `values` (trimmed, any case; `true` matches
    a JSON true). Without `values`: the value is found (a regex matches, a path exists)."""

    values: tuple[str, ...] | None = None

    @field_validator("values", mode="before")
    @classmethod
    def _texts(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return tuple(yaml_text(v) for v in value)
        if isinstance(value, str | int | float | bool):
            return (yaml_text(value),)
        return value

    @field_validator("values")
    @classmethod
    def _not_empty(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and not value:
            raise ValueError("values is empty, so nothing would ever match: list the words")
        return value


class ResponseMap(DialectModel):
    """How to read the buyer's answer. A 2xx is needed, then: `accepted` matches → a bid (ping;
    `price` must read as a price) or a sale (post); else `duplicate` → declined `duplicate`; else
    `rejected` → declined with `reason`; else the answer is unknown, quoted in the trace: to a
    ping a failure, to a post `post_unknown` (the buyer may have taken the lead). Without
    `rejected`, a ping's answer whose `accepted` value is found but not among its values is a
    decline; a post's is unknown, since only a refusal the map names lets the lead go on."""

    format: Literal["json", "xml", "text"] = "json"
    accepted: Matcher
    rejected: Matcher | None = None
    duplicate: Matcher | None = None
    price: Locator | None = None
    bid_id: Locator | None = None
    reason: Locator | None = None
    buyer_lead_id: Locator | None = None
    redirect_url: Locator | None = None
    expires_in_ms: Locator | None = None
    carry: FrozenMap[str, Locator] = Field(default_factory=dict)

    @field_validator("carry")
    @classmethod
    def _carry_names(cls, value: Mapping[str, Locator]) -> Mapping[str, Locator]:
        for name in value:
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
                raise ValueError(f"carry name {name!r} must be a plain identifier")
        return value

    @model_validator(mode="after")
    def _locators_fit_format(self) -> ResponseMap:
        wanted = {"json": "path", "xml": "xpath", "text": "regex"}[self.format]
        for name in (
            "accepted", "rejected", "duplicate", "price", "bid_id", "reason",
            "buyer_lead_id", "redirect_url", "expires_in_ms",
        ):  # fmt: skip
            locator = getattr(self, name)
            if locator is not None and locator.kind != wanted:
                raise ValueError(
                    f"{name}: a {self.format} answer is read with `{wanted}`, not `{locator.kind}`"
                )
        for name, locator in self.carry.items():
            if locator.kind != wanted:
                raise ValueError(f"carry.{name}: a {self.format} answer is read with `{wanted}`")
        return self
