"""The site's incident data, held in memory as columns and refreshed when an import lands.

Maps, statistics, the API and the patrol planner filter and score the same incidents many
times a minute; reading them from the database each time would take seconds.
``site_data(engine)`` keeps one copy per database and checks with one cheap query whether an
import has happened since, reloading when it has. The copy is compact: each incident is its
time (int64 UTC seconds), its cell as an index into the sorted distinct cells (int32), its
category as an index into the category table (int16), 14 bytes in all, sorted by cell so
that one cell's incidents are one slice; its local hour, weekday (int8) and calendar day
(int32) are worked out when first asked for (the hotspot map does not need them), and so
is the frame geo's functions take. Everything else about an incident (place, description,
record id) stays in the database and is read on demand. Scores are cached per (data
version, filters, model, as-of).

Staleness: the version query runs at most once per :data:`DATA_VERSION_TTL_S` (1 s) per
database, so an import by another process (``hotspot import`` while the site runs) shows
within a second; an import through any engine of this process shows at once, because writes
to ``import_runs`` clear the remembered version (:func:`web.storage.on_writes`). Every cache
here is a :class:`web.services.caches.Cache`.

What is done with the data lives beside this module: ``filters`` (query-string filters and
the incidents passing them), ``scores`` (cell scores, for every page and the planner),
``map_layers`` (the hotspot map's layers and cell explanations), ``statistics`` (counts per
period and their change), ``accuracy`` (backtests) and ``areas`` (outlines and area choices).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TypedDict

import numpy as np
import pandas as pd

from geo.checks import DAY_S
from geo.scoring import IndexedIncidents
from web import storage
from web.services.caches import Cache, clear_derived, forget_other_versions

# web/views/grid.py reads these three here; they live in web/services/filters.py.
from web.services.filters import FilterError, area_cells, cells_of
from web.services.scoring_data import ScoringData

__all__ = [
    "DATA_VERSION_TTL_S",
    "LOAD_CHUNK_ROWS",
    "FilterError",
    "SiteData",
    "area_cells",
    "cells_of",
    "clear_caches",
    "data_version",
    "load_site_data",
    "local_fields",
    "site_data",
]

#: Incidents read from the database per step while loading (bounds the memory of a load).
LOAD_CHUNK_ROWS = 500_000


@dataclass(frozen=True, eq=False)
class SiteData:
    """Every located incident as columns, the study cells, the category table and settings.

    Incident ``i`` happened at ``occurred_at[i]`` (UTC seconds) in cell
    ``cell_ids[cell_index[i]]``, of the category in row ``category_index[i]`` of
    ``categories``, at local ``hour[i]``, ``weekday[i]`` (Monday 0) and ``day[i]`` (days
    since 1970-01-01, local). Incidents are sorted by cell, time and category: those of
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
    first_s: int | None  # the oldest and newest incident's time
    last_s: int | None
    # What forecast scores (and the other slow derived values: Gi*, emerging classes,
    # backtests) are keyed and timed by: a score run, not the data version, so incidents
    # fed in while the site runs update counts at once and scores on the schedule.
    scores_key: tuple = ()
    scores_as_of_s: int | None = None
    scores_run_at_s: int | None = None  # when that score run finished (None: no run yet)
    _areas: dict = field(default_factory=dict, repr=False)  # area kind -> (cell, area_id)
    _memo: dict = field(default_factory=dict, repr=False)  # values derived once per load
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @property
    def n_incidents(self) -> int:
        return len(self.occurred_at)

    @property
    def hour(self) -> np.ndarray:
        """int8, the local hour of each incident."""
        return self._local_fields()[0]

    @property
    def weekday(self) -> np.ndarray:
        """int8, the local weekday of each incident (Monday 0)."""
        return self._local_fields()[1]

    @property
    def day(self) -> np.ndarray:
        """int32, the local calendar day of each incident (days since 1970-01-01)."""
        return self._local_fields()[2]

    def _local_fields(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with self._lock:  # large data: one thread works them out, the others wait
            if "local_fields" not in self._memo:
                self._memo["local_fields"] = _local_columns(self.occurred_at, self.timezone)
        return self._memo["local_fields"]

    @property
    def category_codes(self) -> tuple[str, ...]:
        """The code of each row of the category table (what ``category_index`` points at)."""
        if "category_codes" not in self._memo:
            self._memo["category_codes"] = tuple(str(c) for c in self.categories["code"])
        return self._memo["category_codes"]

    @property
    def incident_cells(self) -> np.ndarray:
        """The H3 cell (int64) of each incident, expanded once from the cell slices."""
        with self._lock:
            if "incident_cells" not in self._memo:
                cells = np.repeat(self.cell_ids, np.diff(self.cell_starts))
                self._memo["incident_cells"] = _read_only(cells)
        return self._memo["incident_cells"]

    @property
    def incidents(self) -> pd.DataFrame:
        """Every incident as geo's functions take them: ``occurred_at`` (int64), ``cell``
        (int64) and ``category`` (categorical code); the columns share the data's arrays."""
        with self._lock:
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

    def indexed(self, rows: np.ndarray | None = None) -> IndexedIncidents:
        """The incidents at ``rows`` (positions or a boolean mask; None for all, without a
        copy) in the indexed form geo.scoring looks up fastest."""
        pick = slice(None) if rows is None else rows
        return IndexedIncidents(
            occurred_at=self.occurred_at[pick],
            cell_index=self.cell_index[pick],
            cell_ids=self.cell_ids,
            category_index=self.category_index[pick],
            category_codes=self.category_codes,
        )

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


#: Seconds the data version is trusted without asking the database again: an import by
#: another process shows within this long (imports in this process clear it at once).
DATA_VERSION_TTL_S = 1.0
_versions = Cache("data versions", ttl_s=DATA_VERSION_TTL_S, tables=("import_runs", "score_runs"))
# The incidents of the few databases this process serves, one version each.
_data = Cache("site data", max_entries=4)


def data_version(engine) -> tuple[int, int]:
    """(number of import runs, newest run id): changes whenever an import lands."""
    return storage.import_version(engine)


def site_data(engine) -> SiteData:
    """The cached data of this database, brought up to date after an import (seen within
    :data:`DATA_VERSION_TTL_S` when another process imports): in place when the runs since
    are feed batches or accepted field reports (:mod:`web.services.site_delta`), otherwise
    read again. A new score run changes :attr:`SiteData.scores_key` only."""
    key = storage.database_key(engine)
    version, score_run = _versions.get_or_load(
        (key, "version"), lambda: (data_version(engine), storage.latest_score_run(engine))
    )
    run_id = score_run.id if score_run is not None else 0

    def load() -> SiteData:
        with _newest_lock:
            previous = _newest.get(key)
        data = None
        if previous is not None and previous.version[1] > version[1]:
            return previous  # a thread read the version just before newer data came in
        if previous is not None:
            data = _brought_up_to_date(engine, previous, version, score_run)
        if data is None:
            # What was computed from other versions is stale: let it go before loading (two
            # versions of a large city need not fit in memory together).
            _data.discard(lambda k: isinstance(k, tuple) and k[0] == key)
            forget_other_versions(key, version)
            with _newest_lock:
                _newest.pop(key, None)
            data = load_site_data(engine, key, version, score_run)
        else:
            _data.discard(lambda k: isinstance(k, tuple) and k[0] == key)
            forget_other_versions(key, version, data.scores_key)
        with _newest_lock:
            _newest[key] = data
        return data

    return _data.get_or_load((key, version, run_id), load)


# The newest data of each database, which the next version is worked out from.
_newest: dict[str, SiteData] = {}
_newest_lock = threading.Lock()


def _scores_fields(data_last_s: int | None, version, score_run) -> dict:
    """``scores_key`` and ``scores_as_of_s`` for data just read or a new score run."""
    as_of = None if data_last_s is None else data_last_s + 1
    if score_run is not None and as_of is not None:
        as_of = min(as_of, score_run.started_at)
    run_id = score_run.id if score_run is not None else 0
    return {
        "scores_key": ("scores", run_id, tuple(version)),
        "scores_as_of_s": as_of,
        "scores_run_at_s": score_run.finished_at if score_run is not None else None,
    }


def _brought_up_to_date(engine, data: SiteData, version, score_run) -> SiteData | None:
    """``data`` at ``version`` and ``score_run`` without reading every incident, or None
    when the changes since cannot be applied (a file import, too many changes)."""
    from web.services.site_delta import IncidentDelta, apply_delta

    run_id = score_run.id if score_run is not None else 0
    new_run = run_id != data.scores_key[1]
    if data.version == version:
        if not new_run:
            return data
        return dataclasses.replace(
            data,
            **_scores_fields(data.last_s, version, score_run),
            _areas=data._areas,
            _memo=data._memo,
            _lock=data._lock,
        )
    changes = storage.changes_since(engine, data.version[1], runs=version[0] - data.version[0])
    if changes is None:
        return None
    categories = storage.load_categories_table(engine)
    if not categories["code"].iloc[: len(data.categories)].equals(data.categories["code"]):
        return None  # the table changed other than by new rows at its end
    row_of_id = pd.Series(np.arange(len(categories)), index=categories["id"].to_numpy())
    try:
        delta = IncidentDelta(
            added_times=changes.added_times,
            added_cells=changes.added_cells,
            added_rows=row_of_id.loc[changes.added_category_ids].to_numpy(np.int16),
            removed_times=changes.removed_times,
            removed_cells=changes.removed_cells,
            removed_rows=row_of_id.loc[changes.removed_category_ids].to_numpy(np.int16),
        )
        weights = None
        if len(categories) != len(data.categories):
            from geo.scoring import DEFAULT_POLICE_INITIATED_WEIGHT, category_weights_from_table

            weights = category_weights_from_table(categories, DEFAULT_POLICE_INITIATED_WEIGHT)
        updated = apply_delta(data, delta, version, categories, weights)
    except (KeyError, LookupError):
        return None
    if new_run:
        updated = dataclasses.replace(
            updated,
            **_scores_fields(updated.last_s, version, score_run),
            _areas=updated._areas,
            _memo=updated._memo,
            _lock=updated._lock,
        )
    return updated


def load_site_data(engine, source: str, version: tuple[int, int], score_run=None) -> SiteData:
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
    times = columns["occurred_at"]
    first_s, last_s = (int(times.min()), int(times.max())) if len(times) else (None, None)
    return SiteData(
        source=source,
        version=version,
        timezone=timezone,
        resolution=resolution,
        cells=_read_only(_study_cells(boundary.assign(area_id="jurisdiction"), resolution)),
        categories=categories,
        category_weights=dict(weights),
        first_s=first_s,
        last_s=last_s,
        **_scores_fields(last_s, version, score_run),
        **columns,
    )


class _IncidentColumns(TypedDict):
    """The incident arrays of a :class:`SiteData` (its fields of the same names)."""

    occurred_at: np.ndarray
    cell_index: np.ndarray
    category_index: np.ndarray
    cell_starts: np.ndarray
    cell_ids: np.ndarray


def _incident_columns(engine, categories: pd.DataFrame, timezone: str) -> _IncidentColumns:
    """Every incident's columns (see :class:`SiteData`), sorted by cell, time and category."""
    try:
        cell_ids, occurred_at, cell_index, category = _sorted_by_packed_keys(engine, categories)
    except _DoesNotPack:
        cell_ids, occurred_at, cell_index, category = _sorted_by_columns(engine, categories)
    counts = np.bincount(cell_index, minlength=len(cell_ids))
    cell_starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return _IncidentColumns(
        occurred_at=_read_only(occurred_at),
        cell_index=_read_only(cell_index),
        category_index=_read_only(category),
        cell_starts=_read_only(cell_starts),
        cell_ids=_read_only(cell_ids),
    )


# Each incident becomes one 64-bit key as it is read: its cell's rank in the top 20 bits, its
# UTC seconds since 1970 (up to 2106) in the next 32, its category row in the low 12. One
# sort of the keys (a value sort: far faster than an index sort) orders the incidents, and
# no chunk is kept once packed, so loading needs little more than the keys and the result.
_CELL_BITS, _TIME_BITS, _CATEGORY_BITS = 20, 32, 12
_CELL_SHIFT = _TIME_BITS + _CATEGORY_BITS


class _DoesNotPack(Exception):
    """Values beyond the key's bits: times before 1970, a million cells, 4,096 categories."""


class _CellRanks:
    """Distinct cells in the order they were first read, each with its rank in that order
    (looked up through a hash table: a chunk of half a million cells takes milliseconds)."""

    def __init__(self) -> None:
        self._index = pd.Index(np.empty(0, dtype=np.int64))

    def of(self, cells: np.ndarray) -> np.ndarray:
        """The ranks of ``cells``, adding the ones not seen before."""
        ranks = self._index.get_indexer(pd.Index(cells, copy=False))
        new = ranks < 0
        if new.any():
            self._index = self._index.append(pd.Index(np.unique(cells[new])))
            ranks = self._index.get_indexer(pd.Index(cells, copy=False))
        return ranks

    def __len__(self) -> int:
        return len(self._index)

    @property
    def cells(self) -> np.ndarray:
        """The distinct cells, sorted."""
        return np.sort(self._index.to_numpy(dtype=np.int64))

    def sorted_ranks(self) -> np.ndarray:
        """For each first-read rank, the rank of its cell among the sorted cells."""
        order = np.argsort(self._index.to_numpy(dtype=np.int64), kind="stable")
        relabel = np.empty(len(order), dtype=np.uint64)
        relabel[order] = np.arange(len(order), dtype=np.uint64)
        return relabel


def _sorted_by_packed_keys(
    engine, categories: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(distinct cells, occurred_at int64, cell_index int32, category row int16), sorted by
    cell, time and category; raises _DoesNotPack for values beyond the key's bits."""
    if len(categories) > 2**_CATEGORY_BITS:
        raise _DoesNotPack
    seen = _CellRanks()
    total = storage.incident_count(engine)
    keys = np.empty(total, dtype=np.uint64)
    n = 0
    for times, cells, rows in _incident_chunks(engine, categories):
        if len(times) and (times.min() < 0 or times.max() >= 2**_TIME_BITS):
            raise _DoesNotPack
        rank = seen.of(cells).astype(np.uint64)
        if len(seen) > 2**_CELL_BITS:
            raise _DoesNotPack
        if n + len(times) > len(keys):  # an import landed after the count
            keys = np.concatenate([keys, np.empty(n + len(times) - len(keys), dtype=np.uint64)])
        keys[n : n + len(times)] = (
            (rank << _CELL_SHIFT)
            | (times.astype(np.uint64) << _CATEGORY_BITS)
            | rows.astype(np.uint64)
        )
        n += len(times)
    keys = keys[:n]
    # Cells got ranks in the order they were read: renumber them in cell order, then sort.
    relabel = seen.sorted_ranks()
    for start in range(0, n, LOAD_CHUNK_ROWS):
        key = keys[start : start + LOAD_CHUNK_ROWS]
        key[:] = (relabel[key >> _CELL_SHIFT] << _CELL_SHIFT) | (key & (2**_CELL_SHIFT - 1))
    keys.sort()
    occurred_at = np.empty(n, dtype=np.int64)
    cell_index = np.empty(n, dtype=np.int32)
    category = np.empty(n, dtype=np.int16)
    for start in range(0, n, LOAD_CHUNK_ROWS):
        part = slice(start, start + LOAD_CHUNK_ROWS)
        key = keys[part]
        cell_index[part] = key >> _CELL_SHIFT
        occurred_at[part] = (key >> _CATEGORY_BITS) & (2**_TIME_BITS - 1)
        category[part] = key & (2**_CATEGORY_BITS - 1)
    return seen.cells, occurred_at, cell_index, category


def _sorted_by_columns(
    engine, categories: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The same as :func:`_sorted_by_packed_keys` for any values, by an index sort of the
    columns (more memory and time; for data the keys cannot hold)."""
    chunks = list(_incident_chunks(engine, categories))
    times, cells, rows = (
        np.concatenate([chunk[i] for chunk in chunks] or [np.empty(0, dtype=dtype)]).astype(dtype)
        for i, dtype in enumerate((np.int64, np.int64, np.int16))
    )
    del chunks
    cell_ids, cell_index = np.unique(cells, return_inverse=True)
    order = np.lexsort((rows, times, cell_index))
    return cell_ids, times[order], cell_index[order].astype(np.int32), rows[order]


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
        rows = row_of_code.get_indexer(pd.Index(frame["category"].astype(str))).astype(np.int16)
        yield (
            frame["occurred_at"].to_numpy(dtype=np.int64),
            frame["cell"].to_numpy(dtype=np.int64),
            rows,
        )
        start = stop


def _local_columns(times: np.ndarray, timezone: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`local_fields` of many times, a chunk at a time (bounded temporaries)."""
    n = len(times)
    hour, weekday = np.empty(n, dtype=np.int8), np.empty(n, dtype=np.int8)
    day = np.empty(n, dtype=np.int32)
    for start in range(0, n, LOAD_CHUNK_ROWS):
        part = slice(start, start + LOAD_CHUNK_ROWS)
        hour[part], weekday[part], day[part] = local_fields(times[part], timezone)
    return _read_only(hour), _read_only(weekday), _read_only(day)


def local_fields(times: np.ndarray, timezone: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local hour (int8), weekday (int8, Monday 0) and calendar day (int32, days since
    1970-01-01) of UTC seconds in ``timezone``."""
    stamps = pd.DatetimeIndex(np.asarray(times, dtype="datetime64[s]"))
    local = stamps.tz_localize("UTC").tz_convert(timezone).tz_localize(None).as_unit("s")
    seconds = local.asi8
    day = np.floor_divide(seconds, DAY_S)
    hour = (seconds - day * DAY_S) // 3600
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday
    return hour.astype(np.int8), weekday.astype(np.int8), day.astype(np.int32)


def _read_only(values: np.ndarray) -> np.ndarray:
    values.flags.writeable = False
    return values


def clear_caches() -> None:
    """Forget everything computed from the incidents (scores, map layers, backtests, API
    answers); the incidents stay: for benchmarks."""
    clear_derived()
