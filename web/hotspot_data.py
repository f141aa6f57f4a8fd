"""The site's incident data, held in memory and refreshed when an import lands.

Maps and the API filter and score the same incidents many times a minute; reading 700k rows
from SQLite each time would take seconds. ``site_data(engine)`` keeps one copy per database
(incident times, cells, categories, and the local hour and weekday of each), checks with one
cheap query whether an import has happened since, and reloads when it has. Scores are cached
per (data version, filters, model, as-of).

Filters come from query strings (``parse_filters``): dates are local dates in the city's
timezone, ``end`` inclusive; hours 0-23 and weekdays 0 (Monday)-6 in local time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa

from web import storage
from web.analysis import GROUPS, ScoringData, scoring_data_from_db

__all__ = [
    "FilterError",
    "Filters",
    "SiteData",
    "area_cells",
    "cell_counts",
    "cell_scores",
    "cells_of",
    "parse_filters",
    "select",
    "site_data",
]

# Model used for maps when none is asked for: a weighted, time-decayed count. The default
# Poisson blend is better by <1 % AUC20 on Chicago (bench/score_bench.py) but takes ~0.6 s.
MAP_MODEL = "weighted_count"
_SCORE_CACHE_SIZE = 64


class FilterError(ValueError):
    """A query-string filter that cannot be read (the message names the parameter)."""


@dataclass(frozen=True)
class SiteData:
    """Every located incident with local hour and weekday, the study cells and settings."""

    source: str  # the database URL: cache entries are per database
    version: tuple[int, int]
    scoring: ScoringData
    hour: np.ndarray  # int8, local hour of each incident
    weekday: np.ndarray  # int8, local weekday (Monday 0)
    categories: pd.DataFrame  # the category table (code, names, weight, group...)
    _areas: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def incidents(self) -> pd.DataFrame:
        return self.scoring.incidents

    @property
    def cells(self) -> np.ndarray:
        return self.scoring.cells

    @property
    def timezone(self) -> str:
        return self.scoring.timezone

    @property
    def first_s(self) -> int | None:
        times = self.incidents["occurred_at"]
        return int(times.min()) if len(times) else None

    @property
    def last_s(self) -> int | None:
        times = self.incidents["occurred_at"]
        return int(times.max()) if len(times) else None


@dataclass(frozen=True)
class Filters:
    """Which incidents to count: UTC [start_s, end_s), categories, local hours and weekdays,
    and the cells of an area (``area`` names it, ``cells`` holds them)."""

    start_s: int | None = None
    end_s: int | None = None
    categories: tuple[str, ...] | None = None
    hours: tuple[int, ...] | None = None
    weekdays: tuple[int, ...] | None = None
    area: str | None = None
    cells: tuple[int, ...] | None = None

    def key(self) -> tuple:
        return (self.start_s, self.end_s, self.categories, self.hours, self.weekdays, self.area)


_lock = threading.Lock()
_data: dict[str, SiteData] = {}
_scores: OrderedDict[tuple, pd.DataFrame] = OrderedDict()


def data_version(engine) -> tuple[int, int]:
    """(number of import runs, newest run id): changes whenever an import lands."""
    runs = storage.import_runs
    with engine.connect() as conn:
        row = conn.execute(sa.select(sa.func.count(), sa.func.max(runs.c.id))).one()
    return int(row[0]), int(row[1] or 0)


def site_data(engine) -> SiteData:
    """The cached data of this database, reloaded after an import."""
    key = engine.url.render_as_string(hide_password=False)
    version = data_version(engine)
    with _lock:
        cached = _data.get(key)
        if cached is not None and cached.version == version:
            return cached
    loaded = _load(engine, key, version)
    with _lock:
        _data[key] = loaded
        for stale in [k for k in _scores if k[0] == key and k[1] != version]:
            del _scores[stale]
    return loaded


def _load(engine, source: str, version: tuple[int, int]) -> SiteData:
    scoring = scoring_data_from_db(engine)
    incidents = scoring.incidents.reset_index(drop=True)
    incidents["category"] = incidents["category"].astype("category")
    local = pd.to_datetime(incidents["occurred_at"], unit="s", utc=True).dt.tz_convert(
        scoring.timezone
    )
    scoring = ScoringData(incidents, scoring.cells, scoring.timezone, scoring.resolution,
                          scoring.category_weights)  # fmt: skip
    return SiteData(
        source=source,
        version=version,
        scoring=scoring,
        hour=local.dt.hour.to_numpy(dtype=np.int8),
        weekday=local.dt.day_of_week.to_numpy(dtype=np.int8),
        categories=storage.load_categories_table(engine),
    )


def area_cells(engine, data: SiteData, area: str) -> tuple[int, ...]:
    """Cells of an area named ``kind:area_id`` (e.g. ``grid:G017``), cached per data version."""
    kind, sep, area_id = area.partition(":")
    if not sep or not kind or not area_id:
        raise FilterError(f"area: expected KIND:ID (e.g. grid:G001), got {area!r}")
    if kind not in data._areas:
        data._areas[kind] = storage.load_area_cells(engine, kind)
    frame = data._areas[kind]
    cells = frame.loc[frame["area_id"] == area_id, "cell"].to_numpy(dtype=np.int64)
    if not len(cells):
        raise FilterError(f"area: no {kind} with id {area_id!r}")
    return tuple(int(c) for c in np.sort(cells))


def _local_day_start(text: str, timezone: str, name: str) -> int:
    try:
        day = pd.Timestamp(text)
    except (ValueError, TypeError) as err:
        raise FilterError(f"{name}: expected a date YYYY-MM-DD, got {text!r}") from err
    if day.tzinfo is not None or day != day.normalize():
        raise FilterError(f"{name}: expected a date YYYY-MM-DD, got {text!r}")
    return int(day.tz_localize(timezone).tz_convert("UTC").timestamp())


def _int_set(text: str, name: str, low: int, high: int) -> tuple[int, ...]:
    """``"18-23,0-2"`` or ``"1,3,5"`` (ranges inclusive) into sorted distinct integers."""
    out: set[int] = set()
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        first, sep, last = part.partition("-")
        try:
            a = int(first)
            b = int(last) if sep else a
        except ValueError as err:
            raise FilterError(
                f"{name}: expected numbers or ranges like 18-23, got {text!r}"
            ) from err
        if not (low <= a <= high and low <= b <= high):
            raise FilterError(f"{name}: values must be in {low}..{high}, got {text!r}")
        if a <= b:
            out.update(range(a, b + 1))
        else:  # wraps around, e.g. hours 22-2
            out.update(range(a, high + 1))
            out.update(range(low, b + 1))
    if not out:
        raise FilterError(f"{name}: no values in {text!r}")
    return tuple(sorted(out))


def _values(args: Mapping, name: str) -> list[str]:
    getlist = getattr(args, "getlist", None)
    raw = getlist(name) if getlist is not None else [args[name]] if name in args else []
    return [v for item in raw for v in str(item).split(",") if v.strip()]


def parse_filters(args: Mapping, data: SiteData, engine=None) -> Filters:
    """Read ``start``, ``end`` (local dates, end inclusive), ``category`` (codes, repeatable
    or comma-separated) or ``group`` (all, burglary, violent...), ``hours`` (e.g. 18-23),
    ``weekdays`` (0 Monday .. 6), ``area`` (KIND:ID; needs ``engine``)."""
    tz = data.timezone
    start = _local_day_start(args["start"], tz, "start") if args.get("start") else None
    end = None
    if args.get("end"):
        end = _local_day_start(args["end"], tz, "end") + 86400  # inclusive end date
        # a DST change makes that day 23 or 25 hours: recompute from the next local date
        next_day = (pd.Timestamp(args["end"]) + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
        end = _local_day_start(next_day, tz, "end")
    if start is not None and end is not None and end <= start:
        raise FilterError("end: must not be before start")
    categories: tuple[str, ...] | None = None
    codes = [c.strip().upper() for c in _values(args, "category")]
    group = str(args.get("group") or "").strip()
    if codes and group:
        raise FilterError("give either category or group, not both")
    known = set(data.categories["code"])
    if codes:
        unknown = [c for c in codes if c not in known]
        if unknown:
            raise FilterError(f"category: unknown code(s) {', '.join(unknown)}")
        categories = tuple(sorted(set(codes)))
    elif group and group != "all":
        if group not in GROUPS:
            raise FilterError(f"group: unknown {group!r}; known: all, {', '.join(GROUPS)}")
        members = GROUPS[group]
        categories = tuple(sorted(members)) if members is not None else None
    hours = _int_set(str(args["hours"]), "hours", 0, 23) if args.get("hours") else None
    weekdays = _int_set(str(args["weekdays"]), "weekdays", 0, 6) if args.get("weekdays") else None
    area = str(args["area"]) if args.get("area") else None
    cells = None
    if area is not None:
        if engine is None:
            raise FilterError("area: not available here")
        cells = area_cells(engine, data, area)
    return Filters(start, end, categories, hours, weekdays, area, cells)


def _mask(data: SiteData, filters: Filters, *, use_time: bool = True) -> np.ndarray:
    incidents = data.incidents
    mask = np.ones(len(incidents), dtype=bool)
    times = incidents["occurred_at"].to_numpy()
    if use_time and filters.start_s is not None:
        mask &= times >= filters.start_s
    if use_time and filters.end_s is not None:
        mask &= times < filters.end_s
    if filters.categories is not None:
        mask &= incidents["category"].isin(filters.categories).to_numpy()
    if filters.hours is not None:
        mask &= np.isin(data.hour, filters.hours)
    if filters.weekdays is not None:
        mask &= np.isin(data.weekday, filters.weekdays)
    if filters.cells is not None:
        mask &= np.isin(incidents["cell"].to_numpy(), np.asarray(filters.cells, dtype=np.int64))
    return mask


def select(data: SiteData, filters: Filters) -> pd.DataFrame:
    """The incidents that pass the filters (``occurred_at``, ``cell``, ``category``)."""
    return data.incidents[_mask(data, filters)]


def cell_counts(data: SiteData, filters: Filters) -> pd.DataFrame:
    """``cell``, ``n``: incidents per cell passing the filters (cells with none left out)."""
    cells = data.incidents["cell"].to_numpy()[_mask(data, filters)]
    unique, counts = np.unique(cells, return_counts=True)
    return pd.DataFrame({"cell": unique.astype(np.int64), "n": counts.astype(np.int64)})


def cell_scores(
    data: SiteData,
    filters: Filters,
    model: str = MAP_MODEL,
    as_of_s: int | None = None,
) -> pd.DataFrame:
    """Score every study cell as of ``as_of_s`` (default: the filter's end, else the newest
    incident + 1 s) from the incidents passing the category, hour and weekday filters (the
    models weigh time themselves, so ``start`` does not cut their history).

    Returns geo.scoring.score_cells' frame (``cell``, ``score``, model columns) plus ``rank``
    (1 = hottest); restricted to the area's cells when an area is set. Cached.
    """
    from geo.scoring import score_cells

    if as_of_s is None:
        as_of_s = filters.end_s if filters.end_s is not None else (data.last_s or 0) + 1
    key = (data.source, data.version, filters.key(), model, int(as_of_s))
    with _lock:
        if key in _scores:
            _scores.move_to_end(key)
            return _scores[key]
    chosen = data.incidents[_mask(data, filters, use_time=False)]
    frame = score_cells(chosen, data.cells, int(as_of_s), model=model,
                        category_weights=data.scoring.category_weights)  # fmt: skip
    order = np.argsort(-frame["score"].to_numpy(), kind="stable")
    rank = np.empty(len(frame), dtype=np.int64)
    rank[order] = np.arange(1, len(frame) + 1)
    frame = frame.assign(rank=rank)
    if filters.cells is not None:
        frame = frame[frame["cell"].isin(filters.cells)].reset_index(drop=True)
    with _lock:
        _scores[key] = frame
        while len(_scores) > _SCORE_CACHE_SIZE:
            _scores.popitem(last=False)
    return frame


def cells_of(values: Sequence[str]) -> np.ndarray:
    """H3 hex ids into int64 cells; raises FilterError naming a bad id."""
    from geo.cells import cells_from_hex

    try:
        return np.asarray(cells_from_hex(list(values)), dtype=np.int64)
    except (ValueError, TypeError) as err:
        raise FilterError(f"cell: not an H3 cell id: {err}") from err
