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
    (mean 1; Friday and Saturday 6-8 % above it, Tuesday and Wednesday 5 % below). Each
    incident first takes a category (city-wide shares), then an hour from that category's
    rhythm (a :class:`CategoryProfile`; pickpocketing by day, burglary in the small hours,
    traffic accidents at the rush hours, disputes in the evening) and a uniform time within
    that hour, then a place.

Places
    The city has places of three kinds, each a set of isotropic Gaussian hotspots: busy
    ``commercial`` centres (markets, shopping streets, the station), ``residential``
    compounds and ``nightlife`` streets (restaurants, bars, KTV). ``n_hotspots`` hotspots
    (default 6-12, drawn from the seed) get centres uniform in the area, standard deviations
    in 150-600 m (nightlife tight, residential wide) and log-normal strengths (sigma 0.75), so
    a few dominate; the first three are one of each kind, the others residential (50 %),
    commercial (30 %) or nightlife (20 %). Main ``road`` s are four straight lines, roughly
    east-west and north-south in turn, each through one of the strongest hotspots, busiest
    near it (positions along the line normal with sd 1.5 km, 25 m across it). A category's
    profile weighs the kinds and ``anywhere`` (uniform over the area): an incident picks a
    kind by these weights, then a hotspot of that kind by strength, or a road. Kinds the
    city lacks (no hotspots of it) pass their weight to ``anywhere``; with no hotspots at
    all there are no roads either and every incident is placed uniformly. ``uniform_share``,
    when given, replaces every profile's ``anywhere`` weight. Draws that fall outside the
    area are redrawn, so the total is not thinned by the edge.

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
    ``parent + Exponential(mean_delay_days)``. It keeps its parent's category with
    probability 0.8, otherwise draws one from the city-wide shares, and takes a time of day
    from its category's rhythm (moved one day later if that would put it before its parent),
    so triggered incidents keep the daily rhythms. Its place is the parent's plus an
    isotropic Gaussian offset with standard deviation ``offspring_offset_m``. Generations are
    simulated one after another, each vectorised, until a generation is empty.

Categories (marks)
    ``categories`` maps a category code to a :class:`CategoryProfile` (share, hours, places)
    or just to its city-wide share (the generic rhythm and a mix of places). The default,
    :data:`DEFAULT_CATEGORY_PROFILES`, has the codes of the demo's Chinese category table
    (``data/demo/categories.csv``) with shares roughly those of a Chinese city bureau's
    received incidents (110 calls and reports): disputes, traffic accidents and thefts most,
    robbery and drug offences least.

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

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon

from geo.checks import (
    DAY_S,
    EARTH_RADIUS_M,
    check_aware_timestamp,
    check_number,
    check_timezone,
    check_whole,
    utc_seconds_from_local,
)
from geo.errors import GeoError, InvalidBoundaryError, InvalidCoordinatesError
from geo.synthetic_profiles import (
    DEFAULT_CATEGORY_PROFILES,
    DEFAULT_CATEGORY_SHARES,
    PLACE_KINDS,
    CategoryProfile,
    ProfileArrays,
    profile_arrays,
)

__all__ = [
    "SYNTHETIC_LABEL",
    "PLACE_KINDS",
    "CategoryProfile",
    "DEFAULT_CATEGORY_PROFILES",
    "DEFAULT_CATEGORY_SHARES",
    "INCIDENT_COLUMNS",
    "HOTSPOT_COUNT_RANGE",
    "HOTSPOT_SD_RANGE_M",
    "generate_incidents",
    "demo_window",
]

SYNTHETIC_LABEL = "synthetic"

_HOTSPOT_KINDS = PLACE_KINDS[:3]

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
# Spread of each kind of hotspot, within HOTSPOT_SD_RANGE_M: a nightlife street is tight, a
# residential district wide.
_SD_RANGE_BY_KIND_M = {
    "commercial": (150.0, 400.0),
    "residential": (300.0, 600.0),
    "nightlife": (150.0, 300.0),
}
# Kinds of the hotspots after the first three (one of each kind).
_LATER_KIND_P = {"commercial": 0.3, "residential": 0.5, "nightlife": 0.2}
_N_ROADS = 4
_ROAD_ALONG_SD_M = 1500.0
_ROAD_ACROSS_SD_M = 25.0
_ROAD_ANGLE_SD = 0.1  # radians off east-west or north-south

# Relative background rate Monday..Sunday (mean 1).
_WEEKDAY_WEIGHTS = (0.96, 0.95, 0.95, 0.97, 1.06, 1.08, 1.03)

