"""Hotspot scores per study-area cell: baselines, ring smoothing, a self-exciting model and
the backtested blend that is the default.

Every model answers one question: given the incidents that occurred before ``as_of_s``, how
hot is each study cell? :func:`score_cells` runs a model chosen by name from :data:`MODELS`
and returns one score per cell plus explanation columns, one per model component.

Inputs
------
Incidents frame
    Columns ``occurred_at`` (``int64`` UTC seconds), ``cell`` (``int64`` H3 id at the study
    resolution) and ``category`` (category code, ``str``). Only incidents with
    ``occurred_at < as_of_s`` are used; incidents whose cell is not a study cell are ignored.
Study cells
    Distinct ``int64`` H3 ids of one resolution, in any order; the result keeps that order.
Category weights
    ``code -> weight`` (finite, >= 0); a code not in the mapping weighs 1.0, and an incident
    of weight 0 is dropped. :func:`category_weights_from_table` builds the mapping from the
    category table with the police-activity guardrail below.
Categories
    ``None`` (every category) or the codes to score, e.g. ``("BURGLARY",)``.

Models
------
``"naive"``
    Long-run (weighted) count: everything before ``as_of_s``. The baseline to beat.
``"weighted_count"``
    Weighted count over a lookback window, each incident discounted by
    ``0.5 ** (age / half_life)``.
``"ring_smoothed"``
    A (weighted, optionally decayed) count smoothed over H3 rings: ``sum_j kernel[d_ij] *
    count_j`` over study cells ``j`` within ``len(kernel) - 1`` rings of ``i``.
``"sepp"``
    The grid self-exciting point process of Mohler et al. (2015), fitted by EM with
    :func:`fit_sepp`; the score is the expected number of incidents in the next
    ``horizon_days``.
``"default"``
    The blend :func:`fit_blend` fits at each ``as_of_s`` on past data only; see there.

Which default and why
---------------------
On Chicago (res 9, the 5,629 cells whose centres lie in the city, incidents 2016-01 ..
2018-07) the long-run count is a strong baseline. Mean AUC20 against it, monthly origins
2017-07 .. 2018-07 (13, month-ahead) and 56 weekly origins to 2018-07-31 (week-ahead), for
all crime / burglary / violent:

=================  ========================  ========================
model              monthly                   weekly
=================  ========================  ========================
weighted_count     +0.3 / +1.2 / +0.2 %      +0.3 / +1.8 / +0.3 %
ring_smoothed      -1.1 / +1.4 / -1.1 %      -1.1 / +1.3 / -1.1 %
sepp               +0.0 / +0.1 / +0.0 %      (not run)
default            +0.3 / +4.9 / +0.3 %      +0.4 / +5.2 / +0.4 %
=================  ========================  ========================

The default is a log-linear Poisson blend whose coefficients are re-estimated at every
``as_of_s`` on the six month-long windows before it: own long-run count, own counts over
the last year and the last quarter, the neighbours' long-run and last-year counts and, when
``categories`` selects a group, the cell's count over every category (pooling: the
burglary gain falls from +4.9 % to +3.1 % without it). It beat the long-run count at every
monthly origin for all crime, 12 of 13 for burglary and 11 of 13 for violent crime. A guard
falls back to the long-run count when the fitted blend ranks its training windows worse
than the long-run count does. The self-exciting model, fitted on all history, finds little
triggering between days (branching ratio 0.035, mean delay about two hours: mostly
incidents recorded together), so it ranks as the long-run count does.

Guardrail: police-initiated categories
--------------------------------------
Recorded narcotics, weapons, prostitution, gambling, liquor-law and interference offences
mostly count where police already stop and search. Scoring them sends patrols back to where
they were, a feedback loop, so :data:`DEFAULT_POLICE_INITIATED_WEIGHT` is 0.0: with
:func:`category_weights_from_table` they are excluded unless the caller chooses otherwise.
:func:`score_cells` itself weighs every category 1.0 when no weights are given, so scores and
backtests are plain counts unless the caller applies the guardrail.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import optimize, sparse

from geo._frames import check_incidents
from geo.checks import DAY_S, check_cells, check_number, check_seconds, check_whole
from geo.errors import GeoError
from geo.evaluation import auc, cell_areas_km2, coverage_curve
from geo.hotspots import ring_weights

__all__ = [
    "DEFAULT_POLICE_INITIATED_WEIGHT",
    "INCIDENT_COLUMNS",
    "BLEND_FEATURES",
    "NaiveParams",
    "WeightedCountParams",
    "RingSmoothedParams",
    "SeppParams",
    "DefaultParams",
    "SeppFit",
    "BlendFit",
    "MODELS",
    "score_cells",
    "score_naive",
    "score_weighted_count",
    "score_ring_smoothed",
    "score_sepp",
    "score_default",
    "fit_sepp",
    "fit_blend",
    "category_weights_from_table",
]

#: Factor applied to the table weight of police-initiated categories by
#: :func:`category_weights_from_table`: 0.0 excludes them (see the module notes).
DEFAULT_POLICE_INITIATED_WEIGHT = 0.0

INCIDENT_COLUMNS = ("occurred_at", "cell", "category")

#: Features of the default blend, in the order of its explanation columns.
BLEND_FEATURES = (
    "long_run",
    "recent_year",
    "recent",
    "neighbours",
    "neighbours_recent",
    "pooled",
)

_P = TypeVar("_P")


# --- argument checks ----------------------------------------------------------------------------


def _check_positive(value: Any, name: str) -> None:
    """Raise unless ``value`` is a finite number > 0."""
    check_number(value, name, low=0.0, low_open=True)


def _check_optional_positive(value: Any, name: str) -> None:
    """Raise unless ``value`` is None or a finite number > 0."""
    if value is not None:
        _check_positive(value, name)


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
        _check_optional_positive(self.lookback_days, "lookback_days")
        _check_optional_positive(self.half_life_days, "half_life_days")


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
        _check_optional_positive(self.lookback_days, "lookback_days")
        _check_optional_positive(self.half_life_days, "half_life_days")


@dataclass(frozen=True)
class SeppParams:
    """Parameters of the self-exciting model.

    Attributes
    ----------
    horizon_days
        The score is the expected number of incidents in ``[as_of, as_of + horizon)``.
    lookback_days
        Fit on incidents at most this many days before ``as_of_s``; ``None`` for all history
        (the window then starts at the first incident).
    max_iter, tol
        EM stops after ``max_iter`` iterations or when the log-likelihood changes by less
        than ``tol`` times its magnitude.
    """

    horizon_days: float = 30.0
    lookback_days: float | None = None
    max_iter: int = 200
    tol: float = 1e-7

    def __post_init__(self) -> None:
        _check_positive(self.horizon_days, "horizon_days")
        _check_optional_positive(self.lookback_days, "lookback_days")
        check_whole(self.max_iter, "max_iter", minimum=1)
        _check_positive(self.tol, "tol")


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
            _check_positive(getattr(self, name), name)
        check_whole(self.n_origins, "n_origins", minimum=1)
        check_whole(self.k, "k", minimum=1)
        check_number(self.l2, "l2", low=0.0)
        check_number(self.min_history_days, "min_history_days", low=0.0)


# --- results ------------------------------------------------------------------------------------


# Arrays make the generated __eq__ ambiguous, so equality is left as identity.
@dataclass(frozen=True, eq=False)
class SeppFit:
    """A fitted grid self-exciting model.

    Attributes
    ----------
    mu
        Background rate of each cell, incidents per day (read-only ``float64``).
    theta
        Branching ratio: expected incidents triggered by each incident.
    omega
        Decay rate of the triggering kernel, per day (mean delay ``1 / omega`` days).
    n_iter
        EM iterations run.
    converged
        Whether the log-likelihood settled within ``tol`` before ``max_iter``.
    log_likelihood
        Log-likelihood of the fit (times in days).
    """

    mu: np.ndarray
    theta: float
    omega: float
    n_iter: int
    converged: bool
    log_likelihood: float


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


# --- public entry points ------------------------------------------------------------------------


def score_cells(
    incidents: pd.DataFrame,
    cells: np.ndarray,
    as_of_s: int,
    model: str = "default",
    params: Any = None,
    category_weights: Mapping[str, float] | None = None,
    categories: Collection[str] | None = None,
) -> pd.DataFrame:
    """Score every study cell with a model from :data:`MODELS`.

    Parameters
    ----------
    incidents
        Columns ``occurred_at`` (int64 UTC seconds), ``cell`` (int64) and ``category``.
        Only incidents with ``occurred_at < as_of_s`` in study cells are used. Not modified.
    cells
        Distinct int64 study cells of one resolution, in any order.
    as_of_s
        Scoring time, UTC seconds.
    model
        A key of :data:`MODELS`.
    params
        The model's parameter dataclass; ``None`` for its defaults.
    category_weights
        ``code -> weight`` (>= 0); missing codes weigh 1.0, weight 0 drops the incidents.
    categories
        Codes to score (e.g. ``("BURGLARY",)``); ``None`` for every category.

    Returns
    -------
    pandas.DataFrame
        One row per cell in the order of ``cells``: ``cell`` (int64), ``score`` (float64,
        higher is hotter) and the model's explanation columns (see each ``score_*``).

    Raises
    ------
    GeoError
        For an unknown model, parameters of the wrong type, or bad incidents, cells, time,
        weights or categories.

    Examples
    --------
    Only the incident before ``as_of_s`` counts:

    >>> cell = 0x89283082803FFFF
    >>> frame = pd.DataFrame({"occurred_at": [0, 10], "cell": [cell, cell], "category": "A"})
    >>> score_cells(frame, np.array([cell]), as_of_s=5, model="naive")["score"].tolist()
    [1.0]
    """
    if model not in MODELS:
        raise GeoError(f"model must be one of {sorted(MODELS)}, got {model!r}")
    function, defaults = MODELS[model]
    return function(
        incidents,
        cells,
        as_of_s,
        defaults if params is None else params,
        category_weights=category_weights,
        categories=categories,
    )


def score_naive(
    incidents: pd.DataFrame,
    cells: np.ndarray,
    as_of_s: int,
    params: NaiveParams | None = None,
    *,
    category_weights: Mapping[str, float] | None = None,
    categories: Collection[str] | None = None,
) -> pd.DataFrame:
    """Long-run (weighted) count of incidents before ``as_of_s``.

    Returns
    -------
    pandas.DataFrame
        ``cell``, ``score`` and ``long_run`` (equal to ``score``).

    Raises
    ------
    GeoError
        As for :func:`score_cells`.
    """
    params = _check_params(params, NaiveParams)
    data = _prepare(incidents, cells, as_of_s, category_weights, categories)
    counts = data.group_counts()
    return _result(data.cells, counts, {"long_run": counts})


def score_weighted_count(
    incidents: pd.DataFrame,
    cells: np.ndarray,
    as_of_s: int,
    params: WeightedCountParams | None = None,
    *,
    category_weights: Mapping[str, float] | None = None,
    categories: Collection[str] | None = None,
) -> pd.DataFrame:
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
        As for :func:`score_cells`.
    """
    params = _check_params(params, WeightedCountParams)
    data = _prepare(incidents, cells, as_of_s, category_weights, categories)
    counts = _decayed_counts(data, params.lookback_days, params.half_life_days)
    return _result(data.cells, counts, {"weighted_count": counts})


