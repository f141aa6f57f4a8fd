"""Near-repeat analysis: the Knox test over distance and time bands.

After a burglary, the homes nearby run a raised risk for a few days or weeks (Johnson et al.
2007, residential burglary in ten countries). The Knox test measures it the way the Near
Repeat Calculator (Ratcliffe) does:

1. Every pair of incidents is binned by its distance (metres) and its time difference.
2. The observed count of pairs in each distance band x time band is compared with the count
   expected if where and when were independent. The expectation is by Monte Carlo: the
   incidents' times are permuted among the incidents (locations stay put), the table is
   recounted for each permutation, and the expected count is the mean over permutations.
3. Each cell's p-value is ``(1 + #permutations with count >= observed) / (N + 1)``, the
   one-sided Monte Carlo p-value (Besag & Diggle 1977).

Bands
-----
Distance and time bands are given by their upper edges. With distance edges
``(100, 200, 300, 400)`` the bands are 0-100 m, over 100 to 200 m, ... (a pair exactly 100 m
apart is in the first band, as in the calculator's "0 to 100, 101 to 200"). Time edges are in
days, measured continuously: ``(7, 14, 21, 28)`` gives 0-7 days, over 7 to 14 days, ...
Pairs farther apart than the last edge in either dimension are not tabled.

Only pairs within the largest distance are ever looked at: they are found once with a k-d
tree, and each permutation re-bins only their time differences, so a year of a city's
burglaries runs in seconds.

:func:`choose_bands` turns a table into the near-repeat window used by the warning rule, or
None when the group shows no significant near-repeat pattern.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree

from geo.checks import DAY_S, EARTH_RADIUS_M
from geo.errors import GeoError

__all__ = [
    "DAY_S",
    "DEFAULT_DISTANCE_BANDS_M",
    "DEFAULT_TIME_BANDS_DAYS",
    "EARTH_RADIUS_M",
    "KnoxTable",
    "NearRepeatBands",
    "project_points",
    "knox_test",
    "choose_bands",
]

#: Upper edges of the default distance bands, metres (the calculator's usual 100 m bands).
DEFAULT_DISTANCE_BANDS_M: tuple[float, ...] = (100.0, 200.0, 300.0, 400.0)
#: Upper edges of the default time bands, days (weekly bands up to four weeks).
DEFAULT_TIME_BANDS_DAYS: tuple[float, ...] = (7.0, 14.0, 21.0, 28.0)
#: Most permutations of a Knox test: 9,999 resolve a p-value to 0.0001, and each one
#: re-counts every close pair (a typed 10**9 would have run for days).
MAX_PERMUTATIONS = 9_999


@dataclass(frozen=True)
class KnoxTable:
    """A Knox table: pair counts over distance bands (rows) x time bands (columns).

    Attributes
    ----------
    distance_edges_m, time_edges_days
        Upper edges of the bands.
    observed
        ``int64`` pair counts, shape ``(len(distance_edges_m), len(time_edges_days))``.
    expected
        Mean count over the permutations.
    ratio
        ``observed / expected`` (NaN where nothing was expected).
    p_value
        One-sided Monte Carlo p-value of each cell.
    n_incidents, permutations, seed
        Incidents tested, number of permutations and the seed used.
    """

    distance_edges_m: tuple[float, ...]
    time_edges_days: tuple[float, ...]
    observed: NDArray[np.int64]
    expected: NDArray[np.float64]
    ratio: NDArray[np.float64]
    p_value: NDArray[np.float64]
    n_incidents: int
    permutations: int
    seed: int

    def distance_labels(self) -> list[str]:
        """Band labels such as ``"0-100 m"``, ``"101-200 m"``."""
        return _labels(self.distance_edges_m, "m")

    def time_labels(self) -> list[str]:
        """Band labels such as ``"0-7 d"``, ``"8-14 d"``."""
        return _labels(self.time_edges_days, "d")

    def to_frame(self) -> pd.DataFrame:
        """Long table: one row per band pair with ``distance``, ``time``, ``observed``,
        ``expected``, ``ratio`` and ``p_value``."""
        d_labels, t_labels = self.distance_labels(), self.time_labels()
        rows = [
            {
                "distance": d_labels[i],
                "time": t_labels[j],
                "observed": int(self.observed[i, j]),
                "expected": float(self.expected[i, j]),
                "ratio": float(self.ratio[i, j]),
                "p_value": float(self.p_value[i, j]),
            }
            for i in range(len(d_labels))
            for j in range(len(t_labels))
        ]
        return pd.DataFrame(rows)

    def format(self, alpha: float = 0.05) -> str:
        """The table as text: ``observed/expected`` ratios, ``*`` where ``p <= alpha``."""
        t_labels = self.time_labels()
        width = max(12, *(len(t) + 2 for t in t_labels))
        lines = [
            f"Knox test: {self.n_incidents} incidents, {self.permutations} permutations, "
            f"seed {self.seed}; ratio observed/expected (observed pairs), * p <= {alpha:g}",
            f"{'':>12}" + "".join(f"{t:>{width}}" for t in t_labels),
        ]
        for i, label in enumerate(self.distance_labels()):
            cells = []
            for j in range(len(t_labels)):
                mark = "*" if self.p_value[i, j] <= alpha else " "
                ratio = self.ratio[i, j]
                text = "-" if np.isnan(ratio) else f"{ratio:.2f}"
                cells.append(f"{text}{mark}({self.observed[i, j]})".rjust(width))
            lines.append(f"{label:>12}" + "".join(cells))
        return "\n".join(lines)


@dataclass(frozen=True)
class NearRepeatBands:
    """The near-repeat window chosen from a Knox table.

    Attributes
    ----------
    distance_m
        Upper edge of the largest distance band of the window.
    time_days
        Upper edge of the largest time band of the window.
    ratio
        Observed / expected pairs over the whole window (all its band cells pooled).
    min_ratio_cell, max_p_value
        Weakest cell ratio and largest cell p-value inside the window.
    """

    distance_m: float
    time_days: float
    ratio: float
    min_ratio_cell: float
    max_p_value: float

    @property
    def window_s(self) -> int:
        """The time window in seconds."""
        return int(round(self.time_days * DAY_S))


def _labels(edges: Sequence[float], unit: str) -> list[str]:
    labels, low = [], None
    for edge in edges:
        start = "0" if low is None else f"{low + 1:g}"
        labels.append(f"{start}-{edge:g} {unit}")
        low = edge
    return labels


def _edges(values: Sequence[float], name: str) -> NDArray[np.float64]:
    edges = np.asarray(values, dtype=np.float64)
    if edges.ndim != 1 or edges.size == 0:
        raise GeoError(f"{name} must be a non-empty sequence of upper edges, got {values!r}")
    if not np.isfinite(edges).all() or edges[0] <= 0 or np.any(np.diff(edges) <= 0):
        raise GeoError(f"{name} must be positive and strictly increasing, got {values!r}")
    return edges


def project_points(
    lon: ArrayLike, lat: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Project WGS-84 points to metres with a local equirectangular projection.

    The projection is centred on the points' mean latitude; over a city (tens of km) its
    distances are within a fraction of a per cent of the great-circle ones, far finer than
    100 m bands need.

    Returns
    -------
    tuple of numpy.ndarray
        ``x_m`` (east) and ``y_m`` (north).

    Raises
    ------
    GeoError
        When the arrays differ in length or hold non-finite values.
    """
    lon_a = np.asarray(lon, dtype=np.float64)
    lat_a = np.asarray(lat, dtype=np.float64)
    if lon_a.shape != lat_a.shape or lon_a.ndim != 1:
        raise GeoError(
            f"lon and lat must be 1-d and equal length, got {lon_a.shape}, {lat_a.shape}"
        )
    if lon_a.size == 0:
        return np.empty(0), np.empty(0)
    if not (np.isfinite(lon_a).all() and np.isfinite(lat_a).all()):
        raise GeoError("lon and lat must be finite; drop incidents without coordinates first")
    lat0 = np.radians(lat_a.mean())
    x = EARTH_RADIUS_M * np.radians(lon_a - lon_a.mean()) * np.cos(lat0)
    y = EARTH_RADIUS_M * np.radians(lat_a - lat_a.mean())
    return x, y


