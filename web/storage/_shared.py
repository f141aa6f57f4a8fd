"""Small helpers the storage modules share: driver placeholders, row counts, stored time."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from web import clock


def placeholders(conn: Connection, n: int) -> str:
    """``n`` comma-separated parameter marks in the driver's own style (raw SQL inserts)."""
    style = conn.dialect.paramstyle
    mark = "?" if style == "qmark" else "%s"
    return ", ".join([mark] * n)


def row_count(conn: Connection, table: sa.Table) -> int:
    """The number of rows of one table."""
    return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def now_seconds() -> int:
    """Now as stored: whole seconds since the epoch, UTC (from :mod:`web.clock`)."""
    return int(clock.now_s())