_HOTSPOT_STRENGTH_SIGMA = 0.75
_SAME_CATEGORY_SHARE = 0.8
_BURN_IN_MEAN_DELAYS = 8.0
_TRENDING_SHARE = 0.25
# Guards against a window or rate that would exhaust memory; the demo needs ~10^4 incidents.
_MAX_EXPECTED_INCIDENTS = 5_000_000
# With branching_ratio < 1 generations shrink geometrically; this only stops a pathological run.
_MAX_GENERATIONS = 1_000
_MAX_REDRAWS = 100

_M_PER_DEG_LAT = EARTH_RADIUS_M * math.pi / 180.0
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
    """Hotspot centres (metres), spreads, base strengths, trend signs and kinds (indices into
    :data:`PLACE_KINDS`)."""

    x: FloatArray
    y: FloatArray
    sd_m: FloatArray
    strength: FloatArray
    trend_sign: FloatArray
    kind: IntArray


@dataclass(frozen=True)
class _Roads:
    """Main roads: a point on each (metres) and its unit direction."""

    x: FloatArray
    y: FloatArray
    dx: FloatArray
    dy: FloatArray


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
    categories: Mapping[str, float | CategoryProfile] | None = None,
    names: Mapping[str, str] | None = None,
    branching_ratio: float = 0.35,
    mean_delay_days: float = 3.0,
    offspring_offset_m: float = 100.0,
    n_hotspots: int | None = None,
    uniform_share: float | None = None,
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
        Category code to a :class:`CategoryProfile` or to a city-wide share alone (shares
        >= 0, not all zero; they are normalised). ``None`` uses
        :data:`DEFAULT_CATEGORY_PROFILES`.
    names
        Category code to the (Chinese) name written into the descriptions; the code where
        missing.
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
        ``None`` (each profile's ``anywhere`` weight) or the share of every category's
        background spread uniformly over the area, in ``[0, 1]``; 1 when there are no
        hotspots.
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
    if uniform_share is not None:
        check_number(uniform_share, "uniform_share", low=0.0, high=1.0)
    check_number(trend_factor, "trend_factor", low=1.0)
    check_whole(seed, "seed", minimum=0)
    if n_hotspots is not None:
        check_whole(n_hotspots, "n_hotspots", minimum=0)
    profiles = profile_arrays(DEFAULT_CATEGORY_PROFILES if categories is None else categories)

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
    if n_hotspots is None:
        n_hotspots = int(rng.integers(HOTSPOT_COUNT_RANGE[0], HOTSPOT_COUNT_RANGE[1] + 1))
    hotspots = _draw_hotspots(rng, region, frame, n_hotspots=n_hotspots, trend_factor=trend_factor)
    roads = _draw_roads(rng, hotspots)
    place_w = _place_weights(profiles.place_w, hotspots, uniform_share)
    background = _draw_background(
        rng,
        region,
        frame,
        hotspots,
        roads,
        days=days,
        mu_per_day=mean_per_day * (1.0 - branching_ratio),
        trend_window=(start_day, end_day),
        trend_factor=trend_factor,
        profiles=profiles,
        place_w=place_w,
    )
    events = _add_offspring(
        rng,
        background,
        until_day=end_day,
        branching_ratio=branching_ratio,
        mean_delay_days=mean_delay_days,
        offset_m=offspring_offset_m,
        profiles=profiles,
    )
    return _incident_frame(
        events,
        region,
        frame,
        profiles.codes,
        names or {},
        start=start,
        end=end,
        timezone=timezone,
    )


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


def _place_weights(
    place_w: FloatArray, hotspots: _Hotspots, uniform_share: float | None
) -> FloatArray:
    """Each category's weights of the place kinds the city has: kinds without hotspots (and
    roads, without any hotspot) give their weight to ``anywhere``; ``uniform_share``
    replaces the ``anywhere`` weight."""
    weights = place_w.copy()
    anywhere = PLACE_KINDS.index("anywhere")
    present = {PLACE_KINDS[k] for k in np.unique(hotspots.kind)}
    if present:
        present.add("road")
    for index, kind in enumerate(PLACE_KINDS[:anywhere]):
        if kind not in present:
            weights[:, anywhere] += weights[:, index]
            weights[:, index] = 0.0
    if not present:
        return weights
    if uniform_share is not None:
        placed = weights[:, :anywhere]
        sums = placed.sum(axis=1, keepdims=True)
        # A category placed only "anywhere" spreads the rest over the kinds equally.
        fallback = np.zeros_like(placed)
        fallback[:, [PLACE_KINDS.index(k) for k in sorted(present)]] = 1.0 / len(present)
        placed = np.where(sums > 0, placed / np.where(sums > 0, sums, 1.0), fallback)
        weights[:, :anywhere] = placed * (1.0 - uniform_share)
        weights[:, anywhere] = uniform_share
    return weights


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
    trend_factor: float,
) -> _Hotspots:
    """Draw hotspot kinds, centres, spreads, strengths and trends."""
    # Commercial, residential and nightlife first; residential, then commercial, if fewer.
    first = np.array([0, 1, 2] if n_hotspots >= 3 else [1, 0][:n_hotspots], dtype=np.int64)
    later_p = np.array([_LATER_KIND_P[k] for k in _HOTSPOT_KINDS], dtype=np.float64)
    later = rng.choice(len(_HOTSPOT_KINDS), size=max(n_hotspots - 3, 0), p=later_p)
    kind = np.concatenate([first, later]).astype(np.int64)
    lon, lat = _uniform_points(rng, region, n_hotspots)
    x, y = frame.to_xy(lon, lat)
    low = np.array([_SD_RANGE_BY_KIND_M[_HOTSPOT_KINDS[k]][0] for k in kind], dtype=np.float64)
    high = np.array([_SD_RANGE_BY_KIND_M[_HOTSPOT_KINDS[k]][1] for k in kind], dtype=np.float64)
    sd_m = rng.uniform(low, high) if n_hotspots else np.empty(0, dtype=np.float64)
    strength = rng.lognormal(mean=0.0, sigma=_HOTSPOT_STRENGTH_SIGMA, size=n_hotspots)
    trend_sign = np.zeros(n_hotspots, dtype=np.float64)
    if trend_factor > 1.0 and n_hotspots >= 2:
        n_trending = max(1, round(_TRENDING_SHARE * n_hotspots))
        order = rng.permutation(n_hotspots)
        trend_sign[order[:n_trending]] = 1.0
        trend_sign[order[n_trending : 2 * n_trending]] = -1.0
    return _Hotspots(x, y, sd_m, strength, trend_sign, kind)


