"""Scoring and backtesting data for the CLI and the site: incidents and the study area, from
the database or straight from files, shaped as geo.scoring and geo.backtest expect."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from geo.backtest import BENCHMARK_GROUPS
from geo.cells import parent_cells
from web import clock, storage

__all__ = [
    "ScoringData",
    "GROUPS",
    "scoring_data_from_db",
    "scoring_data_from_files",
    "parse_local_time",
]

#: Category groups offered by name: all crime, burglary and violent crime.
GROUPS = dict(BENCHMARK_GROUPS)


@dataclass(frozen=True)
class ScoringData:
    """Incidents (``occurred_at``, ``cell``, ``category``), study cells and the city's zone."""

    incidents: pd.DataFrame
    cells: np.ndarray
    timezone: str
    resolution: int
    category_weights: dict[str, float]


def parse_local_time(text: str, timezone: str) -> int:
    """Read an ISO date-time; without an offset it is local time in ``timezone``."""
    stamp = pd.Timestamp(text)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(timezone)
    return int(stamp.tz_convert("UTC").timestamp())


def _at_resolution(
    incidents: pd.DataFrame, cells: np.ndarray, base: int, resolution: int
) -> tuple[pd.DataFrame, np.ndarray]:
    if resolution == base:
        return incidents, cells
    if resolution > base:
        raise ValueError(f"--res {resolution} is finer than the stored resolution {base}")
    coarse = incidents.assign(cell=parent_cells(incidents["cell"].to_numpy(), resolution))
    return coarse, np.unique(parent_cells(cells, resolution))


def _study_cells(boundary_frame, resolution: int) -> np.ndarray:
    from geo.boundaries import cells_from_polygons

    # Cells whose centre lies inside the jurisdiction: the study area over which forecasts
    # are measured (5,629 cells for Chicago at resolution 9).
    cover = cells_from_polygons(boundary_frame, resolution, containment="center")
    return np.unique(cover["cell"].to_numpy(dtype=np.int64))


def scoring_data_from_db(
    engine, resolution: int | None = None, police_initiated_weight: float | None = None
) -> ScoringData:
    """Load every stored incident and the study area of the stored jurisdiction."""
    from geo.scoring import DEFAULT_POLICE_INITIATED_WEIGHT, category_weights_from_table

    meta = storage.get_meta(engine)
    base = int(meta.get("resolution", 9))
    boundary = storage.load_areas_table(engine, "jurisdiction")
    if boundary.empty:
        raise ValueError(
            "no jurisdiction boundary stored: `hotspot areas load FILE --kind jurisdiction`"
        )
    frame = storage.load_incidents(engine)[["occurred_at", "cell", "category"]]
    cells = _study_cells(boundary.assign(area_id="jurisdiction"), base)
    frame, cells = _at_resolution(frame, cells, base, resolution or base)
    weights = category_weights_from_table(
        storage.load_categories_table(engine),
        DEFAULT_POLICE_INITIATED_WEIGHT
        if police_initiated_weight is None
        else police_initiated_weight,
    )
    return ScoringData(frame, cells, meta.get("timezone", "UTC"), resolution or base, dict(weights))


def scoring_data_from_files(
    paths: Sequence[str | Path],
    preset: str,
    boundary_path: str | Path,
    timezone: str,
    resolution: int = 9,
    categories_file: str | Path | None = None,
    police_initiated_weight: float | None = None,
) -> ScoringData:
    """Read incident files and a boundary without touching the database."""
    from geo.boundaries import load_boundary
    from geo.categories import load_categories
    from geo.ingest import PRESETS, ImportRules, prepare_incidents, read_incident_table
    from geo.scoring import DEFAULT_POLICE_INITIATED_WEIGHT, category_weights_from_table
    from web.config import REPO_ROOT

    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known: {', '.join(sorted(PRESETS))}")
    mapping = PRESETS[preset]
    categories = load_categories(categories_file or REPO_ROOT / "data" / "categories.csv")
    boundary = load_boundary(boundary_path)
    rules = ImportRules(
        timezone=timezone,
        now=clock.now(),
        resolution=resolution,
        source=preset,
        known_categories=categories,
    )
    frames = []
    for path in paths:
        prepared = prepare_incidents(read_incident_table(path, mapping), mapping, rules)
        frames.append(prepared.incidents[["occurred_at", "cell", "category"]])
    incidents = pd.concat(frames, ignore_index=True).astype({"category": object})
    weights = category_weights_from_table(
        categories,
        DEFAULT_POLICE_INITIATED_WEIGHT
        if police_initiated_weight is None
        else police_initiated_weight,
    )
    cells = _study_cells(boundary.assign(area_id="jurisdiction"), resolution)
    return ScoringData(incidents, cells, timezone, resolution, dict(weights))
