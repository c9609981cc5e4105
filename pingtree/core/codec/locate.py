"""Where a value sits in a buyer's answer (config.dialect.Locator): a dotted path in JSON, an
XPath in XML, a regex in text. PURE; a locator that finds nothing gives None, never an exception.
"""

from __future__ import annotations

import re
from typing import Any
from xml.etree.ElementTree import Element

from pingtree.config.dialect_response import Locator, split_xpath


def find(document: Any, locator: Locator) -> Any:
    """The value `locator` points at in a parsed answer (JSON value, XML element, or text);
    None when there is none (a JSON null counts as none)."""
    if locator.path is not None:
        return json_at(document, locator.path)
    if locator.xpath is not None:
        return xml_at(document, locator.xpath) if isinstance(document, Element) else None
    assert locator.regex is not None
    return regex_at(document, locator.regex) if isinstance(document, str) else None


def as_text(found: Any) -> str | None:
    """A found value as text, the way values are compared and reported: JSON true as "true",
    numbers as written; objects and lists have no text."""
    if isinstance(found, bool):
        return "true" if found else "false"
    if isinstance(found, str | int | float):
        return str(found)
    return None


def json_at(document: Any, path: str) -> Any:
    """`data.result.price`; an integer segment indexes a list (`items.0.id`)."""
    node = document
    for segment in path.split("."):
        if isinstance(node, dict):
            node = node.get(segment)
        elif isinstance(node, list) and segment.isdigit() and int(segment) < len(node):
            node = node[int(segment)]
        else:
            return None
    return node


def xml_at(root: Element, xpath: str) -> str | None:
    """ElementTree's XPath subset, relative to the document element; `/response/status`,
    `response/status` and `status` all read <response><status>. A final `@name` reads an
    attribute; an element's value is all of its text."""
    path, attribute = split_xpath(xpath)
    element = _element(root, path)
    if element is None:
        return None
    if attribute is not None:
        return element.get(attribute)
    return "".join(element.itertext())


def _element(root: Element, path: str) -> Element | None:
    if path in ("", ".", "/"):
        return root
    if path.startswith("//"):
        candidates = ["." + path]
    else:
        steps = path.lstrip("/")
        first, _, rest = steps.partition("/")
        # An absolute path names the document element first; a relative one may or may not.
        candidates = [] if path.startswith("/") else [steps]
        if first == root.tag:
            candidates.append(rest or ".")
    for candidate in candidates:
        try:
            element = root.find(candidate)
        except Exception:  # checked at load; its compiler raises SyntaxError, TypeError… by case
            return None
        if element is not None:
            return element
    return None


def strip_namespaces(root: Element) -> Element:
    """`{urn:x}status` → `status`, in tags and attribute names: buyers' XPaths name elements, not
    namespaces (a freshly parsed tree, changed in place)."""
    for element in root.iter():
        if isinstance(element.tag, str) and "}" in element.tag:
            element.tag = element.tag.rpartition("}")[2]
        for name in [n for n in element.attrib if "}" in n]:
            element.attrib[name.rpartition("}")[2]] = element.attrib.pop(name)
    return root


def regex_at(text: str, pattern: str) -> str | None:
    """The first match's group 1 when the pattern has groups ("" if that group took no part),
    else the whole match."""
    match = re.search(pattern, text)
    if match is None:
        return None
    return (match.group(1) or "") if match.re.groups else match.group(0)


__all__ = ["as_text", "find", "json_at", "regex_at", "strip_namespaces", "xml_at"]
