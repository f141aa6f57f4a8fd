"""The counting models: the long-run count, the time-decayed count and the ring-smoothed count.

Each counts the (weighted) incidents of every study cell before ``as_of_s``:

- :func:`score_naive`: everything, the baseline to beat;
- :func:`score_weighted_count`: over a lookback window, each incident discounted by
  ``0.5 ** (age / half_life)``;
- :func:`score_ring_smoothed`: a count smoothed over H3 rings with kernel weights per ring
  distance.

All three are called as :func:`geo.scoring.score_cells` calls them, which documents the
inputs; :mod:`geo.scoring` re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from geo._scoring_inputs import (
    Prepared,
    check_optional_positive,
    model_entry,
    result_frame,
)
from geo.checks import DAY_S
from geo.errors import GeoError
from geo.hotspots import ring_weights

__all__ = [
    "NaiveParams",
    "WeightedCountParams",
    "RingSmoothedParams",
    "score_naive",
    "score_weighted_count",
    "score_ring_smoothed",
]


# --- parameters ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NaiveParams:
    """The long-run count has no parameters: every incident before ``as_of_s`` counts."""


@dataclass(frozen=True)
class WeightedCountParams:
    """Parameters of the weighted, time-decayed count.

    Attributes
    ----------
    lookback_days
        Only incidents at most this many days before ``as_of_s`` count; ``None`` for all.
    half_life_days
        An incident this many days old counts half; ``None`` for no decay.
    """

    lookback_days: float | None = None
    half_life_days: float | None = 365.0

    def __post_init__(self) -> None:
        check_optional_positive(self.lookback_days, "lookback_days")
        check_optional_positive(self.half_life_days, "half_life_days")


@dataclass(frozen=True)
class RingSmoothedParams:
    """Parameters of the ring-smoothed count.

    Attributes
    ----------
    kernel
        Weight per ring distance ``0..k`` (``kernel[0]`` for the cell itself); ``k`` is
        ``len(kernel) - 1``. The default lends a tenth of each neighbour's count.
    lookback_days, half_life_days
        The base count, as in :class:`WeightedCountParams`; the defaults count everything.
    """

    kernel: tuple[float, ...] = (1.0, 0.1)
    lookback_days: float | None = None
    half_life_days: float | None = None

    def __post_init__(self) -> None:
        weights = np.asarray(self.kernel, dtype=np.float64)
        if weights.ndim != 1 or weights.size == 0:
            raise GeoError(f"kernel must give one weight per ring 0..k, got {self.kernel!r}")
        if not (np.isfinite(weights).all() and (weights >= 0).all() and weights.sum() > 0):
            raise GeoError(f"kernel weights must be finite, >= 0 and not all 0: {self.kernel!r}")
        check_optional_positive(self.lookback_days, "lookback_days")
        check_optional_positive(self.half_life_days, "half_life_days")


# --- the models ---------------------------------------------------------------------------------


def _naive(data: Prepared, params: NaiveParams) -> pd.DataFrame:
    """Long-run (weighted) count of incidents before ``as_of_s``.

    Returns
    -------
    pandas.DataFrame
        ``cell``, ``score`` and ``long_run`` (equal to ``score``).

    Raises
    ------
    GeoError
        As for :func:`geo.scoring.score_cells`.
    """
    counts = data.group_counts()
    return result_frame(data.cells, counts, {"long_run": counts})


def _weighted_count(data: Prepared, params: WeightedCountParams) -> pd.DataFrame:
    """Weighted count over a lookback window with exponential time decay.

    An incident of category weight ``w`` and age ``a = as_of - occurred_at`` adds
    ``w * 0.5 ** (a / half_life)`` to its cell: one half-life ago it counts half.

    Returns
    -------
    pandas.DataFrame
        ``cell``, ``score`` and ``weighted_count`` (equal to ``score``).

    Raises
    ------
    GeoError
        As for :func:`geo.scoring.score_cells`.
    """
    counts = _decayed_counts(data, params.lookback_days, params.half_life_days)
    return result_frame(data.cells, counts, {"weighted_count": counts})


def _ring_smoothed(data: Prepared, params: RingSmoothedParams) -> pd.DataFrame:
    """A base count smoothed over H3 rings with kernel weights per ring distance.

    ``score_i = sum_j kernel[d(i, j)] * base_j`` over study cells ``j`` within
    ``len(kernel) - 1`` rings of ``i`` (:func:`geo.hotspots.ring_weights`). Cells at the edge
    of the study area simply have fewer neighbours.

    Returns
    -------
    pandas.DataFrame
        ``cell``, ``score``, ``own`` (``kernel[0] * base``) and ``neighbours`` (the rest);
        ``score = own + neighbours``.

    Raises
    ------
    GeoError
        As for :func:`geo.scoring.score_cells`, and for cells that are not valid H3 cells.
    """
    base = _decayed_counts(data, params.lookback_days, params.half_life_days)
    kernel = np.asarray(params.kernel, dtype=np.float64)
    weights = ring_weights(data.cells, kernel.size - 1, decay=params.kernel)
    smoothed = np.asarray(weights @ base, dtype=np.float64)
    own = kernel[0] * base
    return result_frame(data.cells, smoothed, {"own": own, "neighbours": smoothed - own})


score_naive = model_entry("score_naive", NaiveParams, _naive)
score_weighted_count = model_entry("score_weighted_count", WeightedCountParams, _weighted_count)
score_ring_smoothed = model_entry("score_ring_smoothed", RingSmoothedParams, _ring_smoothed)


# --- counting -----------------------------------------------------------------------------------


def _decayed_counts(
    data: Prepared, lookback_days: float | None, half_life_days: float | None
) -> NDArray[np.float64]:
    """Weighted count of the selected incidents, cut to a lookback and decayed by age."""
    keep = data.in_group
    age_s = data.as_of_s - data.times
    if lookback_days is not None:
        keep = keep & (age_s <= lookback_days * DAY_S)
    weight = data.weight[keep]
    if half_life_days is not None:
        weight = weight * np.exp2(-age_s[keep] / (half_life_days * DAY_S))
    return np.bincount(data.index[keep], weights=weight, minlength=data.cells.size).astype(
        np.float64
    )
