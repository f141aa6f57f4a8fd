"""The one module that talks to the database.

SQLite (WAL mode) is the embedded default; any SQLAlchemy URL works, so PostgreSQL can be
used later. The schema is defined here as SQLAlchemy tables and created and upgraded by
Alembic migrations in ``web/storage/migrations``. Functions take an Engine and return plain data
(DataFrames, dataclasses), never rows or cursors.

Stored forms:

- times: ``BIGINT`` seconds since the epoch, UTC (timezone-aware timestamps at the edges);
- H3 cells: ``BIGINT`` (64-bit ids; hex strings only at API, export and CLI boundaries);
- geometry: GeoJSON text in WGS-84.
"""

from __future__ import annotations

import gc
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from web import clock

__all__ = [
    "metadata",
    "make_engine",
    "init_db",
    "current_revision",
    "ImportFile",
    "ImportSummary",
    "database_key",
    "on_writes",
]

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

meta_table = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

categories = sa.Table(
    "categories",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("code", sa.String(80), nullable=False, unique=True),
    sa.Column("name_en", sa.String(120), nullable=False),
    sa.Column("name_zh", sa.String(120), nullable=False),
    sa.Column("weight", sa.Float, nullable=False),
    sa.Column("group", sa.String(40), nullable=False),
    sa.Column("police_initiated", sa.Boolean, nullable=False),
    sa.Column("aliases", sa.Text, nullable=False, server_default=""),
)

import_runs = sa.Table(
    "import_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("file", sa.Text, nullable=False),
    sa.Column("file_sha256", sa.String(64), nullable=False),
    sa.Column("source", sa.String(80), nullable=False),
    sa.Column("preset", sa.String(80)),
    sa.Column("started_at", sa.BigInteger, nullable=False),
    sa.Column("finished_at", sa.BigInteger, nullable=False),
    sa.Column("rows_read", sa.Integer, nullable=False),
    sa.Column("inserted", sa.Integer, nullable=False),
    sa.Column("duplicates", sa.Integer, nullable=False),
    sa.Column("rejected", sa.Integer, nullable=False),
    sa.Column("synthetic", sa.Boolean, nullable=False, server_default=sa.false()),
)

