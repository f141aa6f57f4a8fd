"""The database itself: opening an engine, creating and upgrading the schema, and the
key/value settings stored with the data (``meta``).

Alembic runs the migrations in ``web/storage/migrations`` (:data:`MIGRATIONS_DIR`), whose
target is :data:`web.storage.schema.metadata`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from web.storage._shared import upsert
from web.storage.schema import meta_table

if TYPE_CHECKING:
    from alembic.runtime.environment import NameFilterParentNames, NameFilterType

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


# --- engine and migrations ---------------------------------------------------------------


def make_engine(url: str) -> Engine:
    """Create an Engine; SQLite files get WAL mode, foreign keys and a busy timeout, database
    servers a pool that checks its connections before use."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    options = {}
    if not url.startswith("sqlite"):
        # A database server may restart or drop connections: each pooled connection is
        # checked before use (a cheap ping) and replaced when it is gone, so the site
        # recovers by itself once the server is back.
        options = {"pool_pre_ping": True, "pool_recycle": 3600}
    engine = sa.create_engine(url, **options)
    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # pragma: no cover - trivial
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=10000")
            # 256 MB page cache: bulk imports insert in key order into a large B-tree.
            cursor.execute("PRAGMA cache_size=-262144")
            # Index builds sort in memory on two threads (bulk imports rebuild indexes).
            cursor.execute("PRAGMA temp_store=MEMORY")
            cursor.execute("PRAGMA threads=2")
            cursor.close()

    return engine


def _alembic_config(engine: Engine):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # The option is read through configparser's interpolation: a literal % (a URL-encoded
    # socket folder or password) must be doubled.
    url = engine.url.render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


# Tables extensions own, not the migrations: PostGIS's spatial_ref_sys (in the public schema).
EXTENSION_TABLES = frozenset({"spatial_ref_sys"})

# The GIS layers migration 0008 adds on PostgreSQL only: each table's generated ``geom``
# column (SRID 4326, computed from lon/lat or the area's GeoJSON) and its GiST index. The
# site never reads or writes them, so the metadata (shared with SQLite) leaves them out. (The
# view incident_layer, 0008's too, needs no filter: Alembic compares tables, not views.)
POSTGIS_LAYERS = ("areas", "stations", "incidents")
POSTGIS_COLUMN = "geom"


def include_name(
    name: str | None, type_: NameFilterType, parent_names: NameFilterParentNames
) -> bool:
    """Alembic's ``include_name`` filter: leave out the tables extensions own (PostGIS) and
    the PostGIS layers' columns and indexes, so comparing the database with the metadata
    sees only what the metadata describes."""
    if type_ == "table":
        return name not in EXTENSION_TABLES
    if parent_names.get("table_name") not in POSTGIS_LAYERS:
        return True
    if type_ == "column":
        return name != POSTGIS_COLUMN
    if type_ == "index":
        return name != f"ix_{parent_names['table_name']}_{POSTGIS_COLUMN}"
    return True


def init_db(engine: Engine) -> None:
    """Create or upgrade the schema to the newest migration (idempotent)."""
    from alembic import command

    config = _alembic_config(engine)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def current_revision(engine: Engine) -> str | None:
    """Return the schema's Alembic revision, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


# --- meta --------------------------------------------------------------------------------


def get_meta(engine: Engine) -> dict[str, str]:
    """Return the key/value settings stored with the data (city, timezone, resolution)."""
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(meta_table.c.key, meta_table.c.value)).all())


def stored_timezone(engine: Engine) -> str | None:
    """The city's timezone stored with the data; None before ``init-db`` or on a new database."""
    try:
        return get_meta(engine).get("timezone")
    except (sa.exc.OperationalError, sa.exc.ProgrammingError):  # no meta table (PostgreSQL:
        return None  # ProgrammingError), or no database file (SQLite: OperationalError)


def set_meta(engine: Engine, values: dict[str, str]) -> None:
    """Store key/value settings, replacing existing keys."""
    if not values:
        return
    with engine.begin() as conn:
        conn.execute(
            upsert(conn, meta_table, "key", update=("value",)),
            [{"key": key, "value": str(value)} for key, value in values.items()],
        )
