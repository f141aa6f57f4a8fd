"""Shapes the migrations repeat: a table with its named primary key, a named foreign key or
unique column, an index added or dropped in batch mode, the columns several tables share
(times and cells in web.storage.schema's stored forms), a table of the cells an owner row
covers.

Migrations are history: a revision must emit the same DDL for as long as it exists, so a
helper here may change only in ways that leave every revision's DDL as it was
(tests/web/test_migrations.py compares each revision's schema with the one it shipped with,
on SQLite and PostgreSQL). Names follow web.storage.schema's naming convention:
``pk_<table>``, ``fk_<table>_<column>_<target>``, ``uq_<table>_<column>``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def id_column() -> sa.Column:
    """The integer surrogate key most tables have (``id``, the primary key by default)."""
    return sa.Column("id", sa.Integer(), nullable=False)


def time_column(name: str, *, nullable: bool = False) -> sa.Column:
    """A time: ``BIGINT`` seconds since the epoch, UTC (web.storage.schema's stored form)."""
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def cell_column() -> sa.Column:
    """The H3 cell a row is about: its 64-bit id as ``BIGINT``."""
    return sa.Column("cell", sa.BigInteger(), nullable=False)


def file_columns() -> tuple[sa.Column, sa.Column]:
    """The imported file's path and its sha256 (import runs and rejects)."""
    return (
        sa.Column("file", sa.Text(), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
    )


def lon_lat_columns() -> tuple[sa.Column, sa.Column]:
    """A point in WGS-84 (stations and incidents)."""
    return (
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
    )


def foreign_key(
    table: str, column: str, target: str, ondelete: str | None = None
) -> sa.ForeignKeyConstraint:
    """``table.column`` references ``target.id``, named ``fk_<table>_<column>_<target>``."""
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def unique(table: str, column: str) -> sa.UniqueConstraint:
    """``table.column`` is unique, named ``uq_<table>_<column>``."""
    return sa.UniqueConstraint(column, name=op.f(f"uq_{table}_{column}"))


def create_table(
    name: str,
    *columns_and_constraints: sa.schema.SchemaItem,
    primary_key: tuple[str, ...] = ("id",),
    indexes: dict[str, list[str]] | None = None,
) -> None:
    """Create a table with its primary key ``pk_<name>`` and its (non-unique) indexes.

    Constraints keep the order they are passed in: it is the order of the DDL.
    """
    op.create_table(
        name,
        *columns_and_constraints,
        sa.PrimaryKeyConstraint(*primary_key, name=op.f(f"pk_{name}")),
    )
    for index, columns in (indexes or {}).items():
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.create_index(index, columns, unique=False)


def drop_table(name: str, *indexes: str) -> None:
    """Drop a table's indexes (in batch mode), then the table."""
    for index in indexes:
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.drop_index(index)
    op.drop_table(name)


def create_cell_table(name: str, owner: str, owner_table: str) -> None:
    """A table of the cells an owner row covers (an area's, a warning's): the primary key
    ``(owner, cell)``, the rows deleted with their owner, an index to find a cell's owners."""
    create_table(
        name,
        sa.Column(owner, sa.Integer(), nullable=False),
        cell_column(),
        foreign_key(name, owner, owner_table, ondelete="CASCADE"),
        primary_key=(owner, "cell"),
        indexes={f"ix_{name}_cell": ["cell"]},
    )


def create_login_failures(indexes: dict[str, list[str]] | None = None) -> None:
    """The table of failed logins as 0002 made it (0003 drops it; its downgrade restores it)."""
    create_table(
        "login_failures",
        id_column(),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        time_column("at"),
        indexes=indexes,
    )
