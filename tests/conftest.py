"""Shared test fixtures: paths to ../shared data and small files made from it."""

from __future__ import annotations

import gzip
from pathlib import Path

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
