"""Synthetic incidents for the offline demo: a seeded, marked spatio-temporal Hawkes process.

The demo city has no open incident records, so :func:`generate_incidents` invents them. The
output looks like imported incidents (same columns as the demo loader expects) but every row
is flagged ``synthetic`` and says so in its description. The same seed always gives the same
frame; nothing is read from the clock, the environment or module state.

Model
-----
Incidents follow a self-exciting (Hawkes) point process in space and time, marked with a
category. Its conditional intensity at place ``s`` and time ``t`` is::

    lambda(s, t) = mu(t) * f(s, t) + sum over earlier incidents i of
                   branching_ratio * g(t - t_i) * h(s - s_i)

Background incidents (``mu * f``)
    The background rate is ``mu = mean_per_day * (1 - branching_ratio)``, so that with the
    triggered incidents the long-run total is ``mean_per_day`` a day. Counts are drawn per
    local calendar day (in ``timezone``) as Poisson with mean ``mu`` times a weekly factor
    (mean 1; Friday and Saturday 6-8 % above it, Tuesday and Wednesday 5 % below). Each incident
    takes an hour from a diurnal profile (peak 19-21 h, trough 4-6 h, about 4:1) and a
    uniform time within that hour.

    Its place comes from a mixture: with probability ``uniform_share`` uniform over the area,
    otherwise one of ``n_hotspots`` isotropic Gaussian hotspots (default 6-12, drawn from the
    seed) whose centres are uniform in the area, whose standard deviations are uniform in
    150-600 m and whose strengths are log-normal (sigma 0.75), so a few hotspots dominate.
    Hotspot draws that fall outside the area are redrawn, so the background total is not
    thinned by the edge.

Trend (emerging and fading hotspots)
    With ``trend_factor`` > 1, about a quarter of the hotspots (at least one) grow and as many
    fade: a trending hotspot's strength is multiplied by ``trend_factor ** s`` (growing) or
    ``trend_factor ** -s`` (fading), ``s`` running linearly from -1/2 at ``start`` to +1/2 at
    ``end``, so it ends ``trend_factor`` times stronger (or weaker) than it began. Hotspot
    strengths are renormalised each day, so trends move incidents between places without
    changing the total rate.

Triggering (near repeats, ``g`` and ``h``)
    Every incident, background or triggered, has Poisson(``branching_ratio``) offspring:
    repeat and near-repeat victimisation. An offspring occurs on the local day of
    ``parent + Exponential(mean_delay_days)`` at a time of day drawn from the diurnal profile
    (moved one day later if that would put it before its parent), so triggered incidents keep
    the daily rhythm. Its place is the parent's plus an isotropic Gaussian offset with
    standard deviation ``offspring_offset_m``. It keeps its parent's category with probability
    0.8, otherwise draws one from the city-wide shares. Generations are simulated one after
    another, each vectorised, until a generation is empty.

Categories (marks)
    ``categories`` maps a category code to its city-wide share (default
    :data:`DEFAULT_CATEGORY_SHARES`, roughly the mix of a large city's police records). The
    uniform part draws from these shares; each hotspot leans to one category (drawn in
    proportion to the shares) that weighs four times its city-wide share there, so a market
    hotspot can be mostly theft and a nightlife hotspot mostly battery.

Window, burn-in and clipping
    The process is simulated from ``8 * mean_delay_days`` days before ``start`` so that
    incidents early in the window have their triggering history. Only incidents with
    ``start <= occurred_at < end`` and inside the area are returned; offspring pushed across
    the area's edge are dropped (they belong to a neighbouring area). The expected count is
    therefore about ``mean_per_day`` times the window length in days, slightly less for
    areas whose hotspots touch the edge.

Space is handled in metres on a local equirectangular projection around the area's centroid,
accurate to well under 1 % for a city-sized area.
"""

from __future__ import annotations

import math
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon

from geo.checks import (
    DAY_S,
    check_aware_timestamp,
    check_number,
    check_timezone,
    check_whole,
    utc_seconds_from_local,
)
from geo.errors import GeoError, InvalidBoundaryError, InvalidCoordinatesError

