"""The ledger's face (DESIGN §12, §13): what the writer files and what the operator API asks.

One implementation, `ledger.sql.SqlLedger`, on SQLite (a file, or memory) or PostgreSQL through
SQLAlchemy; its schema lives in Alembic migrations (ledger/migrations/). Every method is async
and raises `LedgerUnavailable` (core/errors.py) when the database does not answer: database
exceptions stop in ledger/.

Filing is idempotent by id: a lead record filed twice is one lead (its sale, its calls, its
rollups counted once); a `pending` record is replaced by a final one of the same id (a takeover's
verdict, then the auction's own answer), never the other way round.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Literal, Protocol

from pingtree.core.record import AuditEntry, LeadRecord, decode_audit, decode_record
from pingtree.store.outbox.base import Entry

if TYPE_CHECKING:  # quotes.py reads this module's Unreadable
    from pingtree.ledger.quotes import Quotes

ReportBy = Literal["buyer", "seller", "vertical", "sub_id", "state", "hour", "day"]
REPORT_BY: tuple[ReportBy, ...] = ("buyer", "seller", "vertical", "sub_id", "state", "hour", "day")


@dataclass(frozen=True, slots=True)
class Filters:
    """What a lead list and a report narrow to; None: any."""

    status: str | None = None
    seller: str | None = None
    buyer: str | None = None  # the buyer it was sold to (a report: the buyer's calls too)
    vertical: str | None = None
    sub_id: str | None = None
    state: str | None = None
    test: bool = False  # test leads are listed and reported only when asked for
    reason: str | None = None  # the outcome's reason (suppressed, cap:daily…): lead lists only


@dataclass(frozen=True, slots=True)
class LeadQuery:
    filters: Filters = Filters()
    start: datetime | None = None  # received at or after (aware)
    end: datetime | None = None  # received before (aware)
    # `q`: a pingtree id or a seller's lead_id (as given), or a consumer by the keyed hashes of
    # what was typed read as a phone and as an email (the web layer normalizes and hashes it).
    q: str | None = None
    q_hashes: tuple[str, ...] = ()
    cursor: str | None = None  # next_cursor of the page before
    limit: int = 50


@dataclass(frozen=True, slots=True)
class FiledLead:
    record: LeadRecord  # pii is {} once erased
    pii_erased_at: str | None = None  # UTC RFC 3339 when it was erased


@dataclass(frozen=True, slots=True)
class LeadPage:
    leads: list[FiledLead]
    next_cursor: str | None  # None at the end


@dataclass(frozen=True, slots=True)
class ReportQuery:
    by: ReportBy
    start: datetime  # aware; inclusive
    end: datetime  # aware; exclusive
    tz: str = "UTC"  # IANA name: the hours and days of `by=hour|day` are this zone's
    filters: Filters = Filters()


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One row of a report (DESIGN §13); rates are fractions 0..1 (None when nothing to divide
    by), money Decimal to the cent, times in ms."""

    key: str
    leads: int = 0
    sold: int = 0
    sold_pct: Decimal | None = None
    revenue: Decimal = Decimal("0.00")
    payout: Decimal = Decimal("0.00")
    margin: Decimal = Decimal("0.00")
    revenue_per_lead: Decimal | None = None
    pings: int = 0
    bids: int = 0
    bid_rate: Decimal | None = None
    wins: int = 0
    win_rate: Decimal | None = None
    post_accept_rate: Decimal | None = None
    returns: int = 0
    returns_amount: Decimal = Decimal("0.00")
    net_revenue: Decimal = Decimal("0.00")
    return_rate: Decimal | None = None
    chargebacks_amount: Decimal = Decimal("0.00")  # payouts taken back (sellers' chargeback)
    contacted: int = 0  # buyers' feedback: leads contacted, converted, and the conversions'
    converted: int = 0  # value; conversion_rate = converted / wins
    conversion_rate: Decimal | None = None
    conversion_value: Decimal = Decimal("0.00")
    rejected: int = 0  # leads rejected, and of those the ones a compliance gate refused:
    suppressed: int = 0  # on a suppression list (scope all)
    consent_failed: int = 0  # without the consent evidence asked for
    check_failed: int = 0  # refused by an outside check (or failed with on_error: reject)
    ping_p50_ms: int | None = None
    ping_p95_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Report:
    rows: list[ReportRow]
    totals: ReportRow


