"""policy.py: what each attempt's result means, as tables of stories an operator would tell."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from pingtree.config.models import Destination
from pingtree.deliveries.policy import (
    RETRY_AFTER_CAP_S,
    Answered,
    AttemptResult,
    Failed,
    jittered,
    retry_after_s,
    settle,
)
from pingtree.store.queue.base import DeadLetter, Delivered, Disabled, RetryAt
from tests.deliveries.test_deliveries_fake_queue import make_job

NOW = 1_700_000_000.0
HTTP_DATE_IN_10_MIN = "Tue, 14 Nov 2023 22:23:20 GMT"  # NOW + 600
assert datetime(2023, 11, 14, 22, 23, 20, tzinfo=UTC).timestamp() == NOW + 600

FAILOVER = "http://127.0.0.1:9/backup"


def dest(**fields: Any) -> Destination:
    return Destination(**{"id": "crm", "url": "http://127.0.0.1:9/crm", "jitter": 0, **fields})


def answered(status: int, retry_after: str | None = None, body: bytes = b"") -> Answered:
    return Answered(status, 41.0, retry_after, body)


# (story, result, attempt made so far, target, failover?, expected)
# expected: ("delivered", note) | ("retry", delay, target, attempt) | ("dead", reason) |
#           ("disabled", reason)
CASES: list[tuple[str, AttemptResult, int, str, bool, tuple[Any, ...]]] = [
    ("CRM says 200 at once", answered(200), 0, "primary", False,
     ("delivered", "HTTP 200 in 41 ms")),
    ("CRM says 204 No Content", answered(204), 0, "primary", False,
     ("delivered", "HTTP 204 in 41 ms")),
    ("the failover takes it", answered(201), 2, "failover", True,
     ("delivered", "HTTP 201 in 41 ms via failover")),
    ("webhook gone for good: 410", answered(410), 0, "primary", False,
     ("disabled", "HTTP 410 Gone")),
    ("the failover is gone too", answered(410), 0, "failover", True,
     ("disabled", "HTTP 410 Gone via failover")),
    ("bad request: dead at once, no retry", answered(400), 0, "primary", True,
     ("dead", "HTTP 400: refused, not retried")),
    ("wrong credentials", answered(401), 3, "primary", True,
     ("dead", "HTTP 401: refused, not retried")),
    ("forbidden", answered(403), 0, "primary", False, ("dead", "HTTP 403: refused, not retried")),
    ("no such endpoint", answered(404), 0, "primary", False,
     ("dead", "HTTP 404: refused, not retried")),
    ("validation failed at the CRM", answered(422), 0, "primary", False,
     ("dead", "HTTP 422: refused, not retried")),
    ("the endpoint moved: redirects are not followed", answered(301), 0, "primary", True,
     ("dead", "HTTP 301: redirect not followed, not retried")),
    ("the server gave up waiting: 408 is retried", answered(408), 0, "primary", False,
     ("retry", 30, "primary", 1)),
    ("CRM down: 500 → the schedule's second delay", answered(500), 0, "primary", False,
     ("retry", 30, "primary", 1)),
    ("bad gateway at the third attempt", answered(502), 2, "primary", False,
     ("retry", 600, "primary", 3)),
    ("gateway timeout at the fourth", answered(504), 3, "primary", False,
     ("retry", 3600, "primary", 4)),
    ("no answer in time", Failed("timeout", 5000), 0, "primary", False,
     ("retry", 30, "primary", 1)),
    ("connection refused", Failed("connection", 1), 1, "primary", False,
     ("retry", 120, "primary", 2)),
    ("garbage instead of HTTP", Failed("bad_answer", 3), 0, "primary", False,
     ("retry", 30, "primary", 1)),
    ("a request that could not be made", Failed("error", 0), 2, "primary", False,
     ("retry", 600, "primary", 3)),
    ("a 200 head then a broken body: taken", Failed("bad_answer", 3, 200), 0, "primary", False,
     ("delivered", "HTTP 200 in 3 ms (answer unreadable)")),
    ("a 404 head then a broken body: refused", Failed("bad_answer", 3, 404), 0, "primary", False,
     ("dead", "HTTP 404: refused, not retried")),
    ("rate limited, asked to wait 2 min: longer than the schedule", answered(429, "120"), 0,
     "primary", False, ("retry", 120, "primary", 1)),
    ("rate limited, asked 5 s: never faster than the schedule", answered(429, "5"), 0,
     "primary", False, ("retry", 30, "primary", 1)),
    ("503 with an HTTP-date 10 minutes ahead", answered(503, HTTP_DATE_IN_10_MIN), 0, "primary",
     False, ("retry", 600, "primary", 1)),
    ("503 with a date in the past: the schedule", answered(503, "Mon, 01 Jan 2001 00:00:00 GMT"),
     0, "primary", False, ("retry", 30, "primary", 1)),
    ("429 asking for a day: capped at an hour", answered(429, "86400"), 0, "primary", False,
     ("retry", RETRY_AFTER_CAP_S, "primary", 1)),
    ("429 with an unreadable Retry-After: the schedule", answered(429, "soon"), 0, "primary",
     False, ("retry", 30, "primary", 1)),
    ("429 without Retry-After: the schedule", answered(429), 1, "primary", False,
     ("retry", 120, "primary", 2)),
    ("429 on the last attempt, no failover: dead", answered(429, "60"), 4, "primary", False,
     ("dead", "HTTP 429 in 41 ms; Retry-After 60 s; 5 attempts failed (no failover)")),
    ("fifth 500, no failover: dead", answered(500), 4, "primary", False,
     ("dead", "HTTP 500 in 41 ms; 5 attempts failed (no failover)")),
    ("fifth timeout with a failover: off to it at once", Failed("timeout", 5000), 4, "primary",
     True, ("retry", 0, "failover", 0)),
    ("the failover fails once: its own schedule", answered(500), 0, "failover", True,
     ("retry", 30, "failover", 1)),
    ("the failover's last attempt fails: dead", answered(503), 4, "failover", True,
     ("dead", "HTTP 503 in 41 ms; 5 attempts failed (on the failover)")),
    ("Retry-After still honoured when switching to the failover", answered(503, "90"), 4,
     "primary", True, ("retry", 90, "failover", 0)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("story", "result", "attempt", "target", "has_failover", "expected"),
    CASES,
    ids=[case[0] for case in CASES],
)
def test_settlement(
    story: str,
    result: AttemptResult,
    attempt: int,
    target: str,
    has_failover: bool,
    expected: tuple[Any, ...],
) -> None:
    failover = FAILOVER if has_failover else None
    job = make_job(attempt=attempt, target=target, failover_url=failover)
    settled = settle(job, dest(failover_url=failover), result, now=NOW, draw=0.0)
    kind = expected[0]
    if kind == "delivered":
        assert settled == Delivered(expected[1])
    elif kind == "disabled":
        assert settled == Disabled(expected[1])
    elif kind == "dead":
        assert settled == DeadLetter(expected[1])
    else:
        assert isinstance(settled, RetryAt), settled
        assert (settled.due_at - NOW, settled.target, settled.attempt) == expected[1:]


def test_retry_notes_say_what_happened_and_what_comes_next() -> None:
    settled = settle(make_job(), dest(), answered(503, "120"), now=NOW, draw=0.0)
    assert isinstance(settled, RetryAt)
    assert settled.note == "HTTP 503 in 41 ms; Retry-After 120 s; attempt 2/5 in 120 s"
    switch = settle(
        make_job(attempt=4, failover_url=FAILOVER),
        dest(failover_url=FAILOVER),
        Failed("connection", 2),
        now=NOW,
        draw=0.0,
    )
    assert isinstance(switch, RetryAt)
    assert switch.note == "connection failed after 2 ms; 5 attempts failed: failover in 0 s"


@pytest.mark.parametrize(
    ("retry_s", "attempt", "expected"),
    [
        ((0,), 0, "dead"),  # one attempt only
        ((0, 1), 0, 1.0),
        ((5, 10, 20), 1, 20.0),
        ((5, 10, 20), 2, "dead"),
    ],
)
def test_custom_schedules(retry_s: tuple[float, ...], attempt: int, expected: Any) -> None:
    settled = settle(
        make_job(attempt=attempt), dest(retry_s=retry_s), answered(500), now=NOW, draw=0.0
    )
    if expected == "dead":
        assert isinstance(settled, DeadLetter)
    else:
        assert isinstance(settled, RetryAt) and settled.due_at == NOW + expected


@pytest.mark.parametrize("draw", [-1.0, -0.5, 0.0, 0.3, 1.0])
@pytest.mark.parametrize("jitter", [0.0, 0.1, 0.5, 1.0])
def test_jitter_stays_within_its_bounds(draw: float, jitter: float) -> None:
    settled = settle(make_job(), dest(jitter=jitter), Failed("timeout", 1), now=NOW, draw=draw)
    assert isinstance(settled, RetryAt)
    delay = settled.due_at - NOW
    assert 30 * (1 - jitter) - 1e-9 <= delay <= 30 * (1 + jitter) + 1e-9
    assert delay == pytest.approx(30 * (1 + jitter * draw))


@pytest.mark.parametrize(
    ("delay", "jitter", "draw", "expected"),
    [
        (30, 0.1, -1, 27.0),
        (30, 0.1, 1, 33.0),
        (30, 0.1, 7, 33.0),  # a draw outside [-1, 1] is clamped
        (30, 1.0, -1, 0.0),  # never negative
        (0, 0.5, 1, 0.0),
    ],
)
def test_jittered(delay: float, jitter: float, draw: float, expected: float) -> None:
    assert jittered(delay, jitter, draw) == pytest.approx(expected)


def test_retry_after_never_shortened_by_jitter() -> None:
    settled = settle(make_job(), dest(jitter=0.5), answered(429, "40"), now=NOW, draw=-1.0)
    assert isinstance(settled, RetryAt) and settled.due_at == NOW + 40


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("120", 120.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("-1", None),
        ("1.5", None),
        ("soon", None),
        ("", None),
        ("99999999999", RETRY_AFTER_CAP_S),
        (HTTP_DATE_IN_10_MIN, 600.0),  # IMF-fixdate
        ("Tuesday, 14-Nov-23 22:23:20 GMT", 600.0),  # RFC 850
        ("Tue Nov 14 22:23:20 2023", 600.0),  # asctime: UTC
        ("Mon, 01 Jan 2001 00:00:00 GMT", 0.0),  # in the past
    ],
)
def test_retry_after_forms(header: str | None, expected: float | None) -> None:
    assert retry_after_s(header, NOW) == expected


RESPONSE_MAP = {"format": "json", "accepted": {"path": "status", "values": ["ok"]}}


@pytest.mark.parametrize(
    ("body", "flagged"),
    [
        (b'{"status": "ok"}', False),
        (b'{"status": "duplicate maria@example.com"}', True),
        (b"<html>whatever</html>", False),  # unreadable: a 2xx is still a 2xx
    ],
)
def test_a_2xx_is_delivered_even_when_its_body_reads_as_a_rejection(
    body: bytes, flagged: bool
) -> None:
    settled = settle(make_job(), dest(response=RESPONSE_MAP), answered(200, body=body), now=NOW,
                     draw=0.0)  # fmt: skip
    assert isinstance(settled, Delivered)
    assert ("reads as a rejection" in settled.note) is flagged
    assert "maria" not in settled.note  # a body never reaches a note


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_notes_carry_no_body(case: tuple[Any, ...]) -> None:
    _, result, attempt, target, has_failover, _ = case
    if isinstance(result, Answered):
        result = Answered(result.status, result.duration_ms, result.retry_after, b"maria@x.com")
    failover = FAILOVER if has_failover else None
    job = make_job(attempt=attempt, target=target, failover_url=failover)
    settled = settle(job, dest(failover_url=failover), result, now=NOW, draw=0.0)
    text = getattr(settled, "note", None) or getattr(settled, "reason", "")
    assert "maria" not in text and "127.0.0.1" not in text