def score_ring_smoothed(
    incidents: pd.DataFrame,
    cells: np.ndarray,
    as_of_s: int,
    params: RingSmoothedParams | None = None,
    *,
    category_weights: Mapping[str, float] | None = None,
    categories: Collection[str] | None = None,
) -> pd.DataFrame:
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
        As for :func:`score_cells`, and for cells that are not valid H3 cells.
    """
    params = _check_params(params, RingSmoothedParams)
    data = _prepare(incidents, cells, as_of_s, category_weights, categories)
    base = _decayed_counts(data, params.lookback_days, params.half_life_days)
    kernel = np.asarray(params.kernel, dtype=np.float64)
    weights = ring_weights(data.cells, kernel.size - 1, decay=params.kernel)
    smoothed = np.asarray(weights @ base, dtype=np.float64)
    own = kernel[0] * base
    return _result(data.cells, smoothed, {"own": own, "neighbours": smoothed - own})


def score_sepp(
    incidents: pd.DataFrame,
    cells: np.ndarray,
    as_of_s: int,
    params: SeppParams | None = None,
    *,
    category_weights: Mapping[str, float] | None = None,
    categories: Collection[str] | None = None,
) -> pd.DataFrame:
    """Expected incidents in the next ``horizon_days`` under a fitted grid SEPP.

    Fits :func:`fit_sepp` on the selected incidents in ``[as_of - lookback, as_of)`` and
    scores ``mu_i * H + theta * (1 - exp(-omega * H)) * sum_j exp(-omega * (as_of - t_j))``
    over cell ``i``'s incidents ``j``. Category weights only select incidents (weight 0
    drops them); the point process counts each kept incident once.

    Returns
    -------
    pandas.DataFrame
        ``cell``, ``score``, ``background`` (``mu * H``) and ``triggered`` (the rest);
        ``score = background + triggered``.

    Raises
    ------
    GeoError
        As for :func:`score_cells`.
    """
    params = _check_params(params, SeppParams)
    data = _prepare(incidents, cells, as_of_s, category_weights, categories)
    n = data.cells.size
    times = data.times[data.in_group]
    index = data.index[data.in_group]
    if params.lookback_days is not None:
        keep = times >= data.as_of_s - params.lookback_days * DAY_S
        times, index = times[keep], index[keep]
    if times.size == 0:
        zeros = np.zeros(n)
        return _result(data.cells, zeros, {"background": zeros, "triggered": zeros})
    start_s = (
        int(times.min())
        if params.lookback_days is None
        else data.as_of_s - int(round(params.lookback_days * DAY_S))
    )
    fit = fit_sepp(times, index, n, start_s, data.as_of_s, max_iter=params.max_iter, tol=params.tol)
    horizon = params.horizon_days
    age_days = (data.as_of_s - times) / DAY_S
    excitation = np.bincount(index, weights=np.exp(-fit.omega * age_days), minlength=n)
    background = fit.mu * horizon
    triggered = fit.theta * -math.expm1(-fit.omega * horizon) * excitation
    return _result(
        data.cells, background + triggered, {"background": background, "triggered": triggered}
    )


def score_default(
    incidents: pd.DataFrame,
    cells: np.ndarray,
    as_of_s: int,
    params: DefaultParams | None = None,
    *,
    category_weights: Mapping[str, float] | None = None,
    categories: Collection[str] | None = None,
) -> pd.DataFrame:
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
        As for :func:`score_cells`, and for cells that are not valid H3 cells.
    """
    params = _check_params(params, DefaultParams)
    data = _prepare(incidents, cells, as_of_s, category_weights, categories)
    blend, features = _fit_blend(data, params)
    return _blend_result(data.cells, blend, features)


