"""The commander's hotspot map: what it shows (query), its layers per cell (scores, counts,
Gi* classes, emerging hot spot classes) and why one cell looks as it does."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from flask_babel import lazy_gettext as _l

from geo.checks import DAY_S
from geo.explain import UnknownCellError  # raised for a cell not on the map; views catch it
from web.services.caches import Cache
from web.services.filters import (
    FIRST_DATE,
    FilterError,
    Filters,
    _date,
    area_frame,
    cell_counts,
    cells_of,
    incident_mask,
    local_date,
    parse_filters,
)
from web.services.scores import MAP_MODEL, cell_scores
from web.services.statistics import ALPHA

if TYPE_CHECKING:
    from web.services.site_data import SiteData

__all__ = [
    "DEFAULT_WINDOW_DAYS",
    "EMERGING_LABELS",
    "EMERGING_WEEKS",
    "MAP_MODELS",
    "MapLayers",
    "MapQuery",
    "UnknownCellError",
    "cell_focus_box",
    "cell_name_table",
    "emerging_layer",
    "explain_map_cell",
    "focus_box",
    "map_layers",
    "parse_map_query",
    "study_bounds",
]

#: The emerging hot spot classes (geo.emerging) as pages name them.
EMERGING_LABELS = {
    "new hot spot": _l("New hot spot"),
    "consecutive hot spot": _l("Consecutive hot spot"),
    "intensifying hot spot": _l("Intensifying hot spot"),
    "persistent hot spot": _l("Persistent hot spot"),
    "diminishing hot spot": _l("Diminishing hot spot"),
    "sporadic hot spot": _l("Sporadic hot spot"),
    "oscillating hot spot": _l("Oscillating hot spot"),
    "historical hot spot": _l("Historical hot spot"),
    "new cold spot": _l("New cold spot"),
    "consecutive cold spot": _l("Consecutive cold spot"),
    "intensifying cold spot": _l("Intensifying cold spot"),
    "persistent cold spot": _l("Persistent cold spot"),
    "diminishing cold spot": _l("Diminishing cold spot"),
    "sporadic cold spot": _l("Sporadic cold spot"),
    "oscillating cold spot": _l("Oscillating cold spot"),
    "historical cold spot": _l("Historical cold spot"),
    "no pattern": _l("No pattern"),
}

#: Models the hotspot map offers; the first is the default (fast enough to score per request).
MAP_MODELS = (MAP_MODEL, "default", "naive", "ring_smoothed")
#: Days the map shows when no dates are given (ending with the newest incident's day).
DEFAULT_WINDOW_DAYS = 28
#: Weeks of the emerging hot spot cube and of a cell's trend (as ``hotspot explain``).
EMERGING_WEEKS = 26
_WEEK_S = 7 * DAY_S
_layers = Cache("map layers", max_entries=16, max_bytes=64 * 2**20, derived=True)
_emerging = Cache("emerging classes", max_entries=16, max_bytes=32 * 2**20, derived=True)


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
        # The end date's own checks first (pandas cannot count back from year 0), and a
        # start no earlier than any filter may name.
        end_day = _date(end, "end")
        start_day = max(
            end_day - pd.Timedelta(days=DEFAULT_WINDOW_DAYS - 1), pd.Timestamp(FIRST_DATE)
        )
        start = start_day.strftime("%Y-%m-%d")
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
    more = incident_mask(data, _whole_area(filters), use_time=False, rows=rows)
    return mask if more is None else mask & more


def emerging_layer(data: SiteData, query: MapQuery) -> pd.DataFrame:
    """Emerging hot spot class of every study cell over the EMERGING_WEEKS weeks ending at
    the map's end date (geo.emerging; ``cell``, ``category``, ``trend_z``, ``trend_p``...);
    cached. Uses the map's categories, hours and weekdays, not its start date."""

    key = (data.source, data.scores_key, _whole_area(query.filters).key()[2:], query.as_of_s)
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


