"""The operator audit's hook (DESIGN §13): every action that changes state is recorded as an
`AuditEntry` (core/record.py) naming the operator, what they did and to what, and handed to the
app's `AuditLog` (keys.AUDIT: the ledger's outbox, wired by app.py) when there is one. Without
one it goes to the log (`pingtree.audit`, INFO), the only record kept of it.

An entry is recorded once the action is done, so it never tells of one that was refused (a 404, a
409); if recording it fails, the operator's request fails with that error (a 503) although the
action stands, and they see so. `detail` is what the action needs said (a reload's config diff, a
pause's reason), never PII or a secret."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from pingtree.config import Operator
from pingtree.core import ids
from pingtree.core.record import AuditEntry, encode_audit
from pingtree.web.keys import AUDIT

log = logging.getLogger("pingtree.audit")


def utc_now_text() -> str:
    """Now, UTC, RFC 3339 to the millisecond: `2026-01-01T09:30:00.123Z`."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
    audit_log = request.app.get(AUDIT)
    if audit_log is not None:
        await audit_log.record(entry)
    else:
        log.info("%s", encode_audit(entry).decode())
    return entry


__all__ = ["audited", "utc_now_text"]
