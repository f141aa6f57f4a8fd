"""Measuring hotspot forecasts: coverage curves, hit rate, PAI, PEI and AUC20.

Definitions follow ``shared/notes/forecasting.md``. Rank the study-area cells by forecast
score, highest first, and walk down the ranking: after each cell, x = cumulative true area /
study area and y = test incidents in the walked cells / all test incidents. Incidents outside
the study area count in the denominator as misses.

- Hit rate HR(p): y at area fraction p, interpolated linearly inside the cell straddling p.
- PAI(p) = HR(p) / p (Chainey, Tompson & Uhlig 2008).
- PEI(p) = HR(p) / HR*(p), where HR* ranks the cells by their test counts themselves.
- AUC20: the mean of HR over p in [0, 0.2]; a random forecast scores about 0.10.

Cells with equal scores form one straight segment of the curve, so a constant forecast has
HR(p) = p x (share of test incidents inside) with no randomness. When the tied cells have equal
areas the segment is exactly the mean curve over all orderings of them; with unequal areas it
agrees with that mean at both ends of the segment and in the area under it.

All functions are pure numpy, O(n log n) in the number of cells.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from h3ronpy import cells_area_km2, cells_valid

from geo.errors import GeoError

__all__ = [
    "AUC20_MAX_FRACTION",
    "DEFAULT_FRACTIONS",
    "CoverageCurve",
    "ForecastEvaluation",
    "cell_areas_km2",
    "coverage_curve",
    "best_curve",
    "hit_rate",
    "pai",
    "pei",
    "auc",
    "evaluate_forecast",
    "test_counts_from_incidents",
]

AUC20_MAX_FRACTION = 0.2
DEFAULT_FRACTIONS = (0.01, 0.05, 0.1, 0.2)


# Arrays make the generated __eq__ ambiguous, so equality is left as identity.
@dataclass(frozen=True, eq=False)
class CoverageCurve:
    """A forecast's coverage curve: hit rate against share of the study area walked.

    Attributes
    ----------
    area_fraction
        x at the curve's vertices (read-only ``float64``), strictly increasing from 0 to 1:
        one vertex at the end of each run of equally scored cells.
    hit_rate
        y at the same vertices (read-only ``float64``), from 0 to ``n_inside / n_incidents``.
    n_incidents
        All test incidents, inside and outside the study area.
    n_inside
        Test incidents in study-area cells.
    n_cells
        Cells in the study area.
    total_area
        Study area, in the unit of the cell areas (km² from :func:`cell_areas_km2`).
    """

    area_fraction: np.ndarray
    hit_rate: np.ndarray
    n_incidents: int
    n_inside: int
    n_cells: int
    total_area: float


@dataclass(frozen=True, eq=False)
class ForecastEvaluation:
    """Scores of one forecast against one test period.

    Attributes
    ----------
    fractions
        Area fractions p at which the hit rates, PAI and PEI are taken.
    hit_rates, pai, pei
        HR(p), PAI(p) and PEI(p), one per fraction (read-only ``float64``); PEI is NaN when
        no test incident falls inside the study area.
    auc20
        Mean hit rate over p in [0, 0.2].
    n_incidents
        All test incidents, inside and outside the study area.
    n_inside
        Test incidents in study-area cells.
    """

    fractions: tuple[float, ...]
    hit_rates: np.ndarray
    pai: np.ndarray
    pei: np.ndarray
    auc20: float
    n_incidents: int
    n_inside: int

    def as_dict(self) -> dict[str, float | int]:
        """Flatten to one row, e.g. ``{"hit_rate_0.01": ..., "pai_0.01": ..., "auc20": ...}``."""
        row: dict[str, float | int] = {}
        for name, values in (("hit_rate", self.hit_rates), ("pai", self.pai), ("pei", self.pei)):
            for fraction, value in zip(self.fractions, values, strict=True):
                row[f"{name}_{fraction:g}"] = float(value)
        row["auc20"] = self.auc20
        row["n_incidents"] = self.n_incidents
        row["n_inside"] = self.n_inside
        return row


def cell_areas_km2(cells: np.ndarray) -> np.ndarray:
    """Return the true (spherical) area of each H3 cell in km².

    Parameters
    ----------
    cells
        ``int64`` cell ids (``uint64`` is accepted too).

    Returns
    -------
    numpy.ndarray
        ``float64`` areas in km², one per cell.

    Raises
    ------
    GeoError
        When ``cells`` is not a 1-D integer array or holds an invalid H3 cell id.
    """
    cells = _cell_ids(cells, "cells")
    if cells.size == 0:
        return np.empty(0, dtype=np.float64)
    valid = pa.array(cells_valid(cells.view(np.uint64))).is_valid().to_numpy(zero_copy_only=False)
    if not valid.all():
        bad = int(cells[np.flatnonzero(~valid)[0]])
        raise GeoError(f"cells holds an invalid H3 cell id: {bad} ({bad & (2**64 - 1):x})")
    areas = pa.array(cells_area_km2(cells.view(np.uint64)))
    return np.asarray(areas.to_numpy(zero_copy_only=False), dtype=np.float64)


def coverage_curve(
    scores: np.ndarray, counts: np.ndarray, areas: np.ndarray, outside: int = 0
) -> CoverageCurve:
    """Build the coverage curve of a forecast.

    Parameters
    ----------
    scores
        Forecast score of each study-area cell; higher means walked first. Equal scores form
        one straight segment. ``±inf`` are allowed, NaN is not.
    counts
        Test incidents in each study-area cell (non-negative whole numbers).
    areas
        True area of each cell (positive; e.g. from :func:`cell_areas_km2`).
    outside
        Test incidents outside the study area; they count as misses.

    Returns
    -------
    CoverageCurve
        Vertices from (0, 0) to (1, share of test incidents inside).

    Raises
    ------
    GeoError
        When the arrays are empty, differ in length or hold NaN scores, negative or
        fractional counts, or non-positive areas; when there are no test incidents at all.

    Examples
    --------
    >>> curve = coverage_curve(np.zeros(3), np.array([1, 2, 1]), np.ones(3))
    >>> curve.area_fraction.tolist(), curve.hit_rate.tolist()
    ([0.0, 1.0], [0.0, 1.0])
    """
    scores, counts, areas, outside = _validate_inputs(scores, counts, areas, outside)
    return _walk(scores, counts, areas, outside)


def best_curve(counts: np.ndarray, areas: np.ndarray, outside: int = 0) -> CoverageCurve:
    """Build the best possible curve HR*: cells ranked by their test counts themselves.

    Parameters
    ----------
    counts, areas, outside
        As for :func:`coverage_curve`.

    Returns
    -------
    CoverageCurve
        The curve of the forecast whose scores are ``counts``.

    Raises
    ------
    GeoError
        As for :func:`coverage_curve`.

    Notes
    -----
    Ranking is by count, not count per area, as the definition says. Where cell areas differ
    (res-9 cells of one city differ by a few per cent) a forecast that puts a small dense cell
    first can therefore beat HR* at small p, giving PEI slightly above 1.
    """
    counts = _whole_counts(counts, "counts")
    return coverage_curve(counts, counts, areas, outside)


def hit_rate(curve: CoverageCurve, p: npt.ArrayLike) -> Any:
    """Return HR(p), the share of test incidents in the top fraction ``p`` of the area.

    Parameters
    ----------
    curve
        From :func:`coverage_curve` or :func:`best_curve`.
    p
        Area fraction(s) in [0, 1]; linear interpolation inside the straddling segment.

    Returns
    -------
    float or numpy.ndarray
        A float for a scalar ``p``, else an array shaped like ``p``.

    Raises
    ------
    GeoError
        When ``p`` is not finite or lies outside [0, 1].
    """
    fractions = _fractions(p, "p", allow_zero=True)
    return np.interp(fractions, curve.area_fraction, curve.hit_rate)


def pai(curve: CoverageCurve, p: npt.ArrayLike) -> Any:
    """Return the predictive accuracy index PAI(p) = HR(p) / p.

    Parameters, result and errors as for :func:`hit_rate`, except that ``p`` lies in (0, 1]:
    PAI(0) is undefined.
    """
    fractions = _fractions(p, "p", allow_zero=False)
    return hit_rate(curve, fractions) / fractions


def pei(curve: CoverageCurve, best: CoverageCurve, p: npt.ArrayLike) -> Any:
    """Return the predictive efficiency index PEI(p) = HR(p) / HR*(p).

    Parameters
    ----------
    curve
        From :func:`coverage_curve`.
    best
        From :func:`best_curve` on the same test counts, areas and outside incidents.
    p
        Area fraction(s) in (0, 1].

    Returns
    -------
    float or numpy.ndarray
        A float for a scalar ``p``, else an array shaped like ``p``; NaN when no test
        incident falls inside the study area (HR* is then 0).

    Raises
    ------
    GeoError
        When ``p`` lies outside (0, 1], or ``curve`` and ``best`` come from different test
        incidents or study areas.
    """
    fractions = _fractions(p, "p", allow_zero=False)
    if (curve.n_incidents, curve.n_inside, curve.n_cells) != (
        best.n_incidents,
        best.n_inside,
        best.n_cells,
    ):
        raise GeoError(
            "curve and best must come from the same test incidents and study area: got "
            f"(incidents, inside, cells) = {(curve.n_incidents, curve.n_inside, curve.n_cells)}"
            f" and {(best.n_incidents, best.n_inside, best.n_cells)}"
        )
    achieved = hit_rate(curve, fractions)
    possible = hit_rate(best, fractions)
    ratio = np.divide(
        achieved,
        possible,
        out=np.full(np.shape(achieved), np.nan),
        where=np.asarray(possible) > 0,
    )
    return ratio if np.ndim(fractions) else float(ratio)


def auc(curve: CoverageCurve, max_fraction: float = AUC20_MAX_FRACTION) -> float:
    """Return the mean hit rate over p in [0, ``max_fraction``] ("AUC20" by default).

    The exact area under the piecewise-linear curve up to ``max_fraction``, divided by
    ``max_fraction``. A constant forecast with every test incident inside scores
    ``max_fraction / 2``.

    Parameters
    ----------
    curve
        From :func:`coverage_curve`.
    max_fraction
        Upper end of the area fractions averaged over, in (0, 1].

    Returns
    -------
    float

    Raises
    ------
    GeoError
        When ``max_fraction`` is not a number in (0, 1].
    """
    if np.ndim(max_fraction) != 0:
        raise GeoError(f"max_fraction must be a single number, got {max_fraction!r}")
    end = float(_fractions(max_fraction, "max_fraction", allow_zero=False))
    x, y = curve.area_fraction, curve.hit_rate
    before = int(np.searchsorted(x, end, side="left"))  # vertices strictly left of end
    xs = np.append(x[:before], end)
    ys = np.append(y[:before], np.interp(end, x, y))
    # Width over end first: a segment spanning all of [0, end] then weighs exactly 1.
    return float(np.sum((np.diff(xs) / end) * (ys[:-1] + ys[1:]) * 0.5))


def evaluate_forecast(
    scores: np.ndarray,
    test_counts: np.ndarray,
    areas: np.ndarray,
    outside: int = 0,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
) -> ForecastEvaluation:
    """Score a forecast against test counts: hit rates, PAI, PEI and AUC20.

    Parameters
    ----------
    scores
        Forecast score of each study-area cell (higher is walked first).
    test_counts
        Test incidents in each study-area cell.
    areas
        True area of each cell.
    outside
        Test incidents outside the study area (misses).
    fractions
        Area fractions in (0, 1] at which to take HR, PAI and PEI.

    Returns
    -------
    ForecastEvaluation

    Raises
    ------
    GeoError
        As for :func:`coverage_curve`, or when ``fractions`` is empty or outside (0, 1].
    """
    scores, test_counts, areas, outside = _validate_inputs(
        scores, test_counts, areas, outside, counts_name="test_counts"
    )
    wanted = np.atleast_1d(_fractions(fractions, "fractions", allow_zero=False))
    if wanted.ndim != 1 or wanted.size == 0:
        raise GeoError(f"fractions must be a non-empty sequence of numbers, got {fractions!r}")
    curve = _walk(scores, test_counts, areas, outside)
    best = _walk(test_counts.astype(np.float64), test_counts, areas, outside)
    return ForecastEvaluation(
        fractions=tuple(float(f) for f in wanted),
        hit_rates=_read_only(hit_rate(curve, wanted)),
        pai=_read_only(pai(curve, wanted)),
        pei=_read_only(pei(curve, best, wanted)),
        auc20=auc(curve),
        n_incidents=curve.n_incidents,
        n_inside=curve.n_inside,
    )


def test_counts_from_incidents(
    study_cells: np.ndarray, incident_cells: np.ndarray
) -> tuple[np.ndarray, int]:
    """Count test incidents per study-area cell.

    Parameters
    ----------
    study_cells
        ``int64`` ids of the study-area cells, each once, in any order.
    incident_cells
        ``int64`` cell of each test incident.

    Returns
    -------
    counts : numpy.ndarray
        ``int64`` incidents per cell, aligned to ``study_cells``.
    outside : int
        Incidents whose cell is not in the study area.

    Raises
    ------
    GeoError
        When either argument is not a 1-D integer array, or ``study_cells`` repeats a cell.
    """
    study_cells = _cell_ids(study_cells, "study_cells")
    incident_cells = _cell_ids(incident_cells, "incident_cells")
    order = np.argsort(study_cells, kind="stable")
    sorted_cells = study_cells[order]
    repeated = np.flatnonzero(sorted_cells[1:] == sorted_cells[:-1])
    if repeated.size:
        cell = int(sorted_cells[repeated[0]])
        raise GeoError(f"study_cells must list each cell once; {cell:x} is repeated")
    if sorted_cells.size == 0:
        return np.zeros(0, dtype=np.int64), int(incident_cells.size)
    position = np.searchsorted(sorted_cells, incident_cells)
    # An incident past the last study cell gets position n; clip it so the lookup is safe.
    position = np.minimum(position, sorted_cells.size - 1)
    inside = sorted_cells[position] == incident_cells
    sorted_counts = np.bincount(position[inside], minlength=sorted_cells.size)
    counts = np.empty(sorted_cells.size, dtype=np.int64)
    counts[order] = sorted_counts
    return counts, int(incident_cells.size - np.count_nonzero(inside))


# Not a test, despite the name: stop pytest collecting it when tests import it.
test_counts_from_incidents.__test__ = False  # type: ignore[attr-defined]


def _walk(scores: np.ndarray, counts: np.ndarray, areas: np.ndarray, outside: int) -> CoverageCurve:
    """Walk validated cells by descending score, one vertex per run of equal scores."""
    order = np.argsort(-scores, kind="stable")
    ranked_scores = scores[order]
    cumulative_area = np.cumsum(areas[order])
    cumulative_count = np.cumsum(counts[order])
    run_ends = np.flatnonzero(np.append(ranked_scores[1:] != ranked_scores[:-1], True))
    n_inside = int(cumulative_count[-1])
    n_incidents = n_inside + outside
    total_area = float(cumulative_area[-1])
    x = np.concatenate(([0.0], cumulative_area[run_ends] / total_area))
    x[-1] = 1.0  # exact, whatever the rounding of the cumulative sum
    y = np.concatenate(([0.0], cumulative_count[run_ends] / n_incidents))
    return CoverageCurve(
        area_fraction=_read_only(x),
        hit_rate=_read_only(y),
        n_incidents=n_incidents,
        n_inside=n_inside,
        n_cells=int(scores.size),
        total_area=total_area,
    )


def _validate_inputs(
    scores: Any,
    counts: Any,
    areas: Any,
    outside: Any,
    *,
    counts_name: str = "counts",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Check and convert the per-cell arrays and the outside count of one evaluation."""
    scores = _numbers(scores, "scores")
    counts = _whole_counts(counts, counts_name)
    areas = _numbers(areas, "areas")
    if not scores.size == counts.size == areas.size:
        raise GeoError(
            f"scores, {counts_name} and areas must have one value per cell; got lengths "
            f"{scores.size}, {counts.size} and {areas.size}"
        )
    if scores.size == 0:
        raise GeoError("the study area has no cells: scores, counts and areas are empty")
    if np.isnan(scores).any():
        raise GeoError(
            f"scores must not be NaN; {np.count_nonzero(np.isnan(scores))} of {scores.size} "
            "are (give cells without a forecast a low score instead)"
        )
    if not (np.isfinite(areas).all() and (areas > 0).all()):
        bad = areas[~(np.isfinite(areas) & (areas > 0))][0]
        raise GeoError(f"areas must be positive and finite, got {bad}")
    outside = _whole_number(outside, "outside")
    if int(counts.sum()) + outside == 0:
        raise GeoError(
            f"there are no test incidents ({counts_name} sum to 0 and outside is 0); "
            "a hit rate needs at least one"
        )
    return scores, counts, areas, outside


