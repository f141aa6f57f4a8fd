"""Small helpers the storage modules share: driver placeholders, row counts, inserted keys,
stored time."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection, CursorResult

from web import clock


def placeholders(conn: Connection, n: int) -> str:
    """``n`` comma-separated parameter marks in the driver's own style (raw SQL inserts)."""
    style = conn.dialect.paramstyle
    mark = "?" if style == "qmark" else "%s"
    return ", ".join([mark] * n)


def row_count(conn: Connection, table: sa.Table) -> int:
    """The number of rows of one table."""
    return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def inserted_id(result: CursorResult) -> int:
    """The primary key of the row a single-row insert added."""
    key = result.inserted_primary_key
    if key is None:  # only when the insert added no row
        raise RuntimeError("the insert added no row")
    return int(key[0])


def now_seconds() -> int:
    """Now as stored: whole seconds since the epoch, UTC (from :mod:`web.clock`)."""
    return int(clock.now_s())
