"""The default model: a Poisson blend of count features, re-fitted at every ``as_of_s``.

The blend scores each study cell with ``exp(intercept + sum_f b_f * log1p(x_f))`` over the
features of :data:`BLEND_FEATURES`: the cell's long-run, last-year and last-quarter counts,
its neighbours' long-run and last-year counts and, when a category group is scored, the
cell's count over every category. :func:`fit_blend` fits the non-negative coefficients on
the months before ``as_of_s`` only (past data, :class:`DefaultParams`) and falls back to the
long-run count when the blend ranks those months worse (:class:`BlendFit`);
:func:`score_default` scores with it. :mod:`geo.scoring` re-exports them and explains why
this is the default; :func:`geo.scoring.score_cells` documents the inputs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import optimize, sparse

from geo._scoring_inputs import Prepared, check_positive, model_entry, result_frame
from geo.checks import DAY_S, check_number, check_whole
from geo.evaluation import auc, cell_areas_km2, coverage_curve
from geo.hotspots import ring_weights

__all__ = ["BLEND_FEATURES", "DefaultParams", "BlendFit", "score_default", "fit_blend"]


# --- parameters and result ----------------------------------------------------------------------


@dataclass(frozen=True)
class DefaultParams:
    """Parameters of the default blend and of its internal backtest.

    Attributes
    ----------
    horizon_days
        Length of each training target window: the blend predicts incidents in the next
        ``horizon_days``.
    n_origins
        Training origins: ``as_of - horizon - j * origin_step`` for ``j = 0 .. n_origins - 1``,
        so the latest target window ends exactly at ``as_of_s``.
    origin_step_days
        Spacing of the training origins.
    recent_year_days, recent_days
        Windows of the ``recent_year`` and ``recent`` features.
    k
        Rings of the neighbourhood the ``neighbours`` features average over.
    l2
        Ridge penalty on the feature coefficients (relative to the mean Poisson deviance
        per incident).
    min_history_days
        A training origin needs at least this much history before it.
    """

    horizon_days: float = 30.0
    n_origins: int = 6
    origin_step_days: float = 30.0
    recent_year_days: float = 365.0
    recent_days: float = 91.0
    k: int = 1
    l2: float = 1e-3
    min_history_days: float = 60.0

    def __post_init__(self) -> None:
        for name in ("horizon_days", "origin_step_days", "recent_year_days", "recent_days"):
            check_positive(getattr(self, name), name)
        check_whole(self.n_origins, "n_origins", minimum=1)
        check_whole(self.k, "k", minimum=1)
        check_number(self.l2, "l2", low=0.0)
        check_number(self.min_history_days, "min_history_days", low=0.0)


#: Features of the default blend, in the order of its explanation columns.
BLEND_FEATURES = (
    "long_run",
    "recent_year",
    "recent",
    "neighbours",
    "neighbours_recent",
    "pooled",
)


@dataclass(frozen=True)
class BlendFit:
    """The default blend fitted at one ``as_of_s``.

    The score of cell ``i`` is ``exp(intercept + sum_f coefficients[f] * log1p(x_if))`` with
    ``x_if`` the cell's feature ``f`` (:data:`BLEND_FEATURES`): the expected weighted count
    of the next ``horizon_days``, as a Poisson regression predicts it.

    Attributes
    ----------
    intercept
        Log-scale constant.
    coefficients
        ``feature -> coefficient`` (>= 0), for every name in :data:`BLEND_FEATURES`.
    origins_s
        Training origins used (UTC seconds), latest first; empty when there was too little
        history and the blend fell back to the long-run count.
    blend_auc20, naive_auc20
        Mean AUC20 of the fitted blend and of the long-run count over the training windows
        (in-sample for the blend); NaN without training windows.
    uses_blend
        False when the guard fell back to the long-run count (coefficient 1 on ``long_run``,
        0 elsewhere).
    """

    intercept: float
    coefficients: Mapping[str, float]
    origins_s: tuple[int, ...]
    blend_auc20: float
    naive_auc20: float
    uses_blend: bool


# --- the model ----------------------------------------------------------------------------------


def _default(data: Prepared, params: DefaultParams) -> pd.DataFrame:
    """The default: the blend of :func:`fit_blend`, fitted at ``as_of_s`` on past data only.

    Returns
    -------
    pandas.DataFrame
        ``cell``, ``score`` (expected weighted incidents in the next ``horizon_days``),
        ``intercept`` and one column per feature of :data:`BLEND_FEATURES` holding
        ``coefficient * log1p(feature)``; ``score = exp(intercept + sum of the feature
        columns)``, so each column is the log of that component's multiplier.

    Raises
    ------
    GeoError
        As for :func:`geo.scoring.score_cells`, and for cells that are not valid H3 cells.
    """
    blend, features = _fit_with_features(data, params)
    return _blend_result(data.cells, blend, features)


def _fit_blend(data: Prepared, params: DefaultParams) -> BlendFit:
    """Fit the default blend at ``as_of_s`` by a small backtest on the history before it.

    Method: at each training origin ``o`` (see :class:`DefaultParams`; all strictly before
    ``as_of_s``, the latest target window ending at it) compute each cell's features from
    the incidents before ``o`` only, and its target, the weighted count of selected
    incidents in ``[o, o + horizon)``. Fit a Poisson regression ``log E[target] = b0 +
    sum_f b_f log1p(feature_f)`` with ``b_f >= 0`` and a small ridge penalty (L-BFGS-B), so
    the long-run count (``b_long_run = 1``, the rest 0) is one member of the family. Then
    compare the mean AUC20 of the fitted blend and of the long-run count over the training
    windows and keep the blend only when it is at least as good. ``pooled`` (the cell's
    count over every category) is used only when ``categories`` selects a group.

    With fewer than two training origins that have ``min_history_days`` of history before
    them, or no selected incident in their targets, the blend is the long-run count.

    Parameters
    ----------
    incidents, cells, as_of_s, category_weights, categories
        As for :func:`geo.scoring.score_cells`.
    params
        Features, training origins and penalty.

    Returns
    -------
    BlendFit

    Raises
    ------
    GeoError
        As for :func:`geo.scoring.score_cells`, and for cells that are not valid H3 cells.
    """
    return _fit_with_features(data, params)[0]


score_default = model_entry("score_default", DefaultParams, _default)
fit_blend = model_entry("fit_blend", DefaultParams, _fit_blend)


# --- fitting ------------------------------------------------------------------------------------


def _fit_with_features(
    data: Prepared, params: DefaultParams
) -> tuple[BlendFit, NDArray[np.float64]]:
    """Fit the blend; return it with the features at ``as_of_s`` (cells x BLEND_FEATURES)."""
    horizon_s = int(round(params.horizon_days * DAY_S))
    first_s, training = _training_origins(data, params, horizon_s)
    windows = _Windows.build(data, params, training, horizon_s)
    now = windows.features(data.as_of_s)
    history_days = max((data.as_of_s - first_s) / DAY_S, params.horizon_days)
    naive = _naive_blend(math.log(params.horizon_days / history_days), origins=())
    if len(training) < 2:
        return naive, now
    xs = [windows.features(o) for o in training]
    ys = [windows.weighted_between(o, o + horizon_s) for o in training]
    if sum(float(y.sum()) for y in ys) <= 0:
        return naive, now
    free = [True] * len(BLEND_FEATURES)
    if not data.has_group:
        free[BLEND_FEATURES.index("pooled")] = False
    intercept, coefficients = _fit_poisson(xs, ys, free, params.l2)
    blend_mean, naive_mean = _training_auc20(data, windows, training, horizon_s, xs, coefficients)
    # NaN (no training window with a test incident) compares False: the long-run count.
    uses_blend = blend_mean >= naive_mean
    origins_s = tuple(training)
    if uses_blend:
        blend = BlendFit(
            intercept=float(intercept),
            coefficients=MappingProxyType(
                {f: float(c) for f, c in zip(BLEND_FEATURES, coefficients, strict=True)}
            ),
            origins_s=origins_s,
            blend_auc20=blend_mean,
            naive_auc20=naive_mean,
            uses_blend=True,
        )
    else:
        blend = replace(naive, origins_s=origins_s, blend_auc20=blend_mean, naive_auc20=naive_mean)
    return blend, now


def _training_origins(
    data: Prepared, params: DefaultParams, horizon_s: int
) -> tuple[int, list[int]]:
    """The first selected incident's time and the training origins, latest first.

    The candidates are ``as_of - horizon - j * origin_step``; an origin is kept when it has
    ``min_history_days`` of history (and at least one selected incident) before it.
    """
    step_s = int(round(params.origin_step_days * DAY_S))
    group_times = data.times[data.in_group]
    first_s = int(group_times.min()) if group_times.size else data.as_of_s
    candidates = [data.as_of_s - horizon_s - j * step_s for j in range(params.n_origins)]
    training = [
        o for o in candidates if o - first_s >= params.min_history_days * DAY_S and o > first_s
    ]
    return first_s, training


@dataclass(frozen=True, eq=False)
class _Windows:
    """Each cell's counts before every time the blend looks at, and its neighbourhood.

    ``weighted[:, column[t]]`` is the cell's weighted count of the selected incidents before
    ``t`` and ``pooled[:, column[t]]`` that of every category (None without a group), for
    every ``t`` in ``edges``: the origins, a year and the recent window before each, and the
    ends of the training targets.
    """

    edges: NDArray[np.int64]
    column: dict[int, int]
    weighted: NDArray[np.float64]
    pooled: NDArray[np.float64] | None
    neighbours: sparse.csr_matrix
    degree: NDArray[np.float64]
    year_s: int
    recent_s: int

    @classmethod
    def build(
        cls, data: Prepared, params: DefaultParams, training: list[int], horizon_s: int
    ) -> _Windows:
        n = data.cells.size
        year_s = int(round(params.recent_year_days * DAY_S))
        recent_s = int(round(params.recent_days * DAY_S))
        origins = [data.as_of_s, *training]
        edge_list = [e for o in origins for e in (o, o - year_s, o - recent_s)]
        edge_list += [o + horizon_s for o in training]
        edges = np.unique(np.asarray(edge_list, dtype=np.int64))
        group = data.in_group
        weighted = _counts_before(
            data.index[group], data.times[group], data.weight[group], edges, n
        )
        pooled = (
            _counts_before(data.index, data.times, data.weight, edges, n)
            if data.has_group
            else None
        )
        neighbours = ring_weights(data.cells, params.k, decay=[0.0] + [1.0] * params.k)
        return cls(
            edges=edges,
            column={int(e): i for i, e in enumerate(edges)},
            weighted=weighted,
            pooled=pooled,
            neighbours=neighbours,
            degree=np.asarray(neighbours.sum(axis=1), dtype=np.float64).ravel(),
            year_s=year_s,
            recent_s=recent_s,
        )

    def features(self, origin_s: int) -> NDArray[np.float64]:
        """The features at ``origin_s``, ``log1p``-transformed (cells x BLEND_FEATURES)."""
        long_run = self.weighted[:, self.column[origin_s]]
        recent_year = long_run - self.weighted[:, self.column[origin_s - self.year_s]]
        columns = {
            "long_run": long_run,
            "recent_year": recent_year,
            "recent": long_run - self.weighted[:, self.column[origin_s - self.recent_s]],
            "neighbours": _neighbour_mean(self.neighbours, self.degree, long_run),
            "neighbours_recent": _neighbour_mean(self.neighbours, self.degree, recent_year),
            "pooled": (
                self.pooled[:, self.column[origin_s]]
                if self.pooled is not None
                else np.zeros(long_run.size)
            ),
        }
        return np.column_stack([np.log1p(columns[f]) for f in BLEND_FEATURES])

    def weighted_between(self, start_s: int, end_s: int) -> NDArray[np.float64]:
        """Each cell's weighted count of the selected incidents in ``[start_s, end_s)``."""
        return self.weighted[:, self.column[end_s]] - self.weighted[:, self.column[start_s]]


