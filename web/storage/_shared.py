"""Small helpers the storage modules share: driver placeholders, inserts that skip or replace
stored keys (SQLite and PostgreSQL), a submission stored once when it is sent again, row
counts, inserted keys, records made from rows, stored time."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, CursorResult, Row

from web import clock


def placeholders(conn: Connection, n: int) -> str:
    """``n`` comma-separated parameter marks in the driver's own style (raw SQL inserts)."""
    style = conn.dialect.paramstyle
    mark = "?" if style == "qmark" else "%s"
    return ", ".join([mark] * n)


# The dialects whose INSERT takes ON CONFLICT (the databases the site runs on).
_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def _insert(conn: Connection, table: sa.Table):
    try:
        return _INSERTS[conn.dialect.name](table)
    except KeyError:
        raise RuntimeError(
            f"unsupported database {conn.dialect.name!r}: use SQLite or PostgreSQL"
        ) from None


def insert_new(conn: Connection, table: sa.Table, *keys: str):
    """An INSERT into ``table`` that skips the rows whose ``keys`` (the columns of its primary
    key or of a unique constraint) are stored already, also when another transaction
    stores them at the same moment (``ON CONFLICT DO NOTHING``)."""
    return _insert(conn, table).on_conflict_do_nothing(index_elements=list(keys))


def upsert(conn: Connection, table: sa.Table, *keys: str, update: tuple[str, ...]):
    """An INSERT into ``table`` that, for rows whose ``keys`` are stored already, sets the
    ``update`` columns to the new values instead (``ON CONFLICT DO UPDATE``)."""
    statement = _insert(conn, table)
    return statement.on_conflict_do_update(
        index_elements=list(keys), set_={name: statement.excluded[name] for name in update}
    )


def in_same_minute(column: sa.Column, at: int):
    """SQL true when ``column`` (a stored time) is in the same clock minute as ``at``."""
    minute = int(at) - int(at) % 60
    return sa.and_(column >= minute, column < minute + 60)


def insert_once(conn: Connection, table: sa.Table, same, values: dict) -> tuple[int, bool]:
    """Store a submission a client may send again (a double tap, a retried request): the id
    of the row ``same`` finds, and False; else the id of a new row of ``values``, and True."""
    found = conn.execute(sa.select(table.c.id).where(same)).first()
    if found is not None:
        return int(found.id), False
    return inserted_id(conn.execute(sa.insert(table).values(**values))), True


def row_count(conn: Connection, table: sa.Table) -> int:
    """The number of rows of one table."""
    return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def inserted_id(result: CursorResult) -> int:
    """The primary key of the row a single-row insert added."""
    key = result.inserted_primary_key
    if key is None:  # only when the insert added no row
        raise RuntimeError("the insert added no row")
    return int(key[0])


Record = TypeVar("Record")


def record_from_row(
    record_type: type[Record], row: Row | None, **convert: Callable[[Any], Any]
) -> Record | None:
    """A record dataclass made of the row's columns of its field names (None for no row);
    ``convert`` maps the fields not stored as they are to their conversion (``json.loads``
    for JSON text, ``bool`` for a 0/1 flag)."""
    if row is None:
        return None
    columns = row._mapping
    values = {}
    for field in dataclasses.fields(record_type):  # type: ignore[arg-type]
        value = columns[field.name]
        values[field.name] = convert[field.name](value) if field.name in convert else value
    return record_type(**values)


def now_seconds() -> int:
    """Now as stored: whole seconds since the epoch, UTC (from :mod:`web.clock`)."""
    return int(clock.now_s())
