"""The circuit breaker (pingtree/core/breaker.py), DESIGN §3: a buyer whose recent calls mostly
fail is rested for a cool-down, then probed by one call. Time is the store's clock, passed in
seconds."""

from __future__ import annotations

from typing import Any

import pytest

from pingtree.config import BreakerPolicy
from pingtree.core.breaker import CLOSED, BreakerState, admits, after_call, call_evidence, phase


def make_policy(**overrides: Any) -> BreakerPolicy:
    """Small numbers so a row stays readable: last 10 calls, judged from 5, half failing trips."""
    return BreakerPolicy.model_validate(
        {"window": 10, "min_calls": 5, "failure_ratio": 0.5, "cooldown_s": 30, **overrides}
    )


def first_trip(calls: str, policy: BreakerPolicy) -> int | None:
    """Answers one per second ("x" failed, "." succeeded); the 1-based call that opened the
    breaker, or None if it stayed closed."""
    state = CLOSED
    for number, mark in enumerate(calls, start=1):
        state = after_call(state, mark == ".", float(number), policy)
        if state.open_until is not None:
            return number
    return None


def trips(story: str, calls: str, expected: int | None, **policy: Any) -> Any:
    return pytest.param(calls, policy, expected, id=story)


TRIP_CASES = [
    trips("4 failures, below min_calls 5 -> stays closed", "xxxx", None),
    trips("5 failures out of 5 -> opens on the 5th", "xxxxx", 5),
    trips("5 successes -> closed", ".....", None),
    trips("3 of 5 failed (60%) -> opens on the 5th", "..xxx", 5),
    trips("2 of 5 failed (40%) -> closed", "...xx", None),
    trips("alternating from a failure: 3 of 5 -> opens on the 5th", "x.x.x.", 5),
    trips("alternating from a success: 3 of 6 is exactly 50% -> opens on the 6th", ".x.x.x", 6),
    trips("one failure in five, over 15 calls -> never opens", "....x....x....x", None),
    trips(
        "9 failures with min_calls 10 -> still closed",
        "xxxxxxxxx",
        None,
        min_calls=10,
        window=20,
    ),
    trips(
        "10th failure with min_calls 10 -> opens",
        "xxxxxxxxxx",
        10,
        min_calls=10,
        window=20,
    ),
    trips(
        "failure_ratio 0.8: 4 of 5 failed -> opens",
        ".xxxx",
        5,
        failure_ratio=0.8,
    ),
    trips(
        "failure_ratio 0.8: 3 of 5 failed -> closed",
        "..xxx",
        None,
        failure_ratio=0.8,
    ),
    trips(
        "window 4: old successes slide out, 3 fresh failures of the last 4 -> opens",
        "......xxx",
        9,
        window=4,
        min_calls=4,
        failure_ratio=0.75,
    ),
    trips(
        "window 4: failures spread thin never fill the window -> closed",
        "xx..xx..xx..",
        None,
        window=4,
        min_calls=4,
        failure_ratio=0.75,
    ),
]


@pytest.mark.parametrize(("calls", "policy", "expected"), TRIP_CASES)
def test_breaker_opens_at_the_failure_ratio(
    calls: str, policy: dict[str, Any], expected: int | None
) -> None:
    assert first_trip(calls, make_policy(**policy)) == expected


# cool-down and probes -----------------------------------------------------------------------------

# Steps: ("admit", at_s, expected_answer) asks whether a call may go out; ("ok", at_s) and
# ("fail", at_s) are the answers of calls. TRIP opens the breaker at t=0 until t=30.
TRIP = [("fail", 0.0)] * 5


def story(name: str, *steps: tuple[Any, ...], closed_at_end: bool | None = None) -> Any:
    return pytest.param([*TRIP, *steps], closed_at_end, id=name)


PROBE_CASES = [
    story(
        "tripped buyer is skipped during the cool-down",
        ("admit", 0.0, False),
        ("admit", 10.0, False),
        ("admit", 29.9, False),
        closed_at_end=False,
    ),
    story(
        "cool-down passed -> one probe goes out, a second call at the same moment does not",
        ("admit", 30.0, True),
        ("admit", 30.0, False),
        ("admit", 45.0, False),
    ),
    story(
        "probe succeeds -> closed, every call goes out again",
        ("admit", 30.0, True),
        ("ok", 30.4),
        ("admit", 31.0, True),
        ("admit", 31.0, True),
        ("admit", 31.0, True),
        closed_at_end=True,
    ),
    story(
        "probe answers after its own cool-down but succeeds -> closed",
        ("admit", 30.0, True),
        ("ok", 75.0),
        ("admit", 75.0, True),
        closed_at_end=True,
    ),
    story(
        "probe fails -> open for another cool-down counted from the failure",
        ("admit", 30.0, True),
        ("fail", 32.0),
        ("admit", 50.0, False),
        ("admit", 61.9, False),
        ("admit", 62.0, True),
    ),
    story(
        "probe fails twice in a row -> still rested, probed once per cool-down",
        ("admit", 30.0, True),
        ("fail", 31.0),
        ("admit", 61.0, True),
        ("admit", 61.0, False),
        ("fail", 62.0),
        ("admit", 91.0, False),
        ("admit", 92.0, True),
        closed_at_end=False,
    ),
    story(
        "probe never answers -> no second probe within the cool-down",
        ("admit", 30.0, True),
        ("admit", 59.9, False),
    ),
    story(
        "probe never answers -> after another cool-down a new probe goes out",
        ("admit", 30.0, True),
        ("admit", 60.0, True),
        ("admit", 60.0, False),
        ("ok", 60.5),
        ("admit", 61.0, True),
        closed_at_end=True,
    ),
    story(
        "a late success from a call made before the trip changes nothing",
        ("ok", 5.0),
        ("admit", 10.0, False),
        ("admit", 30.0, True),
    ),
    story(
        "a late failure from a call made before the trip does not extend the cool-down",
        ("fail", 20.0),
        ("admit", 30.0, True),
    ),
    story(
        "after a probe closes it, the window starts clean: 4 new failures stay under min_calls",
        ("admit", 30.0, True),
        ("ok", 31.0),
        ("fail", 32.0),
        ("fail", 33.0),
        ("fail", 34.0),
        ("fail", 35.0),
        ("admit", 36.0, True),
        ("fail", 37.0),
        ("admit", 38.0, False),
        closed_at_end=False,
    ),
]