def _draw_roads(rng: np.random.Generator, hotspots: _Hotspots) -> _Roads:
    """Main roads through the strongest hotspots, east-west and north-south in turn."""
    if hotspots.x.size == 0:
        empty = np.empty(0, dtype=np.float64)
        return _Roads(empty, empty, empty, empty)
    strongest = np.argsort(-hotspots.strength, kind="stable")
    through = strongest[np.arange(_N_ROADS) % strongest.size]
    angle = (np.arange(_N_ROADS) % 2) * (math.pi / 2) + _ROAD_ANGLE_SD * rng.standard_normal(
        _N_ROADS
    )
    return _Roads(hotspots.x[through], hotspots.y[through], np.cos(angle), np.sin(angle))


def _pick_rows(rng: np.random.Generator, p: FloatArray, row: IntArray) -> IntArray:
    """For each entry of ``row``, a column drawn with the probabilities in ``p[row]``."""
    cumulative = np.cumsum(p, axis=1)
    u = rng.random(row.size) * cumulative[row, -1]
    picked = (u[:, None] >= cumulative[row]).sum(axis=1)
    # Guards the rare u equal to the last cumulative value after rounding.
    return np.minimum(picked, p.shape[1] - 1).astype(np.int64)


def _time_of_day(rng: np.random.Generator, hour_p: FloatArray, category: IntArray) -> FloatArray:
    """Fractions of a day drawn from each category's hours, uniform within each hour."""
    hour = _pick_rows(rng, hour_p, category)
    return (hour + rng.random(category.size)) / 24.0


