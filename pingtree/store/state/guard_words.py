"""What the guard (guard.py) says when a write cannot land, and when the store is down."""

from __future__ import annotations

from pingtree.core.errors import StoreUnavailable
from pingtree.store.state.base import AnswerWrite

__all__ = ["NOT_LANDED", "NotLanded", "refusal"]

# Why an answer the store took did not land on its key (AnswerWrite, store/base.py).
NOT_LANDED: dict[AnswerWrite, str] = {
    "superseded": "another auction took the key over when this one's lease ran out, and answers it"
    " from this lead's outcome and journal",
    "conflict": "the key now names another lead: the store lost its record and the key was"
    " used again",
    "taken": "the key holds the answer of another auction that did not know of this one: the"
    " store lost its record and a resend ran meanwhile; check this lead for a second sale",
}


class NotLanded(Exception):
    """A write the store took that cannot land, now or ever: not retried, logged as such."""

    def __init__(self, what: str, why: str) -> None:
        super().__init__(f"{what} could not land: {why}")


def refusal() -> StoreUnavailable:
    return StoreUnavailable(
        f"the store is unavailable; retry after {StoreUnavailable.retry_after_s} s"
    )
