"""What one delivery attempt's result means for its job. PURE: `now` and the jitter draw are
arguments; no clock, no randomness, no I/O. Every rule of a destination's answer lives here:

    2xx                      Delivered. A `response` map that reads the body as a rejection does
                             not change that (the sale stands and a retry would get the same
                             answer): the note says so, for the operator.
    410                      Disabled: the destination is gone (the worker sets it aside).
    429, 503                 retried like a 5xx, but never before their Retry-After (seconds or
                             an HTTP-date, capped at RETRY_AFTER_CAP_S): the wait is the larger
                             of Retry-After and the schedule's next delay, and the attempt counts
                             against the schedule, so a destination that keeps saying "later"
                             ends like one that keeps failing, and a short Retry-After cannot burn
                             through the schedule faster than `retry_s` would.
    408                      retried like a 5xx (the server gave up waiting: nothing was refused).
    other 4xx, 3xx           DeadLetter with the status, not retried (the request itself is
                             refused; redirects are not followed: fix the URL, then replay).
    5xx, timeout,            RetryAt the schedule's next delay ± jitter; once `retry_s` is used
    connection failure,      up, the failover URL from attempt 0 on the same schedule (if any),
    unreadable answer,       then DeadLetter.
    request not sent

An unreadable answer whose head had arrived is judged by its status: a 2xx head means the
destination took the lead, whatever followed.

`retry_s[n]` is the delay before attempt n+1: the default (0, 30, 120, 600, 3600) is five
attempts, at once, then after 30 s, 2 min, 10 min and 1 h. Notes and reasons carry statuses,
error kinds and durations only: never a body (it may echo PII) or a header.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from datetime import UTC
from typing import Literal

from pingtree.config.models import Destination
from pingtree.core.codec.response import reads_as_refusal
from pingtree.store.queue.base import DeadLetter, Delivered, Disabled, Job, RetryAt, Settlement

RETRY_AFTER_CAP_S = 3600.0  # a Retry-After of days would hold the lead (and those behind it)

FailureKind = Literal["timeout", "connection", "bad_answer", "error"]


@dataclass(frozen=True, slots=True)
class Answered:
    """The destination answered with a status (and, for 429/503, maybe a Retry-After)."""

    status: int
    duration_ms: float
    retry_after: str | None = None
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Failed:
    """No usable answer: a timeout, a connection that failed, an answer that broke HTTP or the
    size limit (`status` when its head had arrived), or a request that could not be made."""

    kind: FailureKind
    duration_ms: float
    status: int | None = None


AttemptResult = Answered | Failed

_FAILURE_WORDS: dict[FailureKind, str] = {
    "timeout": "timeout",
    "connection": "connection failed",
    "bad_answer": "unreadable answer",
    "error": "request not sent",
}


def settle(
    job: Job, destination: Destination, result: AttemptResult, *, now: float, draw: float
) -> Settlement:
    """The settlement of `job`'s attempt that ended in `result` at `now`; `draw` is a uniform
    random number in [-1, 1] that spreads retries by ± `destination.jitter`."""
    if isinstance(result, Failed) and result.status is not None:
        answered = Answered(result.status, result.duration_ms)
        return _answered(job, destination, answered, now, draw, " (answer unreadable)")
    if isinstance(result, Failed):
        what = f"{_FAILURE_WORDS[result.kind]} after {result.duration_ms:.0f} ms"
        return _retry(job, destination, what, now, draw, floor_s=0.0)
    return _answered(job, destination, result, now, draw, "")


def _answered(
    job: Job, destination: Destination, result: Answered, now: float, draw: float, suffix: str
) -> Settlement:
    status = result.status
    what = f"HTTP {status} in {result.duration_ms:.0f} ms{suffix}"
    via = " via failover" if job.target == "failover" else ""
    if 200 <= status < 300:
        if _reads_as_rejection(destination, status, result.body):
            return Delivered(f"{what}{via}; its body reads as a rejection (not retried)")
        return Delivered(what + via)
    if status == 410:
        return Disabled(f"HTTP 410 Gone{via}")
    if status in (429, 503):
        wait = retry_after_s(result.retry_after, now)
        if wait is not None:
            what += f"; Retry-After {wait:.0f} s"
        return _retry(job, destination, what, now, draw, floor_s=wait or 0.0)
    if status >= 500 or status == 408:
        return _retry(job, destination, what, now, draw, floor_s=0.0)
    refused = "redirect not followed" if 300 <= status < 400 else "refused"
    return DeadLetter(f"HTTP {status}{via}: {refused}, not retried")


def _reads_as_rejection(destination: Destination, status: int, body: bytes) -> bool:
    if destination.response is None:
        return False
    return reads_as_refusal(destination.response, status, body)


def _retry(
    job: Job, destination: Destination, what: str, now: float, draw: float, *, floor_s: float
) -> Settlement:
    """The next attempt on this target, else the failover from its first attempt, else the end."""
    schedule = destination.retry_s
    made = job.attempt + 1  # counting the one that just ended
    if made < len(schedule):
        delay = max(floor_s, jittered(schedule[made], destination.jitter, draw))
        note = f"{what}; attempt {made + 1}/{len(schedule)} in {delay:.0f} s"
        return RetryAt(now + delay, job.target, made, note)
    if job.target == "primary" and job.failover_url is not None:
        delay = max(floor_s, jittered(schedule[0], destination.jitter, draw))
        note = f"{what}; {made} attempts failed: failover in {delay:.0f} s"
        return RetryAt(now + delay, "failover", 0, note)
    where = "on the failover" if job.target == "failover" else "no failover"
    return DeadLetter(f"{what}; {made} attempts failed ({where})")


def jittered(delay_s: float, jitter: float, draw: float) -> float:
    """`delay_s` ± `jitter` (a fraction) by `draw` in [-1, 1]; never negative."""
    draw = min(1.0, max(-1.0, draw))
    return max(0.0, delay_s * (1.0 + jitter * draw))


def retry_after_s(value: str | None, now: float) -> float | None:
    """A Retry-After header as seconds from `now`: delay-seconds or an HTTP-date (a date in the
    past is 0), capped at RETRY_AFTER_CAP_S; None when absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return min(float(text), RETRY_AFTER_CAP_S)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, when.timestamp() - now), RETRY_AFTER_CAP_S)


__all__ = [
    "RETRY_AFTER_CAP_S",
    "Answered",
    "AttemptResult",
    "Failed",
    "FailureKind",
    "jittered",
    "retry_after_s",
    "settle",
]
