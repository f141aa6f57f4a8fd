"""The site's incident data, held in memory as columns and refreshed when an import lands.

Maps, statistics, the API and the patrol planner filter and score the same incidents many
times a minute; reading them from the database each time would take seconds.
``site_data(engine)`` keeps one copy per database and checks with one cheap query whether an
import has happened since, reloading when it has. The copy is compact: each incident is its
time (int64 UTC seconds), its cell as an index into the sorted distinct cells (int32), its
category as an index into the category table (int16), and its local hour, weekday (int8) and
calendar day (int32), 20 bytes in all, sorted by cell so that one cell's incidents are one
slice. Everything else about an incident (place, description, record id) stays in the
database and is read on demand. Scores are cached per (data version, filters, model, as-of).

Staleness: the version query runs at most once per :data:`DATA_VERSION_TTL_S` (1 s) per
database, so an import by another process (``hotspot import`` while the site runs) shows
within a second; an import through any engine of this process shows at once, because writes
to ``import_runs`` clear the remembered version (:func:`web.storage.on_writes`). Every cache
here is a :class:`web.services.caches.Cache`.

Filters come from query strings (``parse_filters``): dates are local dates in the city's
timezone, ``end`` inclusive; hours 0-23 and weekdays 0 (Monday)-6 in local time.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from web import storage
from web.services.caches import Cache, clear_derived, forget_other_versions
from web.services.scoring_data import GROUPS, ScoringData

__all__ = [
    "FilterError",
    "MAP_MODELS",
    "MapLayers",
    "MapQuery",
    "accuracy",
    "category_groups",
    "category_mask",
    "clear_caches",
    "compare_counts",
    "emerging_layer",
    "explain_map_cell",
    "map_layers",
    "parse_map_query",
    "period_counts",
    "Accuracy",
    "Change",
    "PeriodCounts",
    "UnknownCellError",
    "accuracy_groups",
    "accuracy_origins",
    "area_choices",
    "area_outlines",
    "holm",
    "local_date",
    "model_forecaster",
    "study_bounds",
    "DATA_VERSION_TTL_S",
    "Filters",
    "SiteData",
    "area_cells",
    "cell_counts",
    "cell_scores",
    "cells_of",
    "parse_filters",
    "in_study_area",
    "select",
    "selected_positions",
    "site_data",
]

# Model used for maps when none is asked for: a weighted, time-decayed count. The default
# Poisson blend is better by <1 % AUC20 on Chicago (bench/score_bench.py) but takes ~0.6 s.
MAP_MODEL = "weighted_count"
#: Incidents read from the database per step while loading (bounds the memory of a load).
LOAD_CHUNK_ROWS = 500_000
_DAY_S = 86_400
_WEEK_S = 7 * _DAY_S


class FilterError(ValueError):
    """A query-string filter that cannot be read (the message names the parameter)."""


@dataclass(frozen=True, eq=False)
class SiteData:
    """Every located incident as columns, the study cells, the category table and settings.

    Incident ``i`` happened at ``occurred_at[i]`` (UTC seconds) in cell
    ``cell_ids[cell_index[i]]``, of the category in row ``category_index[i]`` of
    ``categories``, at local ``hour[i]``, ``weekday[i]`` (Monday 0) and ``day[i]`` (days
    since 1970-01-01, local). Incidents are sorted by cell, then time: those of
    ``cell_ids[j]`` are rows ``cell_starts[j]:cell_starts[j + 1]``. The arrays are read-only.
    """

    source: str  # the database URL: cache entries are per database
    version: tuple[int, int]
    timezone: str
    resolution: int
    cells: np.ndarray  # int64, the study cells (centre inside the jurisdiction), sorted
    categories: pd.DataFrame  # the category table (id, code, names, weight, group...)
    category_weights: dict[str, float]  # code -> scoring weight (police-initiated: 0)
    cell_ids: np.ndarray  # int64, the distinct cells with incidents, sorted
    cell_starts: np.ndarray  # int64, len(cell_ids) + 1 row offsets
    occurred_at: np.ndarray  # int64 UTC seconds
    cell_index: np.ndarray  # int32 into cell_ids
    category_index: np.ndarray  # int16 into the rows of categories
    hour: np.ndarray  # int8, local hour
    weekday: np.ndarray  # int8, local weekday (Monday 0)
    day: np.ndarray  # int32, local calendar day (days since 1970-01-01)
    first_s: int | None  # the oldest and newest incident's time
    last_s: int | None
    _areas: dict = field(default_factory=dict, repr=False)  # area kind -> (cell, area_id)
    _memo: dict = field(default_factory=dict, repr=False)  # values derived once per load

    @property
    def n_incidents(self) -> int:
        return len(self.occurred_at)

    @property
    def category_codes(self) -> tuple[str, ...]:
        """The code of each row of the category table (what ``category_index`` points at)."""
        if "category_codes" not in self._memo:
            self._memo["category_codes"] = tuple(str(c) for c in self.categories["code"])
        return self._memo["category_codes"]

    @property
    def incident_cells(self) -> np.ndarray:
        """The H3 cell (int64) of each incident, expanded once from the cell slices."""
        if "incident_cells" not in self._memo:
            cells = np.repeat(self.cell_ids, np.diff(self.cell_starts))
            cells.flags.writeable = False
            self._memo["incident_cells"] = cells
        return self._memo["incident_cells"]

    @property
    def incidents(self) -> pd.DataFrame:
        """Every incident as geo's functions take them: ``occurred_at`` (int64), ``cell``
        (int64) and ``category`` (categorical code); the columns share the data's arrays."""
        if "incidents" not in self._memo:
            self._memo["incidents"] = self.frame()
        return self._memo["incidents"]

    def frame(self, rows: np.ndarray | None = None) -> pd.DataFrame:
        """The incidents at ``rows`` (positions or a boolean mask; None for all) as geo's
        functions take them: ``occurred_at``, ``cell``, ``category`` (categorical code)."""
        if "category_dtype" not in self._memo:
            self._memo["category_dtype"] = pd.CategoricalDtype(list(self.category_codes))
        pick = slice(None) if rows is None else rows
        category = pd.Categorical.from_codes(
            self.category_index[pick], dtype=self._memo["category_dtype"]
        )
        columns = {
            "occurred_at": self.occurred_at[pick],
            "cell": self.incident_cells[pick],
            "category": category,
        }
        return pd.DataFrame(columns, copy=False)

    @property
    def scoring(self) -> ScoringData:
        """The same data shaped as web.services.scoring_data's loaders return it."""
        if "scoring" not in self._memo:
            self._memo["scoring"] = ScoringData(
                self.incidents,
                self.cells,
                self.timezone,
                self.resolution,
                dict(self.category_weights),
            )
        return self._memo["scoring"]

    def cell_rows(self, cell: int) -> slice:
        """The rows of one cell's incidents (an empty slice for a cell without any)."""
        at = int(np.searchsorted(self.cell_ids, cell))
        if at < len(self.cell_ids) and int(self.cell_ids[at]) == cell:
            return slice(int(self.cell_starts[at]), int(self.cell_starts[at + 1]))
        return slice(0, 0)


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