__all__ = [
    "SYNTHETIC_LABEL",
    "DEFAULT_CATEGORY_SHARES",
    "INCIDENT_COLUMNS",
    "HOTSPOT_COUNT_RANGE",
    "HOTSPOT_SD_RANGE_M",
    "generate_incidents",
    "demo_window",
]

SYNTHETIC_LABEL = "synthetic"

# Shares of the ten most common Chicago primary types (2016-2018), rounded and renormalised.
DEFAULT_CATEGORY_SHARES: Mapping[str, float] = MappingProxyType(
    {
        "THEFT": 0.26,
        "BATTERY": 0.21,
        "CRIMINAL DAMAGE": 0.13,
        "ASSAULT": 0.08,
        "DECEPTIVE PRACTICE": 0.08,
        "BURGLARY": 0.06,
        "NARCOTICS": 0.055,
        "ROBBERY": 0.05,
        "MOTOR VEHICLE THEFT": 0.045,
        "CRIMINAL TRESPASS": 0.03,
    }
)

INCIDENT_COLUMNS = (
    "incident_id",
    "occurred_at",
    "lon",
    "lat",
    "category",
    "description",
    "synthetic",
)

HOTSPOT_COUNT_RANGE = (6, 12)
HOTSPOT_SD_RANGE_M = (150.0, 600.0)

# Names as in data/categories.csv, so descriptions read the same as the category labels.
_CATEGORY_NAMES_ZH: Mapping[str, str] = MappingProxyType(
    {
        "THEFT": "盗窃",
        "BATTERY": "殴打",
        "CRIMINAL DAMAGE": "故意毁坏财物",
        "ASSAULT": "伤害威胁",
        "DECEPTIVE PRACTICE": "诈骗",
        "BURGLARY": "入室盗窃",
        "NARCOTICS": "毒品",
        "ROBBERY": "抢劫",
        "MOTOR VEHICLE THEFT": "盗窃机动车",
        "CRIMINAL TRESPASS": "非法侵入",
    }
)

# Relative incidents per local hour 00..23: a trough before dawn, a rise through the day and
# an evening peak, as in most cities' recorded crime.
_HOUR_WEIGHTS = (
    0.95, 0.75, 0.60, 0.45, 0.35, 0.35,  # 00-05
    0.45, 0.65, 0.85, 0.95, 1.00, 1.05,  # 06-11
    1.15, 1.05, 1.05, 1.10, 1.15, 1.20,  # 12-17
    1.30, 1.40, 1.45, 1.40, 1.30, 1.15,  # 18-23
)  # fmt: skip
# Relative background rate Monday..Sunday (mean 1).
_WEEKDAY_WEIGHTS = (0.96, 0.95, 0.95, 0.97, 1.06, 1.08, 1.03)

_HOTSPOT_STRENGTH_SIGMA = 0.75
_CATEGORY_LEAN_FACTOR = 4.0
_SAME_CATEGORY_SHARE = 0.8
_BURN_IN_MEAN_DELAYS = 8.0
_TRENDING_SHARE = 0.25
# Guards against a window or rate that would exhaust memory; the demo needs ~10^4 incidents.
_MAX_EXPECTED_INCIDENTS = 5_000_000
# With branching_ratio < 1 generations shrink geometrically; this only stops a pathological run.
_MAX_GENERATIONS = 1_000
_MAX_REDRAWS = 100