@dataclass(frozen=True, slots=True)
class AuditQuery:
    operator: str | None = None
    action: str | None = None
    target: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    cursor: str | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class AuditPage:
    entries: list[AuditEntry]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Erased:
    """What `forget` erased: the ids of every lead of the forgotten hashes, whose PII it erased
    or was erased before (retention, an earlier forget), for the deliveries' and the CSV
    mirror's own erasure, which may still hold it."""

    lead_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Unreadable:
    """An outbox entry that could not be decoded (written by a newer pingtree, or damaged): the
    writer logs it by id and drops it, or it would come back forever."""

    kind: str
    id: str
    error: str  # the exception's type, never its message (which may quote the entry)


def decoded(
    entries: Sequence[Entry],
) -> tuple[list[LeadRecord], list[AuditEntry], list[Unreadable]]:
    """The outbox's entries as lead records and audit entries, and those that would not decode."""
    leads: list[LeadRecord] = []
    audits: list[AuditEntry] = []
    unreadable: list[Unreadable] = []
    for entry in entries:
        try:
            if entry.kind == "lead":
                leads.append(decode_record(entry.body))
            elif entry.kind == "audit":
                audits.append(decode_audit(entry.body))
            # "quote": ledger/quotes.py's decoded_quotes
        except (ValueError, KeyError, TypeError) as exc:
            unreadable.append(Unreadable(entry.kind, entry.id, type(exc).__name__))
    return leads, audits, unreadable


class AuditLog(Protocol):
    async def record(self, entry: AuditEntry) -> None:
        """Keep `entry` for the ledger (the outbox), durably, before the action is answered."""


class Ledger(Protocol):
    async def migrate(self) -> None:
        """Bring the schema to the newest migration (run at start, and by `pingtree ledger
        migrate`); a no-op when it is there."""

    async def file(self, leads: Sequence[LeadRecord], audits: Sequence[AuditEntry]) -> None:
        """File a batch in one transaction, idempotently by id. A lead whose phone or email
        hash was forgotten before it was received is filed with its PII already erased."""

    async def file_entries(self, entries: Sequence[Entry]) -> list[Unreadable]:
        """The outbox's entries, decoded (`decoded`) and filed as `file` does; those that would
        not decode are left out and returned. What the writer calls: a ledger with a filing
        process (ledger/filer.py) decodes and files there, off the router's process."""

    async def lead(self, lead_id: str) -> FiledLead | None: ...

    def quotes(self) -> Quotes:
        """Exchange quotes on record (ledger/quotes.py): the one a lead came from, per seller."""

    async def leads(self, query: LeadQuery) -> LeadPage:
        """Newest first (received_at, then id), `limit` at a time."""

    async def report(self, query: ReportQuery) -> Report:
        """From rollups (hourly), never from raw rows: the cost does not grow with the leads."""

    async def audit(self, query: AuditQuery) -> AuditPage:
        """Newest first."""

    async def sold(self, buyer_id: str | None, start: datetime, end: datetime) -> list[FiledLead]:
        """The leads sold in [start, end), oldest first; to `buyer_id`, or to anyone (None):
        what the CSV export (/admin/exports/leads.csv) writes."""

    async def forget(self, hashes: Sequence[str], at: datetime) -> Erased:
        """Erase the PII of every lead whose phone or email hash is one of `hashes` (the tree's
        dedup keys of what the operator gave), and remember the hashes so a lead still on its
        way (in the outbox) is filed erased."""

    async def purge(self, now: datetime, pii_days: float, ledger_days: float) -> tuple[int, int]:
        """Retention: PII of leads older than `pii_days` erased in place, leads (and their
        sales, calls and audit rows) older than `ledger_days` deleted; (erased, deleted)."""

    async def ping(self) -> None:
        """Return when the database answers; LedgerUnavailable when it does not."""

    async def close(self) -> None: ...
