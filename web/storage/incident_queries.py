"""Reading incidents back (by time, category and cell; counts per cell; front-page totals)
and row counts of the data tables."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from web.storage._shared import row_count
from web.storage.schema import (
    area_cells,
    areas,
    categories,
    import_runs,
    incidents,
    rejects,
    stations,
)


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


# --- row counts of the data tables -------------------------------------------------------


def count_rows(engine: Engine) -> dict[str, int]:
    """Return the number of rows of each data table (a quick health view)."""
    tables = (incidents, rejects, import_runs, categories, areas, area_cells, stations)
    with engine.connect() as conn:
        return {t.name: row_count(conn, t) for t in tables}


def incident_count(engine: Engine) -> int:
    """The number of stored incidents."""
    with engine.connect() as conn:
        return row_count(conn, incidents)


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


def incident_columns(engine: Engine, chunk_rows: int = 500_000) -> Iterator[dict[str, np.ndarray]]:
    """Every incident's ``occurred_at`` (int64 UTC seconds), ``cell`` (int64) and
    ``category_id`` (int64), about ``chunk_rows`` rows at a time (in key ranges): the three
    columns the site's data is built from.

    No Python object is made per row: on SQLite each chunk's columns come back as three
    comma-separated texts (``group_concat``) that numpy parses; elsewhere rows are fetched
    into one int64 array per chunk.
    """
    names = ("occurred_at", "cell", "category_id")
    with engine.connect() as conn:
        sqlite = engine.dialect.name == "sqlite"
        cache_size = None
        if sqlite:  # one pass over the table gains nothing from a large page cache
            cache_size = conn.exec_driver_sql("PRAGMA cache_size").scalar()
            conn.exec_driver_sql("PRAGMA cache_size=-4096")
        try:
            total = row_count(conn, incidents)
            n_chunks = max(1, -(-total // max(1, chunk_rows)))
            # Keys are 64-bit hashes spread evenly over the signed range: equal key ranges
            # hold about equal numbers of rows.
            edges = [-(2**63) + (2**64 * i) // n_chunks for i in range(n_chunks)] + [2**63]
            for low, high in zip(edges[:-1], edges[1:], strict=True):
                in_range = incidents.c.id >= low
                if high < 2**63:
                    in_range = in_range & (incidents.c.id < high)
                if sqlite:
                    query = sa.select(*(sa.func.group_concat(incidents.c[n]) for n in names)).where(
                        in_range
                    )
                    texts = conn.execute(query).one()
                    columns = {
                        n: np.fromstring(t or "", dtype=np.int64, sep=",")
                        for n, t in zip(names, texts, strict=True)
                    }
                else:
                    query = sa.select(*(incidents.c[n] for n in names)).where(in_range)
                    values = np.array(conn.execute(query).fetchall(), dtype=np.int64)
                    values = values.reshape(-1, len(names))
                    columns = {n: values[:, i].copy() for i, n in enumerate(names)}
                if len(columns["occurred_at"]):
                    yield columns
        finally:
            if cache_size is not None:
                conn.exec_driver_sql(f"PRAGMA cache_size={int(cache_size)}")
