"""Import benchmark: all 690k Chicago incidents from ../shared into a fresh SQLite database
and into fresh PostgreSQL databases on a throwaway server.

For each database it prints the whole import's seconds and rows/s (reading, validation,
boundary check, de-duplication, H3 indexing, rejects and the transaction; on PostgreSQL the
rows go in by COPY), a second import of the same files (de-duplication: it must add
nothing), the peak memory of the importing process, and the targets of issues #2 and #17.
Both databases must end up with the same incidents and rejects. Run with `make bench`.

The PostgreSQL server is made with initdb and pg_ctl in a temporary folder (the test suite's
``tests/postgres.py``: a unix socket, no TCP port; as root the server runs as the
``postgres`` user) with durability on (fsync, synchronous commit, full-page writes), as a
production server has it, and is removed afterwards. Each import runs in its own process,
so each peak memory is its own (the server's processes are not counted). PostgreSQL is
measured twice: as the bulk load an import this large into an empty table is (indexes and
foreign keys set aside, COPY straight into the table) and row by row, as a batch small next
to the table goes (COPY into a staging table, INSERT ... ON CONFLICT DO NOTHING with every
index and key in place), for comparison; the target is the first's.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from verdicts import verdict  # noqa: E402  (bench/verdicts.py)

from geo.boundaries import load_boundary  # noqa: E402
from geo.categories import load_categories  # noqa: E402
from geo.cells import cells_from_points  # noqa: E402
from geo.ingest import PRESETS  # noqa: E402
from web import storage  # noqa: E402
from web.services.imports import ImportRequest, import_files  # noqa: E402
from web.storage import importing  # noqa: E402

SHARED = REPO.parent / "shared"
INCIDENTS = SHARED / "data" / "incidents" / "chicago"
BOUNDARY = SHARED / "data" / "boundaries" / "chicago" / "city_boundary.geojson"
TARGET_IMPORT_S = 10.0
TARGET_PEAK_MB = 1536.0
TARGET_H3_POINTS_S = 2_000_000
# The test cluster's settings with durability back on: the figure is a production server's.
DURABLE = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench_h3(lat: np.ndarray, lon: np.ndarray, repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        cells_from_points(lat, lon, 9)
        best = min(best, time.perf_counter() - start)
    return len(lat) / best


def chicago_files() -> list[Path]:
    files = sorted(INCIDENTS.glob("chicago_crimes_*.csv.gz"))
    if len(files) != 31:
        sys.exit(f"expected 31 monthly files in {INCIDENTS}, found {len(files)}")
    return files


def stored_digest(engine: sa.Engine) -> str:
    """A digest of every stored incident (with its category code and details) and reject,
    in key order: equal in two databases when they store the same rows."""
    i, c, d, r = storage.incidents, storage.categories, storage.incident_details, storage.rejects
    queries = (
        sa.select(i.c.id, i.c.source_id, i.c.occurred_at, i.c.lon, i.c.lat, i.c.cell, c.c.code,
                  d.c.offense_code, d.c.description, d.c.location_type)
        .join(c, c.c.id == i.c.category_id)
        .outerjoin(d, d.c.id == i.c.detail_id)
        .order_by(i.c.id),
        sa.select(r.c.file, r.c.file_sha256, r.c.line, r.c.field, r.c.reason, r.c.raw)
        .order_by(r.c.file_sha256, r.c.line),
    )  # fmt: skip
    digest = hashlib.sha256()
    with engine.connect() as conn:
        for query in queries:
            frame = pd.read_sql(query, conn)
            digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def run_import(url: str, bulk: bool = True) -> dict:
    """Import the Chicago files into the new database at ``url`` twice (in a process of
    its own); returns the timings, the counts, a fingerprint of what is stored and the
    process's peak memory. Without ``bulk`` the import stores rows as it does when they are
    few next to the table (on PostgreSQL: COPY into a staging table, then INSERT ... ON
    CONFLICT DO NOTHING with the indexes and foreign keys in place)."""
    if not bulk:
        importing.BULK_LOAD_MIN_ROWS = 10**12
    files = chicago_files()
    engine = storage.make_engine(url)
    storage.init_db(engine)
    storage.store_categories(engine, load_categories(REPO / "data" / "categories.csv"))
    request = ImportRequest(
        mapping=PRESETS["chicago"],
        source="chicago",
        timezone="America/Chicago",
        resolution=9,
        now=pd.Timestamp.now(tz="UTC"),
        preset="chicago",
        boundary=load_boundary(BOUNDARY).geometry.iloc[0],
        boundary_tolerance_m=50.0,
    )
    start = time.perf_counter()
    summaries = import_files(engine, files, request)
    elapsed = time.perf_counter() - start
    start = time.perf_counter()
    again = import_files(engine, files, request)
    reimport_s = time.perf_counter() - start
    peak = peak_rss_mb()  # before reading the tables back
    digest = stored_digest(engine)
    engine.dispose()
    return {
        "seconds": elapsed,
        "rows": sum(s.rows_read for s in summaries),
        "inserted": sum(s.inserted for s in summaries),
        "rejected": sum(s.rejected for s in summaries),
        "reimport_s": reimport_s,
        "reimport_inserted": sum(s.inserted for s in again),
        "digest": digest,
        "peak_mb": peak,
        "bulk": bulk,
    }


def in_own_process(url: str, bulk: bool = True) -> dict:
    """:func:`run_import` in a new process, so its peak memory is the import's alone."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(run_import, (url, bulk))


