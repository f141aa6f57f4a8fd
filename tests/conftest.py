"""Shared test fixtures: paths to ../shared data and small files made from it."""

from __future__ import annotations

import functools
import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CHICAGO_INCIDENTS = SHARED / "data" / "incidents" / "chicago"
CHICAGO_BOUNDARIES = SHARED / "data" / "boundaries" / "chicago"


def chicago_lines(month: str = "2016-01", n: int = 200) -> list[bytes]:
    """Return the header and the first ``n`` data lines (raw bytes, CRLF kept) of a month."""
    with gzip.open(CHICAGO_INCIDENTS / f"chicago_crimes_{month}.csv.gz", "rb") as handle:
        return [handle.readline() for _ in range(n + 1)]


@pytest.fixture
def chicago_sample(tmp_path: Path) -> Path:
    """A 200-row CSV cut from the real January 2016 Chicago file."""
    path = tmp_path / "chicago_sample.csv"
    path.write_bytes(b"".join(chicago_lines()))
    return path


@functools.lru_cache(maxsize=4)
def _chicago_frame(first: str, last: str) -> pd.DataFrame:
    from geo.categories import load_categories
    from geo.ingest import PRESETS, ImportRules, prepare_incidents, read_incident_table

    rules = ImportRules(
        timezone="America/Chicago",
        now=pd.Timestamp("2026-01-01", tz="UTC"),
        resolution=9,
        source="chicago",
        known_categories=load_categories(REPO / "data" / "categories.csv"),
    )
    frames = []
    for month in pd.period_range(start=first, end=last, freq="M"):
        table = read_incident_table(
            CHICAGO_INCIDENTS / f"chicago_crimes_{month}.csv.gz", PRESETS["chicago"]
        )
        prepared = prepare_incidents(table, PRESETS["chicago"], rules)
        frames.append(prepared.incidents[["occurred_at", "cell", "category"]])
    frame = pd.concat(frames, ignore_index=True)
    return frame.astype({"occurred_at": np.int64, "cell": np.int64, "category": object})


def chicago_incident_frame(first: str, last: str) -> pd.DataFrame:
    """Located Chicago incidents of the months ``first`` .. ``last`` (YYYY-MM) as the scoring
    libraries take them (``occurred_at`` UTC seconds, res-9 ``cell``, ``category``), read
    through the importer's own checks; a fresh copy per call."""
    return _chicago_frame(first, last).copy()