#: Seconds the data version is trusted without asking the database again: an import by
#: another process shows within this long (imports in this process clear it at once).
DATA_VERSION_TTL_S = 1.0

_versions = Cache("data versions", ttl_s=DATA_VERSION_TTL_S, tables=("import_runs",))
# The incidents of the few databases this process serves, one version each.
_data = Cache("site data", max_entries=4)
_scores = Cache("scores", max_entries=64, max_bytes=64 * 2**20, derived=True)


def data_version(engine) -> tuple[int, int]:
    """(number of import runs, newest run id): changes whenever an import lands."""
    return storage.import_version(engine)


def site_data(engine) -> SiteData:
    """The cached data of this database, reloaded after an import (seen within
    :data:`DATA_VERSION_TTL_S` when another process imports)."""
    key = storage.database_key(engine)
    version = _versions.get_or_load((key, "version"), lambda: data_version(engine))

    def load() -> SiteData:
        # An import made the older version and what was computed from it stale: let them go
        # before loading (two versions of a large city need not fit in memory together).
        _data.discard(lambda k: k[0] == key and k[1] != version)
        forget_other_versions(key, version)
        return load_site_data(engine, key, version)

    return _data.get_or_load((key, version), load)


def load_site_data(engine, source: str, version: tuple[int, int]) -> SiteData:
    """Read the incidents, the study area and the category table into a :class:`SiteData`.

    Raises ValueError when no jurisdiction boundary is stored (no study area).
    """
    from geo.scoring import DEFAULT_POLICE_INITIATED_WEIGHT, category_weights_from_table
    from web.services.scoring_data import _study_cells

    meta = storage.get_meta(engine)
    resolution = int(meta.get("resolution", 9))
    timezone = meta.get("timezone", "UTC")
    boundary = storage.load_areas_table(engine, "jurisdiction")
    if boundary.empty:
        raise ValueError(
            "no jurisdiction boundary stored: `hotspot areas load FILE --kind jurisdiction`"
        )
    categories = storage.load_categories_table(engine)
    weights = category_weights_from_table(categories, DEFAULT_POLICE_INITIATED_WEIGHT)
    columns = _incident_columns(engine, categories, timezone)
    return SiteData(
        source=source,
        version=version,
        timezone=timezone,
        resolution=resolution,
        cells=_read_only(_study_cells(boundary.assign(area_id="jurisdiction"), resolution)),
        categories=categories,
        category_weights=dict(weights),
        first_s=int(columns["occurred_at"].min()) if len(columns["occurred_at"]) else None,
        last_s=int(columns["occurred_at"].max()) if len(columns["occurred_at"]) else None,
        **columns,
    )


def _incident_columns(engine, categories: pd.DataFrame, timezone: str) -> dict[str, np.ndarray]:
    """Every incident's columns (see :class:`SiteData`), sorted by cell and time."""
    parts: dict[str, list[np.ndarray]] = {
        name: [] for name in ("occurred_at", "cell", "category_index", "hour", "weekday", "day")
    }
    for times, cells, category in _incident_chunks(engine, categories):
        hour, weekday, day = local_fields(times, timezone)
        for name, values in zip(parts, (times, cells, category, hour, weekday, day), strict=True):
            parts[name].append(values)
    columns = {
        name: np.concatenate(values) if values else np.empty(0, dtype=dtype)
        for (name, values), dtype in zip(
            parts.items(), (np.int64, np.int64, np.int16, np.int8, np.int8, np.int32), strict=True
        )
    }
    del parts
    cell_ids, cell_index = np.unique(columns.pop("cell"), return_inverse=True)
    order = np.lexsort((columns["occurred_at"], cell_index))
    columns = {name: values[order] for name, values in columns.items()}
    columns["cell_index"] = cell_index[order].astype(np.int32)
    del cell_index, order
    counts = np.bincount(columns["cell_index"], minlength=len(cell_ids))
    columns["cell_starts"] = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    columns["cell_ids"] = cell_ids.astype(np.int64)
    return {name: _read_only(values) for name, values in columns.items()}


