"""Ids sort as text in the order they were made, and do not repeat."""

from __future__ import annotations

import base64
import random
import re
from unittest import mock

from pingtree.core import ids
from pingtree.core.ids import lead_id, ping_id


def test_ids_sort_by_time_and_look_alike() -> None:
    made = [lead_id(now_ms=ms) for ms in (0, 1, 999, 1_000, 1_764_000_000_000, 2**48 - 1)]
    assert made == sorted(made)
    assert all(re.fullmatch(r"ld_[0-9A-HJKMNP-TV-Z]{26}", i) for i in made)
    assert re.fullmatch(r"pg_[0-9A-HJKMNP-TV-Z]{26}", ping_id())


def test_ids_do_not_repeat() -> None:
    assert len({ping_id() for _ in range(10_000)}) == 10_000


def test_ids_are_the_128_bits_in_crockfords_base32_left_aligned() -> None:
    # The reference: the standard base32 encoder, mapped to Crockford's alphabet.
    to_crockford = bytes.maketrans(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    )
    rng = random.Random(7)
    for _ in range(2000):
        ms, rest = rng.getrandbits(48), rng.getrandbits(80)
        value = (ms << 80) | rest
        expected = base64.b32encode(value.to_bytes(16, "big"))[:26].translate(to_crockford)
        with mock.patch.object(ids.random, "getrandbits", return_value=rest):
            assert ids.lead_id(ms) == "ld_" + expected.decode()
