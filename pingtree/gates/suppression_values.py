"""A suppression list's values as the lead's: a phone to E.164, an email trimmed and lower-cased
(core/lead.py's rules, exactly), then kept only as a keyed digest, never in clear.

**Digests.** The first 8 bytes of HMAC-SHA256 with the tree's consumer key (the dedup secret,
config/tree.py) over `phone:+13055550123` or `email:jo@example.com`, the same message dedup and
the ledger hash, read as an unsigned 64-bit integer. Eight bytes make a list of 10 million entries
cost 80 MB in a sorted array; the chance that a lead's digest meets one of them by accident is
10^7 / 2^64, about one lead in 2·10^12.

**The fast path.** `phonenumbers` takes 20-150 µs a number, minutes for a list of millions. A plain
North American number (10 digits, or 11 with the leading 1, with the usual separators) is checked
instead against the validity patterns of every +1 region from phonenumbers' own metadata, compiled
once into one expression (~1 µs): the same answer as `phone_e164` (tests compare both on random
numbers). Anything else (another country, letters, extensions) goes the slow way, `phone_e164`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from functools import cache
from typing import Literal

from phonenumbers import PhoneMetadata
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

from pingtree.core.lead import email_address, phone_e164
from pingtree.store.suppression.base import DIGEST_BYTES

Match = Literal["phone", "email"]

_BLOCK = 64  # SHA-256's block: HMAC's key is padded to it
# The number types a valid number may be of (phonenumbers' is_valid_number: any but UNKNOWN).
_NUMBER_TYPES = (
    "fixed_line",
    "mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "personal_number",
    "voip",
    "pager",
    "uan",
    "voicemail",
)
# A plain NANP number: +1 or 1 optional, area code, exchange, line; spaces, dots, dashes and the
# area code's parentheses as separators. Area code and exchange start with 2-9 (or it is not plain).
_PLAIN_NANP = re.compile(
    r"\s*(?:\+?1[\s.-]*)?\(?([2-9]\d\d)\)?[\s.-]*([2-9]\d\d)[\s.-]*(\d{4})\s*",
    re.ASCII,
)
_MAX_EMAIL = 254  # the lead's limit (core/lead.py)


@cache
def _nanp_valid() -> re.Pattern[str]:
    """Every +1 region's valid 10-digit numbers, as phonenumbers' metadata describes them."""
    patterns = []
    for region in COUNTRY_CODE_TO_REGION_CODE[1]:
        metadata = PhoneMetadata.metadata_for_region(region)
        for name in _NUMBER_TYPES:
            desc = getattr(metadata, name, None)
            if desc is None or not desc.national_number_pattern:
                continue
            if desc.possible_length and 10 not in desc.possible_length:
                continue
            patterns.append(f"(?:{desc.national_number_pattern})")
    return re.compile("|".join(patterns), re.ASCII)


def bare_nanp_valid() -> Callable[[str], object]:
    """Whether 10 bare digits are a valid +1 number (truthy), phone_e164's answer: for loops."""
    return _nanp_valid().fullmatch


def normalized_phone(text: str) -> str | None:
    """A number as a lead's phone would be kept (E.164); None when a lead's would be refused."""
    national = text[-10:]
    bare = len(text) == 10 or (len(text) == 11 and text[0] == "1")
    # Bare digits, the most common list format: no pattern to read them (_PLAIN_NANP would).
    if bare and text.isdigit() and text.isascii() and national[0] > "1" and national[3] > "1":
        return "+1" + national if _nanp_valid().fullmatch(national) else None
    plain = _PLAIN_NANP.fullmatch(text)
    if plain is not None:
        national = plain.group(1) + plain.group(2) + plain.group(3)
        return "+1" + national if _nanp_valid().fullmatch(national) else None
    try:
        return phone_e164(text)
    except ValueError:
        return None


def normalized_email(text: str) -> str | None:
    """The address as a lead's email would be kept, or None when a lead's would be refused."""
    if len(text.strip()) > _MAX_EMAIL:
        return None
    try:
        return email_address(text)
    except ValueError:
        return None


def normalized(match: Match, text: str) -> str | None:
    return normalized_phone(text) if match == "phone" else normalized_email(text)


class Digester:
    """Keyed digests (the module's docstring) with one key: HMAC-SHA256 with its inner and outer
    states prepared once and copied per value (`hmac.digest` sets them up anew each call: half
    the cost of a list's load). The same bytes as `hmac.digest(key, message, "sha256")`."""

    def __init__(self, key: bytes) -> None:
        block = key if len(key) <= _BLOCK else hashlib.sha256(key).digest()
        block = block.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in block))
        self._outer = hashlib.sha256(bytes(byte ^ 0x5C for byte in block))

    def digest(self, match: Match, value: str) -> int:
        """The digest of a normalized value."""
        inner = self._inner.copy()
        inner.update(f"{match}:{value}".encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return int.from_bytes(outer.digest()[:DIGEST_BYTES])

    def digest_of(self, match: Match, text: str) -> int | None:
        """The digest of a value as given (a list's line, an operator's entry); None if invalid."""
        value = normalized(match, text)
        return None if value is None else self.digest(match, value)
