"""The operator audit's hook (DESIGN §13): every action that changes state is recorded as an
`AuditEntry` (core/record.py) naming the operator, what they did and to what, and handed to the
app's `AuditLog` (keys.AUDIT: the ledger's outbox, wired by app.py; ledger/audit_log.py). Without
a ledger it goes to the log (`pingtree.audit`, INFO), the only record kept of it; so does an entry
the outbox could not take (at ERROR, whole).

An entry is recorded once the action is done, so it never tells of one that was refused (a 404, a
409). `detail` is what the action needs said (a reload's config diff, a
pause's reason), never PII or a secret."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from pingtree.config import Operator
from pingtree.core import ids
from pingtree.core.record import AuditEntry
from pingtree.deliveries.jobs import iso_time
from pingtree.ledger.audit_log import LoggedAudit
from pingtree.web.keys import AUDIT


def utc_now_text() -> str:
    """Now, UTC, RFC 3339 to the millisecond: `2026-01-01T09:30:00.123Z`."""
    return iso_time(time.time())


async def audited(
    request: web.Request,
    operator: Operator,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Record that `operator` did `action` to `target`; returns the entry."""
    entry = AuditEntry(
        id=ids.audit_id(),
        at=utc_now_text(),
        operator=operator.name,
        action=action,
        target=target,
        detail=detail or {},
    )
    # No AuditLog wired (an app built without its parts): the log, as a router without a ledger.
    await (request.app.get(AUDIT) or LoggedAudit()).record(entry)
    return entry


__all__ = ["audited", "utc_now_text"]
