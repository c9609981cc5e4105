"""exports.py: the sale's row, the CSV mirror (one file per buyer per day, header once, in order,
UTF-8, ISO times) and CSV injection."""

from __future__ import annotations

import asyncio
import csv
import io
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from pingtree.core.lead import KNOWN_FIELDS, parse_lead
from pingtree.deliveries.exports import (
    COLUMNS,
    HEADER,
    CsvMirror,
    csv_cells,
    csv_chunks,
    erase_from_mirror,
    safe_cell,
    sale_row,
)
from pingtree.store.queue.base import SALE_PII_COLUMNS, SaleRow
from tests.conftest import sample
from tests.deliveries.test_deliveries_jobs import LEAD_ID, NOW, outcome

DAY = 86400


def row(**lead_changes: object) -> SaleRow:
    the_lead = parse_lead({**sample("mva-legal"), **lead_changes})
    return sale_row(outcome(), the_lead, sold_at=NOW)


def csv_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.csv"))


def read(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.reader(file))


def test_the_header_starts_with_the_record_id_and_holds_every_lead_field() -> None:
    assert HEADER[0] == "id"
    assert KNOWN_FIELDS - {"lead_id", "test"} <= set(COLUMNS)
    assert {"lead_id", "test", "price", "payout", "seller_id", "buyer_id", "sold_at"} <= set(
        COLUMNS
    )
    assert len(set(HEADER)) == len(HEADER)