# Offence code, description and kind of place repeat across many incidents: stored once here
# (a few thousand rows for Chicago), which keeps incident rows small and bulk inserts fast.
incident_details = sa.Table(
    "incident_details",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("offense_code", sa.String(40), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("location_type", sa.Text, nullable=False),
    sa.UniqueConstraint(
        "offense_code", "description", "location_type", name="uq_incident_details_all"
    ),
)

incidents = sa.Table(
    "incidents",
    metadata,
    # The de-duplication key is the primary key: one B-tree, no separate unique index.
    # On SQLite the column must be declared INTEGER to be the rowid itself.
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("import_run_id", sa.Integer, sa.ForeignKey("import_runs.id"), nullable=False),
    sa.Column("source_id", sa.String(80)),
    sa.Column("occurred_at", sa.BigInteger, nullable=False),
    sa.Column("lon", sa.Float, nullable=False),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("cell", sa.BigInteger, nullable=False),
    sa.Column("category_id", sa.Integer, sa.ForeignKey("categories.id"), nullable=False),
    sa.Column("detail_id", sa.Integer, sa.ForeignKey("incident_details.id")),
    # One index: per-cell queries (a grid worker's cells, a cell's explanation) with a time
    # range. City-wide time windows scan the table (0.1-0.3 s for 700k rows), which costs
    # less overall than keeping a second index up to date on every import.
    sa.Index("ix_incidents_cell_occurred_at", "cell", "occurred_at"),
)

rejects = sa.Table(
    "rejects",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("import_run_id", sa.Integer, sa.ForeignKey("import_runs.id"), nullable=False),
    sa.Column("file", sa.Text, nullable=False),
    sa.Column("file_sha256", sa.String(64), nullable=False),
    sa.Column("line", sa.Integer, nullable=False),
    sa.Column("field", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("raw", sa.Text, nullable=False),
    # Re-importing the same file must not pile up the same rejects again.
    sa.UniqueConstraint("file_sha256", "line", name="uq_rejects_file_line"),
)

areas = sa.Table(
    "areas",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("area_id", sa.String(80), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("geometry", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False, server_default=""),
    sa.UniqueConstraint("kind", "area_id", name="uq_areas_kind_area_id"),
)

area_cells = sa.Table(
    "area_cells",
    metadata,
    sa.Column(
        "area_pk", sa.Integer, sa.ForeignKey("areas.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("cell", sa.BigInteger, primary_key=True),
    sa.Index("ix_area_cells_cell", "cell"),
)

stations = sa.Table(
    "stations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("station_id", sa.String(80), nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("name_en", sa.Text, nullable=False, server_default=""),
    sa.Column("lon", sa.Float, nullable=False),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("units", sa.Integer, nullable=False, server_default="1"),
)

# --- the site: accounts, audit, plans and check-ins -------------------------------------

ROLES = ("admin", "commander", "planner", "grid_worker")

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(80), nullable=False, unique=True),
    sa.Column("display_name", sa.Text, nullable=False, server_default=""),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("locale", sa.String(10)),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.CheckConstraint(
        "role IN ('admin', 'commander', 'planner', 'grid_worker')", name="ck_users_role"
    ),
)

# Management grids (areas of kind "grid") a grid worker is responsible for.
user_grids = sa.Table(
    "user_grids",
    metadata,
    sa.Column(
        "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "area_pk", sa.Integer, sa.ForeignKey("areas.id", ondelete="CASCADE"), primary_key=True
    ),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("user_id", sa.Integer),
    sa.Column("username", sa.String(80), nullable=False, server_default=""),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    sa.Column("ip", sa.String(64), nullable=False, server_default=""),
    sa.Index("ix_audit_log_at", "at"),
)

login_failures = sa.Table(
    "login_failures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(80), nullable=False),
    sa.Column("ip", sa.String(64), nullable=False),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Index("ix_login_failures_username", "username", "at"),
)

plans = sa.Table(
    "plans",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("plan_date", sa.String(10), nullable=False),  # local date, YYYY-MM-DD
    sa.Column("shift", sa.String(20), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # draft or published
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id")),
    sa.Column("published_at", sa.BigInteger),
    sa.Column("published_by", sa.Integer, sa.ForeignKey("users.id")),
    sa.Column("shift_start", sa.BigInteger, nullable=False),  # UTC seconds of shift start
    sa.Column("seed", sa.BigInteger, nullable=False),
    sa.Column("request", sa.Text, nullable=False),  # the form, JSON
    sa.Column("summary", sa.Text, nullable=False),  # status, totals, stats, JSON
    sa.Column("plan_json", sa.Text, nullable=False),  # planner.problem_json.plan_to_json
    sa.Column("geojson", sa.Text, nullable=False),
    sa.Column("gpx", sa.Text, nullable=False),
    sa.Column("csv", sa.Text, nullable=False),
    sa.CheckConstraint("status IN ('draft', 'published')", name="ck_plans_status"),
    sa.Index("ix_plans_plan_date", "plan_date", "shift"),
)

# One row per planned stop, so a grid worker's view and delivered-versus-planned queries
# select by cell without reading the plan documents.
plan_visits = sa.Table(
    "plan_visits",
    metadata,
    sa.Column(
        "plan_id", sa.Integer, sa.ForeignKey("plans.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("unit_id", sa.String(80), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("cell", sa.BigInteger, nullable=False),
    sa.Column("start_at", sa.BigInteger, nullable=False),  # UTC seconds
    sa.Column("end_at", sa.BigInteger, nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Index("ix_plan_visits_cell", "cell"),
)

checkins = sa.Table(
    "checkins",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("cell", sa.BigInteger, nullable=False),
    sa.Column("visited_at", sa.BigInteger, nullable=False),  # UTC seconds
    sa.Column("minutes", sa.Float, nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("plan_id", sa.Integer, sa.ForeignKey("plans.id", ondelete="SET NULL")),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Index("ix_checkins_cell", "cell", "visited_at"),
)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


# --- engine and schema -----------------------------------------------------------------


def make_engine(url: str) -> Engine:
    """Create an Engine; SQLite files get WAL mode, foreign keys and a busy timeout."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url)
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
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


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
    except sa.exc.OperationalError:
        return None


def set_meta(engine: Engine, values: dict[str, str]) -> None:
    """Store key/value settings, replacing existing keys."""
    with engine.begin() as conn:
        for key, value in values.items():
            conn.execute(sa.delete(meta_table).where(meta_table.c.key == key))
            conn.execute(sa.insert(meta_table).values(key=key, value=str(value)))


# --- categories --------------------------------------------------------------------------


def store_categories(engine: Engine, frame: pd.DataFrame) -> int:
    """Insert or update categories from a frame of :func:`geo.categories.load_categories`.

    Returns the number of rows written. Categories not in the frame are kept (incidents
    refer to them).
    """
    with engine.begin() as conn:
        return _upsert_categories(conn, frame)


def _upsert_categories(conn: Connection, frame: pd.DataFrame) -> int:
    existing = dict(conn.execute(sa.select(categories.c.code, categories.c.id)).all())
    for row in frame.to_dict("records"):
        values = {
            "code": row["code"],
            "name_en": row["name_en"],
            "name_zh": row["name_zh"],
            "weight": float(row["weight"]),
            "group": row["group"],
            "police_initiated": bool(row["police_initiated"]),
            "aliases": ";".join(row["aliases"]),
        }
        if row["code"] in existing:
            conn.execute(
                sa.update(categories).where(categories.c.code == row["code"]).values(**values)
            )
        else:
            conn.execute(sa.insert(categories).values(**values))
    return len(frame)


def load_categories_table(engine: Engine) -> pd.DataFrame:
    """Return the category table as a frame shaped like ``geo.categories.load_categories``."""
    with engine.connect() as conn:
        frame = pd.read_sql(sa.select(categories).order_by(categories.c.id), conn)
    frame["aliases"] = frame["aliases"].map(lambda s: tuple(a for a in s.split(";") if a))
    frame["police_initiated"] = frame["police_initiated"].astype(bool)
    return frame


# --- imports -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportFile:
    """One prepared file ready to be stored."""

    file: str
    file_sha256: str
    source: str
    preset: str | None
    started_at: int
    incidents: pd.DataFrame
    rejects: pd.DataFrame
    rows_read: int
    new_categories: tuple[str, ...] = ()
    synthetic: bool = False
    details: pd.DataFrame | None = None


@dataclass(frozen=True)
class ImportSummary:
    """Counts of one stored file."""

    run_id: int
    file: str
    rows_read: int
    inserted: int
    duplicates: int
    rejected: int
    new_categories: tuple[str, ...]


def _placeholders(conn: Connection, n: int) -> str:
    style = conn.dialect.paramstyle
    mark = "?" if style == "qmark" else "%s"
    return ", ".join([mark] * n)


class ImportBatch:
    """Files stored one after another inside one open transaction.

    Incidents whose key is already stored (by an earlier import or an earlier file of the
    batch) are skipped and counted as duplicates; rejects of a file already imported (same
    content hash and line) are not stored twice.
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._details = _known_details(conn)

    def add(self, item: ImportFile, finished_at: int) -> ImportSummary:
        """Store one prepared file; returns its counts."""
        conn = self._conn
        code_to_id = _ensure_categories(conn, [item])
        run_id = _insert_run(conn, item, finished_at)
        inserted = 0
        if len(item.incidents):
            columns = _incident_columns(conn, item, run_id, code_to_id, self._details)
            inserted = _insert_incidents(conn, columns)
        _insert_rejects(conn, item, run_id)
        duplicates = len(item.incidents) - inserted
        conn.execute(
            sa.update(import_runs)
            .where(import_runs.c.id == run_id)
            .values(inserted=inserted, duplicates=duplicates)
        )
        return ImportSummary(
            run_id=run_id,
            file=item.file,
            rows_read=item.rows_read,
            inserted=inserted,
            duplicates=duplicates,
            rejected=len(item.rejects),
            new_categories=item.new_categories,
        )


@contextmanager
def import_batch(engine: Engine, expected_rows: int) -> Iterator[ImportBatch]:
    """Open one transaction for storing several files; commit when the block ends.

    Any exception (a broken file found half way, Ctrl-C) rolls everything back, so the
    database is exactly as before. ``expected_rows`` (an estimate is fine) decides whether
    the incident indexes are dropped and rebuilt at the end, which is much faster when the
    batch is large next to the table (SQLite only; inside the transaction, so a rollback
    restores them).
    """
    # Building a million row tuples triggers the cyclic garbage collector hundreds of times
    # over a large heap; none of these objects form cycles, so it is paused meanwhile.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with engine.begin() as conn:
            rebuild = _bulk_load(conn, expected_rows)
            if rebuild:
                for index in incidents.indexes:
                    index.drop(conn)
            yield ImportBatch(conn)
            if rebuild:
                for index in incidents.indexes:
                    index.create(conn)
    finally:
        if collecting:
            gc.enable()


def _bulk_load(conn: Connection, n_new: int) -> bool:
    """Whether to drop the incident indexes and build them again after inserting.

    On SQLite, building an index over the whole table once is several times faster than
    updating it row by row when the batch is a large share of the table.
    """
    if conn.dialect.name != "sqlite" or n_new < 50_000:
        return False
    return n_new >= 0.3 * _count(conn, incidents)


def _ensure_categories(conn: Connection, files: Sequence[ImportFile]) -> dict[str, int]:
    known = dict(conn.execute(sa.select(categories.c.code, categories.c.id)).all())
    new = sorted({code for item in files for code in item.new_categories} - set(known))
    for code in new:
        conn.execute(
            sa.insert(categories).values(
                code=code,
                name_en=code.title(),
                name_zh=code,
                weight=1.0,
                group="other",
                police_initiated=False,
                aliases="",
            )
        )
    return dict(conn.execute(sa.select(categories.c.code, categories.c.id)).all())


def _insert_run(conn: Connection, item: ImportFile, finished_at: int) -> int:
    return conn.execute(
        sa.insert(import_runs)
        .values(
            file=item.file,
            file_sha256=item.file_sha256,
            source=item.source,
            preset=item.preset,
            started_at=item.started_at,
            finished_at=finished_at,
            rows_read=item.rows_read,
            inserted=0,
            duplicates=0,
            rejected=len(item.rejects),
            synthetic=item.synthetic,
        )
        .returning(import_runs.c.id)
    ).scalar_one()


def _incident_columns(
    conn: Connection,
    item: ImportFile,
    run_id: int,
    code_to_id: dict[str, int],
    details: dict[tuple, int],
) -> dict[str, np.ndarray]:
    frame = item.incidents
    category_id = frame["category"].map(code_to_id)
    if category_id.isna().any():
        missing = sorted(set(frame.loc[category_id.isna(), "category"]))
        raise ValueError(f"{item.file}: categories not in the table: {missing}")
    source_id = frame["source_id"].astype(object)
    return {
        "id": frame["key"].to_numpy(dtype=np.int64),
        "import_run_id": np.full(len(frame), run_id, dtype=np.int64),
        "source_id": source_id.where(source_id.notna(), None).to_numpy(dtype=object),
        "occurred_at": frame["occurred_at"].to_numpy(dtype=np.int64),
        "lon": frame["lon"].to_numpy(dtype=np.float64),
        "lat": frame["lat"].to_numpy(dtype=np.float64),
        "cell": frame["cell"].to_numpy(dtype=np.int64),
        "category_id": category_id.to_numpy(dtype=np.int64),
        "detail_id": _detail_ids(conn, item.details, details)[
            frame["detail"].to_numpy(dtype=np.int64)
        ],
    }


_INCIDENT_COLUMNS = (
    "id", "import_run_id", "source_id", "occurred_at", "lon", "lat", "cell", "category_id",
    "detail_id",
)  # fmt: skip


def _insert_incidents(conn: Connection, columns: dict[str, np.ndarray]) -> int:
    """Insert rows whose key is new; returns how many went in."""
    # Key order turns B-tree inserts into appends.
    order = np.argsort(columns["id"], kind="stable")
    rows = list(zip(*(columns[name][order].tolist() for name in _INCIDENT_COLUMNS), strict=True))
    result = conn.exec_driver_sql(
        f"INSERT INTO incidents ({', '.join(_INCIDENT_COLUMNS)}) "
        f"VALUES ({_placeholders(conn, len(_INCIDENT_COLUMNS))}) ON CONFLICT (id) DO NOTHING",
        rows,
    )
    # executemany's rowcount sums the rows inserted; a conflict inserts none.
    return int(result.rowcount)


def _insert_rejects(conn: Connection, item: ImportFile, run_id: int) -> None:
    if not len(item.rejects):
        return
    reject_rows = [
        (run_id, item.file, item.file_sha256, int(line), str(fld), str(why), raw)
        for line, fld, why, raw in zip(
            item.rejects["line"],
            item.rejects["field"],
            item.rejects["reason"],
            item.rejects["raw"],
            strict=True,
        )
    ]
    conn.exec_driver_sql(
        "INSERT INTO rejects (import_run_id, file, file_sha256, line, field, reason, raw) "
        f"VALUES ({_placeholders(conn, 7)}) ON CONFLICT (file_sha256, line) DO NOTHING",
        reject_rows,
    )


def _detail_ids(conn: Connection, details: pd.DataFrame, known: dict[tuple, int]) -> np.ndarray:
    """Return the incident_details id of each row of ``details``, adding unseen ones to the
    table and to ``known`` (value triple -> id, kept for the whole transaction)."""
    columns = ["offense_code", "description", "location_type"]
    wanted = list(zip(*(details[c].astype(str).tolist() for c in columns), strict=True))
    new = [u for u in dict.fromkeys(wanted) if u not in known]
    if new:
        last_id = conn.execute(sa.select(sa.func.max(incident_details.c.id))).scalar() or 0
        conn.execute(sa.insert(incident_details), [dict(zip(columns, u, strict=True)) for u in new])
        added = conn.execute(
            sa.select(incident_details).where(incident_details.c.id > last_id)
        ).all()
        known.update({(r.offense_code, r.description, r.location_type): r.id for r in added})
    return np.array([known[u] for u in wanted], dtype=np.int64)


def _known_details(conn: Connection) -> dict[tuple, int]:
    rows = conn.execute(sa.select(incident_details)).all()
    return {(r.offense_code, r.description, r.location_type): r.id for r in rows}


def _count(conn: Connection, table: sa.Table) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def import_version(engine: Engine) -> tuple[int, int]:
    """(number of import runs, newest run id): changes whenever an import lands."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(sa.func.count(), sa.func.max(import_runs.c.id))).one()
    return int(row[0]), int(row[1] or 0)


def list_import_runs(engine: Engine, limit: int = 100) -> pd.DataFrame:
    """Return the newest import runs first."""
    with engine.connect() as conn:
        return pd.read_sql(
            sa.select(import_runs).order_by(import_runs.c.id.desc()).limit(limit), conn
        )


def list_rejects(engine: Engine, run_id: int | None = None, limit: int = 1000) -> pd.DataFrame:
    """Return rejected rows kept for review (optionally of one import run)."""
    query = sa.select(
        rejects.c.id,
        rejects.c.import_run_id,
        rejects.c.file,
        rejects.c.line,
        rejects.c.field,
        rejects.c.reason,
        rejects.c.raw,
    ).order_by(rejects.c.id)
    if run_id is not None:
        query = query.where(rejects.c.import_run_id == run_id)
    with engine.connect() as conn:
        return pd.read_sql(query.limit(limit), conn)


def count_rows(engine: Engine) -> dict[str, int]:
    """Return the number of rows of each data table (a quick health view)."""
    tables = (incidents, rejects, import_runs, categories, areas, area_cells, stations)
    with engine.connect() as conn:
        return {t.name: _count(conn, t) for t in tables}


def table_fingerprint(engine: Engine) -> dict[str, int]:
    """Row counts plus a checksum of incident keys: equal before and after means unchanged."""
    counts = count_rows(engine)
    with engine.connect() as conn:
        counts["incident_key_sum"] = int(
            conn.execute(
                sa.select(sa.func.coalesce(sa.func.sum(incidents.c.id % 1000003), 0))
            ).scalar_one()
        )
    return counts


# --- incidents out -----------------------------------------------------------------------


def load_incidents(
    engine: Engine,
    start_s: int | None = None,
    end_s: int | None = None,
    category_codes: Iterable[str] | None = None,
    cells: Iterable[int] | None = None,
) -> pd.DataFrame:
    """Return incidents with ``occurred_at`` in [start_s, end_s) (UTC seconds).

    Columns: ``occurred_at`` (int64 UTC seconds), ``lon``, ``lat``, ``cell`` (int64),
    ``category`` (code), ``source_id``.
    """
    query = sa.select(
        incidents.c.occurred_at,
        incidents.c.lon,
        incidents.c.lat,
        incidents.c.cell,
        categories.c.code.label("category"),
        incidents.c.source_id,
    ).join(categories, categories.c.id == incidents.c.category_id)
    if start_s is not None:
        query = query.where(incidents.c.occurred_at >= int(start_s))
    if end_s is not None:
        query = query.where(incidents.c.occurred_at < int(end_s))
    if category_codes is not None:
        query = query.where(categories.c.code.in_(list(category_codes)))
    if cells is not None:
        query = query.where(incidents.c.cell.in_([int(c) for c in cells]))
    with engine.connect() as conn:
        frame = pd.read_sql(query, conn)
    return frame.astype({"occurred_at": np.int64, "cell": np.int64})


def cell_counts(engine: Engine) -> pd.DataFrame:
    """Return incident counts per base-resolution cell: columns ``cell``, ``n``."""
    query = (
        sa.select(incidents.c.cell, sa.func.count().label("n"))
        .group_by(incidents.c.cell)
        .order_by(incidents.c.cell)
    )
    with engine.connect() as conn:
        frame = pd.read_sql(query, conn)
    return frame.astype({"cell": np.int64, "n": np.int64})


def incident_summary(engine: Engine) -> dict[str, object]:
    """Return totals for the front page: incidents, first and last time, synthetic flag."""
    with engine.connect() as conn:
        total, first, last = conn.execute(
            sa.select(
                sa.func.count(),
                sa.func.min(incidents.c.occurred_at),
                sa.func.max(incidents.c.occurred_at),
            )
        ).one()
        synthetic = bool(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(import_runs)
                .where(import_runs.c.synthetic.is_(True))
            ).scalar_one()
        )
    return {"incidents": int(total), "first": first, "last": last, "synthetic": synthetic}


# --- areas and stations ------------------------------------------------------------------


def store_areas(
    engine: Engine, kind: str, frame, area_cells_frame: pd.DataFrame, source: str = ""
) -> int:
    """Replace all areas of one kind (e.g. "district", "grid", "jurisdiction").

    ``frame`` is a GeoDataFrame with ``area_id``, ``name`` and ``geometry`` (WGS-84);
    ``area_cells_frame`` has ``area_id`` and ``cell``. Returns the number of areas.
    """
    import shapely

    with engine.begin() as conn:
        old = sa.select(areas.c.id).where(areas.c.kind == kind)
        conn.execute(sa.delete(area_cells).where(area_cells.c.area_pk.in_(old)))
        conn.execute(sa.delete(areas).where(areas.c.kind == kind))
        ids = {}
        for area_id, name, geom in zip(
            frame["area_id"], frame["name"], frame.geometry, strict=True
        ):
            ids[str(area_id)] = conn.execute(
                sa.insert(areas)
                .values(
                    kind=kind,
                    area_id=str(area_id),
                    name=str(name),
                    geometry=shapely.to_geojson(shapely.set_precision(geom, 1e-6)),
                    source=source,
                )
                .returning(areas.c.id)
            ).scalar_one()
        if len(area_cells_frame):
            pk = area_cells_frame["area_id"].astype(str).map(ids)
            rows = list(
                zip(
                    pk.astype(int).tolist(),
                    area_cells_frame["cell"].astype(np.int64).tolist(),
                    strict=True,
                )
            )
            conn.exec_driver_sql(
                f"INSERT INTO area_cells (area_pk, cell) VALUES ({_placeholders(conn, 2)})", rows
            )
    return len(frame)


def list_areas(engine: Engine) -> pd.DataFrame:
    """Return every area with its kind, id, name and number of cells."""
    query = (
        sa.select(
            areas.c.kind,
            areas.c.area_id,
            areas.c.name,
            sa.func.count(area_cells.c.cell).label("n_cells"),
        )
        .select_from(areas.outerjoin(area_cells, area_cells.c.area_pk == areas.c.id))
        .group_by(areas.c.id)
        .order_by(areas.c.kind, areas.c.area_id)
    )
    with engine.connect() as conn:
        return pd.read_sql(query, conn)


def load_areas_table(engine: Engine, kind: str):
    """Return the areas of one kind as a GeoDataFrame (``area_id``, ``name``, ``geometry``)."""
    import geopandas as gpd
    import shapely

    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(areas.c.area_id, areas.c.name, areas.c.geometry)
            .where(areas.c.kind == kind)
            .order_by(areas.c.area_id)
        ).all()
    geoms = shapely.from_geojson([r.geometry for r in rows]) if rows else []
    return gpd.GeoDataFrame(
        {"area_id": [r.area_id for r in rows], "name": [r.name for r in rows]},
        geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"),
        crs="EPSG:4326",
    )


def load_area_cells(engine: Engine, kind: str) -> pd.DataFrame:
    """Return ``area_id``, ``cell`` for every area of one kind."""
    query = (
        sa.select(areas.c.area_id, area_cells.c.cell)
        .join(area_cells, area_cells.c.area_pk == areas.c.id)
        .where(areas.c.kind == kind)
        .order_by(areas.c.area_id, area_cells.c.cell)
    )
    with engine.connect() as conn:
        frame = pd.read_sql(query, conn)
    return frame.astype({"cell": np.int64})


def busiest_areas(engine: Engine, kind: str) -> list[str]:
    """Area ids of one kind, the most stored incidents first (ties in id order)."""
    area_cells_frame = load_area_cells(engine, kind)
    counts = cell_counts(engine)
    totals = (
        area_cells_frame.merge(counts, on="cell", how="left")
        .fillna({"n": 0})
        .groupby("area_id")["n"]
        .sum()
        .sort_values(ascending=False, kind="stable")
    )
    return [str(a) for a in totals.index]


def store_stations(engine: Engine, frame: pd.DataFrame) -> int:
    """Replace the stations with ``station_id, name, name_en, lon, lat, units`` rows."""
    with engine.begin() as conn:
        conn.execute(sa.delete(stations))
        for row in frame.to_dict("records"):
            conn.execute(
                sa.insert(stations).values(
                    station_id=str(row["station_id"]),
                    name=str(row["name"]),
                    name_en=str(row.get("name_en", "") or ""),
                    lon=float(row["lon"]),
                    lat=float(row["lat"]),
                    units=int(row.get("units", 1) or 1),
                )
            )
    return len(frame)


def list_stations(engine: Engine) -> pd.DataFrame:
    """Return the stations."""
    with engine.connect() as conn:
        return pd.read_sql(sa.select(stations).order_by(stations.c.station_id), conn)


def geojson_dumps(value: object) -> str:
    """Serialise to compact JSON (used for GeoJSON columns)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# --- accounts -----------------------------------------------------------------------------


def _now() -> int:
    return int(clock.now_s())


@dataclass(frozen=True)
class UserRecord:
    """One account (the password hash never leaves this module except for checking)."""

    id: int
    username: str
    display_name: str
    role: str
    active: bool
    locale: str | None
    password_hash: str


def create_user(
    engine: Engine,
    username: str,
    password_hash: str,
    role: str,
    display_name: str = "",
    locale: str | None = None,
) -> int:
    """Insert an account; raises ``ValueError`` for a taken name or an unknown role."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    with engine.begin() as conn:
        taken = conn.execute(sa.select(users.c.id).where(users.c.username == username)).first()
        if taken is not None:
            raise ValueError(f"user name {username!r} is taken")
        result = conn.execute(
            sa.insert(users).values(
                username=username,
                display_name=display_name,
                password_hash=password_hash,
                role=role,
                active=True,
                locale=locale,
                created_at=_now(),
            )
        )
        return int(result.inserted_primary_key[0])


def _user(row) -> UserRecord | None:
    if row is None:
        return None
    return UserRecord(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        role=row.role,
        active=bool(row.active),
        locale=row.locale,
        password_hash=row.password_hash,
    )


def get_user(engine: Engine, user_id: int) -> UserRecord | None:
    """Return the account with this id, or None."""
    with engine.connect() as conn:
        return _user(conn.execute(sa.select(users).where(users.c.id == user_id)).first())


def get_user_by_name(engine: Engine, username: str) -> UserRecord | None:
    """Return the account with this user name, or None."""
    with engine.connect() as conn:
        return _user(conn.execute(sa.select(users).where(users.c.username == username)).first())


def list_users(engine: Engine) -> pd.DataFrame:
    """Return every account (no hashes) with the grids assigned to it, comma-separated."""
    query = sa.select(
        users.c.id,
        users.c.username,
        users.c.display_name,
        users.c.role,
        users.c.active,
        users.c.created_at,
    ).order_by(users.c.username)
    with engine.connect() as conn:
        frame = pd.read_sql(query, conn)
        grids = pd.read_sql(
            sa.select(user_grids.c.user_id, areas.c.area_id)
            .join(areas, areas.c.id == user_grids.c.area_pk)
            .order_by(areas.c.area_id),
            conn,
        )
    joined = grids.groupby("user_id")["area_id"].agg(", ".join)
    frame["grids"] = [str(joined.get(i, "")) for i in frame["id"]]
    return frame


def update_user(
    engine: Engine,
    user_id: int,
    *,
    role: str | None = None,
    active: bool | None = None,
    password_hash: str | None = None,
    display_name: str | None = None,
    locale: str | None = None,
) -> None:
    """Change fields of one account (only those given)."""
    values: dict[str, object] = {}
    if role is not None:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
        values["role"] = role
    if active is not None:
        values["active"] = bool(active)
    if password_hash is not None:
        values["password_hash"] = password_hash
    if display_name is not None:
        values["display_name"] = display_name
    if locale is not None:
        values["locale"] = locale
    if not values:
        return
    with engine.begin() as conn:
        conn.execute(sa.update(users).where(users.c.id == user_id).values(**values))


def set_user_grids(engine: Engine, user_id: int, grid_ids: Sequence[str]) -> list[str]:
    """Assign management grids (area ids of kind ``grid``) to an account, replacing any.

    Raises ``ValueError`` naming any id that is not a stored grid; nothing changes then.
    """
    wanted = sorted({str(g).strip() for g in grid_ids if str(g).strip()})
    with engine.begin() as conn:
        rows = conn.execute(
            sa.select(areas.c.id, areas.c.area_id).where(
                areas.c.kind == "grid", areas.c.area_id.in_(wanted)
            )
        ).all()
        found = {r.area_id: r.id for r in rows}
        missing = [g for g in wanted if g not in found]
        if missing:
            raise ValueError(f"unknown grid id(s): {', '.join(missing)}")
        conn.execute(sa.delete(user_grids).where(user_grids.c.user_id == user_id))
        if found:
            conn.execute(
                sa.insert(user_grids),
                [{"user_id": user_id, "area_pk": pk} for pk in found.values()],
            )
    return wanted


def user_grid_ids(engine: Engine, user_id: int) -> list[str]:
    """Return the grid ids assigned to an account."""
    query = (
        sa.select(areas.c.area_id)
        .join(user_grids, user_grids.c.area_pk == areas.c.id)
        .where(user_grids.c.user_id == user_id)
        .order_by(areas.c.area_id)
    )
    with engine.connect() as conn:
        return [r.area_id for r in conn.execute(query)]


def user_cells(engine: Engine, user_id: int) -> np.ndarray:
    """Return the H3 cells (int64, sorted) of the grids assigned to an account."""
    query = (
        sa.select(area_cells.c.cell)
        .join(user_grids, user_grids.c.area_pk == area_cells.c.area_pk)
        .where(user_grids.c.user_id == user_id)
        .distinct()
    )
    with engine.connect() as conn:
        cells = np.array([r.cell for r in conn.execute(query)], dtype=np.int64)
    cells.sort()
    return cells


# --- audit log and login throttling -------------------------------------------------------


def audit(
    engine: Engine,
    action: str,
    *,
    user_id: int | None = None,
    username: str = "",
    detail: str = "",
    ip: str = "",
) -> None:
    """Append one entry to the audit log."""
    with engine.begin() as conn:
        conn.execute(
            sa.insert(audit_log).values(
                at=_now(),
                user_id=user_id,
                username=username,
                action=action,
                detail=detail,
                ip=ip,
            )  # fmt: skip
        )


def list_audit(engine: Engine, limit: int = 200, action: str | None = None) -> pd.DataFrame:
    """Return the newest audit entries first."""
    query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if action:
        query = query.where(audit_log.c.action == action)
    with engine.connect() as conn:
        return pd.read_sql(query, conn)


def record_login_failure(engine: Engine, username: str, ip: str) -> None:
    """Remember one failed login (for throttling)."""
    with engine.begin() as conn:
        conn.execute(sa.insert(login_failures).values(username=username, ip=ip, at=_now()))


def recent_login_failures(engine: Engine, username: str, ip: str, window_s: int) -> tuple[int, int]:
    """Failed logins in the last ``window_s``: (for this user name, from this address)."""
    since = _now() - window_s
    recent = login_failures.c.at >= since
    by_name = sa.select(sa.func.count()).where(recent, login_failures.c.username == username)
    by_ip = sa.select(sa.func.count()).where(recent, login_failures.c.ip == ip)
    with engine.connect() as conn:
        return int(conn.execute(by_name).scalar_one()), int(conn.execute(by_ip).scalar_one())


def clear_login_failures(engine: Engine, username: str) -> None:
    """Forget the failures of a user name after a successful login."""
    with engine.begin() as conn:
        conn.execute(sa.delete(login_failures).where(login_failures.c.username == username))


# --- plans and check-ins ------------------------------------------------------------------


@dataclass(frozen=True)
class StoredPlan:
    """A generated plan as stored (documents as text, request and summary as dicts)."""

    id: int
    plan_date: str
    shift: str
    status: str
    created_at: int
    created_by: int | None
    published_at: int | None
    published_by: int | None
    shift_start: int
    seed: int
    request: dict
    summary: dict
    plan_json: str
    geojson: str
    gpx: str
    csv: str


def store_plan(
    engine: Engine,
    *,
    plan_date: str,
    shift: str,
    created_by: int | None,
    shift_start: int,
    seed: int,
    request: dict,
    summary: dict,
    plan_json: str,
    geojson: str,
    gpx: str,
    csv: str,
    visits: pd.DataFrame,
) -> int:
    """Store a draft plan and its visits (``unit_id, seq, cell, start_at, end_at, value``)."""
    with engine.begin() as conn:
        result = conn.execute(
            sa.insert(plans).values(
                plan_date=plan_date,
                shift=shift,
                status="draft",
                created_at=_now(),
                created_by=created_by,
                shift_start=shift_start,
                seed=seed,
                request=geojson_dumps(request),
                summary=geojson_dumps(summary),
                plan_json=plan_json,
                geojson=geojson,
                gpx=gpx,
                csv=csv,
            )  # fmt: skip
        )
        plan_id = int(result.inserted_primary_key[0])
        if len(visits):
            rows = [
                {
                    "plan_id": plan_id,
                    "unit_id": str(r["unit_id"]),
                    "seq": int(r["seq"]),
                    "cell": int(r["cell"]),
                    "start_at": int(r["start_at"]),
                    "end_at": int(r["end_at"]),
                    "value": float(r["value"]),
                }
                for r in visits.to_dict("records")
            ]
            conn.execute(sa.insert(plan_visits), rows)
    return plan_id


def _stored_plan(row) -> StoredPlan | None:
    if row is None:
        return None
    return StoredPlan(
        id=row.id,
        plan_date=row.plan_date,
        shift=row.shift,
        status=row.status,
        created_at=row.created_at,
        created_by=row.created_by,
        published_at=row.published_at,
        published_by=row.published_by,
        shift_start=row.shift_start,
        seed=row.seed,
        request=json.loads(row.request),
        summary=json.loads(row.summary),
        plan_json=row.plan_json,
        geojson=row.geojson,
        gpx=row.gpx,
        csv=row.csv,
    )


def get_plan(engine: Engine, plan_id: int) -> StoredPlan | None:
    """Return one stored plan, or None."""
    with engine.connect() as conn:
        return _stored_plan(conn.execute(sa.select(plans).where(plans.c.id == plan_id)).first())


def list_plans(engine: Engine, limit: int = 50, status: str | None = None) -> pd.DataFrame:
    """Return plans newest first: id, date, shift, status, times, summary text."""
    query = (
        sa.select(
            plans.c.id,
            plans.c.plan_date,
            plans.c.shift,
            plans.c.status,
            plans.c.created_at,
            plans.c.created_by,
            plans.c.published_at,
            plans.c.summary,
        )
        .order_by(plans.c.plan_date.desc(), plans.c.id.desc())
        .limit(limit)
    )
    if status:
        query = query.where(plans.c.status == status)
    with engine.connect() as conn:
        return pd.read_sql(query, conn)


def previous_plan(engine: Engine, plan: StoredPlan) -> StoredPlan | None:
    """The newest published plan of the same shift on an earlier date, else None."""
    query = (
        sa.select(plans)
        .where(
            plans.c.shift == plan.shift,
            plans.c.plan_date < plan.plan_date,
            plans.c.status == "published",
        )
        .order_by(plans.c.plan_date.desc(), plans.c.id.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        return _stored_plan(conn.execute(query).first())


def publish_plan(engine: Engine, plan_id: int, user_id: int | None) -> bool:
    """Publish a draft; any other published plan for the same date and shift goes back to
    draft. Returns False when the plan does not exist."""
    with engine.begin() as conn:
        row = conn.execute(
            sa.select(plans.c.plan_date, plans.c.shift).where(plans.c.id == plan_id)
        ).first()
        if row is None:
            return False
        conn.execute(
            sa.update(plans)
            .where(
                plans.c.plan_date == row.plan_date,
                plans.c.shift == row.shift,
                plans.c.status == "published",
                plans.c.id != plan_id,
            )
            .values(status="draft", published_at=None, published_by=None)
        )
        conn.execute(
            sa.update(plans)
            .where(plans.c.id == plan_id)
            .values(status="published", published_at=_now(), published_by=user_id)
        )
    return True


def plan_visits_frame(
    engine: Engine,
    plan_id: int | None = None,
    *,
    cells: np.ndarray | None = None,
    start: int | None = None,
    end: int | None = None,
    published_only: bool = False,
) -> pd.DataFrame:
    """Planned visits (``plan_id, unit_id, seq, cell, start_at, end_at, value``).

    Filters: one plan, a set of cells (a grid worker's), visits starting in [start, end),
    published plans only.
    """
    query = sa.select(plan_visits).join(plans, plans.c.id == plan_visits.c.plan_id)
    if plan_id is not None:
        query = query.where(plan_visits.c.plan_id == plan_id)
    if cells is not None:
        query = query.where(plan_visits.c.cell.in_([int(c) for c in cells]))
    if start is not None:
        query = query.where(plan_visits.c.start_at >= start)
    if end is not None:
        query = query.where(plan_visits.c.start_at < end)
    if published_only:
        query = query.where(plans.c.status == "published")
    query = query.order_by(plan_visits.c.plan_id, plan_visits.c.unit_id, plan_visits.c.seq)
    with engine.connect() as conn:
        frame = pd.read_sql(query, conn)
    return frame.astype({"cell": np.int64})


def add_checkin(
    engine: Engine,
    user_id: int,
    cell: int,
    visited_at: int,
    minutes: float,
    note: str = "",
    plan_id: int | None = None,
) -> int:
    """Record a field visit to a cell; returns its id."""
    with engine.begin() as conn:
        result = conn.execute(
            sa.insert(checkins).values(
                user_id=user_id,
                cell=int(cell),
                visited_at=int(visited_at),
                minutes=float(minutes),
                note=note,
                plan_id=plan_id,
                created_at=_now(),
            )  # fmt: skip
        )
        return int(result.inserted_primary_key[0])


def checkins_frame(
    engine: Engine,
    *,
    cells: np.ndarray | None = None,
    start: int | None = None,
    end: int | None = None,
    plan_id: int | None = None,
    user_id: int | None = None,
) -> pd.DataFrame:
    """Check-ins with the user name, newest first, filtered like :func:`plan_visits_frame`."""
    query = _checkins_query(cells=cells, start=start, end=end, plan_id=plan_id, user_id=user_id)
    with engine.connect() as conn:
        frame = pd.read_sql(query, conn)
    return frame.astype({"cell": np.int64})


def latest_checkins(
    engine: Engine,
    limit: int,
    *,
    cells: np.ndarray | None = None,
    start: int | None = None,
    end: int | None = None,
    plan_id: int | None = None,
) -> list[dict]:
    """The newest ``limit`` check-ins as :func:`checkins_frame` rows, as plain dicts (the
    API lists them; a frame costs more than the query for a hundred rows)."""
    query = _checkins_query(cells=cells, start=start, end=end, plan_id=plan_id).limit(limit)
    with engine.connect() as conn:
        result = conn.execute(query)
        keys = list(result.keys())
        return [dict(zip(keys, row, strict=True)) for row in result]


def _checkins_query(
    *,
    cells: np.ndarray | None = None,
    start: int | None = None,
    end: int | None = None,
    plan_id: int | None = None,
    user_id: int | None = None,
) -> sa.Select:
    query = sa.select(
        checkins.c.id,
        checkins.c.user_id,
        users.c.username,
        checkins.c.cell,
        checkins.c.visited_at,
        checkins.c.minutes,
        checkins.c.note,
        checkins.c.plan_id,
        checkins.c.created_at,
    ).join(users, users.c.id == checkins.c.user_id)
    if cells is not None:
        query = query.where(checkins.c.cell.in_([int(c) for c in cells]))
    if start is not None:
        query = query.where(checkins.c.visited_at >= start)
    if end is not None:
        query = query.where(checkins.c.visited_at < end)
    if plan_id is not None:
        query = query.where(checkins.c.plan_id == plan_id)
    if user_id is not None:
        query = query.where(checkins.c.user_id == user_id)
    return query.order_by(checkins.c.visited_at.desc(), checkins.c.id.desc())


# --- write notifications (for caches kept outside this module) --------------------------

_watch_lock = threading.Lock()
_watchers: list[tuple[frozenset[str], Callable[[str], None]]] = []
_PENDING = "hotspot_pending_writes"  # key in a DBAPI connection's info: callbacks to call again


def database_key(engine) -> str:
    """The database URL (with password) that names an engine's database in every cache."""
    return engine.url.render_as_string(hide_password=False)


def on_writes(tables: Iterable[str], callback: Callable[[str], None]) -> None:
    """Call ``callback(database_key)`` whenever a statement writing to one of ``tables`` runs
    on any engine of this process, and again when its transaction ends (so a read that ran
    between the write and the commit cannot stay cached). Raw SQL that writes counts as a
    write to every table."""
    with _watch_lock:
        if not _watchers:
            sa.event.listen(sa.engine.Engine, "after_execute", _after_execute)
            sa.event.listen(sa.engine.Engine, "commit", _after_transaction)
            sa.event.listen(sa.engine.Engine, "rollback", _after_transaction)
        _watchers.append((frozenset(tables), callback))


def _written_tables(statement) -> frozenset[str] | None:
    """Tables a statement writes (empty for reads); None when unknown (raw SQL that writes)."""
    if isinstance(statement, sa.Insert | sa.Update | sa.Delete):
        return frozenset([statement.table.name])
    text = statement if isinstance(statement, str) else getattr(statement, "text", None)
    if isinstance(text, str):
        verb = text.lstrip().split(None, 1)[0].lower() if text.strip() else ""
        if verb in ("insert", "update", "delete", "replace", "drop", "alter", "create"):
            return None
    return frozenset()


def _after_execute(conn, statement, *_args) -> None:
    tables = _written_tables(statement)
    if tables is not None and not tables:
        return
    called = [cb for watched, cb in _watchers if tables is None or watched & tables]
    if not called:
        return
    key = database_key(conn.engine)
    for callback in called:
        callback(key)
    conn.info.setdefault(_PENDING, set()).update(called)


def _after_transaction(conn) -> None:
    pending = conn.info.pop(_PENDING, None)
    if pending:
        key = database_key(conn.engine)
        for callback in pending:
            callback(key)
