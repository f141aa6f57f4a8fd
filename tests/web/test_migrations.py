"""The Alembic migrations: they build what web.storage.schema describes, and each downgrade
leaves the schema the revision before it built."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from web import storage
from web.storage.engine import _alembic_config


def _schema(engine: sa.Engine) -> list[tuple[str, str]]:
    """Every table and index as SQLite stores its DDL (the alembic_version table left out)."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE name != 'alembic_version' ORDER BY name"
        )
        return [(name, sql) for name, sql in rows]


@pytest.fixture
def empty(tmp_path: Path):
    engine = storage.make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    yield engine
    engine.dispose()


def test_the_newest_migration_builds_the_schema_the_metadata_describes(empty) -> None:
    storage.init_db(empty)
    with warnings.catch_warnings(), empty.connect() as conn:
        # SQLite cannot reflect the expression index on lower(username): test_imports checks it.
        warnings.simplefilter("ignore")
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, storage.metadata) == []


@pytest.mark.parametrize(
    ("up", "down"),
    [
        ("0001", "base"),
        ("0002", "0001"),
        ("0003", "0002"),
        ("0004", "0003"),
        ("0005", "0004"),
    ],
)
def test_a_downgrade_leaves_the_schema_of_the_revision_before(empty, up, down) -> None:
    config = _alembic_config(empty)
    command.upgrade(config, down)
    before = _schema(empty)
    command.upgrade(config, up)
    assert _schema(empty) != before
    command.downgrade(config, down)
    assert _schema(empty) == before


def test_downgrading_from_the_newest_revision_to_the_first(empty) -> None:
    config = _alembic_config(empty)
    command.upgrade(config, "0001")
    first = _schema(empty)
    command.upgrade(config, "head")
    command.downgrade(config, "0001")
    assert _schema(empty) == first
