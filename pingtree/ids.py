"""Time-sortable ids: 48 bits of milliseconds then 80 random bits, Crockford base32 (as ULID)."""

from __future__ import annotations

import random
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _ulid(now_ms: int | None = None) -> str:
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    # Unique, not secret: the random module (reseeded in every forked process) spares a syscall.
    value = (ms << 80) | random.getrandbits(80)
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def lead_id(now_ms: int | None = None) -> str:
    return "ld_" + _ulid(now_ms)


def ping_id() -> str:
    return "pg_" + _ulid()