def test_a_sale_row() -> None:
    sold = dict(row().fields)
    assert [name for name, _ in row().fields] == list(COLUMNS)
    assert row().lead_id == LEAD_ID and row().buyer_id == "firm"
    assert sold["sold_at"] == "2026-02-26T14:04:12.500Z"
    assert sold["received_at"] == "2026-02-26T14:04:12.000Z"
    assert (sold["price"], sold["payout"], sold["test"]) == ("42.50", "34.00", "false")
    assert (sold["phone"], sold["tcpa_consent"], sold["dob"]) == ("+13055551234", "true", "")
    assert sold["lead_id"] == "cs_lead_8f2a4b91"
    assert sold["attributes"].startswith('{"case_type":"mva"')


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3+cmd", "'-2+3+cmd"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTAB", "'\tTAB"),
        ("\rCR", "'\rCR"),
        ("-", "'-"),
        ("+13055551234", "+13055551234"),  # an E.164 phone stays a phone
        ("-12.50", "-12.50"),
        ("42.50", "42.50"),
        ("Maria", "Maria"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_csv_injection(cell: str, written: str) -> None:
    assert safe_cell(cell) == written


def test_formulas_from_a_seller_are_neutralized_in_the_file(tmp_path: Path) -> None:
    hostile = row(first_name='=HYPERLINK("http://evil","x")', city="@SUM(1)")
    path = asyncio.run(CsvMirror(tmp_path).append(hostile))
    header, line = read(path)
    cells = dict(zip(header, line, strict=True))
    assert cells["first_name"].startswith("'=") and cells["city"] == "'@SUM(1)"
    assert cells["phone"] == "+13055551234"


async def test_one_file_per_buyer_per_day_header_once_rows_in_order(tmp_path: Path) -> None:
    mirror = CsvMirror(tmp_path)
    first = row()
    second = replace(row(first_name="José"), lead_id="ld_2", sold_at=NOW + 60)
    next_day = replace(row(), lead_id="ld_3", sold_at=NOW + DAY)
    other_buyer = replace(row(), lead_id="ld_4", buyer_id="other")
    for sale in (first, second, next_day, other_buyer):
        await mirror.append(sale)
    today = tmp_path / "firm" / "2026-02-26.csv"
    assert csv_files(tmp_path) == [
        "firm/2026-02-26.csv",
        "firm/2026-02-27.csv",
        "other/2026-02-26.csv",
    ]
    lines = read(today)
    assert lines[0] == list(HEADER)
    assert [line[0] for line in lines[1:]] == [LEAD_ID, "ld_2"]
    assert lines[2][HEADER.index("first_name")] == "José"
    assert today.read_bytes().startswith(b"id,sold_at,")  # UTF-8, no BOM
    assert "José".encode() in today.read_bytes()
    assert [line[0] for line in read(tmp_path / "firm" / "2026-02-27.csv")] == ["id", "ld_3"]


async def test_concurrent_appends_never_interleave(tmp_path: Path) -> None:
    mirror = CsvMirror(tmp_path)
    sales = [replace(row(), lead_id=f"ld_{n:03}", sold_at=NOW + n) for n in range(60)]
    await asyncio.gather(*(mirror.append(sale) for sale in sales))
    lines = read(tmp_path / "firm" / "2026-02-26.csv")
    assert lines[0] == list(HEADER) and len(lines) == 61
    assert sorted(line[0] for line in lines[1:]) == [s.lead_id for s in sales]
    assert all(len(line) == len(HEADER) for line in lines)


def test_a_buyer_id_of_dots_stays_inside_the_folder(tmp_path: Path) -> None:
    mirror = CsvMirror(tmp_path)
    for buyer in (".", "..", "..."):
        path = mirror.path_for(buyer, NOW)
        assert path.resolve().is_relative_to(tmp_path.resolve())
        assert path.parent != tmp_path


def test_csv_chunks_stream_header_then_rows() -> None:
    rows = [replace(row(), lead_id=f"ld_{n}") for n in range(5)]
    chunks = list(csv_chunks(rows, per_chunk=2))
    assert len(chunks) == 3
    lines = list(csv.reader(io.StringIO(b"".join(chunks).decode("utf-8"))))
    assert lines[0] == list(HEADER)
    assert [line[0] for line in lines[1:]] == [f"ld_{n}" for n in range(5)]
    assert list(csv.reader(io.StringIO(b"".join(csv_chunks([])).decode()))) == [list(HEADER)]


def test_a_row_missing_columns_is_written_under_the_same_header() -> None:
    old = SaleRow("ld_old", "firm", NOW, (("sold_at", "2026-02-26T00:00:00.000Z"), ("price", "9")))
    cells = csv_cells(old)
    assert len(cells) == len(HEADER) and cells[0] == "ld_old"
    assert cells[HEADER.index("price")] == "9" and cells[HEADER.index("phone")] == ""


def test_decimal_prices_keep_their_cents() -> None:
    cheap = sale_row(
        replace(outcome(), price=Decimal("7.10"), payout=Decimal("5.68")),
        parse_lead(sample("solar")),
        sold_at=NOW,
    )
    assert dict(cheap.fields)["price"] == "7.10" and dict(cheap.fields)["payout"] == "5.68"


# erasure (pingtree forget) ---------------------------------------------------------------------

PII_COLUMNS = [name for name in HEADER if name in SALE_PII_COLUMNS]


async def test_erasing_a_lead_empties_its_pii_cells_in_every_file(tmp_path: Path) -> None:
    mirror = CsvMirror(tmp_path)
    forgotten = [row(), replace(row(), buyer_id="other", sold_at=NOW + DAY)]  # resold next day
    kept = replace(row(first_name="=cmd|' /C calc'!A0"), lead_id="ld_2", sold_at=NOW + 1)
    untouched = replace(row(), lead_id="ld_3", buyer_id="third")
    for sale in (forgotten[0], kept, *forgotten[1:], untouched):
        await mirror.append(sale)
    today, other, third = (
        tmp_path / "firm" / "2026-02-26.csv",
        tmp_path / "other" / "2026-02-27.csv",
        tmp_path / "third" / "2026-02-26.csv",
    )
    before = {path: path.read_bytes() for path in (today, other, third)}
    third_inode = third.stat().st_ino

    assert await mirror.erase([LEAD_ID, "ld_missing"]) == 2
    for path in (today, other):
        lines = read(path)
        assert lines[0] == list(HEADER)
        cells = dict(zip(HEADER, lines[1], strict=True))
        assert cells["id"] == LEAD_ID
        assert {name: cells[name] for name in PII_COLUMNS} == dict.fromkeys(PII_COLUMNS, "")
        assert (cells["phone"], cells["email"], cells["attributes"]) == ("", "", "")
        assert (cells["price"], cells["state"], cells["zip"]) == ("42.50", "FL", "33101")
        assert cells["lead_id"] == "cs_lead_8f2a4b91"  # the seller's id is not PII
    # ld_2's line is as it was, byte for byte (its neutralized formula too).
    assert today.read_bytes().split(b"\r\n")[2] == before[today].split(b"\r\n")[2]
    assert third.read_bytes() == before[third] and third.stat().st_ino == third_inode
    assert len(csv_files(tmp_path)) == 3  # no temporary file left behind
    erased_once = today.read_bytes()
    assert await mirror.erase([LEAD_ID]) == 2  # erasing again finds the rows, already empty
    assert today.read_bytes() == erased_once


def test_erasing_from_a_mirror_that_is_not_there_erases_nothing(tmp_path: Path) -> None:
    assert erase_from_mirror(tmp_path / "nowhere", [LEAD_ID]) == 0
    (tmp_path / "firm").mkdir()
    (tmp_path / "firm" / "notes.csv").write_text(f"who,what\r\n{LEAD_ID},a note\r\n")
    assert erase_from_mirror(tmp_path, [LEAD_ID]) == 0
    assert erase_from_mirror(tmp_path, []) == 0


async def test_sales_appended_while_a_file_is_erased_are_all_kept(tmp_path: Path) -> None:
    mirror = CsvMirror(tmp_path)
    await mirror.append(row())
    sales = [replace(row(), lead_id=f"ld_{n:03}", sold_at=NOW + n) for n in range(80)]
    erasures = [mirror.erase([LEAD_ID]) for _ in range(20)]
    await asyncio.gather(*(mirror.append(sale) for sale in sales), *erasures)
    lines = read(tmp_path / "firm" / "2026-02-26.csv")
    assert lines[0] == list(HEADER) and len(lines) == 82
    assert sorted(line[0] for line in lines[2:]) == [s.lead_id for s in sales]
    assert lines[1][HEADER.index("phone")] == ""
