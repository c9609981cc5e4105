"""What a settlement does to a delivery job, pure: both queues (sqlite.py, redis_queue.py) take
their new state from here, so a job changes the same way whichever store holds it.

No I/O and no clock: `now` comes in. Also here: the encodings of a job's and a sale's tuple fields,
which both queues store as the same JSON, and what `erase` leaves of a URL and of a sale's row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pingtree.core import jsonenc
from pingtree.store.queue.base import (
    SALE_PII_COLUMNS,
    DeadLetter,
    Delivered,
    Disabled,
    Job,
    JobState,
    RetryAt,
    Settlement,
    Target,
)

FINISHED: frozenset[JobState] = frozenset({"delivered", "dead", "disabled"})
REPLAYABLE: frozenset[JobState] = frozenset({"dead", "disabled"})


@dataclass(frozen=True, slots=True)
class Change:
    """A job's fields after one attempt's settlement."""

    state: JobState
    attempt: int
    due_at: float
    target: Target
    last_error: str | None
    line: str  # appended to the history
    finished_at: float | None  # when a delivered, dead or disabled job starts its `keep_s`


def settled(job: Job, result: Settlement, now: float) -> Change:
    """The leased `job` after `result`. A RetryAt names its own attempt count (0 when it
    switches to the failover); any other result counts the attempt just made."""
    match result:
        case Delivered(note=note):
            return _finished(job, "delivered", None, history_line(now, job.target, note), now)
        case RetryAt(due_at=due_at, target=target, attempt=attempt, note=note):
            line = history_line(now, job.target, note)
            return Change("waiting", attempt, due_at, target, one_line(note), line, None)
        case DeadLetter(reason=reason):
            return _finished(job, "dead", reason, history_line(now, job.target, reason), now)
        case Disabled(reason=reason):
            return _finished(job, "disabled", reason, history_line(now, job.target, reason), now)
    raise AssertionError(f"not a settlement: {result!r}")


def _finished(job: Job, state: JobState, error: str | None, line: str, now: float) -> Change:
    last_error = None if error is None else one_line(error)
    return Change(state, job.attempt + 1, job.due_at, job.target, last_error, line, now)


def history_line(now: float, target: Target, note: str) -> str:
    """`2026-01-01T00:00:05.000Z primary HTTP 503 in 12 ms`: when, to which URL, what came back."""
    at = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")
    return f"{at.replace('+00:00', 'Z')} {target} {one_line(note)}"


def one_line(text: str) -> str:
    # History lines are stored joined by newlines, and a buyer's error text may hold any.
    return " ".join(text.split())


def encode_pairs(pairs: tuple[tuple[str, str], ...]) -> bytes:
    """Headers and sale fields: a JSON list of [name, value], in order."""
    return jsonenc.dumps([list(pair) for pair in pairs])


def decode_pairs(data: bytes | str) -> tuple[tuple[str, str], ...]:
    return tuple((str(name), str(value)) for name, value in jsonenc.loads(data))


def without_query(url: str) -> str:
    """The URL up to its query or fragment: what an erased job keeps of it (a GET destination's
    query holds the lead's fields). The Redis queue's ERASE script cuts it the same way."""
    return url.split("?", 1)[0].split("#", 1)[0]


def erased_sale(fields: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """A sale row's fields with its PII columns empty, its facts as they were."""
    return tuple((name, "" if name in SALE_PII_COLUMNS else value) for name, value in fields)
