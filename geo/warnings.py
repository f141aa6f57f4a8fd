"""Early warnings (预警): places where risk is forming now, each with the reason in numbers.

Three rules, each a pure function of an incidents frame (``occurred_at`` UTC seconds,
``cell`` int64, ``category``), the study cells and the time ``as_of_s``. Only incidents
strictly before ``as_of_s`` are read, so a warning never knows the future.

near_repeat (:func:`near_repeat_warnings`)
    After an incident of the group, the cells near it whose own history does not show the
    risk are warned until the incident's time plus the near-repeat time window. The rule is
    on only when :func:`geo.near_repeat.choose_bands` finds a significant near-repeat pattern
    in the city's own data (``settings.bands``; the Knox ratio goes into the strength).

    Default rule ("neighbours of a recent burglary"): a study cell is warned when

    - an incident of the group happened in the last ``window_days`` (28) days within
      ``distance_m`` (400 m) of the cell's centre, measured from the incident's exact point
      (``lon``/``lat`` columns when the frame has them, else the centre of its cell);
    - the incident is not in the cell itself (``include_origin`` False: the cell's own
      28-day count already carries a repeat there);
    - the cell's own count of the group in the last 28 days is at most ``max_recent`` (0).

    Qualifying cells are ranked by their own count of the group over the last 365 days
    (fewest first: the near-repeat risk is what their history does not show), then by the
    number of triggering incidents, then the most recent trigger, then the cell id; at most
    ``max_share`` (5 %) of the study cells are kept. The warning starts with the first
    trigger and ends ``window_days`` after the latest one.

    Chosen on the 2017 Chicago burglary origins only (bench/warnings_bench.py; weekly
    origins, distances 200-700 m, windows 14-28 days, ranking by own history or by an
    expected-excess score): pooled lift 3.8 on the 2017 origins, 3.3 on the 2018 origins
    (target 1.5) with 5.0 % of the cells warned and 0.23 notifications per beat per week.
    Caution: nearly all warned cells had no burglary in their own last year, and the same
    rule run 28 days before each origin (fed burglaries 28-56 days old, its warnings moved
    forward by 28 days: no near-repeat timing) still measures 2.1 on 2018 (2.5 on 2017):
    most of the lift is that a quiet cell near burglaries is riskier than the city's quiet
    cells on average (the strata see only the cell's own history); the near-repeat timing
    adds the rest (3.3 vs 2.1).

    Legacy rule (``distance_m=None``): the incident's cell and its ``rings`` H3 rings
    (``rings=None`` derives them from ``bands.distance_m``: ``floor((distance + spacing /
    2) / spacing)``, spacing = centre-to-centre distance of neighbouring cells), warned while
    at least ``min_incidents`` triggers lie in the rings inside the window, ranked by
    strength (``rank="strength"``).

    Strength = Knox ratio x triggering incidents.

rising_area (:func:`rising_area_warnings`)
    Per area (a grid or a beat: an area -> cells mapping), the count over the last
    ``window_days`` is tested against what the area's own history predicts. Model: expected
    = the area's mean daily count over the ``baseline_days`` before the window x, for each day
    of the window, the city-wide weekday factor (that weekday's mean daily count over the
    baseline / the overall mean) x the city-wide seasonal factor (the city's mean daily count
    in the 28 days around the same date one year earlier / the baseline's mean). The test is
    the one-sided exact Poisson test ``P(X >= observed)``; when the area's weekly counts over
    the baseline are overdispersed (variance > 1.5 x mean) a negative binomial with the
    moment-matched size is used instead. Benjamini-Hochberg q-values across all tested areas;
    areas with ``q <= fdr`` are warned.

emerging (:func:`emerging_warnings`)
    A cell whose emerging hot spot class (:mod:`geo.emerging`, weekly steps over the last
    ``weeks`` weeks) is new, intensifying or persistent hot spot at ``as_of_s`` and was not
    that class one week earlier.

Levels
------
1 关注 (watch), 2 警示 (caution), 3 预警 (alert):

- near_repeat: 1, 2, or 3+ triggering incidents near the cell within the window;
- rising_area: q <= fdr gives 1, q <= 0.05 gives 2, q <= 0.01 gives 3 (each at least);
- emerging: new hot spot 1, persistent 2, intensifying 3.

Every warning is about a place (a cell or an area), never about a person: the evidence holds
incident times and cells only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import h3
import numpy as np
import pandas as pd
import pyarrow as pa
from h3ronpy import grid_disk_distances
from numpy.typing import ArrayLike, NDArray
from scipy import stats
from scipy.spatial import cKDTree

from geo._frames import check_incidents
from geo.cells import hex_from_cells
from geo.checks import check_seconds
from geo.errors import GeoError
from geo.near_repeat import DAY_S, NearRepeatBands, project_points

__all__ = [
    "RULES",
    "LEVEL_NAMES",
    "WARNING_COLUMNS",
    "DEFAULT_GROUP_CODES",
    "NearRepeatSettings",
    "RisingAreaSettings",
    "EmergingSettings",
    "WarningSettings",
    "benjamini_hochberg",
    "rings_for_distance",
    "near_repeat_warnings",
    "rising_area_warnings",
    "emerging_warnings",
    "compute_warnings",
]

#: The rules, in the order their warnings are listed.
RULES: tuple[str, ...] = ("near_repeat", "rising_area", "emerging")
#: Level number -> its name in Chinese and English.
LEVEL_NAMES: Mapping[int, str] = {1: "关注 watch", 2: "警示 caution", 3: "预警 alert"}
#: Columns of every warnings frame, in order.
WARNING_COLUMNS: tuple[str, ...] = (
    "cell",
    "area",
    "rule",
    "level",
    "starts_s",
    "ends_s",
    "strength",
    "reason",
    "evidence",
)
#: Default group: burglary, robbery and motor vehicle theft.
DEFAULT_GROUP_CODES: tuple[str, ...] = ("BURGLARY", "ROBBERY", "MOTOR VEHICLE THEFT")
_EMERGING_CLASSES = ("new hot spot", "intensifying hot spot", "persistent hot spot")
_EMERGING_LEVEL = {"new hot spot": 1, "persistent hot spot": 2, "intensifying hot spot": 3}


@dataclass(frozen=True)
class NearRepeatSettings:
    """The near-repeat rule.

    Attributes
    ----------
    bands
        The window from :func:`geo.near_repeat.choose_bands`; None switches the rule off
        (no significant near-repeat pattern).
    resolution
        H3 resolution of the cells.
    min_incidents
        Triggering incidents needed near a cell within the window (2 = a repeat).
    max_share
        Largest share of the study cells warned at once (the first in rank are kept).
    distance_m
        Metres from an incident's point to the centres of the cells it warns; None uses
        the legacy H3 rings (``rings``).
    include_origin
        Also warn the incident's own cell (only with ``distance_m``; the legacy rings always
        include it).
    max_recent
        Only cells whose own count of the group in the last 28 days is at most this are
        warned; None: any.
    rank
        ``"history"``: fewest own incidents in the last 365 days first, then the most
        triggers; ``"strength"``: the strongest first. Ties: the most recent trigger, then
        the cell id.
    rings
        Legacy: rings around the incident's cell; None derives them from
        ``bands.distance_m``.
    window_days
        Time window; None takes ``bands.time_days``.

    The defaults (neighbours within 400 m of a burglary in the last 28 days, with none of
    their own in those 28 days, fewest own burglaries in the last year first, at most 5 % of
    the cells) were chosen on the 2017 Chicago burglary origins only (see the module notes
    for the figures and their caveat).
    """

    bands: NearRepeatBands | None = None
    resolution: int = 9
    min_incidents: int = 1
    max_share: float = 0.05
    distance_m: float | None = 400.0
    include_origin: bool = False
    max_recent: int | None = 0
    rank: str = "history"
    rings: int | None = 1
    #: Time window in days; None takes ``bands.time_days``.
    window_days: float | None = 28.0


@dataclass(frozen=True)
class RisingAreaSettings:
    """The rising-area rule: window, baseline, dispersion switch and false discovery rate."""

    window_days: int = 7
    baseline_days: int = 365
    fdr: float = 0.10
    #: Weekly variance / mean above which the negative binomial replaces the Poisson.
    overdispersion: float = 1.5
    #: Zone of the weekday factors.
    timezone: str = "UTC"


@dataclass(frozen=True)
class EmergingSettings:
    """The emerging rule: weeks of history, neighbourhood rings and significance level."""

    weeks: int = 26
    k: int = 1
    alpha: float = 0.05


@dataclass(frozen=True)
class WarningSettings:
    """Settings of all rules; a rule set to None is off."""

    near_repeat: NearRepeatSettings | None = field(default_factory=NearRepeatSettings)
    rising_area: RisingAreaSettings | None = field(default_factory=RisingAreaSettings)
    emerging: EmergingSettings | None = field(default_factory=EmergingSettings)


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cell": pd.Series([], dtype=np.int64),
            "area": pd.Series([], dtype=object),
            "rule": pd.Series([], dtype=object),
            "level": pd.Series([], dtype=np.int64),
            "starts_s": pd.Series([], dtype=np.int64),
            "ends_s": pd.Series([], dtype=np.int64),
            "strength": pd.Series([], dtype=np.float64),
            "reason": pd.Series([], dtype=object),
            "evidence": pd.Series([], dtype=object),
        }
    )


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    if not rows:
        return _empty()
    frame = pd.DataFrame(rows, columns=list(WARNING_COLUMNS))
    return frame.astype(
        {"cell": np.int64, "level": np.int64, "starts_s": np.int64, "ends_s": np.int64}
    ).astype({"strength": np.float64, "area": object, "rule": object, "reason": object})


def _group_rows(
    incidents: pd.DataFrame, as_of_s: int, group_codes: Iterable[str] | None
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    frame = check_incidents(incidents)
    times = frame["occurred_at"].to_numpy(dtype=np.int64)
    keep = times < as_of_s
    if group_codes is not None:
        codes = {str(c) for c in group_codes}
        keep &= frame["category"].isin(codes).to_numpy()
    return times[keep], frame["cell"].to_numpy(dtype=np.int64)[keep]


def _study(cells: ArrayLike) -> NDArray[np.int64]:
    study = np.unique(np.asarray(cells, dtype=np.int64))
    if study.size == 0:
        raise GeoError("cells must list at least one study cell")
    return study


def _stamp(seconds: int) -> str:
    return pd.Timestamp(int(seconds), unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M UTC")


def benjamini_hochberg(p_values: ArrayLike) -> NDArray[np.float64]:
    """Benjamini-Hochberg adjusted p-values (q-values), in input order.

    ``q_(i) = min over j >= i of p_(j) * m / j`` for the sorted p-values, capped at 1; a
    hypothesis is rejected at false discovery rate ``f`` when ``q <= f``.

    Raises
    ------
    GeoError
        For p-values outside [0, 1] or not finite.
    """
    p = np.asarray(p_values, dtype=np.float64).ravel()
    if p.size == 0:
        return p.copy()
    if not (np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()):
        raise GeoError("p_values must be finite and in [0, 1]")
    order = np.argsort(p, kind="stable")
    m = p.size
    scaled = p[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum.accumulate(scaled[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.minimum(q_sorted, 1.0)
    return q


def rings_for_distance(distance_m: float, resolution: int) -> int:
    """H3 rings around an incident's cell that cover ``distance_m`` (see the module notes)."""
    spacing_m = h3.average_hexagon_edge_length(resolution, "m") * math.sqrt(3.0)
    return int(math.floor((float(distance_m) + spacing_m / 2.0) / spacing_m))