def fit_blend(
    incidents: pd.DataFrame,
    cells: np.ndarray,
    as_of_s: int,
    params: DefaultParams | None = None,
    *,
    category_weights: Mapping[str, float] | None = None,
    categories: Collection[str] | None = None,
) -> BlendFit:
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
        As for :func:`score_cells`.
    params
        Features, training origins and penalty.

    Returns
    -------
    BlendFit

    Raises
    ------
    GeoError
        As for :func:`score_cells`, and for cells that are not valid H3 cells.
    """
    params = _check_params(params, DefaultParams)
    data = _prepare(incidents, cells, as_of_s, category_weights, categories)
    return _fit_blend(data, params)[0]


def fit_sepp(
    times_s: np.ndarray,
    cells_index: np.ndarray,
    n_cells: int,
    window_start_s: int,
    window_end_s: int,
    max_iter: int = 200,
    tol: float = 1e-7,
    *,
    theta_init: float = 0.5,
    omega_init: float = 1.0,
) -> SeppFit:
    """Fit the grid self-exciting point process of Mohler et al. (2015) by EM.

    The intensity of cell ``n`` at time ``t`` (days) is ``lambda_n(t) = mu_n + theta * omega
    * sum_{t_i < t, same cell} exp(-omega (t - t_i))``. Incidents at the same instant in
    the same cell do not trigger each other (only strictly earlier ones count). Incidents
    before the window do not trigger ones inside it.

    Each EM iteration computes, for every incident ``j``, ``A_j = sum_{i<j} exp(-omega
    (t_j - t_i))`` and ``B_j = sum_{i<j} (t_j - t_i) exp(-omega (t_j - t_i))`` by the
    exponential kernel's recursions ``S_j = e_j S_{j-1} + 1`` and ``B_j = e_j (B_{j-1} +
    (t_j - t_{j-1}) S_{j-1})`` with ``e_j = exp(-omega (t_j - t_{j-1}))`` (``A_j`` is ``S_j``
    less the incidents tied with ``j``). The recursion runs over the rank of an incident
    within its cell, vectorised across all cells with at least that many incidents. The
    E-step gives each incident's probability of being background, ``mu / lambda``; the
    M-step, with the compensator's edge effect at the window end (an incident at ``t_i``
    has had ``T - t_i`` days to trigger), is::

        mu_n  = (background probabilities in cell n) / T
        theta = P / sum_i (1 - exp(-omega (T - t_i)))
        omega = P / (sum_j theta omega B_j / lambda_j + theta sum_i (T - t_i) e^{-omega (T - t_i)})

    with ``P = sum_j theta omega A_j / lambda_j`` the expected number of triggered incidents.

    Parameters
    ----------
    times_s
        Incident times, UTC seconds, each in ``[window_start_s, window_end_s)``.
    cells_index
        Cell of each incident as an index ``0 .. n_cells - 1``.
    n_cells
        Number of cells (cells without incidents get ``mu = 0``).
    window_start_s, window_end_s
        The observation window.
    max_iter, tol
        Stop after ``max_iter`` iterations or when the log-likelihood changes by less than
        ``tol`` times its magnitude.
    theta_init, omega_init
        Starting branching ratio (in (0, 1)) and decay rate (per day).

    Returns
    -------
    SeppFit

    Raises
    ------
    GeoError
        For arrays of different lengths, times outside the window, cell indexes outside
        ``0 .. n_cells - 1``, or invalid settings.
    """
    times = np.asarray(times_s)
    index = np.asarray(cells_index)
    if times.ndim != 1 or index.shape != times.shape:
        raise GeoError(
            f"times_s and cells_index must be 1-D of equal length, got {times.shape} and "
            f"{index.shape}"
        )
    if times.size and (times.dtype.kind not in "iuf" or index.dtype.kind not in "iu"):
        raise GeoError("times_s must be numbers and cells_index integers")
    check_whole(n_cells, "n_cells", minimum=1)
    check_whole(max_iter, "max_iter", minimum=1)
    _check_positive(tol, "tol")
    if not window_start_s < window_end_s:
        raise GeoError(
            f"window_start_s must precede window_end_s, got {window_start_s} and {window_end_s}"
        )
    if not 0.0 < theta_init < 1.0:
        raise GeoError(f"theta_init must be in (0, 1), got {theta_init!r}")
    _check_positive(omega_init, "omega_init")
    if times.size and (times.min() < window_start_s or times.max() >= window_end_s):
        raise GeoError(
            f"times_s must lie in [window_start_s, window_end_s) = [{window_start_s}, "
            f"{window_end_s}), got {times.min()} .. {times.max()}"
        )
    if index.size and (index.min() < 0 or index.max() >= n_cells):
        raise GeoError(
            f"cells_index must lie in 0 .. {n_cells - 1}, got {index.min()} .. {index.max()}"
        )

    n_cells = int(n_cells)
    window_days = (window_end_s - window_start_s) / DAY_S
    if times.size == 0:
        return SeppFit(_read_only(np.zeros(n_cells)), 0.0, float(omega_init), 0, True, 0.0)
    layout = _RankLayout.build((times - window_start_s) / DAY_S, index.astype(np.int64))
    mu = np.bincount(layout.cell, minlength=n_cells) / window_days * (1.0 - theta_init)
    theta, omega = float(theta_init), float(omega_init)
    time_left = window_days - layout.time
    previous = -math.inf
    converged = False
    log_likelihood = -math.inf
    n_iter = 0
    for n_iter in range(1, int(max_iter) + 1):  # noqa: B007 - n_iter is reported
        excitation, lag_sum = layout.kernel_sums(omega)
        triggering = theta * omega * excitation
        intensity = mu[layout.cell] + triggering
        decay_left = np.exp(-omega * time_left)
        compensator = float(np.sum(1.0 - decay_left))
        log_likelihood = float(
            np.sum(np.log(intensity)) - window_days * mu.sum() - theta * compensator
        )
        if abs(log_likelihood - previous) <= tol * abs(log_likelihood):
            converged = True
            break
        previous = log_likelihood
        background = mu[layout.cell] / intensity
        triggered_total = float(np.sum(triggering / intensity))
        mu = np.bincount(layout.cell, weights=background, minlength=n_cells) / window_days
        if triggered_total <= 1e-12:
            theta = 0.0
            continue
        lag_total = float(np.sum(theta * omega * lag_sum / intensity))
        theta = triggered_total / compensator
        edge = theta * float(np.sum(time_left * decay_left))
        omega = triggered_total / (lag_total + edge)
    return SeppFit(
        mu=_read_only(mu),
        theta=float(theta),
        omega=float(omega),
        n_iter=n_iter,
        converged=converged,
        log_likelihood=log_likelihood,
    )


def category_weights_from_table(
    categories_frame: pd.DataFrame,
    police_initiated_weight: float = DEFAULT_POLICE_INITIATED_WEIGHT,
) -> dict[str, float]:
    """Turn the category table into ``code -> weight``, applying the police-activity guardrail.

    Parameters
    ----------
    categories_frame
        Columns ``code``, ``weight`` (>= 0) and ``police_initiated`` (bool), as from
        :func:`geo.categories.load_categories`.
    police_initiated_weight
        Factor on the table weight of police-initiated categories: 0 excludes them (the
        default, :data:`DEFAULT_POLICE_INITIATED_WEIGHT`), 1 keeps the table's weight.

    Returns
    -------
    dict
        One entry per code.

    Raises
    ------
    GeoError
        When a column is missing, a weight is negative or not finite, or the factor is
        outside [0, 1].

    Examples
    --------
    >>> table = pd.DataFrame({"code": ["THEFT", "NARCOTICS"], "weight": [2.0, 0.5],
    ...                       "police_initiated": [False, True]})
    >>> category_weights_from_table(table)
    {'THEFT': 2.0, 'NARCOTICS': 0.0}
    """
    if not isinstance(categories_frame, pd.DataFrame):
        raise GeoError(
            f"categories_frame must be a DataFrame, got {type(categories_frame).__name__}"
        )
    missing = [c for c in ("code", "weight", "police_initiated") if c not in categories_frame]
    if missing:
        raise GeoError(
            f"categories_frame lacks columns {missing}; expected code, weight, police_initiated"
        )
    factor = float(police_initiated_weight)
    if not 0.0 <= factor <= 1.0:
        raise GeoError(
            f"police_initiated_weight must be in [0, 1], got {police_initiated_weight!r}"
        )
    weights = categories_frame["weight"].to_numpy(dtype=np.float64)
    if not (np.isfinite(weights).all() and (weights >= 0).all()):
        raise GeoError("categories_frame['weight'] must be finite and >= 0")
    flags = categories_frame["police_initiated"].to_numpy(dtype=bool)
    weights = np.where(flags, weights * factor, weights)
    codes = categories_frame["code"].astype(str).tolist()
    return {code: float(w) for code, w in zip(codes, weights, strict=True)}


# --- preparation --------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Prepared:
    """Validated incidents before ``as_of_s`` in study cells, with weights and group flags."""

    cells: NDArray[np.int64]
    as_of_s: int
    times: NDArray[np.int64]
    index: NDArray[np.int64]
    weight: NDArray[np.float64]
    in_group: NDArray[np.bool_]
    has_group: bool

    def group_counts(self) -> NDArray[np.float64]:
        """Weighted count of the selected incidents per cell."""
        return np.bincount(
            self.index[self.in_group],
            weights=self.weight[self.in_group],
            minlength=self.cells.size,
        ).astype(np.float64)


def _prepare(
    incidents: Any,
    cells: Any,
    as_of_s: Any,
    category_weights: Any,
    categories: Any,
) -> _Prepared:
    """Check the inputs and cut the incidents to the study cells and the time before as_of."""
    study = check_cells(cells)
    as_of = check_seconds(as_of_s, "as_of_s")
    frame = _check_incidents(incidents)
    weights_by_code = _check_category_weights(category_weights)
    selected = _check_categories(categories)

    times = frame["occurred_at"].to_numpy().astype(np.int64, copy=False)
    before = times < as_of
    times = times[before]
    incident_cells = frame["cell"].to_numpy()[before]
    incident_cells = (
        incident_cells.view(np.int64)
        if incident_cells.dtype == np.uint64
        else incident_cells.astype(np.int64, copy=False)
    )
    order = np.argsort(study, kind="stable")
    sorted_study = study[order]
    position = np.minimum(np.searchsorted(sorted_study, incident_cells), study.size - 1)
    inside = sorted_study[position] == incident_cells
    index = order[position[inside]]
    times = times[inside]

    # Map the few distinct category codes, not every incident.
    codes, uniques = pd.factorize(frame["category"], use_na_sentinel=True)
    codes = codes[before][inside]
    unique_codes = [str(u) for u in uniques]
    code_weight = np.array(
        [float(weights_by_code.get(u, 1.0)) for u in unique_codes] + [1.0], dtype=np.float64
    )
    code_selected = np.array(
        [selected is None or u in selected for u in unique_codes] + [selected is None],
        dtype=bool,
    )
    weight = code_weight[codes]  # the NA sentinel -1 reads the last slot
    in_group = code_selected[codes]
    kept = weight > 0
    return _Prepared(
        cells=study,
        as_of_s=as_of,
        times=times[kept],
        index=index[kept].astype(np.int64),
        weight=weight[kept],
        in_group=in_group[kept],
        has_group=selected is not None,
    )


def _check_incidents(incidents: Any) -> pd.DataFrame:
    """Check the incidents frame's columns and their types."""
    return check_incidents(incidents)


