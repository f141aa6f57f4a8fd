"""When a cell is hot: relative risk by local weekday and hour, smoothed across space and time.

A cell's hour-of-week profile tells the planner at which hours to place its visits. Counts
per cell and hour are sparse (a res-9 cell sees a few dozen incidents a year spread over 168
hours of the week), so each cell borrows strength from its ring neighbourhood, and the
neighbourhood from the whole city.

Method
------
1. Count the selected incidents of the lookback window ``[as_of - lookback, as_of)`` per study
   cell ``C_i`` and local hour of the week (weekday Monday = 0 .. Sunday = 6, hour 0..23 in
   the given IANA timezone, daylight-saving time included). Incidents outside the study
   cells are ignored.
2. City profile ``p0``: all cells' counts with half an incident added to every hour (so that
   no hour has probability 0), normalised.
3. Neighbourhood profile of cell ``i``: the counts ``N_i`` of the study cells within ``k``
   rings of ``i``, *excluding* ``i`` itself (its own counts enter in step 4 and must not
   count twice), shrunk toward the city: ``q_i = (N_i + a0 p0) / (|N_i| + a0)``.
4. Cell profile: ``p_i = (C_i + a1 q_i) / (|C_i| + a1)``.
5. Smooth ``p_i`` circularly over adjacent hours of the week with ``hour_kernel`` (Sunday
   23:00 neighbours Monday 00:00; the kernel is normalised, so the profile still sums to 1).
   Recorded times cluster on round hours (midnight, noon, the full hour); the default
   kernel ``(0.25, 0.5, 0.25)`` spreads that rounding over the neighbouring hours.
6. Relative risk ``168 p_i``: 1.0 is the cell's average hour, so each cell's profile has
   mean exactly 1.

Steps 3 and 4 are the posterior means of a Dirichlet-multinomial model: a profile is pulled
toward its prior in proportion to how few incidents it rests on (weight ``a / (n + a)`` on
the prior with ``n`` incidents). The strengths ``a0`` and ``a1`` are ``prior_strength`` when
given, else estimated from the data by empirical Bayes: each maximises the Dirichlet-
multinomial marginal likelihood of the raw counts it shrinks (all neighbourhoods for
``a0``, all cells for ``a1``) over ``1 .. 10^5``. (Smoothing comes last because smoothed
counts are less dispersed than counts, which would bias that estimate toward no cell
differences at all.) A cell with no incidents gets its neighbourhood's profile, and with no
incidents in the neighbourhood either, the city's.

On Chicago (res 9, the year to 2018-08) empirical Bayes gives ``a0`` of about 2,300 and
``a1`` of about 1,000 incidents for all crime, and about 830 and 220 for burglary: hour
profiles differ between cells less than counts per cell do, so a cell needs hundreds of
incidents in a year before its own profile outweighs its neighbourhood's.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, special

from geo.checks import (
    DAY_S,
    check_number,
    check_timezone,
    check_whole,
    local_seconds_from_utc,
)
from geo.errors import GeoError
from geo.hotspots import ring_weights
from geo.scoring import _prepare

__all__ = [
    "HOURS_PER_WEEK",
    "DEFAULT_HOUR_KERNEL",
    "HOT_WINDOW_COLUMNS",
    "local_weekday_hour",
    "hour_weekday_profile",
    "risk_at",
    "hot_windows",
]

HOURS_PER_WEEK = 168
DEFAULT_HOUR_KERNEL = (0.25, 0.5, 0.25)
#: Columns of :func:`hot_windows`, in order.
HOT_WINDOW_COLUMNS = ("weekday", "start_hour", "hours", "mean_risk", "peak_risk")

# Pseudo-count per hour of the week in the city profile: keeps every hour possible.
_CITY_PSEUDO_COUNT = 0.5
# Search range of the empirical-Bayes prior strengths (in incidents).
_MIN_STRENGTH = 1.0
_MAX_STRENGTH = 1e5


def local_weekday_hour(times_s: ArrayLike, timezone: str) -> tuple[NDArray[np.int64], ...]:
    """Local weekday (Monday = 0) and hour (0..23) of UTC seconds in an IANA timezone.

    Parameters
    ----------
    times_s
        UTC seconds since the epoch.
    timezone
        IANA name, e.g. ``"America/Chicago"``; daylight-saving time is applied.

    Returns
    -------
    weekday, hour : numpy.ndarray
        ``int64`` arrays shaped like ``times_s``.

    Raises
    ------
    GeoError
        For an unknown timezone or times that are not whole numbers.

    Examples
    --------
    2018-03-11 08:30 UTC is 03:30 CDT, the first hour after Chicago's clocks jumped:

    >>> local_weekday_hour([1520757000], "America/Chicago")
    (array([6]), array([3]))
    """
    day, second = np.divmod(local_seconds_from_utc(times_s, timezone), DAY_S)
    # Day 0, 1970-01-01, was a Thursday (weekday 3).
    return (day + 3) % 7, second // 3600


def hour_weekday_profile(
    incidents: pd.DataFrame,
    cells: np.ndarray,
    as_of_s: int,
    timezone: str,
    lookback_days: float = 365.0,
    k: int = 1,
    prior_strength: float | None = None,
    *,
    hour_kernel: tuple[float, ...] = DEFAULT_HOUR_KERNEL,
    categories: Collection[str] | None = None,
) -> NDArray[np.float64]:
    """Relative risk per study cell by local weekday and hour, smoothed (see module notes).

    Parameters
    ----------
    incidents
        Columns ``occurred_at`` (int64 UTC seconds), ``cell`` (int64) and ``category``.
    cells
        Distinct int64 study cells of one resolution; rows of the result follow this order.
    as_of_s
        Only incidents in ``[as_of_s - lookback, as_of_s)`` count.
    timezone
        IANA timezone of the city, e.g. ``"America/Chicago"``.
    lookback_days
        Length of the window, in days.
    k
        Rings of the neighbourhood a cell borrows from (0: straight to the city profile).
    prior_strength
        Strength (in incidents) of both shrinkage steps; ``None`` estimates each by
        empirical Bayes.
    hour_kernel
        Weights of a centred circular smoothing over adjacent hours (odd length, >= 0);
        ``(1.0,)`` for none.
    categories
        Codes to count; ``None`` for every category.

    Returns
    -------
    numpy.ndarray
        ``float64`` of shape ``(n_cells, 7, 24)``: ``[cell, weekday, hour]`` with Monday = 0;
        each cell's 168 values are positive with mean 1.

    Raises
    ------
    GeoError
        For bad incidents, cells, time, timezone or settings, and cells that are not valid
        H3 cells.
    """
    check_timezone(timezone)
    check_number(lookback_days, "lookback_days", low=0.0, low_open=True)
    check_whole(k, "k", minimum=0)
    if prior_strength is not None:
        check_number(prior_strength, "prior_strength", low=0.0, low_open=True)
    kernel = _hour_kernel(hour_kernel)
    data = _prepare(incidents, cells, as_of_s, None, categories)
    window = data.in_group & (data.times >= data.as_of_s - lookback_days * DAY_S)
    n = data.cells.size

    weekday, hour = local_weekday_hour(data.times[window], timezone)
    slot = weekday * 24 + hour
    counts = (
        np.bincount(data.index[window] * HOURS_PER_WEEK + slot, minlength=n * HOURS_PER_WEEK)
        .reshape(n, HOURS_PER_WEEK)
        .astype(np.float64)
    )

    city_counts = counts.sum(axis=0) + _CITY_PSEUDO_COUNT
    city = np.broadcast_to(city_counts / city_counts.sum(), counts.shape)
    if k > 0:
        rings = ring_weights(data.cells, int(k))
        neighbourhood = np.asarray(rings @ counts, dtype=np.float64) - counts
    else:
        neighbourhood = np.zeros_like(counts)
    strength_city = (
        float(prior_strength)
        if prior_strength is not None
        else _empirical_bayes_strength(neighbourhood, city)
    )
    prior = _shrink(neighbourhood, city, strength_city)
    strength_cell = (
        float(prior_strength)
        if prior_strength is not None
        else _empirical_bayes_strength(counts, prior)
    )
    profile = _smooth_hours(_shrink(counts, prior, strength_cell), kernel)
    return (HOURS_PER_WEEK * profile).reshape(n, 7, 24)


def risk_at(
    profile: NDArray[np.float64],
    cell_index: ArrayLike,
    local_weekday: ArrayLike,
    local_hour: ArrayLike,
) -> Any:
    """Relative risk of cells at local weekdays and hours (broadcast together).

    Parameters
    ----------
    profile
        From :func:`hour_weekday_profile`, shape ``(n_cells, 7, 24)``.
    cell_index
        Row(s) of ``profile``: positions in the ``cells`` it was built for.
    local_weekday
        Monday = 0 .. Sunday = 6.
    local_hour
        0..23.

    Returns
    -------
    float or numpy.ndarray
        A float for scalar arguments, else the broadcast array.

    Raises
    ------
    GeoError
        For a profile of the wrong shape or an index, weekday or hour out of range.
    """
    array = np.asarray(profile)
    if array.ndim != 3 or array.shape[1:] != (7, 24):
        raise GeoError(f"profile must have shape (n_cells, 7, 24), got {array.shape}")
    index = _whole(cell_index, "cell_index", 0, array.shape[0] - 1)
    weekday = _whole(local_weekday, "local_weekday", 0, 6)
    hour = _whole(local_hour, "local_hour", 0, 23)
    values = array[index, weekday, hour]
    return float(values) if np.ndim(values) == 0 else values


def hot_windows(profile_row: ArrayLike, threshold: float, min_hours: int = 1) -> pd.DataFrame:
    """Runs of consecutive hours of the week when one cell's risk is above ``threshold``.

    The week is circular: a run from Sunday night into Monday morning is one window.

    Parameters
    ----------
    profile_row
        One cell's profile, shape ``(7, 24)`` (``profile[i]``) or ``(168,)``.
    threshold
        A window's hours all have relative risk strictly greater than this.
    min_hours
        Shorter runs are left out.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`HOT_WINDOW_COLUMNS`: ``weekday`` (Monday = 0) and ``start_hour`` of
        the first hour, ``hours`` (length; a window may run past midnight), ``mean_risk``
        and ``peak_risk``; ordered by start within the week (Monday 00:00 first). When every
        hour qualifies, one window of 168 hours from Monday 00:00.

    Raises
    ------
    GeoError
        For a row of the wrong shape or with NaN, or a ``min_hours`` outside 1..168.

    Examples
    --------
    >>> row = np.ones(168); row[[167, 0, 1]] = 2.0  # Sunday 23:00 to Monday 02:00
    >>> hot_windows(row, threshold=1.5)[["weekday", "start_hour", "hours"]].values.tolist()
    [[6, 23, 3]]
    """
    risk = np.asarray(profile_row, dtype=np.float64)
    if risk.shape not in ((7, 24), (HOURS_PER_WEEK,)):
        raise GeoError(f"profile_row must have shape (7, 24) or (168,), got {risk.shape}")
    risk = risk.ravel()
    if np.isnan(risk).any():
        raise GeoError("profile_row must not hold NaN")
    check_whole(min_hours, "min_hours", minimum=1, maximum=HOURS_PER_WEEK)
    hot = risk > float(threshold)
    if hot.all():
        return _windows_frame([(0, HOURS_PER_WEEK)], risk)
    if not hot.any():
        return _windows_frame([], risk)
    # Start the scan just after a cold hour, so no run is cut by the end of the week.
    shift = int(np.flatnonzero(~hot)[-1]) + 1
    rolled = np.roll(hot, -shift)
    padded = np.concatenate(([False], rolled, [False])).astype(np.int8)
    starts = np.flatnonzero(np.diff(padded) == 1)
    ends = np.flatnonzero(np.diff(padded) == -1)
    runs = [
        ((int(s) + shift) % HOURS_PER_WEEK, int(e - s))
        for s, e in zip(starts, ends, strict=True)
        if e - s >= min_hours
    ]
    return _windows_frame(sorted(runs), risk)


def _windows_frame(runs: list[tuple[int, int]], risk: NDArray[np.float64]) -> pd.DataFrame:
    """The hot-window table of ``(start hour of week, length)`` runs."""
    rows = []
    for start, length in runs:
        hours = risk[(start + np.arange(length)) % HOURS_PER_WEEK]
        rows.append((start // 24, start % 24, length, float(hours.mean()), float(hours.max())))
    frame = pd.DataFrame(rows, columns=list(HOT_WINDOW_COLUMNS))
    return frame.astype(
        {"weekday": np.int64, "start_hour": np.int64, "hours": np.int64, "mean_risk": np.float64}
    ).astype({"peak_risk": np.float64})


def _smooth_hours(counts: NDArray[np.float64], kernel: NDArray[np.float64]) -> NDArray[np.float64]:
    """Circular convolution of each row (168 hours of the week) with a centred kernel."""
    if kernel.size == 1:
        return counts * float(kernel[0])
    half = kernel.size // 2
    smoothed = np.zeros_like(counts)
    for offset, weight in zip(range(-half, half + 1), kernel, strict=True):
        if weight:
            smoothed += weight * np.roll(counts, offset, axis=1)
    return smoothed


def _shrink(
    counts: NDArray[np.float64], prior: NDArray[np.float64], strength: float
) -> NDArray[np.float64]:
    """Posterior mean profile ``(counts + a prior) / (n + a)`` per row."""
    totals = counts.sum(axis=1, keepdims=True)
    shrunk: NDArray[np.float64] = (counts + strength * prior) / (totals + strength)
    return shrunk


def _empirical_bayes_strength(counts: NDArray[np.float64], prior: NDArray[np.float64]) -> float:
    """Dirichlet strength maximising the Dirichlet-multinomial likelihood of the rows.

    Per row with total ``n`` and prior mean ``p``: ``lgamma(a) - lgamma(n + a) + sum_h
    [lgamma(c_h + a p_h) - lgamma(a p_h)]``; hours with ``c_h = 0`` add nothing, so only the
    non-zero counts are visited.
    """
    totals = counts.sum(axis=1)
    rows = totals > 0
    if not rows.any():
        return _MAX_STRENGTH
    used = counts[rows]
    means = prior[rows]
    row_totals = totals[rows]
    nonzero = used > 0
    values = used[nonzero]
    shares = means[nonzero]
    # For a count of one, lgamma(1 + x) - lgamma(x) is log(x): most non-zero counts are 1.
    single = values == 1
    single_shares = shares[single]
    many_values, many_shares = values[~single], shares[~single]

    def negative_log_likelihood(log_strength: float) -> float:
        a = math.exp(log_strength)
        per_row = special.gammaln(a) - special.gammaln(row_totals + a)
        per_single = np.log(a * single_shares)
        per_many = special.gammaln(many_values + a * many_shares) - special.gammaln(a * many_shares)
        return -float(per_row.sum() + per_single.sum() + per_many.sum())

    result = optimize.minimize_scalar(
        negative_log_likelihood,
        bounds=(math.log(_MIN_STRENGTH), math.log(_MAX_STRENGTH)),
        method="bounded",
        options={"xatol": 1e-2},
    )
    return float(math.exp(result.x))


def _hour_kernel(kernel: Any) -> NDArray[np.float64]:
    """Check and normalise the hour kernel."""
    try:
        weights = np.asarray(kernel, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise GeoError(f"hour_kernel must be a sequence of weights, got {kernel!r}") from err
    if weights.ndim != 1 or weights.size % 2 == 0 or weights.size > HOURS_PER_WEEK:
        raise GeoError(f"hour_kernel must have an odd number of weights, got {kernel!r}")
    if not (np.isfinite(weights).all() and (weights >= 0).all() and weights.sum() > 0):
        raise GeoError(f"hour_kernel weights must be finite, >= 0 and not all 0: {kernel!r}")
    normalised: NDArray[np.float64] = weights / float(weights.sum())
    return normalised


def _whole(values: ArrayLike, name: str, low: int, high: int) -> NDArray[np.int64]:
    """Integer array within ``low..high``, or GeoError naming the argument."""
    array = np.asarray(values)
    if array.size and array.dtype.kind not in "iu":
        raise GeoError(f"{name} must be whole numbers, got dtype {array.dtype}")
    if array.size and (array.min() < low or array.max() > high):
        raise GeoError(f"{name} must lie in {low}..{high}, got {values!r}")
    return array.astype(np.int64)