_EARTH_RADIUS_M = 6_371_008.8
_M_PER_DEG_LAT = _EARTH_RADIUS_M * math.pi / 180.0
_EPOCH = pd.Timestamp("1970-01-01")
# 1970-01-01 was a Thursday: weekday (Monday = 0) of local day number d is (d + 3) % 7.
_EPOCH_WEEKDAY = 3

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class _LocalFrame:
    """Local equirectangular projection: degrees to metres around a reference point."""

    lon0: float
    lat0: float
    m_per_deg_lon: float

    def to_lonlat(self, x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Metres east and north of the reference point to lon and lat."""
        return self.lon0 + x / self.m_per_deg_lon, self.lat0 + y / _M_PER_DEG_LAT

    def to_xy(self, lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Lon and lat to metres east and north of the reference point."""
        return (lon - self.lon0) * self.m_per_deg_lon, (lat - self.lat0) * _M_PER_DEG_LAT


@dataclass(frozen=True)
class _Hotspots:
    """Hotspot centres (metres), spreads, base strengths, trend signs and category mixes."""

    x: FloatArray
    y: FloatArray
    sd_m: FloatArray
    strength: FloatArray
    trend_sign: FloatArray
    category_p: FloatArray  # one row per hotspot, one column per category


@dataclass(frozen=True)
class _Events:
    """Simulated incidents: local wall-clock days since 1970-01-01, metres, category index."""

    t: FloatArray
    x: FloatArray
    y: FloatArray
    category: IntArray

    def take(self, index: IntArray) -> _Events:
        """The events at ``index``."""
        return _Events(self.t[index], self.x[index], self.y[index], self.category[index])


def generate_incidents(
    area: Polygon | MultiPolygon,
    start: pd.Timestamp,
    end: pd.Timestamp,
    seed: int,
    *,
    mean_per_day: float = 40.0,
    categories: Mapping[str, float] | None = None,
    branching_ratio: float = 0.35,
    mean_delay_days: float = 3.0,
    offspring_offset_m: float = 100.0,
    n_hotspots: int | None = None,
    uniform_share: float = 0.2,
    trend_factor: float = 4.0,
    timezone: str = "Asia/Shanghai",
) -> pd.DataFrame:
    """Generate synthetic incidents from a seeded self-exciting point process.

    The model is described in the module docstring. Equal arguments give an identical frame.

    Parameters
    ----------
    area
        Where incidents happen, in lon/lat (EPSG:4326).
    start, end
        Time window ``[start, end)``; timezone-aware.
    seed
        Seed (>= 0) of the numpy random generator; every random choice derives from it.
    mean_per_day
        Expected incidents per day, background and triggered together (>= 0).
    categories
        Category code to city-wide share (shares >= 0, not all zero; they are normalised).
        ``None`` uses :data:`DEFAULT_CATEGORY_SHARES`.
    branching_ratio
        Expected offspring per incident, in ``[0, 1)``; 0 gives a Poisson process.
    mean_delay_days
        Mean delay from an incident to each of its offspring (> 0).
    offspring_offset_m
        Standard deviation of an offspring's distance from its parent per axis (>= 0).
    n_hotspots
        Number of Gaussian hotspots (>= 0); ``None`` draws one from
        :data:`HOTSPOT_COUNT_RANGE` with the seed.
    uniform_share
        Share of the background spread uniformly over the area, in ``[0, 1]``; forced to 1
        when there are no hotspots.
    trend_factor
        How many times stronger an emerging hotspot (or weaker a fading one) is at ``end``
        than at ``start`` (>= 1); 1 switches trends off.
    timezone
        IANA timezone whose local clock the diurnal and weekly profiles follow.

    Returns
    -------
    pandas.DataFrame
        One row per incident, sorted by time, columns :data:`INCIDENT_COLUMNS`:
        ``incident_id`` (str, ``"SYN-000001"`` upwards in time order), ``occurred_at``
        (datetime64[ns, UTC], whole seconds), ``lon`` and ``lat`` (float, WGS-84, 6 decimals),
        ``category`` (str code), ``description`` (str, Chinese and English, containing
        :data:`SYNTHETIC_LABEL`) and ``synthetic`` (bool, always True).

    Raises
    ------
    InvalidBoundaryError
        When ``area`` is not a non-empty, valid (Multi)Polygon with positive area.
    InvalidCoordinatesError
        When ``area`` is not in lon/lat degrees.
    GeoError
        When ``end <= start``, a time is naive, the seed or a rate is negative, a share or
        ratio is out of range, the timezone is unknown, or the expected count is too large.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> start = pd.Timestamp("2024-03-01", tz="UTC")
    >>> end = start + pd.Timedelta(days=7)
    >>> week = generate_incidents(box(98.25, 39.75, 98.33, 39.80), start, end, seed=1)
    >>> bool(week["synthetic"].all()), week["incident_id"].is_unique
    (True, True)
    """
    _check_area(area)
    _check_window(start, end)
    tz = check_timezone(timezone)
    check_number(mean_per_day, "mean_per_day", low=0.0)
    check_number(branching_ratio, "branching_ratio", low=0.0, high=1.0, high_open=True)
    check_number(mean_delay_days, "mean_delay_days", low=0.0, low_open=True)
    check_number(offspring_offset_m, "offspring_offset_m", low=0.0)
    check_number(uniform_share, "uniform_share", low=0.0, high=1.0)
    check_number(trend_factor, "trend_factor", low=1.0)
    check_whole(seed, "seed", minimum=0)
    if n_hotspots is not None:
        check_whole(n_hotspots, "n_hotspots", minimum=0)
    shares = _category_shares(DEFAULT_CATEGORY_SHARES if categories is None else categories)
    codes = tuple(shares)
    base_p = np.array([shares[c] for c in codes], dtype=np.float64)

    start_day = _local_days(start, tz)
    end_day = _local_days(end, tz)
    burn_in_days = math.ceil(_BURN_IN_MEAN_DELAYS * mean_delay_days)
    days = np.arange(math.floor(start_day) - burn_in_days, math.ceil(end_day), dtype=np.int64)
    if mean_per_day * days.size > _MAX_EXPECTED_INCIDENTS:
        raise GeoError(
            f"mean_per_day={mean_per_day} over {days.size} days (window plus burn-in) would "
            f"give about {mean_per_day * days.size:,.0f} incidents; the limit is "
            f"{_MAX_EXPECTED_INCIDENTS:,}; shorten the window or lower the rate"
        )

    rng = np.random.default_rng(seed)
    # A private prepared copy: shapely.prepare would otherwise modify the caller's geometry.
    region = shapely.from_wkb(shapely.to_wkb(area))
    shapely.prepare(region)
    centroid = region.centroid
    frame = _LocalFrame(
        lon0=centroid.x,
        lat0=centroid.y,
        m_per_deg_lon=_M_PER_DEG_LAT * math.cos(math.radians(centroid.y)),
    )
    hour_p = np.asarray(_HOUR_WEIGHTS, dtype=np.float64) / sum(_HOUR_WEIGHTS)

    if n_hotspots is None:
        n_hotspots = int(rng.integers(HOTSPOT_COUNT_RANGE[0], HOTSPOT_COUNT_RANGE[1] + 1))
    hotspots = _draw_hotspots(
        rng, region, frame, n_hotspots=n_hotspots, base_p=base_p, trend_factor=trend_factor
    )
    background = _draw_background(
        rng,
        region,
        frame,
        hotspots,
        days=days,
        mu_per_day=mean_per_day * (1.0 - branching_ratio),
        uniform_share=uniform_share if n_hotspots > 0 else 1.0,
        trend_window=(start_day, end_day),
        trend_factor=trend_factor,
        hour_p=hour_p,
        base_p=base_p,
    )
    events = _add_offspring(
        rng,
        background,
        until_day=end_day,
        branching_ratio=branching_ratio,
        mean_delay_days=mean_delay_days,
        offset_m=offspring_offset_m,
        hour_p=hour_p,
        base_p=base_p,
    )
    return _incident_frame(events, region, frame, codes, start=start, end=end, timezone=timezone)


def demo_window(now: pd.Timestamp, days: int = 180) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The demo's time window: the ``days`` whole UTC days before ``now``.

    Parameters
    ----------
    now
        The current time, timezone-aware (passed in; never read from the clock).
    days
        Window length in days (>= 1).

    Returns
    -------
    tuple of pandas.Timestamp
        ``(start, end)`` in UTC with ``end`` = ``now`` floored to midnight UTC and
        ``start = end - days``; use as the half-open window ``[start, end)``.

    Raises
    ------
    GeoError
        When ``now`` is not a timezone-aware Timestamp or ``days`` is not a positive integer.

    Examples
    --------
    >>> start, end = demo_window(pd.Timestamp("2024-06-30 15:20", tz="Asia/Shanghai"), days=2)
    >>> str(start), str(end)
    ('2024-06-28 00:00:00+00:00', '2024-06-30 00:00:00+00:00')
    """
    check_aware_timestamp(now, "now")
    days = check_whole(days, "days", minimum=1)
    end = now.tz_convert("UTC").floor("D")
    return end - pd.Timedelta(days=days), end


def _check_area(area: object) -> None:
    """Raise unless ``area`` is a usable lon/lat (Multi)Polygon."""
    if not isinstance(area, Polygon | MultiPolygon):
        raise InvalidBoundaryError(
            f"area must be a shapely Polygon or MultiPolygon, got {type(area).__name__}"
        )
    if area.is_empty or area.area <= 0:
        raise InvalidBoundaryError("area is empty or has zero area")
    if not area.is_valid:
        reason = shapely.is_valid_reason(area)
        raise InvalidBoundaryError(
            f"area is not a valid polygon ({reason}); try shapely.make_valid"
        )
    min_lon, min_lat, max_lon, max_lat = area.bounds
    if min_lon < -180 or max_lon > 180 or min_lat < -90 or max_lat > 90:
        raise InvalidCoordinatesError(
            f"area must be in lon/lat degrees (EPSG:4326), got bounds {area.bounds}"
        )


def _check_window(start: pd.Timestamp, end: pd.Timestamp) -> None:
    """Raise unless ``start < end`` are timezone-aware Timestamps."""
    check_aware_timestamp(start, "start")
    check_aware_timestamp(end, "end")
    if end <= start:
        raise GeoError(f"end must be after start, got start={start} and end={end}")


def _category_shares(categories: Mapping[str, float]) -> dict[str, float]:
    """Validate category shares and normalise them to sum to 1, keeping their order."""
    if not isinstance(categories, Mapping) or not categories:
        raise GeoError(
            f"categories must be a non-empty mapping of code to share, got {categories!r}"
        )
    for code, share in categories.items():
        if not isinstance(code, str) or not code.strip():
            raise GeoError(f"category codes must be non-empty strings, got {code!r}")
        check_number(share, f"share of category {code!r}", low=0.0)
    total = float(sum(categories.values()))
    if total <= 0:
        raise GeoError("category shares must not all be zero")
    return {code: float(share) / total for code, share in categories.items()}


def _local_days(moment: pd.Timestamp, tz: zoneinfo.ZoneInfo) -> float:
    """Local wall-clock time of ``moment`` in ``tz`` as fractional days since 1970-01-01."""
    wall = moment.tz_convert(tz).tz_localize(None)
    return float((wall - _EPOCH) / pd.Timedelta(days=1))


def _uniform_points(
    rng: np.random.Generator, region: Polygon | MultiPolygon, size: int
) -> tuple[FloatArray, FloatArray]:
    """``size`` points uniform in ``region`` (lon, lat), by rejection from its bounding box."""
    if size == 0:
        return np.empty(0, dtype=np.float64), np.empty(0, dtype=np.float64)
    min_lon, min_lat, max_lon, max_lat = region.bounds
    fill = region.area / ((max_lon - min_lon) * (max_lat - min_lat))
    lon_parts: list[FloatArray] = []
    lat_parts: list[FloatArray] = []
    found = 0
    while found < size:
        batch = int((size - found) / fill * 1.2) + 16
        lon = rng.uniform(min_lon, max_lon, batch)
        lat = rng.uniform(min_lat, max_lat, batch)
        inside = shapely.contains_xy(region, lon, lat)
        lon_parts.append(lon[inside])
        lat_parts.append(lat[inside])
        found += int(inside.sum())
    return np.concatenate(lon_parts)[:size], np.concatenate(lat_parts)[:size]


def _draw_hotspots(
    rng: np.random.Generator,
    region: Polygon | MultiPolygon,
    frame: _LocalFrame,
    *,
    n_hotspots: int,
    base_p: FloatArray,
    trend_factor: float,
) -> _Hotspots:
    """Draw hotspot centres, spreads, strengths, trends and category leanings."""
    lon, lat = _uniform_points(rng, region, n_hotspots)
    x, y = frame.to_xy(lon, lat)
    sd_m = rng.uniform(HOTSPOT_SD_RANGE_M[0], HOTSPOT_SD_RANGE_M[1], n_hotspots)
    strength = rng.lognormal(mean=0.0, sigma=_HOTSPOT_STRENGTH_SIGMA, size=n_hotspots)
    trend_sign = np.zeros(n_hotspots, dtype=np.float64)
    if trend_factor > 1.0 and n_hotspots >= 2:
        n_trending = max(1, round(_TRENDING_SHARE * n_hotspots))
        order = rng.permutation(n_hotspots)
        trend_sign[order[:n_trending]] = 1.0
        trend_sign[order[n_trending : 2 * n_trending]] = -1.0
    lean = rng.choice(base_p.size, size=n_hotspots, p=base_p)
    category_p = np.tile(base_p, (n_hotspots, 1))
    category_p[np.arange(n_hotspots), lean] *= _CATEGORY_LEAN_FACTOR
    category_p /= category_p.sum(axis=1, keepdims=True)
    return _Hotspots(x, y, sd_m, strength, trend_sign, category_p)


def _pick_rows(rng: np.random.Generator, p: FloatArray, row: IntArray) -> IntArray:
    """For each entry of ``row``, a column drawn with the probabilities in ``p[row]``."""
    cumulative = np.cumsum(p, axis=1)
    u = rng.random(row.size) * cumulative[row, -1]
    picked = (u[:, None] >= cumulative[row]).sum(axis=1)
    # Guards the rare u equal to the last cumulative value after rounding.
    return np.minimum(picked, p.shape[1] - 1).astype(np.int64)


def _time_of_day(rng: np.random.Generator, hour_p: FloatArray, size: int) -> FloatArray:
    """Fractions of a day drawn from the diurnal profile, uniform within each hour."""
    hour = rng.choice(hour_p.size, size=size, p=hour_p)
    return (hour + rng.random(size)) / 24.0


def _draw_background(
    rng: np.random.Generator,
    region: Polygon | MultiPolygon,
    frame: _LocalFrame,
    hotspots: _Hotspots,
    *,
    days: IntArray,
    mu_per_day: float,
    uniform_share: float,
    trend_window: tuple[float, float],
    trend_factor: float,
    hour_p: FloatArray,
    base_p: FloatArray,
) -> _Events:
    """Background incidents: Poisson counts per local day, hotspot mixture in space."""
    weekday = (days + _EPOCH_WEEKDAY) % 7
    rate = mu_per_day * np.asarray(_WEEKDAY_WEIGHTS, dtype=np.float64)[weekday]
    counts = rng.poisson(rate)
    day_index = np.repeat(np.arange(days.size), counts)
    t = days[day_index] + _time_of_day(rng, hour_p, day_index.size)

    # Mixture weights per day: hotspots (renormalised after their trend) then the uniform part.
    start_day, end_day = trend_window
    s = np.clip((days + 0.5 - start_day) / (end_day - start_day), 0.0, 1.0) - 0.5
    log_strength = np.log(hotspots.strength)[None, :] + np.outer(
        s * math.log(trend_factor), hotspots.trend_sign
    )
    strength = np.exp(log_strength)
    if strength.shape[1] > 0:
        strength *= (1.0 - uniform_share) / strength.sum(axis=1, keepdims=True)
    mixture = np.column_stack([strength, np.full(days.size, uniform_share)])
    component = _pick_rows(rng, mixture, day_index)

    n_hotspots = hotspots.x.size
    x = np.empty(t.size, dtype=np.float64)
    y = np.empty(t.size, dtype=np.float64)
    pending = np.flatnonzero(component < n_hotspots)
    for _ in range(_MAX_REDRAWS):
        if pending.size == 0:
            break
        k = component[pending]
        x[pending] = hotspots.x[k] + hotspots.sd_m[k] * rng.standard_normal(pending.size)
        y[pending] = hotspots.y[k] + hotspots.sd_m[k] * rng.standard_normal(pending.size)
        lon, lat = frame.to_lonlat(x[pending], y[pending])
        pending = pending[~shapely.contains_xy(region, lon, lat)]
    # A hotspot in a sliver of the area can keep missing it; those few become uniform.
    uniform = np.union1d(np.flatnonzero(component == n_hotspots), pending)
    lon, lat = _uniform_points(rng, region, uniform.size)
    x[uniform], y[uniform] = frame.to_xy(lon, lat)

    category_p = np.vstack([hotspots.category_p, base_p[None, :]])
    category = _pick_rows(rng, category_p, component)
    return _Events(t, x, y, category)


def _add_offspring(
    rng: np.random.Generator,
    background: _Events,
    *,
    until_day: float,
    branching_ratio: float,
    mean_delay_days: float,
    offset_m: float,
    hour_p: FloatArray,
    base_p: FloatArray,
) -> _Events:
    """Background plus all generations of triggered incidents up to ``until_day``."""
    generations = [background]
    parents = background
    base_row = np.zeros(1, dtype=np.int64)
    for _ in range(_MAX_GENERATIONS):
        # Offspring of incidents after the window can only fall after it too.
        parents = parents.take(np.flatnonzero(parents.t < until_day))
        n_children = rng.poisson(branching_ratio, parents.t.size)
        parent = np.repeat(np.arange(parents.t.size), n_children)
        if parent.size == 0:
            break
        t_parent = parents.t[parent]
        day = np.floor(t_parent + rng.exponential(mean_delay_days, parent.size))
        t = day + _time_of_day(rng, hour_p, parent.size)
        t = np.where(t <= t_parent, t + 1.0, t)
        x = parents.x[parent] + offset_m * rng.standard_normal(parent.size)
        y = parents.y[parent] + offset_m * rng.standard_normal(parent.size)
        fresh = _pick_rows(rng, base_p[None, :], np.repeat(base_row, parent.size))
        keep = rng.random(parent.size) < _SAME_CATEGORY_SHARE
        category = np.where(keep, parents.category[parent], fresh)
        parents = _Events(t, x, y, category)
        generations.append(parents)
    return _Events(
        np.concatenate([g.t for g in generations]),
        np.concatenate([g.x for g in generations]),
        np.concatenate([g.y for g in generations]),
        np.concatenate([g.category for g in generations]),
    )


def _incident_frame(
    events: _Events,
    region: Polygon | MultiPolygon,
    frame: _LocalFrame,
    codes: tuple[str, ...],
    *,
    start: pd.Timestamp,
    end: pd.Timestamp,
    timezone: str,
) -> pd.DataFrame:
    """Clip events to the area and window and shape them as the documented frame."""
    wall_s = np.round(events.t * DAY_S).astype(np.int64)
    # Wall-clock times that a DST change skips or repeats get one fixed reading, not NaT.
    utc_s = utc_seconds_from_local(wall_s, timezone)
    occurred = pd.DatetimeIndex(utc_s.astype("datetime64[s]")).tz_localize("UTC").as_unit("ns")
    lon, lat = frame.to_lonlat(events.x, events.y)
    lon = np.round(lon, 6)
    lat = np.round(lat, 6)
    stamp = occurred.asi8
    keep = (
        (stamp >= start.as_unit("ns").value)
        & (stamp < end.as_unit("ns").value)
        & shapely.contains_xy(region, lon, lat)
    )
    order = np.flatnonzero(keep)[
        np.lexsort((events.category[keep], lat[keep], lon[keep], stamp[keep]))
    ]
    category = np.asarray(codes, dtype=object)[events.category[order]]
    descriptions = np.asarray([_description(code) for code in codes], dtype=object)
    incident_ids = [f"SYN-{number:06d}" for number in range(1, order.size + 1)]
    return pd.DataFrame(
        {
            "incident_id": pd.Series(incident_ids, dtype="str"),
            "occurred_at": occurred[order],
            "lon": lon[order],
            "lat": lat[order],
            "category": pd.Series(category, dtype="str"),
            "description": pd.Series(descriptions[events.category[order]], dtype="str"),
            "synthetic": np.ones(order.size, dtype=bool),
        },
        columns=list(INCIDENT_COLUMNS),
    )


def _description(code: str) -> str:
    """Short bilingual description of a synthetic incident of category ``code``."""
    name_zh = _CATEGORY_NAMES_ZH.get(code, code)
    return f"合成数据 {name_zh} / {SYNTHETIC_LABEL} {code.lower()}"
