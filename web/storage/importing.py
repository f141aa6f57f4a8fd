"""Storing incident files: categories, import runs, incidents (de-duplicated by key), their
shared details and the rejected rows kept for review, all files of a batch in one
transaction; and listing import runs and rejects afterwards."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from web.storage._shared import insert_new, placeholders, row_count
from web.storage.schema import categories, import_runs, incident_details, incidents, rejects

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

_DETAIL_COLUMNS = ("offense_code", "description", "location_type")


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
    # The distinct (offense_code, description, location_type) rows the incidents' ``detail``
    # column points at (geo.ingest.PreparedIncidents.details); none by default.
    details: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=list(_DETAIL_COLUMNS))
    )

    @classmethod
    def from_prepared(
        cls,
        prepared,
        *,
        file: str,
        file_sha256: str,
        source: str,
        preset: str | None,
        started_at: int,
        synthetic: bool = False,
    ) -> ImportFile:
        """A file (or feed batch) checked by ``geo.ingest.prepare_incidents``: its incidents,
        rejects, rows read, new categories and details."""
        return cls(
            file=file, file_sha256=file_sha256, source=source, preset=preset,
            started_at=started_at, synthetic=synthetic, incidents=prepared.incidents,
            rejects=prepared.rejects, rows_read=prepared.rows_read,
            new_categories=tuple(prepared.new_categories), details=prepared.details,
        )  # fmt: skip


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


class ImportBatch:
    """Files stored one after another inside one open transaction.

    Incidents whose key is already stored (by an earlier import or an earlier file of the
    batch) are skipped and counted as duplicates; rejects of a file already imported (same
    content hash and line) are not stored twice.
    """

    def __init__(self, conn: Connection, stored: StoredKeys | None = None) -> None:
        self._conn = conn
        self._details = known_details(conn)
        self._stored = stored

    def add(self, item: ImportFile, finished_at: int) -> ImportSummary:
        """Store one prepared file; returns its counts."""
        conn = self._conn
        code_to_id = ensure_categories(conn, [item])
        run_id = insert_run(conn, item, finished_at)
        inserted = 0
        if len(item.incidents):
            columns = incident_insert_columns(conn, item, run_id, code_to_id, self._details)
            inserted = insert_incidents(conn, columns, self._stored)
        insert_rejects(conn, item, run_id)
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

    Any exception (a broken file found half way, Ctrl-C, a killed process) rolls everything
    back, so the database is exactly as before. ``expected_rows`` (an estimate is fine)
    decides whether the incident indexes (on PostgreSQL also its foreign keys) are dropped
    and made again at the end, which is much faster when the batch is large next to the
    table (see :func:`_bulk_load`; inside the transaction, so a rollback restores them).
    """
    # Building a million row tuples triggers the cyclic garbage collector hundreds of times
    # over a large heap; none of these objects form cycles, so it is paused meanwhile.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with engine.begin() as conn:
            bulk = _bulk_load(conn, expected_rows)
            restore = _set_aside_incident_indexes(conn) if bulk else []
            # On PostgreSQL a bulk load copies new rows straight into the table.
            direct = bulk and conn.dialect.name == "postgresql"
            yield ImportBatch(conn, StoredKeys(conn) if direct else None)
            for statement in restore:
                statement(conn)
    finally:
        if collecting:
            gc.enable()


# A batch this large (and a large share of the table) sets the incident indexes aside.
BULK_LOAD_MIN_ROWS = 50_000


def _bulk_load(conn: Connection, n_new: int) -> bool:
    """Whether to drop the incident indexes and build them again after inserting.

    Building an index over the whole table once is several times faster than updating it
    row by row when the batch is a large share of the table; on PostgreSQL so is checking
    the foreign keys in one join rather than one query per row.
    """
    if n_new < BULK_LOAD_MIN_ROWS:
        return False
    if conn.dialect.name == "postgresql":
        # Large imports take turns, from before they read the table: two that both read it
        # and then both locked it for a bulk load would deadlock. Nothing else waits.
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LARGE_IMPORT_LOCK})")
    return n_new >= 0.3 * row_count(conn, incidents)


