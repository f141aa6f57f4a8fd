"""Importing incident files: geo reads and checks them, storage writes them atomically."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import shapely
from sqlalchemy.engine import Engine

from geo.boundaries import expand_boundary
from geo.ingest import ColumnMapping, ImportRules, prepare_incidents, read_incident_table
from web import clock, storage

__all__ = ["ImportRequest", "import_files", "file_sha256", "stored_boundary"]


@dataclass(frozen=True)
class ImportRequest:
    """What to import and how (everything but the files themselves)."""

    mapping: ColumnMapping
    source: str
    timezone: str
    resolution: int
    now: pd.Timestamp
    preset: str | None = None
    boundary: object | None = None
    boundary_tolerance_m: float = 0.0
    strict_categories: bool = False
    synthetic: bool = False


def file_sha256(path: Path) -> str:
    """Return the SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def stored_boundary(engine: Engine):
    """Return the stored jurisdiction boundary as one geometry, or None."""
    frame = storage.load_areas_table(engine, "jurisdiction")
    if frame.empty:
        return None
    return shapely.union_all(frame.geometry.to_numpy())


def import_files(
    engine: Engine,
    paths: Sequence[str | Path],
    request: ImportRequest,
    progress: Callable[[str], None] | None = None,
) -> list[storage.ImportSummary]:
    """Read, check and store incident files; all files in one transaction.

    All files go into one transaction, so a whole-file problem in any of them (raised as
    ``geo.errors.FileFormatError``) leaves the database untouched. ``progress`` is called
    with a short message after each file.
    """
    known = storage.load_categories_table(engine)
    if known.empty:
        raise RuntimeError("the category table is empty: run `hotspot init-db` first")
    boundary = request.boundary
    if boundary is not None:
        # Expand once for all files: buffering is slow next to testing the points.
        boundary = expand_boundary(boundary, request.boundary_tolerance_m)
    rules = ImportRules(
        timezone=request.timezone,
        now=request.now,
        resolution=request.resolution,
        source=request.source,
        known_categories=known,
        boundary=boundary,
        boundary_tolerance_m=0.0,
        strict_categories=request.strict_categories,
    )

    def prepare(raw_path: str | Path) -> storage.ImportFile:
        path = Path(raw_path)
        started = int(clock.now_s())
        table = read_incident_table(path, request.mapping)
        result = prepare_incidents(table, request.mapping, rules)
        return storage.ImportFile.from_prepared(
            result,
            file=str(path),
            file_sha256=file_sha256(path),
            source=request.source,
            preset=request.preset,
            started_at=started,
            synthetic=request.synthetic,
        )

    # Reading and checking release the GIL for most of their work (Arrow, H3, numpy), and so
    # does SQLite while it writes: a worker prepares the next files while this thread
    # stores the last one. Everything goes into one transaction, so a broken file found
    # late still leaves the database as it was.
    paths = list(paths)
    summaries = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        pending = pool.map(prepare, paths)
        first = next(pending, None)
        if first is None:
            return []
        # The first file's size times the number of files estimates the batch.
        expected = len(first.incidents) * len(paths)
        with storage.import_batch(engine, expected_rows=expected) as batch:
            for item in itertools.chain([first], pending):
                finished = int(clock.now_s())
                summaries.append(batch.add(item, finished_at=finished))
                if progress is not None:
                    progress(f"stored {Path(item.file).name}")
    return summaries
