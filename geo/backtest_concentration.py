"""Guardrail: where the top-ranked cells lie, origin after origin.

:func:`area_share_of_top` gives, at each origin, the share of the top-ranked study area
(walked by score as the hit rate walks it) lying in each area (districts, beats, grids);
:func:`summarise_concentration` reports per origin how concentrated that is (largest share,
share relative to the area's size, Herfindahl index, Gini), so a forecast that keeps
sending patrols to the same neighbourhoods shows up. :mod:`geo.backtest` re-exports them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from geo.backtest_forecasters import check_scores
from geo.checks import check_cells
from geo.errors import GeoError
from geo.evaluation import cell_areas_km2

__all__ = ["area_share_of_top", "summarise_concentration"]


def area_share_of_top(
    score_frames: Mapping[int, np.ndarray],
    cells: np.ndarray,
    area_cells: pd.DataFrame,
    top_fraction: float = 0.05,
) -> pd.DataFrame:
    """Share of the top-ranked area lying in each area (district, beat, grid), per origin.

    At each origin the cells are walked by descending score until ``top_fraction`` of the
    study area (true cell area) is covered, exactly as the hit rate walks them: the cell
    straddling the cut counts in part, and a run of tied cells straddling it counts each of
    its cells by the same part (the tie's expected share over random orderings when the tied
    cells have equal areas). Each area's share is the top area inside it over the whole top
    area.

    Parameters
    ----------
    score_frames
        ``origin_s -> scores``, one score per study cell (e.g. one mapping of
        :attr:`BacktestResult.scores`).
    cells
        Study cells: sorted, unique ``int64``.
    area_cells
        Columns ``area_id`` and ``cell`` (``int64``, same resolution as ``cells``): which
        cells make up each area. A cell belongs to at most one area; cells outside the study
        area are ignored; study cells in no area make up ``unassigned_share`` in
        :func:`summarise_concentration`.
    top_fraction
        Share of the study area counted as top, in (0, 1].

    Returns
    -------
    pandas.DataFrame
        Columns ``origin_s``, ``area_id``, ``share`` (of the top area, 0..1) and
        ``study_share`` (the area's share of the whole study area, for comparison); one row
        per origin (in the mapping's order) and area (in order of first appearance in
        ``area_cells``), zero shares included.

    Raises
    ------
    GeoError
        When the cells, areas, scores or ``top_fraction`` are malformed.
    """
    cells = check_cells(cells, ordered=True)
    member = _check_areas(area_cells, top_fraction)
    area_codes, area_ids = pd.factorize(area_cells["area_id"], sort=False)
    # Each study cell's area index, -1 for a study cell in no area.
    position = np.minimum(np.searchsorted(cells, member), cells.size - 1)
    in_study = cells[position] == member
    area_of_cell = np.full(cells.size, -1, dtype=np.int64)
    area_of_cell[position[in_study]] = area_codes[in_study]
    n_areas = len(area_ids)
    areas_km2 = cell_areas_km2(cells)
    study_share = _share_by_area(area_of_cell, areas_km2, n_areas)

    frames = []
    for origin_s, raw in score_frames.items():
        scores = check_scores(raw, cells.size, f"score_frames[{origin_s!r}]")
        top_km2 = _top_weights(scores, areas_km2, float(top_fraction)) * areas_km2
        share = _share_by_area(area_of_cell, top_km2, n_areas)
        origins = np.full(n_areas, int(origin_s), dtype=np.int64)
        frames.append(_shares_frame(origins, area_ids, share, study_share))
    if not frames:
        return _shares_frame(np.empty(0, dtype=np.int64), area_ids[:0], np.empty(0), np.empty(0))
    return pd.concat(frames, ignore_index=True)


def summarise_concentration(shares: pd.DataFrame) -> pd.DataFrame:
    """Summarise how concentrated the top cells are at each origin: the guardrail report.

    Parameters
    ----------
    shares
        From :func:`area_share_of_top`.

    Returns
    -------
    pandas.DataFrame
        One row per origin, in time order: ``origin_s``, ``n_areas``, ``n_areas_with_top``
        (areas with any top area), ``max_share``, ``max_area_id`` (the area holding it),
        ``max_ratio`` (largest ``share / study_share``: 3 means an area holds three times
        the top area its size would suggest), ``herfindahl`` (sum of squared shares: 1 when
        one area holds everything, ``1 / n_areas`` when spread evenly by count), ``gini``
        (of the shares across all areas, 0 even .. near 1 concentrated) and
        ``unassigned_share`` (top area in no listed area).

    Raises
    ------
    GeoError
        When ``shares`` lacks the columns :func:`area_share_of_top` writes.
    """
    needed = {"origin_s", "area_id", "share", "study_share"}
    if not isinstance(shares, pd.DataFrame) or not needed <= set(shares.columns):
        raise GeoError(f"shares must be the frame area_share_of_top returns, with {needed}")
    records = []
    for _, part in shares.groupby("origin_s", sort=True):
        share = part["share"].to_numpy(dtype=np.float64)
        study = part["study_share"].to_numpy(dtype=np.float64)
        ratio = np.divide(share, study, out=np.full(share.size, np.nan), where=study > 0)
        top = int(np.argmax(share)) if share.size else -1
        records.append(
            {
                "origin_s": int(part["origin_s"].iloc[0]),
                "n_areas": int(share.size),
                "n_areas_with_top": int(np.count_nonzero(share > 0)),
                "max_share": float(share[top]) if share.size else np.nan,
                "max_area_id": part["area_id"].iloc[top] if share.size else None,
                "max_ratio": float(np.nanmax(ratio)) if np.isfinite(ratio).any() else np.nan,
                "herfindahl": float(np.sum(share**2)),
                "gini": _gini(share),
                "unassigned_share": max(0.0, 1.0 - float(share.sum())),
            }
        )
    columns = [
        "origin_s",
        "n_areas",
        "n_areas_with_top",
        "max_share",
        "max_area_id",
        "max_ratio",
        "herfindahl",
        "gini",
        "unassigned_share",
    ]
    return pd.DataFrame(records, columns=columns)


# --- helpers -----------------------------------------------------------------------------------


def _check_areas(area_cells: Any, top_fraction: Any) -> np.ndarray:
    """Check the areas' cells and the top fraction; return the listed cells as int64."""
    if not isinstance(area_cells, pd.DataFrame) or not {"area_id", "cell"} <= set(
        area_cells.columns
    ):
        raise GeoError("area_cells must be a DataFrame with columns 'area_id' and 'cell'")
    if area_cells["area_id"].isna().any():
        raise GeoError("area_cells has a missing area_id; drop cells that belong to no area")
    member = _int_column(area_cells["cell"], "area_cells['cell']")
    repeated = pd.Series(member).duplicated().to_numpy()
    if repeated.any():
        raise GeoError(
            f"area_cells must list each cell in one area only; {int(member[repeated][0]):x} "
            "appears more than once"
        )
    if not (
        isinstance(top_fraction, int | float | np.floating)
        and not isinstance(top_fraction, bool)
        and 0 < top_fraction <= 1
    ):
        raise GeoError(f"top_fraction must be an area fraction in (0, 1], got {top_fraction!r}")
    return member


def _share_by_area(area_of_cell: np.ndarray, km2: np.ndarray, n_areas: int) -> np.ndarray:
    """Each area's part of the total of ``km2``; cells in no area count only in the total."""
    assigned = area_of_cell >= 0
    return np.bincount(area_of_cell[assigned], weights=km2[assigned], minlength=n_areas) / float(
        km2.sum()
    )


def _shares_frame(
    origin_s: np.ndarray, area_id: Any, share: np.ndarray, study_share: np.ndarray
) -> pd.DataFrame:
    """The frame :func:`area_share_of_top` returns, from its four columns."""
    return pd.DataFrame(
        {"origin_s": origin_s, "area_id": area_id, "share": share, "study_share": study_share}
    )


def _top_weights(scores: np.ndarray, areas: np.ndarray, top_fraction: float) -> np.ndarray:
    """Part (0..1) of each cell inside the top ``top_fraction`` of the area, ties shared."""
    order = np.argsort(-scores, kind="stable")
    ranked = scores[order]
    run_end = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True))
    run_start = np.concatenate(([0], run_end[:-1] + 1))
    cumulative = np.concatenate(([0.0], np.cumsum(areas[order])))
    target = top_fraction * cumulative[-1]
    before = cumulative[run_start]
    run_area = cumulative[run_end + 1] - before
    part = np.clip((target - before) / run_area, 0.0, 1.0)
    weights = np.empty(scores.size, dtype=np.float64)
    weights[order] = np.repeat(part, run_end - run_start + 1)
    return weights


def _gini(shares: np.ndarray) -> float:
    """Gini coefficient of non-negative shares (NaN when they sum to 0)."""
    total = float(shares.sum())
    if shares.size == 0 or total <= 0:
        return math.nan
    ranked = np.sort(shares)
    n = ranked.size
    rank = np.arange(1, n + 1)
    return float(2.0 * np.sum(rank * ranked) / (n * total) - (n + 1) / n)


def _int_column(values: pd.Series, name: str) -> np.ndarray:
    """Return an integer column as int64, or raise naming it."""
    if values.dtype.kind not in "iu":
        raise GeoError(f"{name} must hold int64 H3 ids, got dtype {values.dtype}")
    array = values.to_numpy()
    return array.view(np.int64) if array.dtype == np.uint64 else array.astype(np.int64)