def _training_auc20(
    data: Prepared,
    windows: _Windows,
    training: list[int],
    horizon_s: int,
    xs: list[NDArray[np.float64]],
    coefficients: NDArray[np.float64],
) -> tuple[float, float]:
    """Mean AUC20 of the fitted blend and of the long-run count over the training windows.

    The guard compares the rankings with whole incident counts; windows without a selected
    incident are left out, and a mean over none is NaN.
    """
    group = data.in_group
    counted = _counts_before(
        data.index[group], data.times[group], None, windows.edges, data.cells.size
    )
    areas = cell_areas_km2(data.cells)
    blend_auc, naive_auc = [], []
    for o, x in zip(training, xs, strict=True):
        test = counted[:, windows.column[o + horizon_s]] - counted[:, windows.column[o]]
        if test.sum() <= 0:
            continue
        blend_auc.append(auc(coverage_curve(x @ coefficients, test, areas)))
        naive_auc.append(auc(coverage_curve(x[:, 0], test, areas)))
    blend_mean = float(np.mean(blend_auc)) if blend_auc else math.nan
    naive_mean = float(np.mean(naive_auc)) if naive_auc else math.nan
    return blend_mean, naive_mean


def _naive_blend(intercept: float, origins: tuple[int, ...]) -> BlendFit:
    """The blend that ranks as the long-run count does, scaled to the horizon."""
    coefficients = {f: 0.0 for f in BLEND_FEATURES}
    coefficients["long_run"] = 1.0
    return BlendFit(
        intercept=intercept,
        coefficients=MappingProxyType(coefficients),
        origins_s=origins,
        blend_auc20=math.nan,
        naive_auc20=math.nan,
        uses_blend=False,
    )


