"""The self-exciting model: a grid self-exciting point process (Mohler et al. 2015).

Each study cell has a background rate ``mu`` and every incident raises the rate of its own
cell for a while (near-repeat triggering that decays exponentially): :func:`fit_sepp` fits
the background rates, the branching ratio ``theta`` and the decay rate ``omega`` by
expectation-maximisation (:class:`SeppFit`), and :func:`score_sepp` scores the expected
number of incidents of each cell in the next ``horizon_days`` (:class:`SeppParams`).
:mod:`geo.scoring` re-exports them; :func:`geo.scoring.score_cells` documents the inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from geo._scoring_inputs import (
    Prepared,
    check_optional_positive,
    check_positive,
    model_entry,
    result_frame,
)
from geo.checks import DAY_S, check_whole
from geo.errors import GeoError

__all__ = ["SeppParams", "SeppFit", "score_sepp", "fit_sepp"]


# --- parameters and result ----------------------------------------------------------------------


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
        check_positive(self.horizon_days, "horizon_days")
        check_optional_positive(self.lookback_days, "lookback_days")
        check_whole(self.max_iter, "max_iter", minimum=1)
        check_positive(self.tol, "tol")


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


# --- the model ----------------------------------------------------------------------------------


def _sepp(data: Prepared, params: SeppParams) -> pd.DataFrame:
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
        As for :func:`geo.scoring.score_cells`.
    """
    n = data.cells.size
    times = data.times[data.in_group]
    index = data.index[data.in_group]
    if params.lookback_days is not None:
        keep = times >= data.as_of_s - params.lookback_days * DAY_S
        times, index = times[keep], index[keep]
    if times.size == 0:
        zeros = np.zeros(n)
        return result_frame(data.cells, zeros, {"background": zeros, "triggered": zeros})
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
    return result_frame(
        data.cells, background + triggered, {"background": background, "triggered": triggered}
    )


score_sepp = model_entry("score_sepp", SeppParams, _sepp)


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
    _check_fit_arguments(
        times, index, n_cells, window_start_s, window_end_s, max_iter, tol, theta_init, omega_init
    )
    n_cells = int(n_cells)
    window_days = (window_end_s - window_start_s) / DAY_S
    if times.size == 0:
        return SeppFit(_read_only(np.zeros(n_cells)), 0.0, float(omega_init), 0, True, 0.0)
    layout = _RankLayout.build((times - window_start_s) / DAY_S, index.astype(np.int64))
    mu = np.bincount(layout.cell, minlength=n_cells) / window_days * (1.0 - theta_init)
    return _expectation_maximisation(
        layout, n_cells, window_days, mu, float(theta_init), float(omega_init), max_iter, tol
    )


def _check_fit_arguments(
    times: NDArray[Any],
    index: NDArray[Any],
    n_cells: int,
    window_start_s: int,
    window_end_s: int,
    max_iter: int,
    tol: float,
    theta_init: float,
    omega_init: float,
) -> None:
    """Raise for the arguments :func:`fit_sepp` cannot fit, naming the argument."""
    if times.ndim != 1 or index.shape != times.shape:
        raise GeoError(
            f"times_s and cells_index must be 1-D of equal length, got {times.shape} and "
            f"{index.shape}"
        )
    if times.size and (times.dtype.kind not in "iuf" or index.dtype.kind not in "iu"):
        raise GeoError("times_s must be numbers and cells_index integers")
    check_whole(n_cells, "n_cells", minimum=1)
    check_whole(max_iter, "max_iter", minimum=1)
    check_positive(tol, "tol")
    if not window_start_s < window_end_s:
        raise GeoError(
            f"window_start_s must precede window_end_s, got {window_start_s} and {window_end_s}"
        )
    if not 0.0 < theta_init < 1.0:
        raise GeoError(f"theta_init must be in (0, 1), got {theta_init!r}")
    check_positive(omega_init, "omega_init")
    if times.size and (times.min() < window_start_s or times.max() >= window_end_s):
        raise GeoError(
            f"times_s must lie in [window_start_s, window_end_s) = [{window_start_s}, "
            f"{window_end_s}), got {times.min()} .. {times.max()}"
        )
    if index.size and (index.min() < 0 or index.max() >= n_cells):
        raise GeoError(
            f"cells_index must lie in 0 .. {n_cells - 1}, got {index.min()} .. {index.max()}"
        )


def _expectation_maximisation(
    layout: _RankLayout,
    n_cells: int,
    window_days: float,
    mu: NDArray[np.float64],
    theta: float,
    omega: float,
    max_iter: int,
    tol: float,
) -> SeppFit:
    """EM iterations of :func:`fit_sepp` from a starting ``mu``, ``theta`` and ``omega``."""
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


# --- internals ----------------------------------------------------------------------------------


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