def _check_category_weights(weights: Any) -> Mapping[str, float]:
    """Check ``code -> weight`` has finite, non-negative weights."""
    if weights is None:
        return {}
    if not isinstance(weights, Mapping):
        raise GeoError(f"category_weights must map code -> weight, got {type(weights).__name__}")
    for code, value in weights.items():
        try:
            number = float(value)
        except (TypeError, ValueError) as err:
            raise GeoError(f"category_weights[{code!r}] must be a number, got {value!r}") from err
        if not (math.isfinite(number) and number >= 0):
            raise GeoError(f"category_weights[{code!r}] must be finite and >= 0, got {value!r}")
    return weights


def _check_categories(categories: Any) -> frozenset[str] | None:
    """Check the category filter is None or a non-empty collection of codes."""
    if categories is None:
        return None
    if isinstance(categories, str) or not isinstance(categories, Collection):
        raise GeoError(
            f"categories must be a collection of codes such as ('BURGLARY',), got {categories!r}"
        )
    codes = frozenset(categories)
    if not codes or not all(isinstance(c, str) for c in codes):
        raise GeoError(f"categories must name at least one code (str), got {categories!r}")
    return codes


def _check_params(params: Any, expected: type[_P]) -> _P:
    """Return ``params``, or the defaults for ``None``; raise for another type."""
    if params is None:
        return expected()
    if not isinstance(params, expected):
        raise GeoError(f"params must be a {expected.__name__}, got {type(params).__name__}")
    return params


