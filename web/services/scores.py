"""Cell scores of the site data: one path for the hotspot map, the API, grid workers' pages
and the patrol planner, cached per (score run, filters, model, as-of)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from web.services.caches import Cache
from web.services.filters import Filters, cell_counts, incident_mask, local_date, parse_filters

if TYPE_CHECKING:
    from web.services.site_data import SiteData

__all__ = [
    "MAP_MODEL",
    "TIER_WINDOW_DAYS",
    "TIERS",
    "cell_scores",
    "city_tiers",
    "score_tiers",
    "tier_window",
]

#: Hot-spot tiers of the forecast: (share of the figure area's cells, tier name).
TIERS = ((0.01, "top1"), (0.05, "top5"))
#: A tiered cell needs an incident in this many days up to the newest incident.
TIER_WINDOW_DAYS = 28

# Model used for maps when none is asked for: a weighted, time-decayed count. The default
# Poisson blend is better by <1 % AUC20 on Chicago (bench/score_bench.py) but takes ~0.6 s.
MAP_MODEL = "weighted_count"
_scores = Cache("scores", max_entries=64, max_bytes=64 * 2**20, derived=True)


def cell_scores(
    data: SiteData,
    filters: Filters,
    model: str = MAP_MODEL,
    as_of_s: int | None = None,
) -> pd.DataFrame:
    """Score every study cell as of ``as_of_s`` (default: the filter's end, else the score
    run's time, :attr:`SiteData.scores_as_of_s`) from the incidents passing the category,
    hour and weekday filters (the models weigh time themselves, so ``start`` does not cut
    their history).

    Categories go to geo.scoring as its ``categories`` (a group is scored with its own
    incidents, and the default model pools the cell's count over every category); hours,
    weekdays and an area select the incidents themselves. The map, the API, grid workers'
    pages and the patrol planner all score here.

    Returns geo.scoring.score_cells' frame (``cell``, ``score``, model columns) plus ``rank``
    (1 = hottest); restricted to the area's cells when an area is set. Cached.
    """

    if as_of_s is None:
        as_of_s = filters.end_s
    if as_of_s is None:
        as_of_s = data.scores_as_of_s if data.scores_as_of_s is not None else (data.last_s or 0) + 1
    # Keyed by the score run, not the data version: incidents fed in since the last run
    # change the counts at once and the scores at the next run.
    key = (data.source, data.scores_key, filters.key(), model, int(as_of_s))
    return _scores.get_or_load(key, lambda: _score(data, filters, model, int(as_of_s)))


def _score(data: SiteData, filters: Filters, model: str, as_of_s: int) -> pd.DataFrame:
    from geo.scoring import score_cells

    mask = incident_mask(data, filters, use_time=False, use_categories=False)
    # No filter at all (the usual city-wide map): no copy of the incidents.
    chosen = data.indexed(mask)
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


def score_tiers(scores: pd.DataFrame, area: np.ndarray, recent: np.ndarray) -> dict[int, str]:
    """Cell -> ``top1`` / ``top5``: the cells of ``area`` (the figure area,
    web.services.statistics.figure_area) whose forecast puts them in that share of it.

    A cell is tagged only with a positive score and at least one incident in the window
    ``recent`` (the cells with incidents there): a cell with none is never a "top 5 %" cell,
    and tied scores are never split: a cell is in the top share only when every area cell
    scoring at least as high fits in it (ties at zero, or at the cut, stay out).
    """
    if not len(area):
        return {}
    frame = scores[scores["cell"].isin(area)]
    values = frame["score"].to_numpy(dtype=np.float64)
    cells = frame["cell"].to_numpy(dtype=np.int64)
    ordered = np.sort(values)
    # How many area cells score at least as high as each cell (ties included).
    at_least = len(ordered) - np.searchsorted(ordered, values, side="left")
    eligible = (values > 0) & np.isin(cells, np.asarray(recent, dtype=np.int64))
    tiers: dict[int, str] = {}
    for share, name in reversed(TIERS):  # the narrower tier overwrites the wider
        cut = math.ceil(share * len(area))
        for cell in cells[eligible & (at_least <= cut)].tolist():
            tiers[int(cell)] = name
    return tiers


def city_tiers(data: SiteData, model: str = MAP_MODEL) -> dict[int, str]:
    """:func:`score_tiers` of the city-wide scores (no filter) over the figure area, the
    window being :func:`tier_window`: what grid workers' cards, the API and the search tag
    a cell with. Cached with the scores."""
    from web.services.statistics import figure_area

    key = (data.source, "tiers", data.scores_key, data.version, model)
    return _scores.get_or_load(key, lambda: _city_tiers(data, model, figure_area(data)))


def tier_window(data: SiteData) -> Filters:
    """The TIER_WINDOW_DAYS local days up to the newest incident's day."""
    end = local_date(data.last_s or 0, data.timezone)
    start = (np.datetime64(end) - np.timedelta64(TIER_WINDOW_DAYS - 1, "D")).astype(str)
    return parse_filters({"start": str(start), "end": end}, data)


def _city_tiers(data: SiteData, model: str, area: np.ndarray) -> dict[int, str]:
    recent = cell_counts(data, tier_window(data))["cell"].to_numpy(dtype=np.int64)
    return score_tiers(cell_scores(data, Filters(), model), area, recent)