def _numbers(values: Any, name: str) -> np.ndarray:
    """Return ``values`` as a 1-D ``float64`` array, or raise naming the argument."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise GeoError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size and array.dtype.kind not in "biuf":
        raise GeoError(f"{name} must hold numbers, got dtype {array.dtype}")
    return array.astype(np.float64)


def _whole_counts(values: Any, name: str) -> np.ndarray:
    """Return ``values`` as a 1-D ``int64`` array of non-negative whole numbers."""
    array = _numbers(values, name)
    good = np.isfinite(array) & (array >= 0) & (array == np.floor(array))
    if not good.all():
        raise GeoError(f"{name} must be non-negative whole numbers, got {array[~good][0]}")
    return array.astype(np.int64)


def _whole_number(value: Any, name: str) -> int:
    """Return a non-negative whole number as an int, or raise naming the argument."""
    is_number = isinstance(value, int | float | np.integer | np.floating)
    if isinstance(value, bool) or not is_number:
        raise GeoError(f"{name} must be a whole number of incidents, got {value!r}")
    number = float(value)
    if not (math.isfinite(number) and number >= 0 and number.is_integer()):
        raise GeoError(f"{name} must be a non-negative whole number, got {value!r}")
    return int(value)


def _cell_ids(values: Any, name: str) -> np.ndarray:
    """Return ``values`` as a 1-D ``int64`` array of cell ids, or raise naming the argument."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise GeoError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size == 0:
        return np.empty(0, dtype=np.int64)
    if array.dtype == np.uint64:
        return array.view(np.int64)
    if array.dtype.kind not in "iu":
        raise GeoError(
            f"{name} must hold integer H3 cell ids (np.int64), got dtype {array.dtype}; "
            "parse hex strings with geo.cells.cells_from_hex"
        )
    return array.astype(np.int64)


def _fractions(values: Any, name: str, *, allow_zero: bool) -> Any:
    """Check area fractions lie in [0, 1] (or (0, 1]); return a float or a float array."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise GeoError(f"{name} must be a number or an array of numbers, got {values!r}") from err
    low_ok = array >= 0 if allow_zero else array > 0
    if not (np.isfinite(array) & low_ok & (array <= 1)).all():
        interval = "[0, 1]" if allow_zero else "(0, 1]"
        raise GeoError(f"{name} must be area fractions in {interval}, got {values!r}")
    return array if array.ndim else float(array)


def _read_only(array: np.ndarray) -> np.ndarray:
    """Mark an array read-only, so a frozen result cannot be changed through it."""
    array.setflags(write=False)
    return array
