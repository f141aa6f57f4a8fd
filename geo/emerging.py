"""Emerging hot spots: how Gi* hot and cold spots change over time in each cell.

The chain, each step a function of plain arrays:

1. :func:`space_time_cube` counts incidents per study-area cell and time step.
2. :func:`cube_gi_star` scores every cell and step with Gi* over a space-time neighbourhood:
   the cell's ring neighbours (itself included) in the same step and in the previous
   ``time_window_bins`` steps. The mean and variance are those of the whole cube, so a step
   is hot relative to the whole period, not only to its own week.
3. :func:`cube_significance` marks each cell and step significantly hot or cold, with the
   Benjamini-Hochberg false discovery rate correction applied to each time step's cells.
4. :func:`mann_kendall` tests each cell's series of z-scores for a monotonic trend.
5. :func:`classify_emerging` names the pattern of each cell.

:func:`emerging_hotspots` runs the chain. The class names are the ones commanders know from
ArcGIS Pro's Emerging Hot Spot Analysis; the rules are the team's own
(``shared/notes/forecasting.md``), restated here.

Classes
-------
Take one cell over ``n`` time steps. A step is *hot* when its Gi* z-score is positive and
significant, *cold* when negative and significant. "Mostly hot" means hot in at least 90 % of
the steps (``10 * hot steps >= 9 * n``). A trend is significant when the Mann-Kendall
p-value is at most ``alpha``; it is upward when its z is positive.

Hot classes:

new hot spot
    The final step is the first and only hot step.
consecutive hot spot
    The hot steps form a single unbroken run of two or more steps that reaches the final
    step, and the cell is not mostly hot.
intensifying hot spot
    Mostly hot, hot in the final step, and a significant upward trend.
persistent hot spot
    Mostly hot, hot in the final step, and no significant trend.
diminishing hot spot
    Mostly hot, hot in the final step, and a significant downward trend.
sporadic hot spot
    Hot now and then but not mostly, never cold, and neither new nor consecutive.
oscillating hot spot
    Hot in the final step and cold in at least one earlier step, and not mostly hot.
historical hot spot
    Mostly hot, but not hot in the final step.

The eight cold classes mirror these with hot and cold swapped; for cold cells an
intensifying trend is downward (z-scores falling further below zero) and a diminishing one
upward. Every other cell has ``no pattern``.

Where the notes' wording lets two classes match, this module decides so:

- The final step picks the side: a cell hot in the final step gets a hot class, one cold in
  the final step a cold class. (When the final step is neither, at most one side can match.)
- Among mostly-hot cells the final step decides: hot in it gives intensifying, persistent or
  diminishing by the trend; not hot in it gives historical, whatever the trend.
- Oscillating wins over new and consecutive: a cell that was cold before turning hot is
  oscillating, so new, consecutive and sporadic all mean "never cold".
- Mostly-hot classes win over new, which can only collide for a one-step cube.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from geo.checks import check_seconds, check_whole
from geo.errors import GeoError
from geo.hotspots import (
    _as_weights,
    _check_alpha,
    _gi_star_z,
    _study_cells,
    fdr_significance,
    p_values,
    ring_weights,
)

__all__ = [
    "WEEK_S",
    "EMERGING_CATEGORIES",
    "EMERGING_COLUMNS",
    "TrendTest",
    "space_time_cube",
    "cube_gi_star",
    "cube_significance",
    "mann_kendall",
    "classify_emerging",
    "emerging_hotspots",
]

#: Seconds in a week: the default time step.
WEEK_S = 7 * 86400
#: Most counts a space-time cube may hold (cells x steps): 10 years of weeks over 38,000
#: cells. 100,000 weeks over a city's 11,687 cells took 24 GB before the process was killed.
MAX_CUBE_VALUES = 20_000_000

_PATTERNS = (
    "new",
    "consecutive",
    "intensifying",
    "persistent",
    "diminishing",
    "sporadic",
    "oscillating",
    "historical",
)

#: Category labels of :func:`classify_emerging`, in display order.
EMERGING_CATEGORIES: tuple[str, ...] = (
    *(f"{pattern} hot spot" for pattern in _PATTERNS),
    *(f"{pattern} cold spot" for pattern in _PATTERNS),
    "no pattern",
)

#: Columns of :func:`emerging_hotspots`, in order.
EMERGING_COLUMNS: tuple[str, ...] = (
    "cell",
    "category",
    "trend_z",
    "trend_p",
    "n_hot_bins",
    "n_cold_bins",
    "last_bin_z",
)


class TrendTest(NamedTuple):
    """Mann-Kendall test results, one entry per series."""

    s: NDArray[np.int64]
    """Kendall's S: concordant minus discordant pairs in time order."""
    z: NDArray[np.float64]
    """Normal score of S with continuity correction and tie-corrected variance."""
    p: NDArray[np.float64]
    """Two-sided p-value of ``z``."""


