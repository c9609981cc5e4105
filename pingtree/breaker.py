"""The circuit breaker as a pure state machine; the store keeps one state per buyer.

closed ──(≥ min_calls in window, failure ratio ≥ threshold)──▶ open
open ──(cooldown passed)──▶ one probe admitted (half-open)
probe ok ──▶ closed with a clean window · probe failed ──▶ open for another cooldown
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pingtree.config import BreakerPolicy


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