def explain_map_cell(engine, data: SiteData, query: MapQuery, hex_id: str) -> dict:
    """Why one cell looks as it does on the map: geo.explain's explanation, JSON-ready.

    Counts, trend and hours count every incident in the cell passing the map's filters but
    the dates, over the explanation's windows (geo.explain.DEFAULT_WINDOWS_DAYS) before the
    map's end; score and rank, the Gi* class (over the map's dates) and the emerging class
    are the map's own layers; ``name`` and ``label`` are the cell's readable name
    (web.services.cell_names), ``area_list`` its areas as ``kind`` and ``id``. ``counts``
    is ``windows``, ``rows`` (one per category, most incidents first) and ``total`` (JSON
    objects keep no order); ``window`` counts the map's own dates. Raises FilterError for a
    malformed id, geo.explain.UnknownCellError for a cell the map does not show.
    """
    from geo.explain import (
        ALL_CATEGORIES,
        ExplainSettings,
        explain_cell_incidents,
        gi_star_summary,
        model_summary,
    )

    cell = int(cells_of([hex_id])[0])
    layers = map_layers(data, query)
    row = int(np.searchsorted(layers.cells, cell))
    if row >= len(layers.cells) or layers.cells[row] != cell:
        raise UnknownCellError(f"cell {hex_id} is not on this map (not a study cell here)")
    as_of = query.as_of_s
    rows = data.cell_rows(cell)
    chosen = np.arange(rows.start, rows.stop)[_chosen(data, query.filters, as_of, rows)]

    model = None
    if not np.isnan(layers.score[row]):
        frame = layers.scores
        record = frame.loc[frame["cell"] == cell].iloc[0]
        columns = [c for c in frame.columns if c not in ("cell", "score", "rank")]
        model = model_summary(
            query.model,
            score=record["score"],
            rank=int(record["rank"]),  # the row's Series is float: int columns upcast
            n_cells=layers.n_study_cells,
            components={c: record[c] for c in columns},
        )
    filters = query.filters
    gi_star = gi_star_summary(
        count=layers.count[row],
        z=layers.gi_z[row],
        p=layers.gi_p[row],
        gi_bin=layers.gi_bin[row],
        window_days=(int(filters.end_s or 0) - int(filters.start_s or 0)) / DAY_S,
        k=1,
    )
    emerging = emerging_layer(data, query)
    found = emerging.loc[emerging["cell"] == cell, "category"]
    explanation = explain_cell_incidents(
        data.frame(chosen),
        cell,
        as_of,
        data.timezone,
        ExplainSettings(trend_bins=EMERGING_WEEKS, trend_bin_days=_WEEK_S / DAY_S, alpha=ALPHA),
        model=model,
        gi_star=gi_star,
        emerging=None if found.empty else str(found.iloc[0]),
    )
    areas: list[str] = []
    area_list: list[dict[str, str]] = []
    for kind in ("district", "beat", "grid"):
        frame = area_frame(engine, data, kind)
        hit = frame.loc[frame["cell"] == cell, "area_id"]
        areas.extend(f"{kind}:{a}" for a in hit)
        area_list.extend({"kind": kind, "id": str(a)} for a in hit)
    from web.services.cell_names import cell_names

    names = cell_names(engine, data)
    table = explanation.counts
    windows = [str(w) for w in table.columns]
    # category -> window -> count, row by row (the categories, then ALL_CATEGORIES once)
    by_category = {
        str(code): {w: int(n) for w, n in zip(windows, values, strict=True)}
        for code, values in zip(table.index, table.to_numpy().tolist(), strict=True)
    }
    return {
        **explanation.to_dict(),
        "start": query.start,
        "end": query.end,
        "areas": areas,
        "area_list": area_list,
        "name": names.name(cell),
        "label": names.label(cell),
        "window": {"count": int(layers.count[row]), "start": query.start, "end": query.end},
        "counts": {
            "windows": windows,
            "rows": [
                {"category": code, **counts}
                for code, counts in by_category.items()
                if code != ALL_CATEGORIES
            ],
            "total": by_category[ALL_CATEGORIES],
        },
    }


