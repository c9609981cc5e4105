"""A suppression list's file, loaded: its values' keyed digests (suppression_values.py) in one
sorted array of unsigned 64-bit integers, looked up by binary search. Nothing of a value in clear
outlives the line it was read from, and no value is ever logged or reported: a bad line is
counted, and named by its number only.

**The file.** One value per line; a line with commas keeps its first field (a CSV export with more
columns); surrounding spaces and double quotes are trimmed; blank lines are skipped. The first line
is a header, skipped, when it is not a value and has no digit (phone lists) or no `@` (email
lists): a first line that looks like a bad value is counted as one.

**Parts.** A file over PARALLEL_FROM_BYTES is cut at line ends into one part a core, each read
and sorted by a process of its own (10 million lines: 40 s in one process, 20 s on two cores).

**Cost.** 8 bytes an entry once loaded (10 million numbers: 80 MB), one `array('Q')`, not millions
of Python objects; while loading, the digests also pass once through a list of ints for the sort
(about 60 bytes an entry more, freed when the load ends). A lookup is ~24 steps of a binary search
in C. docs/benchmarks.md has the measured figures.

**Again.** The digests are kept beside the file once loaded (suppression_cache.py): a restart,
a reload or another router on the host reads them in about a second, while the file's content and
the key are the same.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import time
from array import array
from bisect import bisect_left
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
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
    parts = _parts(path)
    if len(parts) > 1:
        digests, count, bad = _read_in_parallel(path, parts, match, key)
    else:
        digests, bad = array("Q"), []
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


# A file this large is read by a process a core (at most _MOST_PARTS): a first load costs a few
# µs a line in one process, 40 s for 10 million lines on a 2-core VM (docs/benchmarks.md).
PARALLEL_FROM_BYTES = 16 * 1024 * 1024
_MOST_PARTS = 8


@dataclass(frozen=True, slots=True)
class _Part:
    start: int  # byte offsets in the file: a line's first byte, past the part's last byte
    end: int
    first_line: int  # the number (1-based) of its first line in the whole file


def _parts(path: Path) -> list[_Part]:
    """The file cut, at line ends, into one part a core; one part (read in this process) when it
    is small, the machine has one core, or its lines end in a lone CR (that text mode reads as
    a line end: the parts' line numbers would not be the file's)."""
    cores = min(os.cpu_count() or 1, _MOST_PARTS)
    if cores < 2 or path.stat().st_size < PARALLEL_FROM_BYTES:
        return [_Part(0, path.stat().st_size, 1)]
    data = path.read_bytes()
    if data.count(b"\r") != data.count(b"\r\n"):
        return [_Part(0, len(data), 1)]
    parts, start, first_line = [], 0, 1
    for n in range(1, cores + 1):
        if start >= len(data):
            break
        # The part ends after the first line end past its share (the last part: at the end).
        cut = data.find(b"\n", max(start, len(data) * n // cores)) + 1 if n < cores else 0
        end = cut if cut > 0 else len(data)
        parts.append(_Part(start, end, first_line))
        first_line += data.count(b"\n", start, end)
        start = end
    return parts


def _read_in_parallel(
    path: Path, parts: list[_Part], match: Match, key: bytes
) -> tuple[array[int], int, list[int]]:
    """The parts read at once, each in a process of its own (spawned: a fork would copy the
    router's threads' locks); their digests, the lines read, the bad lines' numbers in order."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(parts), mp_context=context) as pool:
        read = list(pool.map(_read_part, [(str(path), part, match, key) for part in parts]))
    digests: array[int] = array("Q")
    bad: list[int] = []
    count = 0
    for raw, last_line, part_bad in read:
        digests.frombytes(raw)
        bad += part_bad
        count = max(count, last_line)
    return digests, count, bad


def _read_part(job: tuple[str, _Part, Match, bytes]) -> tuple[bytes, int, list[int]]:
    """One part of a file (in a process of its own): its digests as bytes, the number of its
    last line, its bad lines' numbers. Decoded and split as the whole file would be: a part
    starts at a line's first byte, so no character or line end is cut."""
    path, part, match, key = job
    with open(path, "rb") as file:
        file.seek(part.start)
        raw = file.read(part.end - part.start)
    lines = io.StringIO(raw.decode("utf-8", errors="replace"), newline=None)
    digests: array[int] = array("Q")
    bad: list[int] = []
    last = _read_lines(lines, match, Digester(key), digests, bad, first_line=part.first_line)
    # Sorted here, at once with the other parts: the whole list's sort is then a merge of sorted
    # runs, which Python's sort finds and merges in linear time.
    return array("Q", sorted(digests)).tobytes(), last, bad


def _read_lines(
    lines: Iterable[str],
    match: Match,
    digester: Digester,
    digests: array[int],
    bad: list[int],
    first_line: int = 1,
) -> int:
    """Digests of the lines' values into `digests`, bad line numbers into `bad`; the number of
    the last line read (`first_line` is the first's: a part of a file starts further on).
    The loop of millions: bare 10-digit numbers, the usual phone list, skip the general path."""
    add, digest, bare_valid = digests.append, digester.digest, bare_nanp_valid()
    number = first_line - 1
    for number, line in enumerate(lines, first_line):
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
