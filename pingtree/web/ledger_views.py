"""How the ledger's rows are shown (DESIGN §13): a lead in a list, one lead in full, a report as
JSON or CSV, an audit entry. Pure functions of what the ledger returned and who asks."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import asdict, fields
from typing import Any

from pingtree.core.lead import PII_FIELDS
from pingtree.core.outcome import operator_view
from pingtree.core.record import AuditEntry
from pingtree.ledger.base import FiledLead, Report, ReportRow

REPORT_COLUMNS: tuple[str, ...] = tuple(field.name for field in fields(ReportRow))


def lead_summary(filed: FiledLead) -> dict[str, Any]:
    """A lead in a list: its facts and its sale, no trace, no PII."""
    outcome, facts = filed.record.outcome, filed.record.facts
    return {
        "id": outcome.id,
        "lead_id": outcome.lead_id,
        "seller_id": outcome.seller_id,
        "sub_id": facts.get("sub_id"),
        "vertical": outcome.vertical,
        "state": facts.get("state"),
        "status": outcome.status,
        "reason": outcome.reason,
        "buyer_id": outcome.buyer_id,
        "price": outcome.price,
        "payout": outcome.payout,
        "margin": outcome.margin,
        "test": outcome.test,
        "received_at": outcome.received_at,
        "auction_ms": outcome.auction_ms,
        "shared": outcome.shared,
        "sales": [line.as_json() for line in outcome.sale_lines()],
    }


def lead_detail(filed: FiledLead, mask: Callable[[str, Any], Any] | None) -> dict[str, Any]:
    """One lead in full: the operator's view of its auction (the trace), and the lead as the
    seller sent it, normalized. Its PII is shown to an admin, masked for a viewer (`mask`), and
    null in every field once erased (`pii_erased_at` says when)."""
    record = filed.record
    view = operator_view(record.outcome)
    lead: dict[str, Any] = {name: value for name, value in record.facts.items()}
    attributes = dict(lead.pop("attributes", None) or {})
    pii = record.pii
    for name in sorted(PII_FIELDS):
        value = pii.get(name)
        lead[name] = mask(name, value) if mask is not None and value is not None else value
    for name, value in (pii.get("attributes") or {}).items():
        attributes[name] = mask(name, value) if mask is not None else value
    lead["attributes"] = attributes
    view["lead"] = lead
    view["pii_erased_at"] = filed.pii_erased_at
    return view


def report_row(row: ReportRow) -> dict[str, Any]:
    return asdict(row)


def report_json(report: Report) -> dict[str, Any]:
    return {"rows": [report_row(row) for row in report.rows], "totals": report_row(report.totals)}


def report_csv(report: Report) -> Iterator[bytes]:
    """The rows, then the totals (key `total`), under a header row: one chunk per 200 rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(REPORT_COLUMNS)
    rows = [*report.rows, _totals_row(report.totals)]
    for index, row in enumerate(rows, 1):
        values = report_row(row)
        writer.writerow(["" if values[c] is None else values[c] for c in REPORT_COLUMNS])
        if index % 200 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _totals_row(totals: ReportRow) -> ReportRow:
    values = asdict(totals)
    values["key"] = "total"
    return ReportRow(**values)


def audit_view(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.at,
        "operator": entry.operator,
        "action": entry.action,
        "target": entry.target,
        "detail": entry.detail,
    }


__all__ = [
    "REPORT_COLUMNS",
    "audit_view",
    "lead_detail",
    "lead_summary",
    "report_csv",
    "report_json",
]
