"""Time-sortable ids: 48 bits of milliseconds then 80 random bits, in Crockford's base32 alphabet.

The 128 bits are written left-aligned (base64's b32 encoder, in C, then mapped to Crockford's
alphabet, which is in ASCII order), so ids sort as text in the order they were made.
"""

from __future__ import annotations

import base64
import random
import time

_TO_CROCKFORD = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789ABCDEFGHJKMNPQRSTVWXYZ"
)


def _ulid(now_ms: int | None = None) -> str:
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    # Unique, not secret: the random module (reseeded in every forked process) spares a syscall.
    value = (ms << 80) | random.getrandbits(80)
    return base64.b32encode(value.to_bytes(16, "big"))[:26].translate(_TO_CROCKFORD).decode()


def lead_id(now_ms: int | None = None) -> str:
    return "ld_" + _ulid(now_ms)


def ping_id() -> str:
    return "pg_" + _ulid()