def print_database(name: str, result: dict) -> None:
    seconds = result["seconds"]
    print(f"  {name}")
    print(f"    rows read           {result['rows']:>12,}")
    print(f"    imported            {result['inserted']:>12,}")
    print(f"    rejected (kept)     {result['rejected']:>12,}")
    target = (f"target <= {TARGET_IMPORT_S:g} s: {verdict(seconds <= TARGET_IMPORT_S)}"
              if result["bulk"] else "for comparison (no target)")  # fmt: skip
    print(f"    whole import        {seconds:>12.2f} s   {target}")
    print(f"    rows/s              {result['rows'] / seconds:>12,.0f}")
    again = result["reimport_inserted"]
    print(f"    re-import (dedupe)  {result['reimport_s']:>12.2f} s   imported {again}: "
          f"{verdict(again == 0)}")  # fmt: skip
    peak = result["peak_mb"]
    print(f"    peak memory (RSS)   {peak:>12,.0f} MB   target <= {TARGET_PEAK_MB:g} MB: "
          f"{verdict(peak <= TARGET_PEAK_MB)}")  # fmt: skip


def postgres_imports() -> dict[str, dict]:
    """Import into new databases on a new throwaway PostgreSQL server (removed afterwards):
    as a bulk load (what an import this large into an empty table is) and row by row."""
    from tests import postgres

    postgres.SETTINGS = {**postgres.SETTINGS, **DURABLE}
    cluster = postgres.Cluster()
    try:
        cluster.start()
        return {
            "PostgreSQL (COPY, bulk load)": in_own_process(cluster.create_database()),
            "PostgreSQL (COPY, row by row: as a batch small next to the table)": in_own_process(
                cluster.create_database(), bulk=False
            ),
        }
    finally:
        cluster.stop()


def main() -> None:
    chicago_files()
    print("import benchmark: 31 Chicago files, 2016-01 .. 2018-07 (../shared/data)")
    print(f"  {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.2f} at the start")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        results = {"SQLite": in_own_process(url)}
        engine = storage.make_engine(url)
        frame = storage.load_incidents(engine)
        engine.dispose()
    try:
        results.update(postgres_imports())
    except Exception as err:  # noqa: BLE001 - a missing server is reported, SQLite still shown
        print(f"  PostgreSQL: not measured: {err}")
    for name, result in results.items():
        print_database(name, result)
    if len(results) > 1:
        same = len({result["digest"] for result in results.values()}) == 1
        print(f"  same incidents and rejects stored in each: {verdict(same)}")
    h3_rate = bench_h3(frame["lat"].to_numpy(), frame["lon"].to_numpy())
    print(f"  H3 indexing         {h3_rate:>12,.0f} points/s   target >= {TARGET_H3_POINTS_S:,}: "
          f"{verdict(h3_rate >= TARGET_H3_POINTS_S)}")  # fmt: skip


if __name__ == "__main__":
    main()
