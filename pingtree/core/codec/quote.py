"""What of a buyer's unreadable answer the trace quotes. PURE.

Enough for an operator to see what the buyer said: a success page, an error word, a status its
response map does not know. The router redacts the lead's PII and the buyer's secrets from the
quote before tracing it (auctioneer.py), so a cut never falls inside a word or a number written
with spaces: half an email or half a phone would no longer be recognised, and would show.
"""

from __future__ import annotations

import re

SNIPPET_CHARS = 500
_WORD_TAIL_MAX = 80  # how far a cut may move on to end the word it fell in
_DECODED_MAX = 16 * 1024  # a prolog longer than this is not skipped: the quote starts in it
_BOM = "\ufeff"

# What comes before an XML or HTML document's first element, and says nothing the buyer meant:
# the declaration, a DOCTYPE (with an internal subset, if any), comments, processing instructions.
_PROLOG = re.compile(
    r"(?:\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^\[>]*(?:\[.*?\])?\s*>))+",
    re.IGNORECASE | re.DOTALL,
)
# The rest of the word a cut fell in, and of a number written in groups ("(305) 555 0123").
_WORD_TAIL = re.compile(r"\S*(?:[\s().-]{1,3}\d+\S*)*")


def snippet(body: bytes) -> str:
    """The start of a body for the trace: decoded leniently, an XML or HTML prolog skipped,
    whitespace collapsed, about SNIPPET_CHARS characters, a cut marked with an ellipsis."""
    text = body[:_DECODED_MAX].decode("utf-8", errors="replace").removeprefix(_BOM)
    prolog = _PROLOG.match(text)
    if prolog is not None and prolog.end() < len(text):
        text = text[prolog.end() :]
    text = " ".join(text.split())
    if len(text) <= SNIPPET_CHARS:
        return text
    tail = _WORD_TAIL.match(text, SNIPPET_CHARS, SNIPPET_CHARS + _WORD_TAIL_MAX)
    end = SNIPPET_CHARS if tail is None else tail.end()
    return text[:end].rstrip() + ("…" if end < len(text) else "")


__all__ = ["SNIPPET_CHARS", "snippet"]
