"""A suppression list's values and file (gates/suppression_values.py, suppression_file.py) and its
config: the fast path for plain North American numbers gives phone_e164's answer exactly, on
random numbers and in every spelling a list uses; a digest is the HMAC the docstring says; a file
skips its header and blank lines, counts a bad line by its number and never keeps a value in
clear; a config names its errors at their paths (unknown buyer, missing file, repeated id)."""

from __future__ import annotations

import hmac
import random
from pathlib import Path
from typing import Any

import pytest

from pingtree.config import parse_config
from pingtree.config.tree import Tree
from pingtree.core.errors import ConfigError
from pingtree.core.lead import phone_e164
from pingtree.gates import suppression_file
from pingtree.gates.suppression_cache import cache_path
from pingtree.gates.suppression_file import load_list_file
from pingtree.gates.suppression_values import Digester, normalized_email, normalized_phone
from tests.conftest import config_dict, make_buyer


def slow(text: str) -> str | None:
    try:
        return phone_e164(text)
    except ValueError:
        return None


def test_the_fast_path_answers_as_phone_e164_on_random_numbers() -> None:
    rng = random.Random(19)
    numbers = [f"{rng.randint(200, 999)}{rng.randint(0, 999):03d}{rng.randint(0, 9999):04d}"]
    numbers += [f"{rng.randint(0, 9999999999):010d}" for _ in range(1500)]
    numbers += [f"{rng.randint(200, 999)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
                for _ in range(1500)]  # fmt: skip
    assert [normalized_phone(n) for n in numbers] == [slow(n) for n in numbers]
    assert sum(normalized_phone(n) is not None for n in numbers) > 500  # both kinds were tried


@pytest.mark.parametrize(
    "text",
    [
        "3055551234", "13055551234", "+13055551234", "+1 305 555 1234", "(305) 555-1234",
        "1-305-555-1234", "305.555.1234", " 305 555 1234 ", "+1 (305) 555-1234",
        "2425551234", "8765550123", "1305555123", "0305551234", "555-1234", "+44 20 7946 0958",
        "1-800-FLOWERS", "305555123456", "+1 305 555 1234 ext 12", "", "phone",
    ],
)  # fmt: skip
def test_every_spelling_a_list_uses_reads_as_a_leads_phone(text: str) -> None:
    assert normalized_phone(text) == slow(text)


def test_an_email_reads_as_a_leads() -> None:
    assert normalized_email("  Jo.Doe@Example.COM ") == "jo.doe@example.com"
    assert normalized_email("not an email") is None
    assert normalized_email("a@" + "b" * 260 + ".com") is None


def test_a_digest_is_the_first_eight_bytes_of_the_consumers_hmac() -> None:
    for key in (b"k", b"k" * 64, b"k" * 100):
        mac = hmac.digest(key, b"phone:+13055551234", "sha256")
        assert Digester(key).digest("phone", "+13055551234") == int.from_bytes(mac[:8])
    assert Digester(b"k").digest_of("email", "Jo@Example.com") == Digester(b"k").digest(
        "email", "jo@example.com"
    )


def test_a_file_skips_its_header_counts_bad_lines_and_matches_a_leads_hash(
    tmp_path: Path,
) -> None:
    path = tmp_path / "dnc.csv"
    path.write_text('phone,source\n"3055551234",x\n\nbad\n+1 (305) 555-1299\n9995551234\n')
    tree = Tree(parse_config(config_dict([make_buyer("a")]), env={}), fallback_secret=b"s")
    loaded = load_list_file(path, "phone", tree.consumer_key)
    assert (len(loaded.digests), loaded.lines, loaded.bad_lines) == (2, 6, 2)
    assert loaded.first_bad_lines == (4, 6)  # by number, never by value
    assert list(loaded.digests) == sorted(loaded.digests)
    lead_key = tree.dedup_keys("+13055551234", None)[0]  # the lead's, as dedup keeps it
    assert int(lead_key[:16], 16) in loaded
    assert Digester(tree.consumer_key).digest("phone", "+13055551299") in loaded
    assert 0 not in loaded and "3055551234" not in repr(loaded)

    header_only = tmp_path / "empty.csv"
    header_only.write_text("email\n")
    assert (len(load_list_file(header_only, "email", b"k").digests), 0) == (0, 0)


def lists_config(tmp_path: Path, lists: list[dict[str, Any]]) -> dict[str, Any]:
    return config_dict([make_buyer("a"), make_buyer("b")], suppression=lists)