def _incident_chunks(
    engine, categories: pd.DataFrame
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(occurred_at int64, cell int64, category row int16) of every incident, a chunk of
    about :data:`LOAD_CHUNK_ROWS` at a time."""
    read_columns = getattr(storage, "incident_columns", None)
    if read_columns is not None:
        # storage reads the three columns in bulk (no Python object per row).
        row_of_id = np.full(int(categories["id"].max()) + 1 if len(categories) else 1, -1)
        row_of_id[categories["id"].to_numpy()] = np.arange(len(categories))
        for chunk in read_columns(engine, chunk_rows=LOAD_CHUNK_ROWS):
            rows = row_of_id[chunk["category_id"]].astype(np.int16)
            yield chunk["occurred_at"], chunk["cell"], rows
        return
    # Without a bulk reader: storage.load_incidents for a few hundred cells at a time, so no
    # more than a chunk of rows is ever held as a frame (its text columns cost ~700 bytes
    # per incident while they are read).
    counts = storage.cell_counts(engine)
    cells, n = counts["cell"].to_numpy(), counts["n"].to_numpy()
    row_of_code = pd.Index(categories["code"].astype(str))
    start = 0
    while start < len(cells):
        stop = start + 1
        taken = int(n[start])
        while stop < len(cells) and stop - start < 500 and taken + n[stop] <= LOAD_CHUNK_ROWS:
            taken += int(n[stop])
            stop += 1
        frame = storage.load_incidents(engine, cells=cells[start:stop].tolist())
        rows = row_of_code.get_indexer(frame["category"].astype(str)).astype(np.int16)
        yield (
            frame["occurred_at"].to_numpy(dtype=np.int64),
            frame["cell"].to_numpy(dtype=np.int64),
            rows,
        )
        start = stop


def local_fields(times: np.ndarray, timezone: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local hour (int8), weekday (int8, Monday 0) and calendar day (int32, days since
    1970-01-01) of UTC seconds in ``timezone``."""
    stamps = pd.DatetimeIndex(np.asarray(times, dtype="datetime64[s]"))
    local = stamps.tz_localize("UTC").tz_convert(timezone).tz_localize(None).as_unit("s")
    seconds = local.asi8
    day = np.floor_divide(seconds, _DAY_S)
    hour = (seconds - day * _DAY_S) // 3600
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday
    return hour.astype(np.int8), weekday.astype(np.int8), day.astype(np.int32)


def _read_only(values: np.ndarray) -> np.ndarray:
    values.flags.writeable = False
    return values


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


@functools.lru_cache(maxsize=1024)
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
    or comma-separated) or ``group`` (all, burglary, violent, or a group of the category
    table such as property), ``hours`` (e.g. 18-23), ``weekdays`` (0 Monday .. 6; both
    repeatable), ``area`` (KIND:ID; needs ``engine``)."""
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
    if "codes" not in data._memo:
        data._memo["codes"] = frozenset(data.categories["code"])
    known = data._memo["codes"]
    if codes:
        unknown = [c for c in codes if c not in known]
        if unknown:
            raise FilterError(f"category: unknown code(s) {', '.join(unknown)}")
        categories = tuple(sorted(set(codes)))
    elif group and group != "all":
        table_groups = category_groups(data)
        if group in GROUPS:
            members = GROUPS[group]
        elif group in table_groups:
            members = table_groups[group]
        else:
            known = ", ".join(dict.fromkeys([*GROUPS, *table_groups]))
            raise FilterError(f"group: unknown {group!r}; known: {known}")
        categories = tuple(sorted(members)) if members is not None else None
    # Repeated parameters (one checkbox per weekday) are read like a comma-separated list.
    hours_text = ",".join(_values(args, "hours"))
    weekdays_text = ",".join(_values(args, "weekdays"))
    hours = _int_set(hours_text, "hours", 0, 23) if hours_text else None
    weekdays = _int_set(weekdays_text, "weekdays", 0, 6) if weekdays_text else None
    area = str(args["area"]) if args.get("area") else None
    cells = None
    if area is not None:
        if engine is None:
            raise FilterError("area: not available here")
        cells = area_cells(engine, data, area)
    return Filters(start, end, categories, hours, weekdays, area, cells)


def category_mask(data: SiteData, categories: Sequence[str], rows=slice(None)) -> np.ndarray:
    """Whether each incident (or each of ``rows``) has one of ``categories`` (a look-up of
    each incident's category row in a small table)."""
    wanted = set(categories)
    lookup = np.array([code in wanted for code in data.category_codes], dtype=bool)
    return lookup[data.category_index[rows]]


def _small_int_mask(values: np.ndarray, wanted: Sequence[int], size: int) -> np.ndarray:
    """``np.isin`` for small non-negative integers (hours, weekdays), by table look-up."""
    lookup = np.zeros(size, dtype=bool)
    lookup[list(wanted)] = True
    return lookup[values]


def _mask(
    data: SiteData,
    filters: Filters,
    *,
    use_time: bool = True,
    use_categories: bool = True,
    rows=slice(None),
) -> np.ndarray | None:
    """Whether each incident (or each of ``rows``) passes the filters; None when no filter
    applies (every incident passes)."""
    masks = []
    if use_time and filters.start_s is not None:
        masks.append(data.occurred_at[rows] >= filters.start_s)
    if use_time and filters.end_s is not None:
        masks.append(data.occurred_at[rows] < filters.end_s)
    if use_categories and filters.categories is not None:
        masks.append(category_mask(data, filters.categories, rows))
    if filters.hours is not None:
        masks.append(_small_int_mask(data.hour[rows], filters.hours, 24))
    if filters.weekdays is not None:
        masks.append(_small_int_mask(data.weekday[rows], filters.weekdays, 7))
    if filters.cells is not None:
        wanted = np.isin(data.cell_ids, np.asarray(filters.cells, dtype=np.int64))
        masks.append(wanted[data.cell_index[rows]])
    if not masks:
        return None
    mask = masks[0]
    for more in masks[1:]:
        mask &= more
    return mask


def select(data: SiteData, filters: Filters) -> pd.DataFrame:
    """The incidents that pass the filters (``occurred_at``, ``cell``, ``category``)."""
    mask = _mask(data, filters)
    return data.incidents if mask is None else data.frame(mask)


def selected_positions(data: SiteData, filters: Filters) -> np.ndarray:
    """Positions (rows of the data's columns) of the incidents that pass the filters."""
    mask = _mask(data, filters)
    return np.arange(data.n_incidents) if mask is None else np.flatnonzero(mask)


def in_study_area(data: SiteData, cell: int) -> bool:
    """Whether ``cell`` is one of the study cells (a binary search: they are sorted)."""
    at = int(np.searchsorted(data.cells, cell))
    return at < len(data.cells) and int(data.cells[at]) == cell


def cell_counts(data: SiteData, filters: Filters) -> pd.DataFrame:
    """``cell``, ``n``: incidents per cell passing the filters (cells with none left out)."""
    mask = _mask(data, filters)
    index = data.cell_index if mask is None else data.cell_index[mask]
    counts = np.bincount(index, minlength=len(data.cell_ids))
    present = np.flatnonzero(counts)
    return pd.DataFrame(
        {"cell": data.cell_ids[present].astype(np.int64), "n": counts[present].astype(np.int64)}
    )


def cell_scores(
    data: SiteData,
    filters: Filters,
    model: str = MAP_MODEL,
    as_of_s: int | None = None,
) -> pd.DataFrame:
    """Score every study cell as of ``as_of_s`` (default: the filter's end, else the newest
    incident + 1 s) from the incidents passing the category, hour and weekday filters (the
    models weigh time themselves, so ``start`` does not cut their history).

    Categories go to geo.scoring as its ``categories`` (a group is scored with its own
    incidents, and the default model pools the cell's count over every category); hours,
    weekdays and an area select the incidents themselves. The map, the API, grid workers'
    pages and the patrol planner all score here.

    Returns geo.scoring.score_cells' frame (``cell``, ``score``, model columns) plus ``rank``
    (1 = hottest); restricted to the area's cells when an area is set. Cached.
    """

    if as_of_s is None:
        as_of_s = filters.end_s if filters.end_s is not None else (data.last_s or 0) + 1
    key = (data.source, data.version, filters.key(), model, int(as_of_s))
    return _scores.get_or_load(key, lambda: _score(data, filters, model, int(as_of_s)))


def _score(data: SiteData, filters: Filters, model: str, as_of_s: int) -> pd.DataFrame:
    from geo.scoring import score_cells

    mask = _mask(data, filters, use_time=False, use_categories=False)
    # No filter at all (the usual city-wide map): no copy of the incidents.
    chosen = data.incidents if mask is None else data.frame(mask)
    frame = score_cells(
        chosen,
        data.cells,
        int(as_of_s),
        model=model,
        category_weights=data.category_weights,
        categories=filters.categories,
    )
    order = np.argsort(-frame["score"].to_numpy(), kind="stable")
    rank = np.empty(len(frame), dtype=np.int64)
    rank[order] = np.arange(1, len(frame) + 1)
    frame = frame.assign(rank=rank)
    if filters.cells is not None:
        frame = frame[frame["cell"].isin(filters.cells)].reset_index(drop=True)
    return frame


def cells_of(values: Sequence[str]) -> np.ndarray:
    """H3 hex ids into int64 cells; raises FilterError naming a bad id."""
    from geo.cells import cells_from_hex

    try:
        return np.asarray(cells_from_hex(list(values)), dtype=np.int64)
    except (ValueError, TypeError) as err:
        raise FilterError(f"cell: not an H3 cell id: {err}") from err


# --- the commander's pages: map layers, explanations, period statistics, forecast accuracy ----

#: Models the hotspot map offers; the first is the default (fast enough to score per request).
MAP_MODELS = (MAP_MODEL, "default", "naive", "ring_smoothed")
#: Days the map shows when no dates are given (ending with the newest incident's day).
DEFAULT_WINDOW_DAYS = 28
#: Weeks of the emerging hot spot cube and of a cell's trend (as ``hotspot explain``).
EMERGING_WEEKS = 26
#: Windows of a cell explanation's counts, days before the map's end date.
EXPLAIN_WINDOWS_DAYS = (7, 28, 90)
#: Significance level of the period comparisons and of the trend test.
ALPHA = 0.05

_layers = Cache("map layers", max_entries=16, max_bytes=64 * 2**20, derived=True)
_emerging = Cache("emerging classes", max_entries=16, max_bytes=32 * 2**20, derived=True)
_accuracy = Cache("backtests", max_entries=8, max_bytes=64 * 2**20, derived=True)


def clear_caches() -> None:
    """Forget everything computed from the incidents (scores, map layers, backtests, API
    answers); the incidents stay: for benchmarks."""
    clear_derived()


def category_groups(data: SiteData) -> dict[str, tuple[str, ...]]:
    """Group name of the category table -> its codes (e.g. ``property``), in table order."""
    if "category_groups" not in data._memo:
        data._memo["category_groups"] = _category_groups(data.categories)
    return dict(data._memo["category_groups"])


def _category_groups(table: pd.DataFrame) -> dict[str, tuple[str, ...]]:
    groups: dict[str, list[str]] = {}
    for code, group in zip(table["code"], table["group"].fillna(""), strict=True):
        if group:
            groups.setdefault(str(group), []).append(str(code))
    return {name: tuple(codes) for name, codes in groups.items()}


def local_date(epoch_s: int, timezone: str) -> str:
    """The local calendar date (YYYY-MM-DD) of a UTC second."""
    return pd.Timestamp(epoch_s, unit="s", tz="UTC").tz_convert(timezone).strftime("%Y-%m-%d")


@dataclass(frozen=True)
class MapQuery:
    """What the hotspot map shows: filters (dates always set), model and value shown."""

    filters: Filters
    model: str
    value: str  # "score" or "count"
    start: str  # local dates, end inclusive
    end: str

    @property
    def as_of_s(self) -> int:
        return int(self.filters.end_s or 0)

    def key(self) -> tuple:
        return (self.filters.key(), self.model)


def parse_map_query(args: Mapping, data: SiteData, engine=None) -> MapQuery:
    """``parse_filters`` plus ``model`` and ``value`` (score or count); missing dates default
    to the last DEFAULT_WINDOW_DAYS days of data, a missing start to 28 days before the end."""
    model = str(args.get("model") or MAP_MODEL)
    if model not in MAP_MODELS:
        raise FilterError(f"model: expected one of {', '.join(MAP_MODELS)}, got {model!r}")
    value = str(args.get("value") or "score")
    if value not in ("score", "count"):
        raise FilterError(f"value: expected score or count, got {value!r}")
    end = str(args.get("end") or "")
    if not end:
        end = local_date(data.last_s or 0, data.timezone)
    start = str(args.get("start") or "")
    if not start:
        try:
            end_day = pd.Timestamp(end)
        except (ValueError, TypeError) as err:
            raise FilterError(f"end: expected a date YYYY-MM-DD, got {end!r}") from err
        start = (end_day - pd.Timedelta(days=DEFAULT_WINDOW_DAYS - 1)).strftime("%Y-%m-%d")
    merged = {key: args.getlist(key) if hasattr(args, "getlist") else args[key] for key in args}
    merged.update(start=start, end=end)
    filters = parse_filters(_FlatArgs(merged), data, engine)
    return MapQuery(filters, model, value, start, end)


class _FlatArgs(dict):
    """A dict of lists or values that answers ``get`` and ``getlist`` like request.args."""

    def get(self, key, default=None):  # type: ignore[override]
        value = super().get(key, default)
        if isinstance(value, list):
            return value[0] if value else default
        return value

    def __getitem__(self, key):
        value = super().__getitem__(key)
        return value[0] if isinstance(value, list) and value else value

    def getlist(self, key) -> list:
        value = super().get(key, [])
        return list(value) if isinstance(value, list) else [value]


def _whole_area(filters: Filters) -> Filters:
    """The same filters over the whole study area (Gi* needs every cell as reference)."""
    return Filters(
        filters.start_s, filters.end_s, filters.categories, filters.hours, filters.weekdays
    )


@dataclass(frozen=True, eq=False)
class MapLayers:
    """Per-cell values of one map query, aligned on ``cells`` (sorted int64).

    ``cells`` are the study cells (the area's, with an area filter) plus any other cell with
    incidents in the window; ``score`` is NaN and ``gi_bin`` 0 outside the study area.
    ``count`` is the window's incidents (what ``cell_counts`` returns); Gi* is computed on
    those counts over the whole study area, then cut to the cells shown.
    """

    cells: np.ndarray
    score: np.ndarray
    rank: np.ndarray  # 1 = hottest of the study area, 0 outside it
    count: np.ndarray
    gi_z: np.ndarray
    gi_p: np.ndarray
    gi_bin: np.ndarray
    n_study_cells: int
    scores: pd.DataFrame  # cell_scores' frame (model columns), area-restricted


def map_layers(data: SiteData, query: MapQuery) -> MapLayers:
    """Scores, counts and Gi* classes of every cell the map draws; cached."""

    key = (data.source, data.version, *query.key())
    return _layers.get_or_load(key, lambda: _map_layers(data, query))


def _map_layers(data: SiteData, query: MapQuery) -> MapLayers:
    from geo.hotspots import hotspot_table

    filters = query.filters
    scores = cell_scores(data, filters, query.model, query.as_of_s)
    study = data.cells
    whole = cell_counts(data, _whole_area(filters))
    position = np.searchsorted(study, whole["cell"].to_numpy())
    position = np.minimum(position, len(study) - 1)
    inside = study[position] == whole["cell"].to_numpy()
    study_counts = np.zeros(len(study), dtype=np.int64)
    study_counts[position[inside]] = whole["n"].to_numpy()[inside]
    gi = hotspot_table(study, study_counts, k=1, fdr=True)

    counts = whole
    shown_study = study
    if filters.cells is not None:
        area = np.asarray(filters.cells, dtype=np.int64)
        counts = whole[whole["cell"].isin(area)]
        shown_study = study[np.isin(study, area)]
    cells = np.union1d(shown_study, counts["cell"].to_numpy()).astype(np.int64)
    count = np.zeros(len(cells), dtype=np.int64)
    count[np.searchsorted(cells, counts["cell"].to_numpy())] = counts["n"].to_numpy()
    score = np.full(len(cells), np.nan)
    rank = np.zeros(len(cells), dtype=np.int64)
    at = np.searchsorted(cells, scores["cell"].to_numpy())
    score[at] = scores["score"].to_numpy()
    rank[at] = scores["rank"].to_numpy()
    gi_z = np.zeros(len(cells))
    gi_p = np.ones(len(cells))
    gi_bin = np.zeros(len(cells), dtype=np.int8)
    in_study = np.isin(cells, study)
    rows = np.searchsorted(study, cells[in_study])
    gi_z[in_study] = gi["z"].to_numpy()[rows]
    gi_p[in_study] = gi["p"].to_numpy()[rows]
    gi_bin[in_study] = gi["gi_bin"].to_numpy()[rows]
    return MapLayers(cells, score, rank, count, gi_z, gi_p, gi_bin, len(study), scores)


def _chosen(data: SiteData, filters: Filters, as_of_s: int, rows=slice(None)) -> np.ndarray:
    """Whether each incident (or each of ``rows``) passes every filter but the dates and
    the area, and happened before ``as_of_s``."""
    mask = data.occurred_at[rows] < as_of_s
    more = _mask(data, _whole_area(filters), use_time=False, rows=rows)
    return mask if more is None else mask & more


def emerging_layer(data: SiteData, query: MapQuery) -> pd.DataFrame:
    """Emerging hot spot class of every study cell over the EMERGING_WEEKS weeks ending at
    the map's end date (geo.emerging; ``cell``, ``category``, ``trend_z``, ``trend_p``...);
    cached. Uses the map's categories, hours and weekdays, not its start date."""

    key = (data.source, data.version, _whole_area(query.filters).key()[2:], query.as_of_s)
    return _emerging.get_or_load(key, lambda: _emerging_layer(data, query))


def _emerging_layer(data: SiteData, query: MapQuery) -> pd.DataFrame:
    from geo.emerging import emerging_hotspots

    chosen = _chosen(data, query.filters, query.as_of_s)
    return emerging_hotspots(
        data.cells,
        data.incident_cells[chosen],
        data.occurred_at[chosen],
        query.as_of_s - EMERGING_WEEKS * _WEEK_S,
        query.as_of_s,
        bin_s=_WEEK_S,
        k=1,
        alpha=ALPHA,
    )


class UnknownCellError(LookupError):
    """A valid H3 cell that the map does not show (another resolution, outside the area)."""


def explain_map_cell(engine, data: SiteData, query: MapQuery, hex_id: str) -> dict:
    """Why one cell looks as it does on the map, as JSON-ready data.

    Counts are every incident passing the map's filters except the dates, in the cell, per
    category, in the EXPLAIN_WINDOWS_DAYS days before the map's end; ``window`` counts the
    map's own dates. Raises FilterError for a malformed id, UnknownCellError for a cell the
    map does not show.
    """
    from geo.emerging import mann_kendall, space_time_cube
    from geo.explain import COMPONENT_NOTES, gi_bin_label

    cell = int(cells_of([hex_id])[0])
    layers = map_layers(data, query)
    row = int(np.searchsorted(layers.cells, cell))
    if row >= len(layers.cells) or layers.cells[row] != cell:
        raise UnknownCellError(f"cell {hex_id} is not on this map (not a study cell here)")
    as_of = query.as_of_s
    rows = data.cell_rows(cell)
    chosen = _chosen(data, query.filters, as_of, rows)
    times = data.occurred_at[rows][chosen]
    codes = np.asarray(data.category_codes, dtype=object)[data.category_index[rows][chosen]]
    counts: dict[str, dict[str, int]] = {}
    names = [f"{d}d" for d in EXPLAIN_WINDOWS_DAYS]
    for days, name in zip(EXPLAIN_WINDOWS_DAYS, names, strict=True):
        recent = codes[times >= as_of - days * _DAY_S]
        for code in recent:
            counts.setdefault(code, dict.fromkeys(names, 0))[name] += 1
    ordered = sorted(counts, key=lambda c: (-counts[c][names[-1]], c))
    table = [{"category": c, **counts[c]} for c in ordered]
    totals = {name: int(sum(counts[c][name] for c in counts)) for name in names}

    cube, edges = space_time_cube(
        np.array([cell], dtype=np.int64),
        np.full(len(times), cell, dtype=np.int64),
        times,
        as_of - EMERGING_WEEKS * _WEEK_S,
        as_of,
        _WEEK_S,
    )
    series = cube[0]
    test = mann_kendall(series[np.newaxis, :])
    z, p = float(test.z[0]), float(test.p[0])
    direction = "none" if not p <= ALPHA or z == 0 else ("up" if z > 0 else "down")
    local = pd.to_datetime(
        times[times >= as_of - EXPLAIN_WINDOWS_DAYS[-1] * _DAY_S], unit="s", utc=True
    ).tz_convert(data.timezone)
    hours = np.bincount(local.hour, minlength=24) if len(local) else np.zeros(24, dtype=int)

    model = None
    if not np.isnan(layers.score[row]):
        frame = layers.scores
        record = frame.loc[frame["cell"] == cell].iloc[0]
        notes = COMPONENT_NOTES.get(query.model, {})
        columns = [c for c in frame.columns if c not in ("cell", "score", "rank")]
        model = {
            "name": query.model,
            "score": _finite(record["score"]),
            "rank": int(record["rank"]),
            "n_cells": int(layers.n_study_cells),
            "components": {
                c: {"value": _finite(record[c]), "note": notes.get(c, "")} for c in columns
            },
        }
    gi_bin = int(layers.gi_bin[row])
    emerging = emerging_layer(data, query)
    found = emerging.loc[emerging["cell"] == cell]
    areas = []
    for kind in ("district", "beat", "grid"):
        frame = _area_frame(engine, data, kind)
        hit = frame.loc[frame["cell"] == cell, "area_id"]
        areas.extend(f"{kind}:{a}" for a in hit)
    return {
        "cell": hex_id.lower(),
        "as_of_s": as_of,
        "start": query.start,
        "end": query.end,
        "areas": areas,
        "window": {"count": int(layers.count[row]), "start": query.start, "end": query.end},
        "counts": {"windows": names, "rows": table, "total": totals},
        "trend": {
            "weeks": EMERGING_WEEKS,
            "counts": [int(c) for c in series],
            "bin_starts_s": [int(t) for t in edges[:-1]],
            "z": _finite(z),
            "p": _finite(p),
            "direction": direction,
        },
        "model": model,
        "gi_star": {
            "z": _finite(layers.gi_z[row]),
            "p": _finite(layers.gi_p[row]),
            "gi_bin": gi_bin,
            "label": gi_bin_label(gi_bin),
            "count": int(layers.count[row]),
        },
        "emerging": None
        if found.empty
        else {
            "category": str(found["category"].iloc[0]),
            "trend_z": _finite(found["trend_z"].iloc[0]),
            "trend_p": _finite(found["trend_p"].iloc[0]),
        },
        "hours": [int(h) for h in hours],
    }


def _finite(value) -> float | None:
    number = float(value)
    return number if np.isfinite(number) else None


def _area_frame(engine, data: SiteData, kind: str) -> pd.DataFrame:
    if kind not in data._areas:
        data._areas[kind] = storage.load_area_cells(engine, kind)
    return data._areas[kind]


# --- counts per period and their change ------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """Exact conditional test of two Poisson counts over exposures (days).

    Under "no change" the later count, given the total, is binomial with probability
    ``later_days / (earlier_days + later_days)``; ``p_value`` is two-sided, ``ratio`` the
    rate ratio later/earlier with its exact ``ci_low``..``ci_high`` (95 %).
    """

    earlier: int
    later: int
    earlier_days: float
    later_days: float
    p_value: float
    ratio: float
    ci_low: float
    ci_high: float

    def verdict(self, alpha: float = ALPHA, p_value: float | None = None) -> str:
        """``increase``, ``decrease`` or ``no significant change``."""
        p = self.p_value if p_value is None else p_value
        if not p <= alpha:
            return "no significant change"
        return "increase" if self.ratio > 1 else "decrease"


def compare_counts(
    earlier: int, later: int, earlier_days: float = 1.0, later_days: float = 1.0
) -> Change:
    """Test whether the rate changed between two counts (see :class:`Change`)."""
    from scipy.stats import binomtest

    if earlier < 0 or later < 0 or earlier_days <= 0 or later_days <= 0:
        raise ValueError("counts must be >= 0 and exposures > 0")
    total = int(earlier) + int(later)
    share = later_days / (earlier_days + later_days)
    exposure = earlier_days / later_days
    if total == 0:
        return Change(
            earlier, later, earlier_days, later_days, 1.0, float("nan"), 0.0, float("inf")
        )
    result = binomtest(int(later), total, share, alternative="two-sided")
    low, high = result.proportion_ci(confidence_level=0.95, method="exact")

    def ratio(pi: float) -> float:
        return float("inf") if pi >= 1 else pi / (1 - pi) * exposure

    rate_ratio = (later / later_days) / (earlier / earlier_days) if earlier else float("inf")
    return Change(
        earlier,
        later,
        earlier_days,
        later_days,
        float(result.pvalue),
        rate_ratio,
        ratio(low),
        ratio(high),
    )


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of p-values tested together (NaN stays NaN)."""
    p = np.asarray(p_values, dtype=float)
    finite = np.flatnonzero(np.isfinite(p))
    out = p.copy()
    order = finite[np.argsort(p[finite], kind="stable")]
    m = len(order)
    running = 0.0
    for i, j in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[j]))
        out[j] = running
    return out.tolist()


