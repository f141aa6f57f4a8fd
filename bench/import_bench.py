"""Import benchmark: all 690k Chicago incidents from ../shared into a fresh SQLite database.

Prints rows/s of the whole import (reading, validation, boundary check, de-duplication,
H3 indexing, rejects and the transaction), the H3 step's points/s, peak memory, and the
targets of issue #2. Run with `make bench`.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from geo.boundaries import load_boundary  # noqa: E402
from geo.categories import load_categories  # noqa: E402
from geo.cells import cells_from_points  # noqa: E402
from geo.ingest import PRESETS  # noqa: E402
from web import storage  # noqa: E402
from web.services.imports import ImportRequest, import_files  # noqa: E402

SHARED = REPO.parent / "shared"
INCIDENTS = SHARED / "data" / "incidents" / "chicago"
BOUNDARY = SHARED / "data" / "boundaries" / "chicago" / "city_boundary.geojson"
TARGET_IMPORT_S = 10.0
TARGET_PEAK_MB = 1536.0
TARGET_H3_POINTS_S = 2_000_000


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def bench_h3(lat: np.ndarray, lon: np.ndarray, repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        cells_from_points(lat, lon, 9)
        best = min(best, time.perf_counter() - start)
    return len(lat) / best


def main() -> None:
    files = sorted(INCIDENTS.glob("chicago_crimes_*.csv.gz"))
    if len(files) != 31:
        sys.exit(f"expected 31 monthly files in {INCIDENTS}, found {len(files)}")
    boundary = load_boundary(BOUNDARY).geometry.iloc[0]
    with tempfile.TemporaryDirectory() as tmp:
        engine = storage.make_engine(f"sqlite:///{tmp}/bench.db")
        storage.init_db(engine)
        storage.store_categories(engine, load_categories(REPO / "data" / "categories.csv"))
        request = ImportRequest(
            mapping=PRESETS["chicago"],
            source="chicago",
            timezone="America/Chicago",
            resolution=9,
            now=pd.Timestamp.now(tz="UTC"),
            preset="chicago",
            boundary=boundary,
            boundary_tolerance_m=50.0,
        )
        start = time.perf_counter()
        summaries = import_files(engine, files, request)
        elapsed = time.perf_counter() - start
        rows = sum(s.rows_read for s in summaries)
        inserted = sum(s.inserted for s in summaries)
        rejected = sum(s.rejected for s in summaries)
        start = time.perf_counter()
        again = import_files(engine, files, request)
        reimport_s = time.perf_counter() - start
        frame = storage.load_incidents(engine)
        engine.dispose()
    h3_rate = bench_h3(frame["lat"].to_numpy(), frame["lon"].to_numpy())
    peak = peak_rss_mb()
    print("import benchmark: 31 Chicago files, 2016-01 .. 2018-07 (../shared/data)")
    print(f"  rows read           {rows:>12,}")
    print(f"  imported            {inserted:>12,}")
    print(f"  rejected (kept)     {rejected:>12,}")
    print(f"  whole import        {elapsed:>12.2f} s   target <= {TARGET_IMPORT_S:g} s: "
          f"{verdict(elapsed <= TARGET_IMPORT_S)}")  # fmt: skip
    print(f"  rows/s              {rows / elapsed:>12,.0f}")
    again_inserted = sum(s.inserted for s in again)
    print(f"  re-import (dedupe)  {reimport_s:>12.2f} s   imported {again_inserted}")
    print(f"  H3 indexing         {h3_rate:>12,.0f} points/s   target >= {TARGET_H3_POINTS_S:,}: "
          f"{verdict(h3_rate >= TARGET_H3_POINTS_S)}")  # fmt: skip
    print(f"  peak memory (RSS)   {peak:>12,.0f} MB   target <= {TARGET_PEAK_MB:g} MB: "
          f"{verdict(peak <= TARGET_PEAK_MB)}")  # fmt: skip


if __name__ == "__main__":
    main()
