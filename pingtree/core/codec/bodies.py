"""Mapped fields → the bytes of a json, form or xml body, and → a URL's query string. PURE.

`fields` is what request.build_body returns: the buyer's names (`to`) in the mapping's order,
dotted for nesting, each with a value that is not None.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_plus, urlencode, urlsplit, urlunsplit
from xml.etree import ElementTree

from pingtree.core import jsonenc
from pingtree.core.codec.transforms import MappingError, text_of


def json_body(fields: Mapping[str, Any]) -> bytes:
    """`contact.email` becomes {"contact": {"email": …}}; Decimals are exact JSON numbers."""
    document: dict[str, Any] = {}
    for to, value in fields.items():
        *parents, last = to.split(".")
        node = document
        for name in parents:
            child = node.setdefault(name, {})
            if not isinstance(child, dict):
                raise MappingError(to, f"{name!r} is a value and an object at once")
            node = child
        if isinstance(node.get(last), dict):
            raise MappingError(to, f"{last!r} is a value and an object at once")
        node[last] = value
    return jsonenc.dumps(document)


def form_pairs(fields: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Names as written (a form has no nesting: `contact.email` stays `contact.email`)."""
    return [(to, text_of(value)) for to, value in fields.items()]


def form_body(fields: Mapping[str, Any]) -> bytes:
    return urlencode(form_pairs(fields)).encode("ascii")


# XML 1.0 cannot hold most control characters, not even escaped: a stray one in a seller's
# address would make the whole document unreadable to the buyer, so it is dropped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>'


def xml_body(root: str, fields: Mapping[str, Any]) -> bytes:
    """`<root>` holding one element per dotted segment, in the mapping's order; a final `@name`
    segment is an attribute of its parent (`@version` one of the root's)."""
    document = ElementTree.Element(root)
    elements: dict[str, ElementTree.Element] = {"": document}
    for to, value in fields.items():
        *parents, last = to.split(".")
        if any(name.startswith("@") for name in parents):
            raise MappingError(to, "only the last segment may be an @attribute")
        node, path = document, ""
        for name in parents:
            path = f"{path}.{name}" if path else name
            if path not in elements:
                elements[path] = ElementTree.SubElement(node, name)
            node = elements[path]
        text = _NOT_XML.sub("", text_of(value))
        if last.startswith("@"):
            node.set(last[1:], text)
            continue
        path = f"{path}.{last}" if path else last
        element = elements.get(path)
        if element is None:
            element = elements[path] = ElementTree.SubElement(node, last)
        element.text = text
    return XML_DECLARATION + ElementTree.tostring(document, encoding="unicode").encode("utf-8")


def with_query(url: str, added: list[tuple[str, str]]) -> str:
    """`url` with `added` in its query string. What the URL already holds is kept byte for byte
    (a buyer's key may be encoded just so), except a name `added` gives again: that one is
    replaced."""
    if not added:
        return url
    parts = urlsplit(url)
    names = {name for name, _ in added}
    kept = [
        segment
        for segment in parts.query.split("&")
        if segment and unquote_plus(segment.partition("=")[0]) not in names
    ]
    query = "&".join([*kept, urlencode(added)])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


__all__ = ["XML_DECLARATION", "form_body", "form_pairs", "json_body", "with_query", "xml_body"]