@pytest.mark.parametrize(("steps", "closed_at_end"), PROBE_CASES)
def test_breaker_cooldown_and_probe(
    steps: list[tuple[Any, ...]], closed_at_end: bool | None
) -> None:
    policy = make_policy()
    state = CLOSED
    for number, step in enumerate(steps, start=1):
        if step[0] == "admit":
            _, now, expected = step
            admitted, state = admits(state, now, policy)
            assert admitted is expected, f"step {number} {step}: {state}"
        else:
            kind, now = step
            state = after_call(state, kind == "ok", now, policy)
    if closed_at_end is not None:
        assert (state == CLOSED) is closed_at_end, state


@pytest.mark.parametrize(
    ("state", "now", "expected"),
    [
        pytest.param(CLOSED, 0.0, True, id="a closed breaker lets calls through"),
        pytest.param(
            BreakerState(recent=(False,) * 4), 0.0, True, id="failing but not tripped -> through"
        ),
        pytest.param(BreakerState(open_until=100.0), 99.0, False, id="open -> skipped"),
        pytest.param(BreakerState(open_until=100.0), 100.0, True, id="cool-down over -> probe"),
        pytest.param(
            BreakerState(open_until=100.0, probing=True),
            50.0,
            False,
            id="probe in flight -> skipped",
        ),
    ],
)
def test_admits(state: BreakerState, now: float, expected: bool) -> None:
    admitted, _ = admits(state, now, make_policy())
    assert admitted is expected


def test_a_closed_breaker_is_not_changed_by_asking() -> None:
    state = BreakerState(recent=(True, False, True))
    assert admits(state, 12.0, make_policy()) == (True, state)


def test_window_keeps_only_the_last_calls() -> None:
    policy = make_policy(window=3, min_calls=3, failure_ratio=1.0)
    state = CLOSED
    for ok in (False, False, True, True, True):
        state = after_call(state, ok, 0.0, policy)
    assert state.recent == (True, True, True)


def evidence(story: str, ok: bool, timed_out: bool, lag_ms: float, expected: bool | None) -> Any:
    return pytest.param(ok, timed_out, lag_ms, expected, id=story)


@pytest.mark.parametrize(
    ("ok", "timed_out", "lag_ms", "expected"),
    [
        evidence("the buyer answered -> a success", True, False, 0, True),
        evidence("answered while the loop lagged -> still a success", True, False, 900, True),
        evidence("5xx or garbage -> a failure", False, False, 0, False),
        evidence(
            "5xx while the loop lagged -> still the buyer's failure", False, False, 900, False
        ),
        evidence("timeout, the loop on time -> the buyer's failure", False, True, 0, False),
        evidence("timeout, the loop 40 ms late -> still the buyer's", False, True, 40, False),
        evidence(
            "timeout, the loop exactly 100 ms late -> still the buyer's", False, True, 100, False
        ),
        evidence(
            "timeout, the loop 101 ms late -> says nothing of the buyer", False, True, 101, None
        ),
        evidence("timeout under overload, 2 s late -> says nothing", False, True, 2000, None),
    ],
)
def test_a_timeout_while_the_routers_loop_lags_is_no_evidence_against_the_buyer(
    ok: bool, timed_out: bool, lag_ms: float, expected: bool | None
) -> None:
    policy = make_policy(max_loop_lag_ms=100)
    assert call_evidence(ok, timed_out, lag_ms / 1000, policy) is expected


PHASE_CASES = [
    pytest.param(CLOSED, 100.0, "closed", id="never tripped -> closed"),
    pytest.param(BreakerState(recent=(False, True)), 100.0, "closed", id="calls kept -> closed"),
    pytest.param(BreakerState(open_until=130.0), 100.0, "open", id="resting -> open"),
    pytest.param(
        BreakerState(open_until=130.0), 130.0, "half_open", id="cooldown over -> next is a probe"
    ),
    pytest.param(
        BreakerState(open_until=160.0, probing=True), 140.0, "half_open", id="a probe is out"
    ),
]


@pytest.mark.parametrize(("state", "now", "expected"), PHASE_CASES)
def test_the_phase_an_operator_is_shown(state: BreakerState, now: float, expected: str) -> None:
    assert phase(state, now) == expected


def test_the_phases_follow_the_state_machine() -> None:
    """Tripped, rested, probed, closed: each step as GET /admin/buyers shows it."""
    policy = make_policy(window=2, min_calls=2, cooldown_s=30)
    state = after_call(after_call(CLOSED, False, 1.0, policy), False, 2.0, policy)
    assert phase(state, 3.0) == "open"
    admitted, state = admits(state, 40.0, policy)
    assert admitted and phase(state, 41.0) == "half_open"
    assert phase(after_call(state, True, 42.0, policy), 42.0) == "closed"