#: Share of the incidents the box a map opens on holds (on each axis, cutting the outer 1 %
#: each side): the urban core of a city, not the empty desert of its jurisdiction.
FOCUS_SHARE = 0.98


def focus_box(
    lat: np.ndarray, lng: np.ndarray, weights: np.ndarray, share: float = FOCUS_SHARE
) -> tuple[float, float, float, float] | None:
    """(min lon, min lat, max lon, max lat) holding the central ``share`` of ``weights`` on
    each axis (weighted quantiles of the points); None when no weight is positive."""
    keep = np.asarray(weights, dtype=np.float64) > 0
    if not keep.any():
        return None
    w = np.asarray(weights, dtype=np.float64)[keep]
    cut = (1.0 - share) / 2.0
    box = []
    for values in (np.asarray(lng)[keep], np.asarray(lat)[keep]):
        order = np.argsort(values, kind="stable")
        cumulative = np.cumsum(w[order]) / w.sum()
        low = values[order][int(np.searchsorted(cumulative, cut, side="right"))]
        high = values[order][min(len(values) - 1, int(np.searchsorted(cumulative, 1.0 - cut)))]
        box.append((float(low), float(high)))
    return (box[0][0], box[1][0], box[0][1], box[1][1])


def cell_focus_box(
    cells: np.ndarray, weights: np.ndarray, share: float = FOCUS_SHARE
) -> tuple[float, float, float, float] | None:
    """:func:`focus_box` of H3 cells (int64) by their centres, padded by one cell's edge so
    the outer cells show whole."""
    import h3

    from geo.cells import hex_from_cells

    cells = np.asarray(cells, dtype=np.int64)
    weights = np.asarray(weights, dtype=np.float64)
    keep = weights > 0
    if not keep.any():
        return None
    hex_ids = hex_from_cells(cells[keep])
    points = np.array([h3.cell_to_latlng(c) for c in hex_ids], dtype=np.float64).reshape(-1, 2)
    box = focus_box(points[:, 0], points[:, 1], weights[keep], share)
    if box is None:
        return None
    pad = h3.average_hexagon_edge_length(h3.get_resolution(hex_ids[0]), "km") / 111.32
    return (box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad)


def study_bounds(data: SiteData) -> tuple[float, float, float, float] | None:
    """(min lon, min lat, max lon, max lat) maps open on: where the incidents are (the box
    holding the central FOCUS_SHARE of them by cell, see :func:`cell_focus_box`), else the
    study cells' centres; cached per data load. The jurisdiction is still drawn whole."""
    if "bounds" not in data._memo:
        bounds = None
        if len(data.incident_cells):
            cells, counts = np.unique(data.incident_cells, return_counts=True)
            bounds = cell_focus_box(cells, counts)
        if bounds is None and len(data.cells):
            bounds = cell_focus_box(data.cells, np.ones(len(data.cells)), share=1.0)
        data._memo["bounds"] = bounds
    return data._memo["bounds"]


def cell_name_table(engine, data: SiteData) -> dict[str, list[str]]:
    """The readable cell names (web.services.cell_names) as {area: [hex of number 1, 2, ...]}
    for the page scripts (the hotspot map names cells ``area-n``); cached per data load."""
    if "cell_name_table" not in data._memo:
        import h3

        from web.services.cell_names import cell_names

        table: dict[str, dict[int, str]] = {}
        for cell, name in cell_names(engine, data).by_cell.items():
            area, _, number = name.rpartition("-")
            if area and number.isdigit():
                table.setdefault(area, {})[int(number)] = h3.int_to_str(cell)
        data._memo["cell_name_table"] = {
            area: [numbers.get(n, "") for n in range(1, max(numbers) + 1)]
            for area, numbers in sorted(table.items())
        }
    return data._memo["cell_name_table"]