# The advisory lock of large imports on PostgreSQL (any number no other lock uses).
_LARGE_IMPORT_LOCK = 0x686F7473706F74  # "hotspot"


def _set_aside_incident_indexes(conn: Connection) -> list[Callable[[Connection], object]]:
    """Drop the incident indexes (on PostgreSQL its foreign keys too); returns the steps
    (callables taking the connection) that make them again.

    On SQLite they are the indexes of the schema; readers keep seeing the table as it was
    until the commit (WAL). On PostgreSQL they are read from the catalogue, so indexes and
    keys added by migrations only there (the PostGIS layer's GiST index) are included; the
    primary key, which finds the stored keys, stays. Dropping them locks ``incidents`` and
    the tables its keys refer to (categories, import runs, details) until the commit:
    other sessions wait the few seconds of a large import instead of reading those tables.
    """
    if conn.dialect.name != "postgresql":
        # Python's sqlite3 opens a transaction only before a data change, and runs DDL
        # outside one: without this BEGIN the DROP INDEX would be committed at once, and
        # an import stopped half way would leave the table without its indexes.
        if not _driver(conn).in_transaction:
            conn.exec_driver_sql("BEGIN")
        for index in incidents.indexes:
            index.drop(conn)
        return [index.create for index in incidents.indexes]
    # All at once, in the order every import and feed batch writes them (categories, runs,
    # details, incidents), rather than one by one as the drops below would.
    conn.exec_driver_sql(
        "LOCK TABLE categories, import_runs, incident_details, incidents IN ACCESS EXCLUSIVE MODE"
    )
    foreign_keys = conn.exec_driver_sql(
        "SELECT 'ALTER TABLE incidents DROP CONSTRAINT ' || quote_ident(conname), "
        "'ALTER TABLE incidents ADD CONSTRAINT ' || quote_ident(conname) || ' ' "
        "|| pg_get_constraintdef(oid) "
        "FROM pg_constraint WHERE conrelid = 'incidents'::regclass AND contype = 'f' "
        "ORDER BY conname"
    ).all()
    # Unique indexes stay: they decide what is a duplicate.
    indexes = conn.exec_driver_sql(
        "SELECT 'DROP INDEX ' || indexrelid::regclass::text, pg_get_indexdef(indexrelid) "
        "FROM pg_index WHERE indrelid = 'incidents'::regclass AND NOT indisunique "
        "ORDER BY indexrelid::regclass::text"
    ).all()
    for drop, _create in [*foreign_keys, *indexes]:
        conn.exec_driver_sql(drop)
    return [_statement(create) for _drop, create in [*indexes, *foreign_keys]]


def _driver(conn: Connection) -> Any:
    """The driver's own connection under ``conn`` (sqlite3's or psycopg's)."""
    driver = conn.connection.driver_connection
    if driver is None:  # only once the connection is closed
        raise RuntimeError("the database connection is closed")
    return driver


def _statement(sql: str) -> Callable[[Connection], object]:
    """A step that runs ``sql`` on the connection it is given."""
    return lambda conn: conn.exec_driver_sql(sql)


def ensure_categories(conn: Connection, files: Sequence[ImportFile]) -> dict[str, int]:
    """Add the files' new category codes (weight 1); returns every code's id."""
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


# The columns of ``import_runs`` an ImportFile holds as they are stored.
_RUN_FIELDS = ("file", "file_sha256", "source", "preset", "started_at", "rows_read", "synthetic")


def insert_run(conn: Connection, item: ImportFile, finished_at: int) -> int:
    """Add the file's ``import_runs`` row (no incidents counted yet); returns its id."""
    as_stored = {name: getattr(item, name) for name in _RUN_FIELDS}
    return conn.execute(
        sa.insert(import_runs)
        .values(
            **as_stored,
            finished_at=finished_at,
            inserted=0,
            duplicates=0,
            rejected=len(item.rejects),
        )
        .returning(import_runs.c.id)
    ).scalar_one()


def incident_insert_columns(
    conn: Connection,
    item: ImportFile,
    run_id: int,
    code_to_id: dict[str, int],
    details: dict[tuple, int],
) -> dict[str, np.ndarray]:
    """The file's incidents as the column arrays of ``incidents`` rows of run ``run_id``
    (``details``: the known details, added to as new ones are stored)."""
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


