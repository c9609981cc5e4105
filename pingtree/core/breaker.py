"""The circuit breaker as a pure state machine; the store keeps one state per buyer.

closed ──(≥ min_calls in window, failure ratio ≥ threshold)──▶ open
open ──(cooldown passed)──▶ one probe admitted (half-open)
probe ok ──▶ closed with a clean window · probe failed ──▶ open for another cooldown

A call is evidence about the buyer only when it measured the buyer: a timeout while this
router's own event loop ran late (more than `max_loop_lag_ms`) may be an answer that came in time
and was read late, so it is not counted (`call_evidence`; loop_lag.py measures the lag).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from pingtree.config import BreakerPolicy

Phase = Literal["closed", "open", "half_open"]


@dataclass(frozen=True, slots=True)
class BreakerState:
    recent: tuple[bool, ...] = ()  # newest last; True = the call succeeded
    open_until: float | None = None  # seconds, the store's clock
    probing: bool = False


CLOSED = BreakerState()


def admits(state: BreakerState, now: float, policy: BreakerPolicy) -> tuple[bool, BreakerState]:
    """Whether a call may go out now, and the state after saying so. One probe per cooldown: a
    probe whose answer never comes back does not keep the buyer out for good."""
    if state.open_until is None:
        return True, state
    if now < state.open_until:
        return False, state
    return True, replace(state, probing=True, open_until=now + policy.cooldown_s)


def phase(state: BreakerState, now: float) -> Phase:
    """What an operator is shown: closed; open (resting: calls skipped); half_open (a probe is
    out, or the cooldown has passed and the next call will be one)."""
    if state.open_until is None:
        return "closed"
    if state.probing or now >= state.open_until:
        return "half_open"
    return "open"


def after_call(state: BreakerState, ok: bool, now: float, policy: BreakerPolicy) -> BreakerState:
    if state.open_until is not None:
        if not state.probing:
            return state  # a call admitted before the breaker opened: its answer changes nothing
        if ok:
            return CLOSED
        return BreakerState(recent=(), open_until=now + policy.cooldown_s, probing=False)
    recent = (*state.recent, ok)[-policy.window :]
    failures = recent.count(False)
    if len(recent) >= policy.min_calls and failures / len(recent) >= policy.failure_ratio:
        return BreakerState(recent=(), open_until=now + policy.cooldown_s, probing=False)
    return BreakerState(recent=recent)


def call_evidence(
    ok: bool, timed_out: bool, loop_lag_s: float, policy: BreakerPolicy
) -> bool | None:
    """What one call says about the buyer: True (it answered), False (it failed), or None (it
    timed out while this router's event loop ran `loop_lag_s` late, past the policy's
    `max_loop_lag_ms`: the router's overload is not the buyer's failure)."""
    if ok:
        return True
    if timed_out and loop_lag_s * 1000 > policy.max_loop_lag_ms:
        return None
    return False
