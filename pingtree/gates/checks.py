"""The outside checks (DESIGN §16): every `checks:` entry called at once, before the auction,
inside `router.checks_budget_ms`, over the one outbound client (transport/). Each is described
like a buyer's dialect: built by codec/request.py, read by codec/response.py's
`read_check_answer`; no mapper of its own here.

A check's answer passes the lead, rejects it (`rejected`, reason `check:<id>`), or fails to say
(a timeout, an HTTP error, an answer its map cannot read, a field map that cannot be built): then
its `on_error` decides. A check costs at most its own timeout, cut to what is left of the checks
budget. Each leaves one `check` step in the trace (result `passed`, `rejected` or `failed`, with
the failure's reason, its HTTP status and duration), so the ledger's calls and the console's
timeline have it too. The attributes of the checks that passed join the lead as `<id>_<name>`
(a value a seller sent under such a name is dropped first: only the check may set it); filters
read them, the native ping leaves them out (auction/wire.py), a buyer's ping map may read them.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field

from pingtree.auction.live import LiveAuction, loop_time
from pingtree.auction.wire import secret_values
from pingtree.config.models.compliance import CheckConfig
from pingtree.config.reads import PING_PII_SOURCES
from pingtree.core.codec import Decline, Failure, Sources, build_request
from pingtree.core.codec.response import CheckPassed, read_check_answer
from pingtree.core.codec.transforms import MappingError
from pingtree.core.errors import BuyerCallFailed
from pingtree.core.lead import redact
from pingtree.transport.client import Request, Transport, call

Scalar = str | int | float | bool
# Below this a call cannot be made and read: the check is failed, `no_time_left`.
_MIN_CALL_S = 0.005
# The checks' phase waits this long past its budget for calls to report their own timeout,
# then cancels what is left (a safety net: the transport's deadline covers the whole call).
_PHASE_SLACK_S = 0.05


def check_reason(check_id: str) -> str:
    return f"check:{check_id}"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check's call: how it ended, when (loop time), and what the trace says of it."""

    check: CheckConfig
    finished: float
    result: str  # passed | rejected | failed
    reason: str | None = None  # rejected: check:<id>; failed: timeout, http_error…
    detail: str | None = None
    http_status: int | None = None
    duration_ms: int | None = None
    attributes: dict[str, Scalar] = field(default_factory=dict)

    @property
    def rejects(self) -> bool:
        return self.result == "rejected" or (
            self.result == "failed" and self.check.on_error == "reject"
        )


class Checks:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def rejection(self, auction: LiveAuction) -> str | None:
        """Run the tree's checks on the auction's lead: `check:<id>` of the first (in the file's
        order) that rejects it, or None, with the passed checks' attributes on the lead."""
        checks = auction.tree.config.checks
        if not checks:
            return None
        settings = auction.tree.settings
        ends = min(auction.started + settings.checks_budget_ms / 1000, auction.deadline)
        sources = Sources(
            lead=auction.lead,
            today=auction.received_at.date(),
            lead_id=auction.id,
            seller=auction.seller.id,
            pii_allowed=PING_PII_SOURCES,  # the operator's own service: it may read the PII
        )
        results = await self._run_all(auction, checks, sources, ends)
        for result in sorted(results, key=lambda r: r.finished):
            auction.note(
                result.finished,
                result.check.id,
                "check",
                result.result,
                reason=result.reason,
                detail=result.detail,
                http_status=result.http_status,
                duration_ms=result.duration_ms,
            )
        rejecting = next((r for r in results if r.rejects), None)
        if rejecting is not None:
            return check_reason(rejecting.check.id)
        _join_attributes(auction, results)
        return None

    async def _run_all(
        self,
        auction: LiveAuction,
        checks: tuple[CheckConfig, ...],
        sources: Sources,
        ends: float,
    ) -> list[CheckResult]:
        """Every check at once, in the file's order; one still open past the budget is cut off."""
        tasks = [asyncio.create_task(self._one(auction, c, sources, ends)) for c in checks]
        await asyncio.wait(tasks, timeout=max(ends - loop_time(), 0) + _PHASE_SLACK_S)
        results = []
        for check, task in zip(checks, tasks, strict=True):
            if task.done():
                results.append(task.result())
                continue
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            detail = _on_error("the checks budget ran out", check)
            results.append(CheckResult(check, loop_time(), "failed", "timeout", detail))
        return results

    async def _one(
        self, auction: LiveAuction, check: CheckConfig, sources: Sources, ends: float
    ) -> CheckResult:
        timeout_s = min(check.timeout_ms / 1000, ends - loop_time())
        if timeout_s < _MIN_CALL_S:
            detail = _on_error("no time left in the checks budget", check)
            return CheckResult(check, loop_time(), "failed", "no_time_left", detail)
        try:
            built = build_request(
                check,
                sources,
                test=auction.lead.test,
                message_id=f"{auction.id}-{check.id}",
                timestamp=int(time.time()),
            )
        except MappingError as exc:  # names the field and the transform, never the value
            return CheckResult(check, loop_time(), "failed", "mapping", _on_error(str(exc), check))
        request = Request(built.method, built.url, built.headers, built.body)
        max_bytes = auction.tree.max_response
        answered = await call(
            self._transport, request, b"", timeout_s, max_bytes, idempotent=True, tls=check.tls
        )
        outcome = answered.outcome
        if isinstance(outcome, BuyerCallFailed):
            answer: CheckPassed | Decline | Failure = Failure(outcome.reason, outcome.detail)
        else:
            answer = read_check_answer(
                check.response, check.response.attributes, outcome.status, outcome.body
            )
        status, duration = answered.timing.get("http_status"), answered.timing.get("duration_ms")
        now = loop_time()
        if isinstance(answer, CheckPassed):
            found = dict(answer.attributes)
            return CheckResult(check, now, "passed", None, None, status, duration, found)
        said = answer.reason if isinstance(answer, Decline) else answer.detail
        words = _words(said, auction, check)
        if isinstance(answer, Decline):
            reason = check_reason(check.id)
            return CheckResult(check, now, "rejected", reason, words, status, duration)
        detail = _on_error(words, check)
        return CheckResult(check, now, "failed", answer.reason, detail, status, duration)


def _join_attributes(auction: LiveAuction, results: list[CheckResult]) -> None:
    """The passed checks' attributes on the lead, as `<id>_<name>`, in place of any value the
    seller sent under one of the names a check may set."""
    names = auction.tree.check_attributes
    lead = auction.lead
    attributes = {k: v for k, v in lead.attributes.items() if k not in names}
    for result in results:
        attributes.update((f"{result.check.id}_{k}", v) for k, v in result.attributes.items())
    if attributes != lead.attributes:
        auction.lead = lead.model_copy(update={"attributes": attributes})


def _on_error(detail: str, check: CheckConfig) -> str:
    then = "the lead went on" if check.on_error == "pass" else "the lead is rejected"
    return f"{detail}; on_error: {check.on_error} ({then})"


def _words(text: str, auction: LiveAuction, check: CheckConfig) -> str:
    """A service's words for the trace, less the lead's PII (a claim service may quote the
    certificate, a lookup the phone) and the check's own secrets."""
    text = redact(text, auction.lead)
    for value in sorted(secret_values(check), key=len, reverse=True):
        text = re.sub(re.escape(value), "***", text, flags=re.IGNORECASE)
    return text