def knox_test(
    x_m: ArrayLike,
    y_m: ArrayLike,
    t_s: ArrayLike,
    *,
    distance_bands_m: Sequence[float] = DEFAULT_DISTANCE_BANDS_M,
    time_bands_days: Sequence[float] = DEFAULT_TIME_BANDS_DAYS,
    permutations: int = 99,
    seed: int = 0,
) -> KnoxTable:
    """Knox test of space-time interaction with a Monte Carlo expectation.

    Parameters
    ----------
    x_m, y_m
        Projected coordinates of each incident, metres (:func:`project_points`).
    t_s
        Time of each incident, seconds.
    distance_bands_m, time_bands_days
        Upper edges of the distance bands (metres) and time bands (days), increasing.
    permutations
        Number of random permutations of the times (at least 1; 99 or 999 as usual).
    seed
        Seed of the permutations.

    Returns
    -------
    KnoxTable

    Raises
    ------
    GeoError
        For arrays of different lengths, non-finite values, bad bands or permutations.

    Examples
    --------
    Two incidents 50 m and 1 day apart make one pair in the first cell:

    >>> knox_test([0, 50], [0, 0], [0, 86400], permutations=9).observed[0, 0]
    np.int64(1)
    """
    x = np.asarray(x_m, dtype=np.float64)
    y = np.asarray(y_m, dtype=np.float64)
    t = np.asarray(t_s, dtype=np.float64)
    if not (x.shape == y.shape == t.shape) or x.ndim != 1:
        raise GeoError(
            f"x_m, y_m and t_s must be 1-d and equal length: {x.shape}, {y.shape}, {t.shape}"
        )
    if not (np.isfinite(x).all() and np.isfinite(y).all() and np.isfinite(t).all()):
        raise GeoError("x_m, y_m and t_s must be finite")
    if (
        isinstance(permutations, bool)
        or not isinstance(permutations, int | np.integer)
        or not 1 <= permutations <= MAX_PERMUTATIONS
    ):
        raise GeoError(
            f"permutations must be an integer in 1..{MAX_PERMUTATIONS}, got {permutations!r}"
        )
    d_edges = _edges(distance_bands_m, "distance_bands_m")
    t_edges_s = _edges(time_bands_days, "time_bands_days") * DAY_S
    n_d, n_t = d_edges.size, t_edges_s.size

    if x.size >= 2:
        pairs = cKDTree(np.column_stack([x, y])).query_pairs(
            float(d_edges[-1]), output_type="ndarray"
        )
    else:
        pairs = np.empty((0, 2), dtype=np.int64)
    first, second = pairs[:, 0], pairs[:, 1]
    distance = np.hypot(x[first] - x[second], y[first] - y[second])
    d_band = np.searchsorted(d_edges, distance, side="left")  # edge value goes to the lower band

    def table(times: NDArray[np.float64]) -> NDArray[np.int64]:
        t_band = np.searchsorted(t_edges_s, np.abs(times[first] - times[second]), side="left")
        keep = t_band < n_t
        flat = d_band[keep] * n_t + t_band[keep]
        return np.bincount(flat, minlength=n_d * n_t).reshape(n_d, n_t)

    observed = table(t)
    rng = np.random.default_rng(seed)
    total = np.zeros((n_d, n_t), dtype=np.float64)
    at_least = np.zeros((n_d, n_t), dtype=np.int64)
    for _ in range(int(permutations)):
        counts = table(rng.permutation(t))
        total += counts
        at_least += counts >= observed
    expected = total / permutations
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(expected > 0, observed / expected, np.nan)
    return KnoxTable(
        distance_edges_m=tuple(float(e) for e in d_edges),
        time_edges_days=tuple(float(e) for e in t_edges_s / DAY_S),
        observed=observed.astype(np.int64),
        expected=expected,
        ratio=ratio,
        p_value=np.asarray((1.0 + at_least) / (permutations + 1.0), dtype=np.float64),
        n_incidents=int(x.size),
        permutations=int(permutations),
        seed=int(seed),
    )


