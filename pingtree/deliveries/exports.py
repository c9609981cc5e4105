"""Sales as CSV: the row of each sale (`record_row`, from the ledger's record; `sale_row`, what
`DeliveryQueue.record_sale` keeps on a router without a ledger), the local mirror appended as
sales happen (`CsvMirror`), and the CSV text of any rows (`csv_chunks`, what the download
endpoint streams).

One fixed header for every buyer, every day and every router: `id` (pingtree's lead id: the
record id) first, then COLUMNS. Every lead field of DESIGN §5 has its column; a vertical's
attributes go in one `attributes` column as a JSON object, so a buyer's file keeps its header
whatever verticals and attributes its leads bring. UTF-8, no BOM; times ISO 8601 (UTC, `Z`);
money with its two decimals; booleans `true`/`false`; a missing value is empty.

CSV injection: a cell a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, a
tab or a carriage return) is written with a leading `'`, which spreadsheets show as text. A plain
number keeps its sign (an E.164 phone `+13055551234`, a price): only text that is not a number
is changed, and that only comes from what a seller typed. The ledger keeps the values as sent:
the quote is added when a CSV is written. The compliance fields are the seller's own text
(`tcpa_consent` may be `yes`, `consent_timestamp` keep its `Z`), as every destination gets them.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
import stat
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext, suppress
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pingtree.core import jsonenc
from pingtree.core.lead import Lead
from pingtree.core.outcome import Outcome, SaleLine
from pingtree.core.record import LeadRecord
from pingtree.deliveries.jobs import iso_time
from pingtree.store.queue.base import SALE_PII_COLUMNS, SaleRow

# After `id`, in this order. Adding a column means adding it at the end.
COLUMNS: tuple[str, ...] = (
    "sold_at", "received_at", "buyer_id", "seller_id", "lead_id", "buyer_lead_id", "price",
    "payout", "test", "vertical", "sub_id", "first_name", "last_name", "phone", "email",
    "address", "city", "state", "zip", "dob", "ip_address", "tcpa_consent", "consent_timestamp",
    "trustedform_url", "jornaya_leadid", "source_url", "attributes",
)  # fmt: skip
HEADER: tuple[str, ...] = ("id", *COLUMNS)

_LEAD_COLUMNS = COLUMNS[COLUMNS.index("vertical") : COLUMNS.index("attributes")]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def sale_row(
    outcome: Outcome, lead: Lead, *, sold_at: float, line: SaleLine | None = None
) -> SaleRow:
    """The ledger's and the mirror's row of one sale: the lead's, or `line`, one of the sales of
    a lead sold shared (its buyer, price and payout)."""
    line = line or SaleLine(
        outcome.buyer_id or "",
        outcome.price or Decimal(0),
        outcome.payout or Decimal(0),
        outcome.buyer_lead_id,
    )
    values: dict[str, Any] = {
        "sold_at": iso_time(sold_at),
        "received_at": outcome.received_at,
        "buyer_id": line.buyer_id,
        "seller_id": outcome.seller_id,
        "lead_id": lead.lead_id,
        "buyer_lead_id": line.buyer_lead_id,
        "price": line.price,
        "payout": line.payout,
        "test": outcome.test,
        "attributes": jsonenc.dumps(lead.attributes).decode(),
    }
    values.update((name, lead.sent_value(name)) for name in _LEAD_COLUMNS)
    return SaleRow(
        lead_id=outcome.id,
        buyer_id=line.buyer_id,
        sold_at=sold_at,
        fields=tuple((name, _text(values[name])) for name in COLUMNS),
    )


def record_rows(record: LeadRecord, buyer_id: str | None = None) -> list[SaleRow]:
    """The rows of a lead's sales the ledger filed (one per share of a lead sold shared), to
    `buyer_id` only when given."""
    lines = record.outcome.sale_lines()
    return [record_row(record, line) for line in lines if buyer_id in (None, line.buyer_id)]


def record_row(record: LeadRecord, line: SaleLine | None = None) -> SaleRow:
    """The row of a sale the ledger filed (the export's, on a router that keeps a ledger): the
    same columns as `sale_row`'s, from the record's facts and PII (empty once erased). Sold at:
    the moment its auction ended, as the ledger's sales say. `line`: which sale of a lead sold
    shared (the lead's one sale when not given)."""
    outcome, facts, pii = record.outcome, record.facts, record.pii
    line = line or SaleLine(
        outcome.buyer_id or "",
        outcome.price or Decimal(0),
        outcome.payout or Decimal(0),
        outcome.buyer_lead_id,
    )
    received = datetime.fromisoformat(outcome.received_at.replace("Z", "+00:00"))
    sold_at = received.timestamp() + outcome.auction_ms / 1000
    sent = {**(facts.get("as_sent") or {}), **(pii.get("as_sent") or {})}
    lead = {**facts, **pii, **sent}
    attributes = {**(facts.get("attributes") or {}), **(pii.get("attributes") or {})}
    values: dict[str, Any] = {
        "sold_at": iso_time(sold_at),
        "received_at": outcome.received_at,
        "buyer_id": line.buyer_id,
        "seller_id": outcome.seller_id,
        "lead_id": outcome.lead_id,
        "buyer_lead_id": line.buyer_lead_id,
        "price": line.price,
        "payout": line.payout,
        "test": outcome.test,
        "attributes": jsonenc.dumps(attributes).decode(),
    }
    values.update((name, lead.get(name)) for name in _LEAD_COLUMNS)
    return SaleRow(
        lead_id=outcome.id,
        buyer_id=line.buyer_id,
        sold_at=sold_at,
        fields=tuple((name, _text(values[name])) for name in COLUMNS),
    )


def safe_cell(text: str) -> str:
    """The cell as written to a CSV: a would-be formula made text (see the module's docstring)."""
    if text.startswith(_FORMULA_START) and not _NUMBER.match(text):
        return "'" + text
    return text


def csv_cells(row: SaleRow) -> list[str]:
    """The row under HEADER: columns it lacks are empty (a row written by an older version)."""
    fields = dict(row.fields)
    return [safe_cell(row.lead_id), *(safe_cell(fields.get(name, "")) for name in COLUMNS)]


def _lines(rows: Iterable[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def csv_chunks(rows: Iterable[SaleRow], *, per_chunk: int = 500) -> Iterator[bytes]:
    """The CSV of `rows` with its header, in UTF-8 chunks of `per_chunk` rows: what a download
    streams."""
    batch: list[list[str]] = [list(HEADER)]
    for row in rows:
        batch.append(csv_cells(row))
        if len(batch) >= per_chunk:
            yield _lines(batch).encode("utf-8")
            batch = []
    if batch:
        yield _lines(batch).encode("utf-8")


class CsvMirror:
    """Each sale appended, as it happens, to `{folder}/{buyer}/{YYYY-MM-DD}.csv` (the sale's UTC
    date), the header first when the file is new. Files are written in a worker thread, one line
    at a time under a lock, so lines never interleave; `erase` rewrites a file under the same
    lock, so no line is appended to the file it replaces. One router process per folder: routers
    sharing a store share the download endpoint, not a mirror folder."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self._lock = threading.Lock()

    def path_for(self, buyer_id: str, sold_at: float) -> Path:
        # Buyer ids are [A-Za-z0-9._-]: only "." and ".." could leave the folder.
        name = buyer_id.replace(".", "_") if not buyer_id.strip(".") else buyer_id
        day = datetime.fromtimestamp(sold_at, UTC).date().isoformat()
        return self.folder / name / f"{day}.csv"

    async def append(self, row: SaleRow) -> Path:
        return await asyncio.to_thread(self._append, row)

    def _append(self, row: SaleRow) -> Path:
        path = self.path_for(row.buyer_id, row.sold_at)
        with self._lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8", newline="") as file:
                lines = [csv_cells(row)]
                if file.tell() == 0:
                    lines.insert(0, list(HEADER))
                file.write(_lines(lines))  # one write: the line is whole or absent
        return path

    async def erase(self, lead_ids: Sequence[str]) -> int:
        """`erase_from_mirror` on this mirror's folder, each file under the appender's lock."""
        return await asyncio.to_thread(erase_from_mirror, self.folder, lead_ids, lock=self._lock)


def erase_from_mirror(
    exports_dir: str | Path,
    lead_ids: Iterable[str],
    *,
    lock: AbstractContextManager[Any] | None = None,
) -> int:
    """Forget a consumer in the mirror (DESIGN §12 `forget`): every file under `exports_dir` that
    holds a row of `lead_ids` is rewritten with those rows' PII cells empty (SALE_PII_COLUMNS,
    found by the file's own header); the header and every other row stay as they were. A file is
    replaced whole (a temporary file beside it, then os.replace): a reader sees it before or
    after, never half written. `lock` is held around each file's read and replacement: the
    appender's (CsvMirror.erase), else a line appended meanwhile could be lost with the old file.
    How many rows were erased."""
    wanted = frozenset(lead_ids)
    folder = Path(exports_dir)
    if not wanted or not folder.is_dir():
        return 0
    erased = 0
    for path in sorted(folder.glob("*/*.csv")):
        with lock or nullcontext():
            erased += _erase_file(path, wanted)
    return erased


def _erase_file(path: Path, wanted: frozenset[str]) -> int:
    with path.open(encoding="utf-8", newline="") as file:
        text = file.read()
    if not any(lead_id in text for lead_id in wanted):
        return 0
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows or not rows[0] or rows[0][0] != HEADER[0]:
        return 0  # not a mirror file: nothing of ours to read
    blank = [n for n, name in enumerate(rows[0]) if name in SALE_PII_COLUMNS]
    erased = 0
    for row in rows[1:]:
        if row and row[0] in wanted:
            row[:] = ["" if n in blank else cell for n, cell in enumerate(row)]
            erased += 1
    if erased:
        _replace(path, _lines(rows))
    return erased


def _replace(path: Path, text: str) -> None:
    """`path` now holds `text`, with its permissions: written beside it, synced, swapped in."""
    folder, name = path.parent, path.name
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, stat.S_IMODE(path.stat().st_mode))
        os.replace(temporary, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


__all__ = [
    "COLUMNS",
    "HEADER",
    "CsvMirror",
    "csv_cells",
    "csv_chunks",
    "erase_from_mirror",
    "safe_cell",
    "sale_row",
]