def test_a_config_names_each_suppression_error_at_its_path(tmp_path: Path) -> None:
    there = tmp_path / "dnc.csv"
    there.write_text("3055551234\n")
    raw = lists_config(
        tmp_path,
        [
            {"id": "dnc", "file": str(there), "match": "phone", "scope": ["a", "zz"]},
            {"id": "dnc", "file": str(tmp_path / "gone.csv"), "match": "phone"},
            {"id": "ok", "match": "fax"},
            {"id": "none", "match": "email", "scope": []},
        ],
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, env={})
    errors = dict(caught.value.errors)
    assert errors["suppression[0:dnc].scope"] == "unknown buyer 'zz'"
    assert errors["suppression[1:dnc].file"].startswith("no such file")
    assert errors["suppression[2:ok].match"] == "Input should be 'phone' or 'email'"
    assert errors["suppression[3:none].scope"] == "scope must be all or a list of buyer ids"
    good = lists_config(tmp_path, [{"id": "dnc", "file": str(there), "match": "phone"}])
    assert parse_config(good, env={}).suppression[0].scope == "all"


def test_a_repeated_list_id_is_named(tmp_path: Path) -> None:
    raw = lists_config(tmp_path, [{"id": "dnc", "match": "phone"}, {"id": "dnc", "match": "email"}])
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, env={})
    assert dict(caught.value.errors) == {
        "suppression[1:dnc].id": "the same id 'dnc' as another list"
    }


def test_a_list_loaded_once_is_read_again_from_its_digests_while_content_and_key_hold(
    tmp_path: Path,
) -> None:
    path = tmp_path / "dnc.csv"
    path.write_text("phone\n3055551234\nbad\n3055551299\n")
    first = load_list_file(path, "phone", b"s3cret-material")
    kept = tmp_path / "dnc.csv.phone.digests"
    assert not first.from_cache and kept.exists()
    assert b"3055551234" not in kept.read_bytes() and b"s3cret" not in kept.read_bytes()
    again = load_list_file(path, "phone", b"s3cret-material")
    assert again.from_cache
    assert (again.digests, again.lines, again.bad_lines, again.first_bad_lines) == (
        first.digests,
        first.lines,
        first.bad_lines,
        first.first_bad_lines,
    )

    other_key = load_list_file(path, "phone", b"another key")  # a new dedup_secret
    assert not other_key.from_cache and set(other_key.digests).isdisjoint(first.digests)
    path.write_text("phone\n3055551234\n")  # the content changed: read again
    changed = load_list_file(path, "phone", b"s3cret-material")
    assert (changed.from_cache, len(changed.digests), changed.bad_lines) == (False, 1, 0)
    kept.write_bytes(kept.read_bytes()[:-3])  # damaged: read again, and kept anew
    assert not load_list_file(path, "phone", b"s3cret-material").from_cache
    assert load_list_file(path, "phone", b"s3cret-material").from_cache


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_large_file_read_in_parallel_loads_as_it_would_in_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, newline: str
) -> None:
    """The parts' digests, line count and bad lines' numbers are the whole file's, whatever
    part each line fell in (a header, bad lines here and there, a last line without its end)."""
    rng = random.Random(7)
    area_codes = ("305", "212", "415", "617")
    lines = ["phone"] + [
        f"{rng.choice(area_codes)}{rng.randint(200, 999)}{n:04d}" for n in range(3000)
    ]
    for at in (5, 1499, 1500, 1501, 2999):
        lines[at] = "not a number"
    path = tmp_path / "dnc.csv"
    path.write_bytes(newline.join(lines).encode())  # no line end after the last
    monkeypatch.setattr(suppression_file, "PARALLEL_FROM_BYTES", 10**12)
    alone = load_list_file(path, "phone", b"k")
    cache_path(path, "phone").unlink()
    monkeypatch.setattr(suppression_file, "PARALLEL_FROM_BYTES", 1)
    monkeypatch.setattr(suppression_file.os, "cpu_count", lambda: 3)
    assert len(suppression_file._parts(path)) == 3
    together = load_list_file(path, "phone", b"k")
    assert not together.from_cache
    assert (together.digests, together.lines, together.bad_lines, together.first_bad_lines) == (
        alone.digests,
        alone.lines,
        alone.bad_lines,
        alone.first_bad_lines,
    )
    assert alone.lines == 3001 and alone.bad_lines >= 5 and 6 in alone.first_bad_lines


def test_a_file_whose_lines_end_in_a_lone_cr_is_read_in_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "dnc.csv"
    path.write_bytes(b"phone\r3055551234\r3055551299\r")
    monkeypatch.setattr(suppression_file, "PARALLEL_FROM_BYTES", 1)
    assert len(suppression_file._parts(path)) == 1
    assert len(load_list_file(path, "phone", b"k").digests) == 2