# --- counting -----------------------------------------------------------------------------------


def _decayed_counts(
    data: _Prepared, lookback_days: float | None, half_life_days: float | None
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


# --- the default blend ---------------------------------------------------------------------------


def _fit_blend(data: _Prepared, params: DefaultParams) -> tuple[BlendFit, NDArray[np.float64]]:
    """Fit the blend; return it with the features at ``as_of_s`` (cells x BLEND_FEATURES)."""
    n = data.cells.size
    horizon_s = int(round(params.horizon_days * DAY_S))
    step_s = int(round(params.origin_step_days * DAY_S))
    group_times = data.times[data.in_group]
    first_s = int(group_times.min()) if group_times.size else data.as_of_s
    candidates = [data.as_of_s - horizon_s - j * step_s for j in range(params.n_origins)]
    training = [
        o for o in candidates if o - first_s >= params.min_history_days * DAY_S and o > first_s
    ]
    origins = [data.as_of_s, *training]
    year_s = int(round(params.recent_year_days * DAY_S))
    recent_s = int(round(params.recent_days * DAY_S))
    edge_list = [e for o in origins for e in (o, o - year_s, o - recent_s)]
    edge_list += [o + horizon_s for o in training]
    edges = np.unique(np.asarray(edge_list, dtype=np.int64))
    col = {int(e): i for i, e in enumerate(edges)}

    group_index = data.index[data.in_group]
    weighted = _counts_before(group_index, group_times, data.weight[data.in_group], edges, n)
    pooled = (
        _counts_before(data.index, data.times, data.weight, edges, n) if data.has_group else None
    )
    neighbours = ring_weights(data.cells, params.k, decay=[0.0] + [1.0] * params.k)
    degree = np.asarray(neighbours.sum(axis=1), dtype=np.float64).ravel()

    def features(o: int) -> NDArray[np.float64]:
        long_run = weighted[:, col[o]]
        recent_year = long_run - weighted[:, col[o - year_s]]
        columns = {
            "long_run": long_run,
            "recent_year": recent_year,
            "recent": long_run - weighted[:, col[o - recent_s]],
            "neighbours": _neighbour_mean(neighbours, degree, long_run),
            "neighbours_recent": _neighbour_mean(neighbours, degree, recent_year),
            "pooled": pooled[:, col[o]] if pooled is not None else np.zeros(n),
        }
        return np.column_stack([np.log1p(columns[f]) for f in BLEND_FEATURES])

    now = features(data.as_of_s)
    history_days = max((data.as_of_s - first_s) / DAY_S, params.horizon_days)
    naive = _naive_blend(math.log(params.horizon_days / history_days), origins=())
    if len(training) < 2:
        return naive, now
    xs = [features(o) for o in training]
    ys = [weighted[:, col[o + horizon_s]] - weighted[:, col[o]] for o in training]
    if sum(float(y.sum()) for y in ys) <= 0:
        return naive, now
    free = [True] * len(BLEND_FEATURES)
    if not data.has_group:
        free[BLEND_FEATURES.index("pooled")] = False
    intercept, coefficients = _fit_poisson(xs, ys, free, params.l2)

    # The guard compares rankings on the training windows with whole incident counts.
    counted = _counts_before(group_index, group_times, None, edges, n)
    areas = cell_areas_km2(data.cells)
    blend_auc, naive_auc = [], []
    for o, x in zip(training, xs, strict=True):
        test = counted[:, col[o + horizon_s]] - counted[:, col[o]]
        if test.sum() <= 0:
            continue
        blend_auc.append(auc(coverage_curve(x @ coefficients, test, areas)))
        naive_auc.append(auc(coverage_curve(x[:, 0], test, areas)))
    blend_mean = float(np.mean(blend_auc)) if blend_auc else math.nan
    naive_mean = float(np.mean(naive_auc)) if naive_auc else math.nan
    uses_blend = bool(blend_auc) and blend_mean >= naive_mean
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
    return _result(cells, np.exp(log_score), columns)


def _result(
    cells: NDArray[np.int64], score: NDArray[np.float64], columns: Mapping[str, NDArray[Any]]
) -> pd.DataFrame:
    """Assemble ``cell``, ``score`` and the explanation columns."""
    frame = {"cell": cells.astype(np.int64), "score": np.asarray(score, dtype=np.float64)}
    frame.update({name: np.asarray(v, dtype=np.float64) for name, v in columns.items()})
    return pd.DataFrame(frame)


# --- SEPP internals -----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _RankLayout:
    """Incidents in rank-major order: all first incidents of the cells, then all second ...

    Cells are ordered by incident count, most first, so the cells with at least ``r + 1``
    incidents are a prefix of those with at least ``r``: the ``r``-th incidents form the
    slice ``starts[r] : starts[r] + sizes[r]`` and their predecessors the first ``sizes[r]``
    entries of the previous slice. Every recursion step is then two contiguous slices.
    """

    time: NDArray[np.float64]
    cell: NDArray[np.int64]
    gap: NDArray[np.float64]
    tied: NDArray[np.float64]
    starts: NDArray[np.int64]
    sizes: NDArray[np.int64]

    @classmethod
    def build(cls, time_days: NDArray[np.float64], cell: NDArray[np.int64]) -> _RankLayout:
        by_cell = np.lexsort((time_days, cell))
        time = time_days[by_cell]
        cells = cell[by_cell]
        new_cell = np.r_[True, cells[1:] != cells[:-1]]
        cell_start = np.flatnonzero(new_cell)
        run_length = np.diff(np.r_[cell_start, cells.size])
        rank = np.arange(cells.size) - np.repeat(cell_start, run_length)
        # Position of each incident within its run of equal times in its cell (1-based).
        new_time = new_cell | np.r_[True, time[1:] != time[:-1]]
        time_start = np.flatnonzero(new_time)
        tied = np.arange(cells.size) - np.repeat(time_start, np.diff(np.r_[time_start, cells.size]))
        gap = np.where(new_cell, 0.0, np.diff(np.r_[time[:1], time]))
        # Cells by count, most first (ties by cell id) fix each cell's place within a rank.
        place = np.empty(run_length.size, dtype=np.int64)
        place[np.lexsort((cells[cell_start], -run_length))] = np.arange(run_length.size)
        order = np.lexsort((np.repeat(place, run_length), rank))
        sizes = np.bincount(rank)
        starts = np.r_[0, np.cumsum(sizes)[:-1]]
        return cls(
            time=time[order],
            cell=cells[order],
            gap=gap[order],
            tied=(tied[order] + 1).astype(np.float64),
            starts=starts.astype(np.int64),
            sizes=sizes.astype(np.int64),
        )

    def kernel_sums(self, omega: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``A_j`` and ``B_j`` of every incident (strictly earlier incidents of its cell)."""
        factor = np.exp(-omega * self.gap)
        inclusive = np.ones(self.time.size)  # S_j: sum over i <= j of exp(-omega (t_j - t_i))
        lag = np.zeros(self.time.size)  # B_j
        for start, previous, size in zip(
            self.starts[1:].tolist(),
            self.starts[:-1].tolist(),
            self.sizes[1:].tolist(),
            strict=True,
        ):
            here = slice(start, start + size)
            before = slice(previous, previous + size)
            e = factor[here]
            prior = inclusive[before]
            lag[here] = e * (lag[before] + self.gap[here] * prior)
            inclusive[here] = e * prior + 1.0
        # Ties contribute exp(0) = 1 each to S_j but are not strictly earlier.
        return np.maximum(inclusive - self.tied, 0.0), lag


def _read_only(array: NDArray[Any]) -> NDArray[Any]:
    """Mark an array read-only, so a frozen result cannot be changed through it."""
    array.setflags(write=False)
    return array


ModelFunction = Callable[..., pd.DataFrame]

#: ``name -> (scoring function, default parameters)``; every function takes
#: ``(incidents, cells, as_of_s, params, *, category_weights, categories)``.
MODELS: Mapping[str, tuple[ModelFunction, Any]] = MappingProxyType(
    {
        "naive": (score_naive, NaiveParams()),
        "weighted_count": (score_weighted_count, WeightedCountParams()),
        "ring_smoothed": (score_ring_smoothed, RingSmoothedParams()),
        "sepp": (score_sepp, SeppParams()),
        "default": (score_default, DefaultParams()),
    }
)