def _neighbour_mean(
    neighbours: sparse.csr_matrix, degree: NDArray[np.float64], values: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Mean of ``values`` over each cell's study-area neighbours (0 for a cell without any)."""
    total = np.asarray(neighbours @ values, dtype=np.float64)
    return np.divide(total, degree, out=np.zeros_like(total), where=degree > 0)


def _fit_poisson(
    xs: list[NDArray[np.float64]],
    ys: list[NDArray[np.float64]],
    free: list[bool],
    l2: float,
) -> tuple[float, NDArray[np.float64]]:
    """Poisson regression with log link, coefficients >= 0 (fixed at 0 where not free)."""
    x = np.vstack(xs)
    y = np.concatenate(ys)
    design = np.column_stack([x, np.ones(x.shape[0])])
    # Per incident rather than per row, so the penalty means the same for sparse and
    # common categories.
    scale = float(y.sum())

    def loss(beta: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        eta = design @ beta
        rate = np.exp(eta)
        value = float(np.sum(rate - y * eta)) / scale + l2 * float(np.sum(beta[:-1] ** 2))
        gradient = design.T @ (rate - y) / scale
        gradient[:-1] += 2.0 * l2 * beta[:-1]
        return value, gradient

    start = np.zeros(design.shape[1])
    start[0] = 1.0  # begin at the long-run count
    start[-1] = math.log(max(float(y.mean()), 1e-12)) - float(np.mean(x[:, 0]))
    bounds = [(0.0, None) if f else (0.0, 0.0) for f in free] + [(None, None)]
    result = optimize.minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds)
    beta = np.asarray(result.x, dtype=np.float64)
    return float(beta[-1]), beta[:-1]


def _blend_result(
    cells: NDArray[np.int64], blend: BlendFit, features: NDArray[np.float64]
) -> pd.DataFrame:
    """The default model's frame: score and log-scale contributions."""
    contributions = {
        f: blend.coefficients[f] * features[:, i] for i, f in enumerate(BLEND_FEATURES)
    }
    log_score = blend.intercept + np.sum(list(contributions.values()), axis=0)
    columns = {"intercept": np.full(cells.size, blend.intercept), **contributions}
    return result_frame(cells, np.exp(log_score), columns)


def _counts_before(
    index: NDArray[np.int64],
    times: NDArray[np.int64],
    weight: NDArray[np.float64] | None,
    edges: NDArray[np.int64],
    n_cells: int,
) -> NDArray[np.float64]:
    """``(n_cells, len(edges))`` weighted counts of incidents before each (sorted) edge.

    One pass over the incidents: each falls in the bin of edges it precedes, and a
    cumulative sum over bins gives the count before every edge at once.
    """
    n_edges = edges.size
    bins = np.searchsorted(edges, times, side="right")  # edges at or before the incident
    per_bin = np.bincount(
        index * (n_edges + 1) + bins, weights=weight, minlength=n_cells * (n_edges + 1)
    ).reshape(n_cells, n_edges + 1)
    return np.cumsum(per_bin, axis=1)[:, :n_edges].astype(np.float64)