def insert_incidents(
    conn: Connection, columns: dict[str, np.ndarray], stored: StoredKeys | None = None
) -> int:
    """Insert rows whose key is new; returns how many went in.

    A key repeated within ``columns`` goes in once, its first row. On PostgreSQL the rows
    go through COPY: straight into the table when ``stored`` (the keys stored, during a
    bulk load) tells which are new, else through a staging table (:func:`_copy_new_rows`);
    elsewhere through one INSERT per row.
    """
    if not len(columns["id"]):
        return 0
    # Key order turns B-tree inserts into appends.
    order = np.argsort(columns["id"], kind="stable")
    if conn.dialect.name != "postgresql":
        rows = list(
            zip(*(columns[name][order].tolist() for name in _INCIDENT_COLUMNS), strict=True)
        )
        result = conn.exec_driver_sql(
            f"INSERT INTO incidents ({', '.join(_INCIDENT_COLUMNS)}) "
            f"VALUES ({placeholders(conn, len(_INCIDENT_COLUMNS))}) ON CONFLICT (id) DO NOTHING",
            rows,
        )
        # executemany's rowcount sums the rows inserted; a conflict inserts none.
        return int(result.rowcount)
    ids = columns["id"][order]
    keep = np.r_[True, ids[1:] != ids[:-1]]  # the first row of a repeated key, as above
    if stored is not None:
        keep &= ~stored.contains(ids)
    chosen = order[keep]
    rows = list(zip(*(columns[name][chosen].tolist() for name in _INCIDENT_COLUMNS), strict=True))
    if stored is None:
        return _copy_new_rows(conn, "incidents", _INCIDENT_COPY, rows, keys=("id",))
    _copy_rows(conn, "incidents", _INCIDENT_COPY, rows)
    stored.add(ids[keep])
    return len(rows)


class StoredKeys:
    """The incident keys stored, for a bulk load on PostgreSQL: those stored when it began
    (read once) plus those it added, so a file's new rows are known without a query and go
    straight into the table by COPY.

    Making one takes an EXCLUSIVE lock on ``incidents`` (a bulk load holds a stronger one
    already) until the transaction ends: no other session can store a key meanwhile.
    """

    def __init__(self, conn: Connection) -> None:
        conn.exec_driver_sql("LOCK TABLE incidents IN EXCLUSIVE MODE")
        result = conn.exec_driver_sql("SELECT id FROM incidents")
        self._parts = [np.sort(np.fromiter((row[0] for row in result), dtype=np.int64))]

    def contains(self, ids: np.ndarray) -> np.ndarray:
        """Whether each of ``ids`` is stored (a boolean array)."""
        found = np.zeros(len(ids), dtype=bool)
        for part in self._parts:
            if len(part):
                at = np.searchsorted(part, ids).clip(max=len(part) - 1)
                found |= part[at] == ids
        return found

    def add(self, ids: np.ndarray) -> None:
        """Note ``ids`` as stored."""
        self._parts.append(np.sort(ids))
        if len(self._parts) > 8:  # a few sorted arrays keep each look-up short
            self._parts = [np.sort(np.concatenate(self._parts))]


_REJECT_COLUMNS = ("import_run_id", "file", "file_sha256", "line", "field", "reason", "raw")


def insert_rejects(conn: Connection, item: ImportFile, run_id: int) -> None:
    """Keep a file's rejected rows for review (a file imported again adds none twice)."""
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
    if conn.dialect.name == "postgresql":
        # The first row of a repeated line, as the INSERT below keeps.
        first: dict[int, tuple] = {}
        for row in reject_rows:
            first.setdefault(row[3], row)
        _copy_new_rows(
            conn, "rejects", _REJECT_COPY, list(first.values()), keys=("file_sha256", "line")
        )
        return
    conn.exec_driver_sql(
        f"INSERT INTO rejects ({', '.join(_REJECT_COLUMNS)}) "
        f"VALUES ({placeholders(conn, 7)}) ON CONFLICT (file_sha256, line) DO NOTHING",
        reject_rows,
    )