def space_time_cube(
    cells: ArrayLike,
    incident_cells: ArrayLike,
    incident_times: ArrayLike,
    start_s: int,
    end_s: int,
    bin_s: int = WEEK_S,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Count incidents per study-area cell and time step.

    Steps are aligned to the end of the window: the final step is ``[end_s - bin_s, end_s)``
    and steps run back from it. When ``end_s - start_s`` is not a whole number of steps, the
    leftover at the start is dropped, so every step is full length and the final step, the
    one the emerging classes look at hardest, is never partial.

    Parameters
    ----------
    cells
        Distinct ``int64`` H3 cells of one resolution: the study area.
    incident_cells
        ``int64`` cell of each incident; incidents in cells outside ``cells`` are ignored.
    incident_times
        Time of each incident in integer UTC seconds; incidents outside the steps are ignored.
    start_s, end_s
        Window in UTC seconds, ``end_s`` exclusive.
    bin_s
        Step length in seconds (default one week).

    Returns
    -------
    counts : numpy.ndarray
        ``int64`` array of shape ``(len(cells), n_steps)``.
    bin_edges : numpy.ndarray
        ``int64`` array of the ``n_steps + 1`` step edges in UTC seconds; step ``t`` is
        ``[bin_edges[t], bin_edges[t + 1])``.

    Raises
    ------
    GeoError
        For invalid cells, incident arrays of different lengths, or a window shorter than
        one step.
    """
    study = _study_cells(cells)
    start_s = check_seconds(start_s, "start_s")
    end_s = check_seconds(end_s, "end_s")
    bin_s = check_whole(bin_s, "bin_s", minimum=1)
    n_bins = (end_s - start_s) // bin_s
    if n_bins < 1:
        raise GeoError(f"the window {start_s}..{end_s} is shorter than one step of {bin_s} s")
    if n_bins * study.size > MAX_CUBE_VALUES:
        raise GeoError(
            f"{n_bins:,} steps of {bin_s} s over {study.size} cells is more than the "
            f"{MAX_CUBE_VALUES:,} counts a space-time cube may hold: use a shorter window"
        )
    incident_cells = np.asarray(incident_cells)
    incident_times = np.asarray(incident_times)
    if incident_cells.ndim != 1 or incident_cells.shape != incident_times.shape:
        raise GeoError(
            "incident_cells and incident_times must be 1-D and of equal length, got shapes "
            f"{incident_cells.shape} and {incident_times.shape}"
        )
    for name, array in (("incident_cells", incident_cells), ("incident_times", incident_times)):
        if array.size and not np.issubdtype(array.dtype, np.integer):
            raise GeoError(f"{name} must hold integers, got dtype {array.dtype}")
    incident_cells = incident_cells.astype(np.int64, copy=False)
    incident_times = incident_times.astype(np.int64, copy=False)

    bin_edges = end_s - bin_s * np.arange(n_bins, -1, -1, dtype=np.int64)
    n = study.size
    counts = np.zeros((n, n_bins), dtype=np.int64)
    if n == 0 or incident_cells.size == 0:
        return counts, bin_edges

    order = np.argsort(study)
    sorted_study = study[order]
    position = np.minimum(np.searchsorted(sorted_study, incident_cells), n - 1)
    in_window = (incident_times >= bin_edges[0]) & (incident_times < end_s)
    kept = (sorted_study[position] == incident_cells) & in_window
    row = order[position[kept]]
    step = (incident_times[kept] - bin_edges[0]) // bin_s
    flat = np.bincount(row * n_bins + step, minlength=n * n_bins)
    return flat.reshape(n, n_bins).astype(np.int64, copy=False), bin_edges


def cube_gi_star(
    cube: ArrayLike, weights: object, time_window_bins: int = 1
) -> NDArray[np.float64]:
    """Gi* z-score of every cell and time step over a space-time neighbourhood.

    The neighbours of cell ``i`` in step ``t`` are its spatial neighbours ``j`` (``w_ij > 0``,
    itself included) in steps ``t - time_window_bins`` to ``t``, each with weight ``w_ij``.
    Early steps have fewer previous steps and so smaller neighbourhoods. The mean, variance
    and ``n`` of the statistic are those of all ``n_cells * n_steps`` values of the cube.
    The result equals :func:`geo.hotspots.getis_ord_gi_star` on the flattened cube with the
    explicit space-time weights matrix, computed without building that matrix.

    Parameters
    ----------
    cube
        Counts of shape ``(n_cells, n_steps)``, e.g. from :func:`space_time_cube`.
    weights
        ``(n_cells, n_cells)`` spatial weights with self-weights, e.g. from
        :func:`geo.hotspots.ring_weights`.
    time_window_bins
        How many previous steps join the neighbourhood (0: the same step only).

    Returns
    -------
    numpy.ndarray
        ``float64`` z-scores of shape ``(n_cells, n_steps)``; all zeros for a constant cube.

    Raises
    ------
    GeoError
        For a cube that is not 2-D and finite, mismatched weights, or a negative window.
    """
    values = np.asarray(cube, dtype=np.float64)
    if values.ndim != 2:
        raise GeoError(f"cube must be 2-D (cells x steps), got shape {values.shape}")
    if not np.isfinite(values).all():
        raise GeoError("cube must be finite; fill missing counts with 0 first")
    check_whole(time_window_bins, "time_window_bins", minimum=0)
    n_cells, n_bins = values.shape
    matrix = _as_weights(weights, n_cells)
    if values.size == 0:
        return np.zeros(values.shape, dtype=np.float64)

    spatial_sum = np.asarray(matrix @ values, dtype=np.float64)
    # Sum over the window of steps with a cumulative sum along time: window(t) = c(t) - c(t-w-1).
    running = np.cumsum(spatial_sum, axis=1)
    local_sum = running.copy()
    lag = int(time_window_bins) + 1
    if lag < n_bins:
        local_sum[:, lag:] -= running[:, :-lag]
    steps_in_window = np.minimum(np.arange(n_bins) + 1, lag).astype(np.float64)
    row_sum = np.asarray(matrix.sum(axis=1), dtype=np.float64).ravel()
    row_sq_sum = np.asarray(matrix.multiply(matrix).sum(axis=1), dtype=np.float64).ravel()
    std = 0.0 if np.ptp(values) == 0 else float(values.std())
    return _gi_star_z(
        local_sum,
        np.outer(row_sum, steps_in_window),
        np.outer(row_sq_sum, steps_in_window),
        mean=float(values.mean()),
        std=std,
        n=values.size,
    )


def cube_significance(
    z: ArrayLike, alpha: float = 0.05, *, fdr: bool = True
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Which cells are significantly hot or cold in each time step.

    Parameters
    ----------
    z
        Gi* z-scores of shape ``(n_cells, n_steps)``.
    alpha
        Significance level of the two-sided test.
    fdr
        Apply the Benjamini-Hochberg correction at ``alpha`` to each time step's cells (one
        family per step, as if each step were its own hot spot map); otherwise ``p <= alpha``.

    Returns
    -------
    hot, cold : numpy.ndarray
        Boolean arrays of the shape of ``z``: significant with positive (hot) or negative
        (cold) z.

    Raises
    ------
    GeoError
        For a ``z`` that is not 2-D and finite or an ``alpha`` outside (0, 1).
    """
    alpha = _check_alpha(alpha)
    scores = np.asarray(z, dtype=np.float64)
    if scores.ndim != 2:
        raise GeoError(f"z must be 2-D (cells x steps), got shape {scores.shape}")
    p = p_values(scores)
    significant = fdr_significance(p, alpha, axis=0) if fdr else p <= alpha
    return significant & (scores > 0), significant & (scores < 0)


def mann_kendall(series: ArrayLike) -> TrendTest:
    """Mann-Kendall trend test of each row of ``series``, vectorised.

    ``S`` counts, over all pairs of time steps ``a < b``, ``sign(x_b - x_a)``. Its variance
    under no trend, corrected for tied values, is
    ``(n (n - 1) (2n + 5) - sum_g t_g (t_g - 1) (2 t_g + 5)) / 18`` with ``t_g`` the size of
    each group of equal values; ``z = (S - sign(S)) / sqrt(var)`` (continuity correction) and
    the p-value is two-sided. A row with zero variance (constant, or fewer than two steps)
    gets ``z = 0`` and ``p = 1``. This matches ``pymannkendall.original_test``.

    Parameters
    ----------
    series
        Finite values of shape ``(n_series, n_steps)``, time along the second axis.

    Returns
    -------
    TrendTest
        ``s`` (int64), ``z`` and ``p`` (float64), one entry per row.

    Raises
    ------
    GeoError
        For input that is not 2-D and finite.
    """
    x = np.asarray(series, dtype=np.float64)
    if x.ndim != 2:
        raise GeoError(f"series must be 2-D (series x steps), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise GeoError("series must be finite")
    n_rows, n = x.shape
    s = np.zeros(n_rows, dtype=np.int64)
    for gap in range(1, n):
        s += np.sign(x[:, gap:] - x[:, :-gap]).sum(axis=1, dtype=np.int64)

    tie_term = np.zeros(n_rows, dtype=np.float64)
    if n_rows and n:
        ordered = np.sort(x, axis=1)
        starts_group = np.ones(x.shape, dtype=bool)
        starts_group[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
        group = np.cumsum(starts_group.ravel()) - 1
        group_size = np.bincount(group).astype(np.float64)
        group_row = np.repeat(np.arange(n_rows), starts_group.sum(axis=1))
        tie_term = np.bincount(
            group_row,
            weights=group_size * (group_size - 1) * (2 * group_size + 5),
            minlength=n_rows,
        ).astype(np.float64)
    variance = (n * (n - 1) * (2 * n + 5) - tie_term) / 18.0
    z = np.zeros(n_rows, dtype=np.float64)
    np.divide(s - np.sign(s), np.sqrt(np.maximum(variance, 0.0)), out=z, where=variance > 0)
    p = np.asarray(2.0 * stats.norm.sf(np.abs(z)), dtype=np.float64)
    return TrendTest(s=s, z=z, p=p)


def _side_patterns(
    side: NDArray[np.bool_],
    other: NDArray[np.bool_],
    rising: NDArray[np.bool_],
    falling: NDArray[np.bool_],
) -> NDArray[np.int8]:
    """Index into ``_PATTERNS`` for one side (hot or cold), -1 where no class of it matches.

    ``rising``/``falling`` are the trends that intensify/diminish this side.
    """
    n_cells, n_bins = side.shape
    count = side.sum(axis=1)
    final = side[:, -1]
    final_other = other[:, -1]
    ever_other = other.any(axis=1)
    mostly = 10 * count >= 9 * n_bins
    # Length of the run of significant steps that ends at the final step.
    last_gap = np.where(~side, np.arange(n_bins), -1).max(axis=1)
    final_run = n_bins - 1 - last_gap

    code = np.full(n_cells, -1, dtype=np.int8)
    rules = (
        ("intensifying", mostly & final & rising),
        ("diminishing", mostly & final & falling),
        ("persistent", mostly & final & ~rising & ~falling),
        ("historical", mostly & ~final & ~final_other),
        ("oscillating", ~mostly & final & ever_other),
        ("new", ~mostly & final & ~ever_other & (count == 1)),
        ("consecutive", ~mostly & final & ~ever_other & (count >= 2) & (final_run == count)),
        ("sporadic", ~mostly & ~ever_other & (count >= 1)),
    )
    # First matching rule wins.
    for name, matches in reversed(rules):
        code[matches] = _PATTERNS.index(name)
    return code


def classify_emerging(
    hot_sig: ArrayLike,
    cold_sig: ArrayLike,
    trend_z: ArrayLike,
    trend_p: ArrayLike,
    alpha: float = 0.05,
) -> pd.Categorical[str]:
    """Name each cell's emerging hot spot pattern (see the module docstring for the rules).

    Parameters
    ----------
    hot_sig, cold_sig
        Boolean arrays of shape ``(n_cells, n_steps)``: significantly hot / cold per step,
        e.g. from :func:`cube_significance`. No step may be both.
    trend_z, trend_p
        Mann-Kendall z and p of each cell's z-score series, e.g. from :func:`mann_kendall`.
    alpha
        A trend is significant when ``trend_p <= alpha``.

    Returns
    -------
    pandas.Categorical
        One label per cell, with categories :data:`EMERGING_CATEGORIES`.

    Raises
    ------
    GeoError
        For mismatched shapes, a step marked both hot and cold, no steps, or a bad ``alpha``.
    """
    alpha = _check_alpha(alpha)
    hot = np.asarray(hot_sig)
    cold = np.asarray(cold_sig)
    if hot.dtype != np.bool_ or cold.dtype != np.bool_:
        raise GeoError(f"hot_sig and cold_sig must be boolean, got {hot.dtype} and {cold.dtype}")
    if hot.ndim != 2 or hot.shape != cold.shape:
        raise GeoError(
            f"hot_sig and cold_sig must be 2-D of equal shape, got {hot.shape} and {cold.shape}"
        )
    n_cells, n_bins = hot.shape
    if n_bins == 0:
        raise GeoError("hot_sig and cold_sig need at least one time step")
    if (hot & cold).any():
        raise GeoError("a cell cannot be significantly hot and cold in the same step")
    tz = np.asarray(trend_z, dtype=np.float64)
    tp = np.asarray(trend_p, dtype=np.float64)
    if tz.shape != (n_cells,) or tp.shape != (n_cells,):
        raise GeoError(
            f"trend_z and trend_p must have one value per cell ({n_cells}), "
            f"got shapes {tz.shape} and {tp.shape}"
        )
    if np.isnan(tz).any() or np.isnan(tp).any():
        raise GeoError("trend_z and trend_p must not be NaN")

    trend_significant = tp <= alpha
    upward = trend_significant & (tz > 0)
    downward = trend_significant & (tz < 0)
    hot_code = _side_patterns(hot, cold, rising=upward, falling=downward)
    cold_code = _side_patterns(cold, hot, rising=downward, falling=upward)

    # The sides never both match: every class of a side requires the final step not to be
    # significant on the other side, and without a significant final step the rules leave at
    # most one side (historical needs 90 % of steps; sporadic needs none on the other side).
    no_pattern = len(EMERGING_CATEGORIES) - 1
    codes = np.where(
        hot_code >= 0,
        hot_code,
        np.where(cold_code >= 0, cold_code + len(_PATTERNS), no_pattern),
    ).astype(np.int8)
    return pd.Categorical.from_codes(codes, categories=pd.Index(EMERGING_CATEGORIES))


def emerging_hotspots(
    study_cells: ArrayLike,
    incident_cells: ArrayLike,
    incident_times: ArrayLike,
    start_s: int,
    end_s: int,
    bin_s: int = WEEK_S,
    k: int = 1,
    time_window_bins: int = 1,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Emerging hot spot analysis of incidents over a study area.

    Counts incidents per cell and step (:func:`space_time_cube`), scores each with
    space-time Gi* over ``k`` rings and ``time_window_bins`` previous steps
    (:func:`cube_gi_star`), marks significance with the per-step FDR correction at
    ``alpha`` (:func:`cube_significance`), tests each cell's z-scores for a trend
    (:func:`mann_kendall`) and names the pattern (:func:`classify_emerging`).

    Parameters
    ----------
    study_cells
        Distinct ``int64`` H3 cells of one resolution, including those without incidents.
    incident_cells, incident_times
        Cell and UTC-seconds time of each incident.
    start_s, end_s, bin_s
        Window and step length in UTC seconds, as in :func:`space_time_cube`.
    k
        Spatial neighbourhood in grid rings.
    time_window_bins
        Previous steps in the neighbourhood.
    alpha
        Significance level for the hot/cold steps and for the trend.

    Returns
    -------
    pandas.DataFrame
        One row per study cell in input order: ``cell`` (int64), ``category``
        (categorical, :data:`EMERGING_CATEGORIES`), ``trend_z`` and ``trend_p``
        (Mann-Kendall on the z-scores), ``n_hot_bins`` and ``n_cold_bins`` (significant
        steps) and ``last_bin_z`` (Gi* z-score of the final step).

    Raises
    ------
    GeoError
        For invalid cells, incidents, window or parameters.
    """
    alpha = _check_alpha(alpha)
    study = _study_cells(study_cells, name="study_cells")
    cube, _ = space_time_cube(study, incident_cells, incident_times, start_s, end_s, bin_s)
    weights = ring_weights(study, k)
    z = cube_gi_star(cube, weights, time_window_bins)
    hot, cold = cube_significance(z, alpha)
    trend = mann_kendall(z)
    category = classify_emerging(hot, cold, trend.z, trend.p, alpha)
    return pd.DataFrame(
        {
            "cell": study,
            "category": category,
            "trend_z": trend.z,
            "trend_p": trend.p,
            "n_hot_bins": hot.sum(axis=1),
            "n_cold_bins": cold.sum(axis=1),
            "last_bin_z": z[:, -1],
        },
        columns=list(EMERGING_COLUMNS),
    )