@dataclass(frozen=True, eq=False)
class PeriodCounts:
    """Incidents per period (rows) and category group (columns, ``all`` first).

    ``table`` has ``period`` (label), ``start``/``end`` (local dates, end exclusive),
    ``days`` (days of the period inside the filters' dates and the data), ``complete``
    and one int column per group; ``changes`` compares the last two complete periods and
    the last one with the same period a year earlier, one row per group.
    """

    period: str
    groups: tuple[str, ...]
    table: pd.DataFrame
    changes: pd.DataFrame


def period_counts(data: SiteData, filters: Filters, period: str = "month") -> PeriodCounts:
    """Count the filtered incidents per week (Monday first) or calendar month and group."""
    if period not in ("week", "month"):
        raise FilterError(f"period: expected week or month, got {period!r}")
    tz = data.timezone
    first = filters.start_s if filters.start_s is not None else data.first_s
    if first is None:
        raise FilterError("no incidents stored yet")
    if filters.end_s is not None:
        stop = filters.end_s
    else:  # the day after the newest incident, so that day counts as covered
        stop = _local_day_start_s(local_date(data.last_s or first, tz), tz) + _DAY_S
    first_day = pd.Timestamp(local_date(first, tz))
    last_day = pd.Timestamp(local_date(stop - 1, tz))
    freq = "W-SUN" if period == "week" else "M"
    periods = pd.period_range(first_day.to_period(freq), last_day.to_period(freq), freq=freq)

    mask = _mask(data, filters)
    days = (data.day if mask is None else data.day[mask]).astype(np.int64)
    if period == "week":
        # Weeks start on Monday; day 0 (1970-01-01) was a Thursday.
        keys = (days + 3) // 7
        period_keys = [((p.start_time - pd.Timestamp(0)).days + 3) // 7 for p in periods]
    else:
        keys = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
        period_keys = [(p.year - 1970) * 12 + p.month - 1 for p in periods]
    group_of = {c: g for g, codes in category_groups(data).items() for c in codes}
    names = list(dict.fromkeys([*category_groups(data), "other"]))
    of_row = np.array(
        [names.index(group_of.get(code, "other")) for code in data.category_codes],
        dtype=np.int64,
    )
    labels = of_row[data.category_index if mask is None else data.category_index[mask]]
    row = np.searchsorted(np.asarray(period_keys), keys)
    flat = np.bincount(row * len(names) + labels, minlength=len(periods) * len(names))
    wide = pd.DataFrame(flat.reshape(len(periods), len(names)), columns=names)
    groups = [g for g in category_groups(data) if g in wide.columns and wide[g].sum() > 0]
    groups += [g for g in wide.columns if g not in groups and wide[g].sum() > 0]
    table = pd.DataFrame({"all": wide.sum(axis=1).astype(np.int64)})
    for g in groups:
        table[g] = wide[g].to_numpy(dtype=np.int64)
    starts = [p.start_time for p in periods]
    ends = [(p + 1).start_time for p in periods]
    exposure_days = [
        max(0, (min(e, last_day + pd.Timedelta(days=1)) - max(s, first_day)).days)
        for s, e in zip(starts, ends, strict=True)
    ]
    complete = [
        s >= first_day and e <= last_day + pd.Timedelta(days=1)
        for s, e in zip(starts, ends, strict=True)
    ]
    table = table.reset_index(drop=True)
    table.insert(0, "complete", complete)
    table.insert(0, "days", exposure_days)
    table.insert(0, "end", [e.strftime("%Y-%m-%d") for e in ends])
    table.insert(0, "start", [s.strftime("%Y-%m-%d") for s in starts])
    table.insert(0, "period", [_period_label(p, period) for p in periods])
    columns = ("all", *groups)
    return PeriodCounts(period, columns, table, _changes(table, columns, period))


def _period_label(value: pd.Period, period: str) -> str:
    return value.start_time.strftime("%Y-%m-%d") if period == "week" else str(value)


def _local_day_start_s(day: str, timezone: str) -> int:
    return int(pd.Timestamp(day).tz_localize(timezone).tz_convert("UTC").timestamp())


def _changes(table: pd.DataFrame, groups: Sequence[str], period: str) -> pd.DataFrame:
    complete = table.index[table["complete"]].to_list()
    rows = []
    year_back = 52 if period == "week" else 12
    for kind, offset in (("previous", 1), ("year", year_back)):
        if not complete or complete[-1] - offset < 0:
            continue
        later_i = complete[-1]
        earlier_i = later_i - offset
        if not table.loc[earlier_i, "complete"]:
            continue
        for group in groups:
            change = compare_counts(
                int(table.loc[earlier_i, group]),
                int(table.loc[later_i, group]),
                float(table.loc[earlier_i, "days"]),
                float(table.loc[later_i, "days"]),
            )
            rows.append(
                {
                    "comparison": kind,
                    "group": group,
                    "earlier_period": table.loc[earlier_i, "period"],
                    "later_period": table.loc[later_i, "period"],
                    "earlier": change.earlier,
                    "later": change.later,
                    "ratio": change.ratio,
                    "ci_low": change.ci_low,
                    "ci_high": change.ci_high,
                    "p_value": change.p_value,
                }
            )
    frame = pd.DataFrame(
        rows,
        columns=[
            "comparison",
            "group",
            "earlier_period",
            "later_period",
            "earlier",
            "later",
            "ratio",
            "ci_low",
            "ci_high",
            "p_value",
        ],
    )
    # Many groups are tested at once: Holm's adjustment keeps the chance of any false
    # "significant" below ALPHA within each comparison.
    frame["p_adjusted"] = np.nan
    for _kind, part in frame.groupby("comparison"):
        frame.loc[part.index, "p_adjusted"] = holm(part["p_value"].to_list())
    frame["verdict"] = [
        "no significant change" if not p <= ALPHA else ("increase" if r > 1 else "decrease")
        for p, r in zip(frame["p_adjusted"], frame["ratio"], strict=True)
    ]
    return frame


# --- forecast accuracy -----------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Accuracy:
    """A backtest of the map's model against the naive count (geo.backtest)."""

    origins_kind: str  # "monthly" or "weekly"
    origins: tuple[tuple[int, int], ...]
    model: str
    result: object  # geo.backtest.BacktestResult
    summary: pd.DataFrame  # geo.backtest.summarise, plus mean hit rates


def accuracy_origins(data: SiteData, kind: str = "auto", n: int | None = None):
    """The last ``n`` complete months (or weeks) of data, each with 90 days of history before
    it. ``auto`` takes months when at least three fit, else weeks. Returns (kind, origins)."""
    from geo.backtest import monthly_origins, weekly_origins

    if data.first_s is None:
        raise FilterError("no incidents stored yet")
    tz = data.timezone
    last_day = pd.Timestamp(local_date(data.last_s or 0, tz))
    earliest = data.first_s + 90 * _DAY_S
    if kind not in ("auto", "monthly", "weekly"):
        raise FilterError(f"origins: expected monthly or weekly, got {kind!r}")
    if n is not None and not 1 <= n <= 36:
        raise FilterError(f"n: expected 1..36 origins, got {n}")
    months: list = []
    if kind in ("auto", "monthly"):
        # The last complete month ends on the newest incident's day or before.
        last_month = (last_day + pd.Timedelta(days=1)).to_period("M") - 1
        first_month = last_month - ((n or 6) - 1)
        months = [
            o
            for o in monthly_origins(str(first_month), str(last_month), tz)
            if o.origin_s >= earliest
        ]
        if kind == "monthly" or len(months) >= 3:
            if not months:
                raise FilterError("origins: not enough data for a monthly backtest")
            return "monthly", tuple(months)
    weeks = [
        o
        for o in weekly_origins(last_day.strftime("%Y-%m-%d"), n or 8, tz)
        if o.origin_s >= data.first_s + 28 * _DAY_S
    ]
    if not weeks:
        raise FilterError("origins: not enough data for a backtest")
    return "weekly", tuple(weeks)


def model_forecaster(data: SiteData, model: str):
    """A geo.backtest Forecaster scoring with a geo.scoring model and the site's weights."""
    from geo.backtest import Forecaster
    from geo.scoring import score_cells

    weights = data.category_weights

    def forecast(train: pd.DataFrame, cells: np.ndarray, as_of_s: int) -> np.ndarray:
        scored = score_cells(train, cells, as_of_s, model=model, category_weights=weights)
        return scored["score"].to_numpy()

    return Forecaster(name=model, fn=forecast)


def accuracy_groups(data: SiteData) -> dict[str, tuple[str, ...] | None]:
    """``all`` and the category table's violent and property groups, when present."""
    table = category_groups(data)
    groups: dict[str, tuple[str, ...] | None] = {"all": None}
    for name in ("violent", "property"):
        if name in table:
            groups[name] = table[name]
    return groups


def accuracy(
    data: SiteData, kind: str = "auto", n: int | None = None, model: str = MAP_MODEL
) -> Accuracy:
    """Backtest ``model`` and the naive count on the stored data; cached per data version."""

    offered = [m for m in MAP_MODELS if m != "naive"]
    if model not in offered:
        raise FilterError(f"model: expected one of {', '.join(offered)}, got {model!r}")
    key = (data.source, data.version, kind, n, model)
    return _accuracy.get_or_load(key, lambda: _accuracy_of(data, kind, n, model))


def _accuracy_of(data: SiteData, kind: str, n: int | None, model: str) -> Accuracy:
    from geo.backtest import naive_count_forecaster, run_backtest, summarise

    chosen_kind, origins = accuracy_origins(data, kind, n)
    forecasters = [naive_count_forecaster("naive"), model_forecaster(data, model)]
    groups = accuracy_groups(data)
    result = run_backtest(data.incidents, data.cells, forecasters, list(origins), groups)
    summary = summarise(result, reference="naive", pai_at=(0.01, 0.05, 0.1, 0.2))
    table = result.table[result.table["auc20"].notna()]
    hit = table.groupby(["group", "model"], sort=False)[
        [f"hit_rate_{p:g}" for p in result.fractions]
    ].mean()
    summary = summary.merge(
        hit.rename(columns=lambda c: f"mean_{c}").reset_index(), on=["group", "model"], how="left"
    )
    return Accuracy(chosen_kind, origins, model, result, summary)


# --- area outlines for maps ------------------------------------------------------------------

#: Outlines are simplified to about this many degrees (~20 m) before they reach a page.
OUTLINE_TOLERANCE_DEG = 0.0002
_outlines = Cache("area outlines", max_entries=8, max_bytes=64 * 2**20)


def area_outlines(engine, listing: pd.DataFrame | None = None) -> dict[str, tuple[str, int]]:
    """Kind -> (simplified GeoJSON text of its areas with ``area_id`` and ``name``, number of
    areas), every stored kind, jurisdiction first; cached until the areas change.
    ``listing`` is storage.list_areas' frame when the caller has it already."""
    listing = storage.list_areas(engine) if listing is None else listing
    database = storage.database_key(engine)
    areas = tuple(map(tuple, listing[["kind", "area_id", "n_cells"]].to_numpy().tolist()))

    def load() -> dict[str, tuple[str, int]]:
        _outlines.discard(lambda key: key[0] == database)  # older areas of this database
        return _outlines_of(engine, listing)

    return _outlines.get_or_load((database, areas), load)


def _outlines_of(engine, listing: pd.DataFrame) -> dict[str, tuple[str, int]]:
    import json

    import shapely

    kinds = list(dict.fromkeys(listing["kind"]))
    kinds = sorted(kinds, key=lambda k: k != "jurisdiction")  # stable: the rest keep order
    out: dict[str, tuple[str, int]] = {}
    for kind in kinds:
        frame = storage.load_areas_table(engine, kind)
        geometries = shapely.set_precision(
            shapely.simplify(
                frame.geometry.to_numpy(), OUTLINE_TOLERANCE_DEG, preserve_topology=True
            ),
            1e-5,
        )
        features = [
            {
                "type": "Feature",
                "properties": {"area_id": str(a), "name": str(n)},
                "geometry": json.loads(shapely.to_geojson(g)),
            }
            for a, n, g in zip(frame["area_id"], frame["name"], geometries, strict=True)
            if g is not None and not g.is_empty
        ]
        text = json.dumps(
            {"type": "FeatureCollection", "features": features},
            separators=(",", ":"),
            ensure_ascii=False,
        )
        out[kind] = (text, len(features))
    return out


def area_choices(
    engine, listing: pd.DataFrame | None = None
) -> list[tuple[str, list[tuple[str, str]]]]:
    """(kind, [(KIND:ID, name), ...]) for the area filter, jurisdiction left out."""
    listing = storage.list_areas(engine) if listing is None else listing
    choices = []
    for kind, part in listing.groupby("kind", sort=False):
        if kind == "jurisdiction":
            continue
        choices.append(
            (
                str(kind),
                [
                    (f"{kind}:{a}", str(n) if str(n) != str(a) else str(a))
                    for a, n in zip(part["area_id"], part["name"], strict=True)
                ],
            )
        )
    return choices


def study_bounds(data: SiteData) -> tuple[float, float, float, float] | None:
    """(min lon, min lat, max lon, max lat) of the study cells' centres; cached."""
    if "bounds" not in data._memo:
        bounds = None
        if len(data.cells):
            import h3

            from geo.cells import hex_from_cells

            points = np.array([h3.cell_to_latlng(c) for c in hex_from_cells(data.cells)])
            bounds = (
                float(points[:, 1].min()),
                float(points[:, 0].min()),
                float(points[:, 1].max()),
                float(points[:, 0].max()),
            )
        data._memo["bounds"] = bounds
    return data._memo["bounds"]
