"""Where operator actions are audited (web/audit.py hands them here): into the ledger through its
outbox, like a lead's record, so a database that is down delays the audit row and loses none; or,
on a router without a ledger, into the log (`pingtree.audit`), the only record it keeps."""

from __future__ import annotations

import logging
from collections.abc import Callable

from pingtree.core.errors import StoreUnavailable
from pingtree.core.record import AuditEntry, encode_audit
from pingtree.store.outbox.base import Entry, Outbox

log = logging.getLogger("pingtree.audit")


class OutboxAudit:
    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox
        self.on_put: Callable[[], None] | None = None  # the writer's wake: file it now

    async def record(self, entry: AuditEntry) -> None:
        """Durable when it returns. If the outbox is down the action has happened all the
        same: the entry goes to the log instead, whole, at ERROR, to be found there."""
        try:
            await self._outbox.put([Entry("audit", entry.id, encode_audit(entry))])
        except StoreUnavailable:
            log.error("audit entry not kept (the outbox is down): %s", _line(entry))
            return
        if self.on_put is not None:
            self.on_put()


class LoggedAudit:
    async def record(self, entry: AuditEntry) -> None:
        log.info("%s", _line(entry))


def _line(entry: AuditEntry) -> str:
    return encode_audit(entry).decode()


__all__ = ["LoggedAudit", "OutboxAudit"]
