"""A suppression list's file, loaded: its values' keyed digests (suppression_values.py) in one
sorted array of unsigned 64-bit integers, looked up by binary search. Nothing of a value in clear
outlives the line it was read from, and no value is ever logged or reported: a bad line is
counted, and named by its number only.

**The file.** One value per line; a line with commas keeps its first field (a CSV export with more
columns); surrounding spaces and double quotes are trimmed; blank lines are skipped. The first line
is a header, skipped, when it is not a value and has no digit (phone lists) or no `@` (email
lists): a first line that looks like a bad value is counted as one.

**Cost.** 8 bytes an entry once loaded (10 million numbers: 80 MB), one `array('Q')`, not millions
of Python objects; while loading, the digests also pass once through a list of ints for the sort
(about 60 bytes an entry more, freed when the load ends). A lookup is ~24 steps of a binary search
in C. docs/benchmarks.md has the measured figures.

**Again.** The digests are kept beside the file once loaded (suppression_cache.py): a restart,
a reload or another router on the host reads them in about a second, while the file's content and
the key are the same.
"""

from __future__ import annotations

import time
from array import array
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pingtree.gates.suppression_cache import (
    cache_path,
    content_digest,
    describe,
    read_cache,
    write_cache,
)
from pingtree.gates.suppression_values import Digester, Match, bare_nanp_valid, normalized

# Bad lines named in the report (by number): enough to find the pattern, not a second copy.
_BAD_LINES_NAMED = 10


@dataclass(frozen=True, slots=True)
class LoadedFile:
    digests: array[int]  # sorted, 'Q'
    lines: int  # lines read, the header and blank lines included
    bad_lines: int
    first_bad_lines: tuple[int, ...]  # their numbers (1-based), never their text
    seconds: float
    from_cache: bool = False  # read from the digests kept beside the file (suppression_cache.py)

    def __contains__(self, value: int) -> bool:
        return sorted_contains(self.digests, value)


def sorted_contains(digests: array[int], value: int) -> bool:
    at = bisect_left(digests, value)
    return at < len(digests) and digests[at] == value


def load_list_file(path: str | Path, match: Match, key: bytes) -> LoadedFile:
    """Read a list's file, or the digests kept beside it from an earlier load of the same content
    with the same key (suppression_cache.py). OSError when the file cannot be read; a bad line
    is counted, never fatal."""
    started = time.perf_counter()
    path = Path(path)
    before = path.stat()
    made_from = describe(content_digest(path), match, key)
    kept = cache_path(path, match)
    cached = read_cache(kept, made_from)
    if cached is not None:
        counts, digests = cached
        return LoadedFile(
            digests=digests,
            lines=int(counts["lines"]),
            bad_lines=int(counts["bad_lines"]),
            first_bad_lines=tuple(int(n) for n in counts["first_bad_lines"]),
            seconds=time.perf_counter() - started,
            from_cache=True,
        )
    loaded = _read_file(path, match, key, started)
    after = path.stat()
    if (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns):
        counts = {
            "lines": loaded.lines,
            "bad_lines": loaded.bad_lines,
            "first_bad_lines": list(loaded.first_bad_lines),
        }
        write_cache(kept, made_from, counts, loaded.digests)
    return loaded


def _read_file(path: Path, match: Match, key: bytes, started: float) -> LoadedFile:
    digests: array[int] = array("Q")
    bad: list[int] = []
    with path.open(encoding="utf-8", errors="replace", newline=None) as lines:
        count = _read_lines(lines, match, Digester(key), digests, bad)
    ordered = array("Q", sorted(digests))
    del digests
    return LoadedFile(
        digests=ordered,
        lines=count,
        bad_lines=len(bad),
        first_bad_lines=tuple(bad[:_BAD_LINES_NAMED]),
        seconds=time.perf_counter() - started,
    )


def _read_lines(
    lines: Iterable[str], match: Match, digester: Digester, digests: array[int], bad: list[int]
) -> int:
    """Digests of the lines' values into `digests`, bad line numbers into `bad`; the lines read.
    The loop of millions: bare 10-digit numbers, the usual phone list, skip the general path."""
    add, digest, bare_valid = digests.append, digester.digest, bare_nanp_valid()
    number = 0
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if (
            match == "phone"
            and len(text) == 10
            and text.isdigit()
            and text.isascii()
            and text[0] > "1"
            and text[3] > "1"
        ):
            if bare_valid(text):
                add(digest("phone", "+1" + text))
            else:
                bad.append(number)
            continue
        text = line_value(text)
        if not text:
            continue
        value = normalized(match, text)
        if value is not None:
            add(digest(match, value))
        elif number > 1 or not _is_header(match, text):
            bad.append(number)
    return number


def line_value(line: str) -> str:
    """A line's value as given: its first field, spaces and double quotes trimmed."""
    comma = line.find(",")
    field = line if comma < 0 else line[:comma]
    return field.strip().strip('"').strip()


def _is_header(match: Match, text: str) -> bool:
    if match == "email":
        return "@" not in text
    return not any(char.isdigit() for char in text)
