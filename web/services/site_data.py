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

What is done with the data lives beside this module: ``filters`` (query-string filters and
the incidents passing them), ``scores`` (cell scores, for every page and the planner),
``map_layers`` (the hotspot map's layers and cell explanations), ``statistics`` (counts per
period and their change), ``accuracy`` (backtests) and ``areas`` (outlines and area choices).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

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
_DAY_S = 86_400


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


#: Seconds the data version is trusted without asking the database again: an import by
#: another process shows within this long (imports in this process clear it at once).
DATA_VERSION_TTL_S = 1.0
_versions = Cache("data versions", ttl_s=DATA_VERSION_TTL_S, tables=("import_runs",))
# The incidents of the few databases this process serves, one version each.
_data = Cache("site data", max_entries=4)


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


def clear_caches() -> None:
    """Forget everything computed from the incidents (scores, map layers, backtests, API
    answers); the incidents stay: for benchmarks."""
    clear_derived()
