"""The Alembic migrations: they build what web.storage.schema describes, and each downgrade
leaves the schema the revision before it built."""

from __future__ import annotations

import hashlib
import json
import warnings

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from web import storage
from web.storage.engine import EXTENSION_TABLES, _alembic_config, include_name

# Every test runs on SQLite and on PostgreSQL (tests/web/conftest.py).
pytestmark = pytest.mark.databases()


def _schema(engine: sa.Engine) -> list[tuple[str, ...]]:
    """Every table and index as the database describes it (alembic_version and the tables
    extensions own left out): SQLite's stored DDL; PostgreSQL's columns (with their place in
    the table), constraints and index definitions from its catalogue."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE name != 'alembic_version' ORDER BY name"
            )
            return [(name, sql) for name, sql in rows]
    return _postgres_schema(engine)


POSTGRES_SCHEMA = """
SELECT 'column', c.relname,
       -- the column's place among the table's columns (a dropped one leaves a gap in attnum)
       row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum) || ' ' || a.attname,
       format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
       || coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'constraint', c.relname, k.conname, pg_get_constraintdef(k.oid)
FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'
UNION ALL
SELECT 'index', tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'
"""


def _postgres_schema(engine: sa.Engine) -> list[tuple[str, ...]]:
    left_out = {"alembic_version", *EXTENSION_TABLES}
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(POSTGRES_SCHEMA).all()
    return sorted(tuple(row) for row in rows if row[1] not in left_out)


def _fingerprint(schema: list[tuple[str, ...]]) -> str:
    return hashlib.sha256(json.dumps(schema).encode()).hexdigest()[:16]


# The schema each revision built when it shipped (the fingerprint of _schema on SQLite, on
# PostgreSQL 15): deployments were migrated by these revisions, so a change to one (or to a
# helper in web/storage/migrations/shapes.py) must leave its DDL exactly as it was. A new
# revision adds its line; a shipped line never changes.
SHIPPED = {
    "0001": ("d33ed355bd1e5dae", "8617803f398c4c42"),
    "0002": ("673e492a2cad0369", "8a938a5e5ccef0d5"),
    "0003": ("e152fc53ba2e458b", "b268dee888db542a"),
    "0004": ("5af1b1c7ee88bae1", "ae890814d82d0c5b"),
    "0005": ("b1eeb0394982de9e", "a2742c5257da427f"),
    "0006": ("30298f179205bebb", "60bd0f46d6283ddb"),
    "0007": ("4ee375364c135199", "49bf1eb9652b291d"),
    "0008": ("4ee375364c135199", "bf82d01272c824ba"),  # PostgreSQL only
    "0009": ("5525f3ca9c094a0e", "fd6e33e713401e31"),
    "0010": ("4349e19373b6e926", "c650aa18af451aa0"),
    "0011": ("8db0b91029f97fcc", "0d975b8c3b56f0a4"),
    "0012": ("6e3fb58c8ad1a0c6", "3161b79b39f8c8f5"),
}
REVISIONS = ["base", *SHIPPED]


@pytest.fixture
def empty(db_url: str):
    engine = storage.make_engine(db_url)
    yield engine
    engine.dispose()


def test_the_newest_migration_builds_the_schema_the_metadata_describes(empty) -> None:
    storage.init_db(empty)
    with warnings.catch_warnings(), empty.connect() as conn:
        # SQLite cannot reflect the expression index on lower(username): test_imports checks it.
        warnings.simplefilter("ignore")
        opts = {"compare_type": True, "include_name": include_name}
        context = MigrationContext.configure(conn, opts=opts)
        assert compare_metadata(context, storage.metadata) == []


def test_every_revision_builds_the_schema_it_shipped_with(empty) -> None:
    config = _alembic_config(empty)
    column = 0 if empty.dialect.name == "sqlite" else 1
    built = {}
    for revision in SHIPPED:
        command.upgrade(config, revision)
        built[revision] = _fingerprint(_schema(empty))
    shipped = {revision: prints[column] for revision, prints in SHIPPED.items()}
    assert built == shipped, "a shipped revision's DDL changed: it must stay as deployed"


def test_the_shipped_revisions_are_all_the_revisions(empty) -> None:
    """A new revision adds its fingerprint to SHIPPED (and so to the tests above and below)."""
    config = _alembic_config(empty)
    command.upgrade(config, "head")
    assert storage.current_revision(empty) == REVISIONS[-1]


@pytest.mark.parametrize(("up", "down"), list(zip(REVISIONS[1:], REVISIONS, strict=False)))
def test_a_downgrade_leaves_the_schema_of_the_revision_before(empty, up, down) -> None:
    config = _alembic_config(empty)
    command.upgrade(config, down)
    before = _schema(empty)
    command.upgrade(config, up)
    # 0008 (the PostGIS layers) changes PostgreSQL only: SQLite's schema stays as it was.
    changes = empty.dialect.name == "postgresql" or up != "0008"
    assert (_schema(empty) != before) == changes
    command.downgrade(config, down)
    assert _schema(empty) == before


def test_downgrading_from_the_newest_revision_to_the_first(empty) -> None:
    config = _alembic_config(empty)
    command.upgrade(config, "0001")
    first = _schema(empty)
    command.upgrade(config, "head")
    command.downgrade(config, "0001")
    assert _schema(empty) == first