def choose_bands(
    table: KnoxTable, alpha: float = 0.05, min_ratio: float = 1.2
) -> NearRepeatBands | None:
    """The near-repeat window: the largest block of bands, from the origin, that all show it.

    A band cell *shows* near repeats when ``p_value <= alpha`` and ``ratio >= min_ratio``.
    The window is the block of the first ``i`` distance bands x first ``j`` time bands in
    which every cell shows near repeats, with the largest ``i * j``; ties go to the block
    with the higher pooled ratio, then to the longer distance.

    Parameters
    ----------
    table
        From :func:`knox_test`.
    alpha
        Significance level for each cell's Monte Carlo p-value.
    min_ratio
        Smallest observed/expected ratio that counts as a pattern worth a warning.

    Returns
    -------
    NearRepeatBands or None
        None when the first cell (nearest, soonest) shows no near repeats.
    """
    if not 0 < alpha < 1:
        raise GeoError(f"alpha must be in (0, 1), got {alpha!r}")
    if not np.isfinite(min_ratio) or min_ratio < 0:
        raise GeoError(f"min_ratio must be a non-negative number, got {min_ratio!r}")
    ratio = np.nan_to_num(table.ratio, nan=0.0)
    shows = (table.p_value <= alpha) & (ratio >= min_ratio)
    best: tuple[int, float, int, int] | None = None
    best_block = (0, 0)
    n_d, n_t = shows.shape
    for i in range(1, n_d + 1):
        for j in range(1, n_t + 1):
            if not shows[:i, :j].all():
                continue
            pooled = float(table.observed[:i, :j].sum() / table.expected[:i, :j].sum())
            key = (i * j, pooled, i, j)
            if best is None or key > best:
                best, best_block = key, (i, j)
    if best is None:
        return None
    i, j = best_block
    return NearRepeatBands(
        distance_m=table.distance_edges_m[i - 1],
        time_days=table.time_edges_days[j - 1],
        ratio=best[1],
        min_ratio_cell=float(ratio[:i, :j].min()),
        max_p_value=float(table.p_value[:i, :j].max()),
    )