# --- COPY on PostgreSQL ------------------------------------------------------------------

# The columns a COPY writes and their PostgreSQL types (binary COPY applies no casts).
_INCIDENT_COPY = dict(
    zip(
        _INCIDENT_COLUMNS,
        ("int8", "int4", "varchar", "int8", "float8", "float8", "int8", "int4", "int4"),
        strict=True,
    )
)
_REJECT_COPY = dict(
    zip(_REJECT_COLUMNS, ("int4", "text", "varchar", "int4", "text", "text", "text"), strict=True)
)


def _copy_rows(conn: Connection, table: str, types: dict[str, str], rows: Sequence[tuple]) -> None:
    """Write ``rows`` (values of the columns ``types`` names, in that order, with their
    PostgreSQL types: binary COPY casts nothing) into ``table`` by binary COPY, in the
    connection's open transaction."""
    names = ", ".join(types)
    cursor = _driver(conn).cursor()
    try:
        with cursor.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(list(types.values()))
            for row in rows:
                copy.write_row(row)
    finally:
        cursor.close()


def _copy_new_rows(
    conn: Connection,
    table: str,
    types: dict[str, str],
    rows: Sequence[tuple],
    keys: tuple[str, ...],
) -> int:
    """Write ``rows`` (as :func:`_copy_rows`; no two with the same ``keys``) into ``table``
    on PostgreSQL, skipping those whose ``keys`` are stored already, as ``INSERT ... ON
    CONFLICT DO NOTHING`` does; returns how many went in.

    The rows go by COPY into a temporary staging table, then one ``INSERT ... SELECT ...
    ON CONFLICT DO NOTHING`` moves the new ones across (COPY itself cannot skip a stored
    key; a key another transaction stores meanwhile is skipped too). All of it runs in the
    caller's transaction: a rollback leaves nothing behind, the staging table included.
    """
    names = ", ".join(types)
    staging = f"incoming_{table}"
    conn.exec_driver_sql(
        f"CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS "
        f"SELECT {names} FROM {table} WITH NO DATA"
    )
    _copy_rows(conn, staging, types, rows)
    result = conn.exec_driver_sql(
        f"INSERT INTO {table} ({names}) SELECT {names} FROM {staging} "
        f"ON CONFLICT ({', '.join(keys)}) DO NOTHING"
    )
    conn.exec_driver_sql(f"DROP TABLE {staging}")
    return int(result.rowcount)


def _detail_ids(conn: Connection, details: pd.DataFrame, known: dict[tuple, int]) -> np.ndarray:
    """Return the incident_details id of each row of ``details``, adding unseen ones to the
    table and to ``known`` (value triple -> id, kept for the whole transaction)."""
    columns = _DETAIL_COLUMNS
    wanted = list(zip(*(details[c].astype(str).tolist() for c in columns), strict=True))
    new = [u for u in dict.fromkeys(wanted) if u not in known]
    if new:
        # A triple another transaction stored meanwhile is skipped here and read back below.
        statement = insert_new(conn, incident_details, *columns).returning(
            incident_details.c.id, *(incident_details.c[c] for c in columns)
        )
        added = conn.execute(statement, [dict(zip(columns, u, strict=True)) for u in new])
        known.update({(r.offense_code, r.description, r.location_type): r.id for r in added})
        if any(u not in known for u in new):
            known.update(known_details(conn, details))
    return np.array([known[u] for u in wanted], dtype=np.int64)


def known_details(conn: Connection, details: pd.DataFrame | None = None) -> dict[tuple, int]:
    """Stored details (value triple -> id): all of them, or those of ``details`` (a feed
    batch needs a few, not the table)."""
    query = sa.select(incident_details)
    if details is not None:
        triples = set(zip(*(details[c].astype(str) for c in _DETAIL_COLUMNS), strict=True))
        columns = (incident_details.c[c] for c in _DETAIL_COLUMNS)
        query = query.where(sa.tuple_(*columns).in_(sorted(triples)))
    rows = conn.execute(query).all()
    return {(r.offense_code, r.description, r.location_type): r.id for r in rows}


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
