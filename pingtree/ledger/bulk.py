"""Many rows in one executemany, straight through the driver.

SQLAlchemy's per-row parameter handling costs about twice what SQLite's own work does for the
ledger's widest rows (rollups: 46 columns; measured 26 µs a row against 8 µs through the
driver). For the rows a lead brings many of (its calls, its rollup rows), whose values need no
type's conversion (integers, text, booleans: both drivers take them as they are), the statement
is compiled once per batch and its rows handed to the driver.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.dml import Insert


def insert_many(
    connection: Connection,
    statement: Insert,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
) -> None:
    """`statement` (an INSERT, with its ON CONFLICT if any) once per row; `rows` are the values
    of `columns`, in that order, of plain types only."""
    if not rows:
        return
    bound = statement.values({name: sa.bindparam(name) for name in columns})
    compiled = bound.compile(dialect=connection.dialect)
    parameters: list[Any]
    if connection.dialect.positional:
        order = list(compiled.positiontup or ())
        if order == list(columns):
            parameters = list(rows)
        else:
            where = [columns.index(name) for name in order]
            parameters = [tuple(row[i] for i in where) for row in rows]
    else:
        parameters = [dict(zip(columns, row, strict=True)) for row in rows]
    connection.exec_driver_sql(str(compiled), parameters)