def _draw_background(
    rng: np.random.Generator,
    region: Polygon | MultiPolygon,
    frame: _LocalFrame,
    hotspots: _Hotspots,
    roads: _Roads,
    *,
    days: IntArray,
    mu_per_day: float,
    trend_window: tuple[float, float],
    trend_factor: float,
    profiles: ProfileArrays,
    place_w: FloatArray,
) -> _Events:
    """Background incidents: Poisson counts per local day, then category, hour and place."""
    weekday = (days + _EPOCH_WEEKDAY) % 7
    rate = mu_per_day * np.asarray(_WEEKDAY_WEIGHTS, dtype=np.float64)[weekday]
    counts = rng.poisson(rate)
    day_index = np.repeat(np.arange(days.size), counts)
    n = day_index.size
    category = rng.choice(profiles.share.size, size=n, p=profiles.share).astype(np.int64)
    t = days[day_index] + _time_of_day(rng, profiles.hour_p, category)

    # Each hotspot's share of its kind per day, after its trend.
    start_day, end_day = trend_window
    s = np.clip((days + 0.5 - start_day) / (end_day - start_day), 0.0, 1.0) - 0.5
    strength = np.exp(
        np.log(hotspots.strength)[None, :]
        + np.outer(s * math.log(trend_factor), hotspots.trend_sign)
    )
    for kind in np.unique(hotspots.kind):
        of_kind = hotspots.kind == kind
        strength[:, of_kind] /= strength[:, of_kind].sum(axis=1, keepdims=True)
    n_hotspots, n_roads = hotspots.x.size, roads.x.size
    # Components: the hotspots, the roads, anywhere; one row per (day, category).
    n_categories = profiles.share.size
    hotspot_w = place_w[:, hotspots.kind]  # category x hotspot
    mixture = np.concatenate(
        [
            strength[:, None, :] * hotspot_w[None, :, :],
            np.broadcast_to(
                place_w[None, :, PLACE_KINDS.index("road"), None] / max(n_roads, 1),
                (days.size, n_categories, n_roads),
            ),
            np.broadcast_to(
                place_w[None, :, PLACE_KINDS.index("anywhere"), None],
                (days.size, n_categories, 1),
            ),
        ],
        axis=2,
    ).reshape(days.size * n_categories, n_hotspots + n_roads + 1)
    component = _pick_rows(rng, mixture, day_index * n_categories + category)

    x = np.empty(n, dtype=np.float64)
    y = np.empty(n, dtype=np.float64)
    pending = np.flatnonzero(component < n_hotspots + n_roads)
    for _ in range(_MAX_REDRAWS):
        if pending.size == 0:
            break
        x[pending], y[pending] = _place_points(rng, hotspots, roads, component[pending])
        lon, lat = frame.to_lonlat(x[pending], y[pending])
        pending = pending[~shapely.contains_xy(region, lon, lat)]
    # A hotspot or road in a sliver of the area can keep missing it; those few become uniform.
    uniform = np.union1d(np.flatnonzero(component == n_hotspots + n_roads), pending)
    lon, lat = _uniform_points(rng, region, uniform.size)
    x[uniform], y[uniform] = frame.to_xy(lon, lat)
    return _Events(t, x, y, category)


def _place_points(
    rng: np.random.Generator, hotspots: _Hotspots, roads: _Roads, component: IntArray
) -> tuple[FloatArray, FloatArray]:
    """Points (metres) around hotspots (``component`` < number of hotspots) or along roads."""
    n_hotspots = hotspots.x.size
    size = component.size
    gauss = rng.standard_normal((2, size))
    on_road = component >= n_hotspots
    k = np.where(on_road, 0, component)
    r = np.where(on_road, component - n_hotspots, 0)
    x = np.empty(size, dtype=np.float64)
    y = np.empty(size, dtype=np.float64)
    if n_hotspots:
        x = hotspots.x[k] + hotspots.sd_m[k] * gauss[0]
        y = hotspots.y[k] + hotspots.sd_m[k] * gauss[1]
    if on_road.any():
        along = _ROAD_ALONG_SD_M * gauss[0]
        across = _ROAD_ACROSS_SD_M * gauss[1]
        road_x = roads.x[r] + along * roads.dx[r] - across * roads.dy[r]
        road_y = roads.y[r] + along * roads.dy[r] + across * roads.dx[r]
        x = np.where(on_road, road_x, x)
        y = np.where(on_road, road_y, y)
    return x, y


def _add_offspring(
    rng: np.random.Generator,
    background: _Events,
    *,
    until_day: float,
    branching_ratio: float,
    mean_delay_days: float,
    offset_m: float,
    profiles: ProfileArrays,
) -> _Events:
    """Background plus all generations of triggered incidents up to ``until_day``."""
    generations = [background]
    parents = background
    for _ in range(_MAX_GENERATIONS):
        # Offspring of incidents after the window can only fall after it too.
        parents = parents.take(np.flatnonzero(parents.t < until_day))
        n_children = rng.poisson(branching_ratio, parents.t.size)
        parent = np.repeat(np.arange(parents.t.size), n_children)
        if parent.size == 0:
            break
        fresh = rng.choice(profiles.share.size, size=parent.size, p=profiles.share)
        keep = rng.random(parent.size) < _SAME_CATEGORY_SHARE
        category = np.where(keep, parents.category[parent], fresh).astype(np.int64)
        t_parent = parents.t[parent]
        day = np.floor(t_parent + rng.exponential(mean_delay_days, parent.size))
        t = day + _time_of_day(rng, profiles.hour_p, category)
        t = np.where(t <= t_parent, t + 1.0, t)
        x = parents.x[parent] + offset_m * rng.standard_normal(parent.size)
        y = parents.y[parent] + offset_m * rng.standard_normal(parent.size)
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
    names: Mapping[str, str],
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
    descriptions = np.asarray([_description(c, names.get(c)) for c in codes], dtype=object)
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


def _description(code: str, name: str | None) -> str:
    """Short bilingual description of a synthetic incident of category ``code``."""
    return f"合成数据 {name or code} / {SYNTHETIC_LABEL} {code.lower()}"