def _disks(cells: NDArray[np.int64], k: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """For each input position, the cells within ``k`` rings: (position, neighbour) pairs."""
    if cells.size == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    unique, inverse = np.unique(cells, return_inverse=True)
    disks = pa.record_batch(grid_disk_distances(unique.view(np.uint64), k))
    disk_cells = disks.column("cell")
    offsets = disk_cells.offsets.to_numpy()
    neighbours = disk_cells.values.to_numpy().view(np.int64)
    # expand each unique cell's disk back to every input position holding that cell
    sizes = np.diff(offsets)[inverse]
    position = np.repeat(np.arange(cells.size), sizes)
    starts = offsets[:-1][inverse]
    within = np.arange(position.size) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    return position, neighbours[np.repeat(starts, sizes) + within]


def near_repeat_warnings(
    incidents: pd.DataFrame,
    cells: ArrayLike,
    as_of_s: int,
    *,
    group_codes: Iterable[str] | None = DEFAULT_GROUP_CODES,
    settings: NearRepeatSettings = NearRepeatSettings(),
) -> pd.DataFrame:
    """Near-repeat warnings open at ``as_of_s``: one row per warned study cell.

    Parameters
    ----------
    incidents
        Frame with ``occurred_at``, ``cell``, ``category``; only rows before ``as_of_s`` and
        in ``group_codes`` (None = all) are read.
    cells
        The study cells; warnings are raised for these only.
    as_of_s
        UTC seconds.
    group_codes
        Category codes of the group.
    settings
        The rule's window, threshold and cap; no warnings when ``settings.bands`` is None.

    Returns
    -------
    pandas.DataFrame
        :data:`WARNING_COLUMNS`, ``area`` None, ``rule`` ``"near_repeat"``.
    """
    as_of_s = check_seconds(as_of_s, "as_of_s")
    study = _study(cells)
    bands = settings.bands
    if bands is None:
        return _empty()
    if settings.min_incidents < 1:
        raise GeoError(f"min_incidents must be at least 1, got {settings.min_incidents}")
    if not 0 < settings.max_share <= 1:
        raise GeoError(f"max_share must be in (0, 1], got {settings.max_share}")
    if settings.rank not in ("history", "strength"):
        raise GeoError(f"rank must be 'history' or 'strength', got {settings.rank!r}")
    if settings.distance_m is not None and not settings.distance_m >= 0:
        raise GeoError(f"distance_m must be >= 0, got {settings.distance_m}")
    if settings.window_days is not None:
        bands = replace(bands, time_days=float(settings.window_days))
    window_s = bands.window_s
    frame_in = check_incidents(incidents)
    all_times, all_cells = _group_rows(frame_in, as_of_s, group_codes)
    recent = all_times >= as_of_s - window_s
    times, incident_cells = all_times[recent], all_cells[recent]
    if settings.distance_m is None:
        k = (
            settings.rings
            if settings.rings is not None
            else rings_for_distance(bands.distance_m, settings.resolution)
        )
        position, neighbour = _disks(incident_cells, k)
        where = f"within {bands.distance_m:g} m (rings {k})"
    else:
        k = -1
        position, neighbour = _within_distance(
            frame_in, as_of_s, window_s, group_codes, study, float(settings.distance_m)
        )
        if not settings.include_origin:
            keep = neighbour != incident_cells[position]
            position, neighbour = position[keep], neighbour[keep]
        where = f"within {settings.distance_m:g} m of the cell's centre"
    inside = np.isin(neighbour, study)
    position, neighbour = position[inside], neighbour[inside]
    if settings.max_recent is not None and position.size:
        own_recent = _own_counts(all_times, all_cells, neighbour, as_of_s - 28 * DAY_S)
        keep = own_recent <= settings.max_recent
        position, neighbour = position[keep], neighbour[keep]
    if position.size == 0:
        return _empty()
    frame = pd.DataFrame(
        {"cell": neighbour, "time": times[position], "source": incident_cells[position]}
    ).sort_values(["cell", "time", "source"], kind="stable")
    warned = np.unique(neighbour)
    own_year = dict(
        zip(
            warned.tolist(),
            _own_counts(all_times, all_cells, warned, as_of_s - 365 * DAY_S).tolist(),
            strict=True,
        )
    )
    rows: list[dict[str, Any]] = []
    for _, group in frame.groupby("cell", sort=True):
        n = len(group)
        if n < settings.min_incidents:
            continue
        cell = int(group["cell"].to_numpy()[0])
        trigger_times = group["time"].to_numpy()
        latest = int(trigger_times[-1])
        # The warning began when the min_incidents-th of these incidents happened, and ends
        # when the min_incidents-th most recent one leaves the window.
        starts = int(trigger_times[settings.min_incidents - 1])
        ends = int(trigger_times[n - settings.min_incidents]) + window_s
        strength = float(bands.ratio) * n
        year = int(own_year[cell])
        evidence = {
            "incident_times_s": [int(t) for t in trigger_times],
            "incident_cells": hex_from_cells(group["source"].to_numpy()),
            "knox_ratio": round(float(bands.ratio), 3),
            "distance_m": float(
                bands.distance_m if settings.distance_m is None else settings.distance_m
            ),
            "window_days": float(bands.time_days),
            "rings": k,
            "own_count_365_days": year,
        }
        reason = (
            f"{n} incident(s) of the group {where} in the last {bands.time_days:g} days, "
            f"latest {_stamp(latest)}; the cell itself had {year} in the last 365 days; "
            f"near repeats here run {bands.ratio:.2f}x the chance rate (Knox)"
        )
        rows.append(
            {
                "cell": cell,
                "area": None,
                "rule": "near_repeat",
                "level": min(3, n),
                "starts_s": starts,
                "ends_s": ends,
                "strength": strength,
                "reason": reason,
                "evidence": evidence,
                "_latest": latest,
                "_year": year,
                "_n": n,
            }
        )
    if not rows:
        return _empty()
    cap = int(math.floor(settings.max_share * study.size))
    if settings.rank == "history":
        rows.sort(key=lambda r: (r["_year"], -r["_n"], -r["_latest"], r["cell"]))
    else:
        rows.sort(key=lambda r: (-r["strength"], -r["_latest"], r["cell"]))
    rows = rows[:cap]
    for row in rows:
        del row["_latest"], row["_year"], row["_n"]
    rows.sort(key=lambda r: r["cell"])
    return _frame(rows)


def _own_counts(
    times: NDArray[np.int64], cells: NDArray[np.int64], wanted: NDArray[np.int64], since_s: int
) -> NDArray[np.int64]:
    """Each ``wanted`` cell's count of the incidents at or after ``since_s``."""
    recent = np.sort(cells[times >= since_s])
    left = np.searchsorted(recent, wanted, side="left")
    return np.asarray(np.searchsorted(recent, wanted, side="right") - left, dtype=np.int64)


def _within_distance(
    frame: pd.DataFrame,
    as_of_s: int,
    window_s: int,
    group_codes: Iterable[str] | None,
    study: NDArray[np.int64],
    distance_m: float,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(position among the window's incidents, study cell) pairs: the study cells whose centre
    lies within ``distance_m`` of the incident's point (its ``lon``/``lat`` when given and
    finite, else its cell's centre), in the order of :func:`_group_rows`."""
    times = frame["occurred_at"].to_numpy(dtype=np.int64)
    keep = (times < as_of_s) & (times >= as_of_s - window_s)
    if group_codes is not None:
        keep &= frame["category"].isin({str(c) for c in group_codes}).to_numpy()
    rows = frame[keep]
    empty = np.empty(0, dtype=np.int64)
    if rows.empty:
        return empty, empty
    cells = rows["cell"].to_numpy(dtype=np.int64)
    centres = np.array([h3.cell_to_latlng(h3.int_to_str(int(c))) for c in study])
    lat = np.full(cells.size, np.nan)
    lon = np.full(cells.size, np.nan)
    if "lon" in rows.columns and "lat" in rows.columns:
        lon = pd.to_numeric(rows["lon"], errors="coerce").to_numpy(dtype=np.float64)
        lat = pd.to_numeric(rows["lat"], errors="coerce").to_numpy(dtype=np.float64)
    missing = ~(np.isfinite(lon) & np.isfinite(lat))
    if missing.any():
        own = np.array([h3.cell_to_latlng(h3.int_to_str(int(c))) for c in cells[missing]])
        lat[missing], lon[missing] = own[:, 0], own[:, 1]
    x, y = project_points(np.r_[centres[:, 1], lon], np.r_[centres[:, 0], lat])
    tree = cKDTree(np.c_[x[: study.size], y[: study.size]])
    found = tree.query_ball_point(np.c_[x[study.size :], y[study.size :]], r=distance_m)
    sizes = np.fromiter((len(f) for f in found), dtype=np.int64, count=len(found))
    position = np.repeat(np.arange(cells.size, dtype=np.int64), sizes)
    index = np.fromiter((i for f in found for i in f), dtype=np.int64, count=int(sizes.sum()))
    return position, study[index]


def _local_days(times_s: NDArray[np.int64], timezone: str) -> NDArray[np.int64]:
    """Local calendar day number (days since 1970-01-01 local) of each time."""
    stamps = pd.to_datetime(times_s, unit="s", utc=True).tz_convert(timezone)
    local = stamps.tz_localize(None).to_numpy().astype("datetime64[D]").astype(np.int64)
    return np.asarray(local, dtype=np.int64)


def rising_area_warnings(
    incidents: pd.DataFrame,
    cells: ArrayLike,
    as_of_s: int,
    areas: Mapping[str, ArrayLike],
    *,
    group_codes: Iterable[str] | None = DEFAULT_GROUP_CODES,
    settings: RisingAreaSettings = RisingAreaSettings(),
) -> pd.DataFrame:
    """Rising-area warnings at ``as_of_s``: one row per study cell of each warned area.

    Parameters
    ----------
    incidents, cells, as_of_s, group_codes
        As in :func:`near_repeat_warnings`.
    areas
        Area id -> its cells (int64); an area's count is over all its cells.
    settings
        Window, baseline, dispersion switch, false discovery rate and zone.

    Returns
    -------
    pandas.DataFrame
        :data:`WARNING_COLUMNS`, ``rule`` ``"rising_area"``, ``area`` filled; the same
        reason and evidence on every cell row of an area.
    """
    as_of_s = check_seconds(as_of_s, "as_of_s")
    study = _study(cells)
    if not 0 < settings.fdr < 1:
        raise GeoError(f"fdr must be in (0, 1), got {settings.fdr}")
    if settings.window_days < 1 or settings.baseline_days < 28:
        raise GeoError("window_days must be >= 1 and baseline_days >= 28")
    if not areas:
        return _empty()
    window_s = settings.window_days * DAY_S
    window_start = as_of_s - window_s
    base_start = window_start - settings.baseline_days * DAY_S
    times, incident_cells = _group_rows(incidents, as_of_s, group_codes)
    # Seasonal reference: the 28 days around the window's middle one year earlier; it must
    # lie inside the baseline, which it does for baseline_days >= 365 + 14 - window_days / 2.
    keep = times >= min(base_start, window_start + window_s // 2 - 379 * DAY_S)
    times, incident_cells = times[keep], incident_cells[keep]

    days = _local_days(times, settings.timezone)
    base_mask = (times >= base_start) & (times < window_start)
    base_days = settings.baseline_days
    city_daily = base_mask.sum() / base_days
    if city_daily <= 0:
        return _empty()
    # Weekday factors: mean daily count on each weekday over the baseline / overall mean.
    base_day_numbers = _local_days(
        np.arange(base_start, window_start, DAY_S, dtype=np.int64), settings.timezone
    )
    weekday_of = (days + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    per_weekday = np.bincount(weekday_of[base_mask], minlength=7).astype(float)
    n_weekday = np.bincount((base_day_numbers + 3) % 7, minlength=7).astype(float)
    weekday_factor = np.where(n_weekday > 0, per_weekday / np.maximum(n_weekday, 1), city_daily)
    weekday_factor = weekday_factor / city_daily
    middle = window_start + window_s // 2 - 365 * DAY_S
    season_mask = (times >= middle - 14 * DAY_S) & (times < middle + 14 * DAY_S)
    season_factor = (season_mask.sum() / 28.0) / city_daily
    window_day_numbers = _local_days(
        np.arange(window_start, as_of_s, DAY_S, dtype=np.int64), settings.timezone
    )
    day_factor = float(weekday_factor[(window_day_numbers + 3) % 7].sum()) * season_factor

    in_window = times >= window_start
    weeks = settings.baseline_days // 7
    tests = []
    for area_id in sorted(areas):
        area_cells = np.unique(np.asarray(areas[area_id], dtype=np.int64))
        members = np.isin(incident_cells, area_cells)
        observed = int((members & in_window).sum())
        base_count = int((members & base_mask).sum())
        expected = base_count / base_days * day_factor
        # weekly counts over the last whole weeks of the baseline, for the dispersion check
        week_index = (window_start - 1 - times[members & base_mask]) // (7 * DAY_S)
        weekly = np.bincount(week_index[week_index < weeks], minlength=weeks).astype(float)
        mean, var = weekly.mean(), weekly.var(ddof=1) if weeks > 1 else 0.0
        if expected <= 0:
            p, model = (1.0 if observed == 0 else 0.0), "poisson"
        elif mean > 0 and var > settings.overdispersion * mean:
            size = mean * mean / (var - mean)
            p = float(stats.nbinom.sf(observed - 1, size, size / (size + expected)))
            model = "negative binomial"
        else:
            p = float(stats.poisson.sf(observed - 1, expected))
            model = "poisson"
        tests.append((area_id, area_cells, observed, expected, min(max(p, 0.0), 1.0), model))
    q = benjamini_hochberg([t[4] for t in tests])
    rows: list[dict[str, Any]] = []
    for (area_id, area_cells, observed, expected, p, model), q_value in zip(tests, q, strict=True):
        if q_value > settings.fdr or observed <= expected:
            continue
        level = 3 if q_value <= 0.01 else 2 if q_value <= 0.05 else 1
        evidence = {
            "observed": observed,
            "expected": round(expected, 3),
            "p": float(p),
            "q": float(q_value),
            "model": model,
            "window_days": settings.window_days,
            "baseline_days": settings.baseline_days,
            "fdr": settings.fdr,
        }
        reason = (
            f"{observed} incidents in the last {settings.window_days} days against "
            f"{expected:.1f} expected from the area's last {settings.baseline_days} days "
            f"(weekday and season adjusted; {model} p = {p:.2g}, BH q = {q_value:.2g})"
        )
        strength = observed / expected if expected > 0 else float(observed)
        for cell in area_cells[np.isin(area_cells, study)]:
            rows.append(
                {
                    "cell": int(cell),
                    "area": str(area_id),
                    "rule": "rising_area",
                    "level": level,
                    "starts_s": as_of_s,
                    "ends_s": as_of_s + window_s,
                    "strength": strength,
                    "reason": reason,
                    "evidence": evidence,
                }
            )
    return _frame(rows)


def emerging_warnings(
    incidents: pd.DataFrame,
    cells: ArrayLike,
    as_of_s: int,
    *,
    group_codes: Iterable[str] | None = DEFAULT_GROUP_CODES,
    settings: EmergingSettings = EmergingSettings(),
) -> pd.DataFrame:
    """Cells that became a new, intensifying or persistent hot spot since a week earlier.

    Parameters
    ----------
    incidents, cells, as_of_s, group_codes
        As in :func:`near_repeat_warnings`.
    settings
        Weeks of history, rings and significance level of :func:`geo.emerging.emerging_hotspots`.

    Returns
    -------
    pandas.DataFrame
        :data:`WARNING_COLUMNS`, ``rule`` ``"emerging"``; warnings last one week.
    """
    from geo.emerging import WEEK_S, emerging_hotspots

    as_of_s = check_seconds(as_of_s, "as_of_s")
    study = _study(cells)
    if settings.weeks < 3:
        raise GeoError(f"weeks must be at least 3, got {settings.weeks}")
    times, incident_cells = _group_rows(incidents, as_of_s, group_codes)

    def classes(end_s: int) -> NDArray[Any]:
        start = end_s - settings.weeks * WEEK_S
        keep = (times >= start) & (times < end_s)
        table = emerging_hotspots(
            study, incident_cells[keep], times[keep], start, end_s,
            k=settings.k, alpha=settings.alpha,
        )  # fmt: skip
        return table["category"].astype(str).to_numpy()

    now, before = classes(as_of_s), classes(as_of_s - WEEK_S)
    became = np.isin(now, _EMERGING_CLASSES) & (now != before)
    rows: list[dict[str, Any]] = []
    for index in np.flatnonzero(became):
        category, previous = str(now[index]), str(before[index])
        rows.append(
            {
                "cell": int(study[index]),
                "area": None,
                "rule": "emerging",
                "level": _EMERGING_LEVEL[category],
                "starts_s": as_of_s,
                "ends_s": as_of_s + WEEK_S,
                "strength": float(_EMERGING_LEVEL[category]),
                "reason": (
                    f"became a {category} (was {previous}) over the last {settings.weeks} "
                    f"weeks of weekly Gi* at alpha {settings.alpha:g}"
                ),
                "evidence": {
                    "category": category,
                    "previous_category": previous,
                    "weeks": settings.weeks,
                    "alpha": settings.alpha,
                },
            }
        )
    return _frame(rows)


def compute_warnings(
    incidents: pd.DataFrame,
    cells: ArrayLike,
    as_of_s: int,
    *,
    areas: Mapping[str, ArrayLike] | None = None,
    group_codes: Sequence[str] | None = DEFAULT_GROUP_CODES,
    settings: WarningSettings = WarningSettings(),
) -> pd.DataFrame:
    """All warnings open at ``as_of_s``, one row per warned cell and rule.

    Parameters
    ----------
    incidents
        Frame with ``occurred_at`` (UTC seconds), ``cell`` (int64), ``category``.
    cells
        Study cells; warnings are raised for these only.
    as_of_s
        UTC seconds; only incidents strictly before it are used.
    areas
        Area id -> cells for the rising-area rule (None: the rule is skipped).
    group_codes
        Category codes of the group (None: every category).
    settings
        Per-rule settings; a rule set to None is off.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`WARNING_COLUMNS`: ``cell`` int64, ``area`` (str or None), ``rule``
        (one of :data:`RULES`), ``level`` 1..3 (:data:`LEVEL_NAMES`), ``starts_s`` and
        ``ends_s`` (UTC seconds), ``strength``, ``reason`` (one English sentence) and
        ``evidence`` (a JSON-able dict). Sorted by rule, area, cell. An area warning has one
        row per study cell of the area.

    Raises
    ------
    GeoError
        For a malformed incidents frame, empty study area or invalid settings.
    """
    as_of_s = check_seconds(as_of_s, "as_of_s")
    check_incidents(incidents)
    parts = []
    if settings.near_repeat is not None:
        parts.append(
            near_repeat_warnings(
                incidents, cells, as_of_s, group_codes=group_codes, settings=settings.near_repeat
            )
        )
    if settings.rising_area is not None and areas:
        parts.append(
            rising_area_warnings(
                incidents,
                cells,
                as_of_s,
                areas,
                group_codes=group_codes,
                settings=settings.rising_area,
            )  # fmt: skip
        )
    if settings.emerging is not None:
        parts.append(
            emerging_warnings(
                incidents, cells, as_of_s, group_codes=group_codes, settings=settings.emerging
            )
        )
    parts = [p for p in parts if not p.empty]
    if not parts:
        return _empty()
    return pd.concat(parts, ignore_index=True)
