"""Blueprint ``grid`` (pages under ``/grid``): a grid worker's own cells, on a phone.

The page shows only the cells of the management grids assigned to the logged-in grid worker:
a small map, recent incidents per cell (counts by category, never any record of a person),
hotspot status, today's visits from published plans, what to check, and a check-in form.

The rules shared with the JSON API (web/api.py) live here too: which cells a user may see
(:func:`scope_cells`), a cell's status and recent counts, and how a check-in is checked and
stored (:func:`checkin_problems`, :func:`record_checkin`).
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from geo.cells import hex_from_cells
from web import clock, hotspot_data, storage
from web.auth import account_cells, audit, roles_required

__all__ = [
    "CHECKIN_FUTURE_S",
    "CHECKIN_PAST_S",
    "bp",
    "category_counts",
    "cell_status",
    "checkin_problems",
    "covering_plan_id",
    "incident_rows",
    "local_iso",
    "local_day_bounds",
    "parse_local_datetime",
    "recent_counts",
    "record_checkin",
    "reference_time",
    "scope_cells",
]

bp = Blueprint("grid", __name__, url_prefix="/grid")

RECENT_DAYS = (7, 28)
# Phone clocks drift and a form takes a while to fill in: a few minutes ahead is accepted.
CHECKIN_FUTURE_S = 10 * 60
# Older visits are reported to the planner by other means; a week covers a late entry.
CHECKIN_PAST_S = 7 * 86400
CHECKIN_MAX_MINUTES = 8 * 60  # one shift
NOTE_MAX_CHARS = 500
# A visit somewhat early or late still delivers the planned stop.
PLAN_GRACE_S = 30 * 60
# Rank tiers of the city-wide score: (share of study cells, tier name).
RANK_TIERS = ((0.01, "top1"), (0.05, "top5"))
GI_STAR_DAYS = 365  # Gi* window, as `hotspot hotspots`
HINT_DAYS = 90  # "what to check" looks at this many days of the cell's incidents
HINT_CATEGORIES = 3
HOT_HOURS_MIN_INCIDENTS = 5  # fewer incidents say nothing about the time of day

_lock = threading.Lock()
_cell_indexes: dict[str, _ByCell] = {}
_gi_bins: dict[str, tuple[tuple, tuple[np.ndarray, np.ndarray]]] = {}


# --- scope, time and per-cell numbers (shared with web/api.py) ---------------------------


def scope_cells(engine, user) -> np.ndarray | None:
    """Cells a user may see: a grid worker's assigned cells (int64, sorted), else None (all)."""
    if user.role == "grid_worker":
        return account_cells(engine, user.id)
    return None


def reference_time(data: hotspot_data.SiteData) -> int:
    """End of the recent-incident windows: just after the newest stored incident.

    Windows end with the data rather than the clock, so the counts never silently drop to
    zero between imports, and an old data set (Chicago 2016-2018) still shows its last weeks.
    """
    return (data.last_s or int(clock.now_s())) + 1


def local_iso(epoch_s: float | int | None, timezone: str) -> str | None:
    """ISO 8601 with the city's offset, e.g. ``2018-07-31T18:00:00-05:00``."""
    if epoch_s is None or epoch_s != epoch_s:
        return None
    return datetime.fromtimestamp(int(epoch_s), _zone(timezone)).isoformat()


@functools.lru_cache(maxsize=8)
def _zone(timezone: str) -> ZoneInfo:
    return ZoneInfo(timezone)


def local_day_bounds(timezone: str, now_s: int) -> tuple[int, int]:
    """UTC seconds of local midnight today and tomorrow (23 or 25 hours apart at DST)."""
    today = pd.Timestamp(now_s, unit="s", tz="UTC").tz_convert(timezone).normalize()
    naive = today.tz_localize(None)
    tomorrow = (naive + pd.Timedelta(days=1)).tz_localize(timezone, nonexistent="shift_forward")
    return int(today.timestamp()), int(tomorrow.timestamp())


def parse_local_datetime(value: object, timezone: str, not_after: int | None = None) -> int:
    """Epoch seconds from ISO 8601 text (local city time without an offset) or a number.

    Raises ValueError for anything else. A local time that happens twice when clocks go back
    is the second one if that is not after ``not_after`` (a visit reported at 01:20 during
    the repeated hour happened ten minutes ago, not seventy), else the first; one that never
    happens moves forward by the gap (as imports do).
    """
    if isinstance(value, bool):
        raise ValueError(f"expected an ISO 8601 time, got {value!r}")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"expected an ISO 8601 time, got {value!r}")
        return int(value)
    try:
        stamp = pd.Timestamp(str(value).strip())
    except (ValueError, TypeError) as err:
        raise ValueError(f"expected an ISO 8601 time, got {value!r}") from err
    if stamp is pd.NaT:
        raise ValueError(f"expected an ISO 8601 time, got {value!r}")
    if stamp.tzinfo is not None:
        return int(stamp.timestamp())
    first = stamp.tz_localize(timezone, ambiguous=True, nonexistent="shift_forward")
    if not_after is not None:
        second = stamp.tz_localize(timezone, ambiguous=False, nonexistent="shift_forward")
        if second != first and second.timestamp() <= not_after:
            return int(second.timestamp())
    return int(first.timestamp())


@dataclass(frozen=True)
class _ByCell:
    """The incidents sorted by cell: a few cells' incidents are contiguous slices."""

    version: tuple[int, int]
    order: np.ndarray  # positions in data.incidents, sorted by cell
    cells: np.ndarray  # the cell of each, sorted
    times: np.ndarray  # occurred_at in that order
    codes: np.ndarray  # category code (index into ``categories``) in that order
    categories: list[str]


def _by_cell(data: hotspot_data.SiteData) -> _ByCell:
    with _lock:
        cached = _cell_indexes.get(data.source)
        if cached is not None and cached.version == data.version:
            return cached
    incidents = data.incidents
    cells = incidents["cell"].to_numpy(dtype=np.int64)
    order = np.argsort(cells, kind="stable")
    category = incidents["category"].astype("category")
    index = _ByCell(
        version=data.version,
        order=order,
        cells=cells[order],
        times=incidents["occurred_at"].to_numpy(dtype=np.int64)[order],
        codes=category.cat.codes.to_numpy(dtype=np.int64)[order],
        categories=[str(c) for c in category.cat.categories],
    )
    with _lock:
        _cell_indexes[data.source] = index
    return index


def _sorted_positions(index: _ByCell, cells: np.ndarray) -> np.ndarray:
    """Positions in the sorted arrays of the incidents in ``cells`` (distinct, sorted)."""
    left = np.searchsorted(index.cells, cells, side="left")
    right = np.searchsorted(index.cells, cells, side="right")
    lengths = right - left
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    # Each cell's run of positions, concatenated without a Python loop.
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(left - offsets, lengths) + np.arange(total)


def incident_rows(data: hotspot_data.SiteData, cells: Sequence[int] | np.ndarray) -> np.ndarray:
    """Positions (in ``data.incidents``) of the incidents in ``cells``."""
    index = _by_cell(data)
    wanted = np.unique(np.asarray(cells, dtype=np.int64))
    return index.order[_sorted_positions(index, wanted)]


def _window(data, cells, start_s: int, end_s: int):
    """(distinct sorted cells, each incident's cell number, time, category code) in
    [start_s, end_s) of ``cells``."""
    index = _by_cell(data)
    wanted = np.unique(np.asarray(cells, dtype=np.int64))
    positions = _sorted_positions(index, wanted)
    times = index.times[positions]
    inside = (times >= start_s) & (times < end_s)
    positions = positions[inside]
    cell_number = np.searchsorted(wanted, index.cells[positions])
    return wanted, cell_number, times[inside], index.codes[positions], index


def recent_counts(data, cells, end_s: int, days: Sequence[int] = RECENT_DAYS) -> pd.DataFrame:
    """Incidents per cell in the ``days`` before ``end_s``: index ``cell``, columns ``n_7d``..."""
    cells = np.asarray(cells, dtype=np.int64)
    wanted, number, times, _codes, _index = _window(data, cells, end_s - max(days) * 86400, end_s)
    columns = {}
    for n_days in days:
        counts = np.bincount(number[times >= end_s - n_days * 86400], minlength=len(wanted))
        columns[f"n_{n_days}d"] = counts[np.searchsorted(wanted, cells)].astype(np.int64)
    return pd.DataFrame(columns, index=pd.Index(cells, name="cell"))


def category_counts(data, cells, end_s: int, days: Sequence[int] = RECENT_DAYS) -> pd.DataFrame:
    """Incidents per cell and category in the ``days`` before ``end_s``.

    Columns ``cell``, ``category``, ``n_7d``... (one per window); rows with no incident in
    the longest window are left out.
    """
    wanted, number, times, codes, index = _window(data, cells, end_s - max(days) * 86400, end_s)
    n_categories = max(len(index.categories), 1)
    keys = number * n_categories + codes
    size = len(wanted) * n_categories
    longest = np.bincount(keys, minlength=size)
    present = np.flatnonzero(longest)
    columns: dict[str, object] = {
        "cell": wanted[present // n_categories],
        "category": [index.categories[k] for k in (present % n_categories).tolist()],
    }
    for n_days in days:
        counts = np.bincount(keys[times >= end_s - n_days * 86400], minlength=size)
        columns[f"n_{n_days}d"] = counts[present].astype(np.int64)
    return pd.DataFrame(columns)


def _gi_star_bins(data: hotspot_data.SiteData) -> tuple[np.ndarray, np.ndarray]:
    """Gi* class (-3..3, FDR) of every study cell over the last year of data, as sorted
    cells and their classes; cached."""
    from geo.hotspots import hotspot_table

    key = (data.version,)
    with _lock:
        cached = _gi_bins.get(data.source)
        if cached is not None and cached[0] == key:
            return cached[1]
    end_s = reference_time(data)
    incidents = data.incidents
    weights = data.scoring.category_weights
    # Police-initiated categories (weight 0) count where police already stop, as in scoring.
    kept = np.array(incidents["category"].map(lambda c: weights.get(c, 1.0) > 0), dtype=bool)
    times = incidents["occurred_at"].to_numpy()
    kept &= (times >= end_s - GI_STAR_DAYS * 86400) & (times < end_s)
    counts = pd.Series(incidents["cell"].to_numpy()[kept]).value_counts()
    values = counts.reindex(data.cells, fill_value=0).to_numpy(dtype=np.float64)
    if values.sum() > 0:
        table = hotspot_table(data.cells, values, k=1)
        order = np.argsort(table["cell"].to_numpy(dtype=np.int64))
        bins = (
            table["cell"].to_numpy(dtype=np.int64)[order],
            table["gi_bin"].to_numpy(dtype=np.int8)[order],
        )
    else:
        bins = (np.sort(data.cells), np.zeros(len(data.cells), dtype=np.int8))
    with _lock:
        _gi_bins[data.source] = (key, bins)
    return bins


def rank_tier(rank: int | None, score: float | None, n_cells: int) -> str | None:
    """``top1`` / ``top5`` when the city-wide rank is in that share of study cells."""
    if rank is None or score is None or not score > 0:
        return None
    for share, name in RANK_TIERS:
        if rank <= math.ceil(share * n_cells):
            return name
    return None


def cell_status(
    data: hotspot_data.SiteData, cells, model: str = hotspot_data.MAP_MODEL
) -> dict[int, dict]:
    """Cell -> ``score``, city-wide ``rank``, ``tier`` and Gi* class ``gi_bin``.

    Cells outside the study area have None for each.
    """
    cells = np.asarray(cells, dtype=np.int64)
    scores = hotspot_data.cell_scores(data, hotspot_data.Filters(), model=model)
    scored_cells = scores["cell"].to_numpy(dtype=np.int64)
    order = np.argsort(scored_cells)
    at = order[np.clip(np.searchsorted(scored_cells, cells, sorter=order), 0, len(order) - 1)]
    found = scored_cells[at] == cells if len(order) else np.zeros(len(cells), dtype=bool)
    score = scores["score"].to_numpy(dtype=np.float64)[at]
    rank = scores["rank"].to_numpy(dtype=np.int64)[at]
    bin_cells, bins = _gi_star_bins(data)
    at_bin = np.clip(np.searchsorted(bin_cells, cells), 0, max(len(bin_cells) - 1, 0))
    has_bin = bin_cells[at_bin] == cells if len(bin_cells) else np.zeros(len(cells), dtype=bool)
    n_cells = len(data.cells)
    out = {}
    for i, cell in enumerate(cells.tolist()):
        cell_rank = int(rank[i]) if found[i] else None
        cell_score = float(score[i]) if found[i] else None
        out[cell] = {
            "score": cell_score,
            "rank": cell_rank,
            "tier": rank_tier(cell_rank, cell_score, n_cells),
            "gi_bin": int(bins[at_bin[i]]) if has_bin[i] else None,
        }
    return out


# --- check-ins (shared with web/api.py) -----------------------------------------------------


def checkin_problems(visited_at_s: int, minutes: float, note: str, now_s: int) -> list[str]:
    """What is wrong with a check-in's time, minutes and note (empty when it may be stored)."""
    problems = []
    if visited_at_s > now_s + CHECKIN_FUTURE_S:
        problems.append(
            _(
                "The visit time is in the future (more than %(n)d minutes ahead).",
                n=CHECKIN_FUTURE_S // 60,
            )
        )
    if visited_at_s < now_s - CHECKIN_PAST_S:
        problems.append(_("The visit time is more than %(n)d days ago.", n=CHECKIN_PAST_S // 86400))
    if not (minutes == minutes and 0 < minutes <= CHECKIN_MAX_MINUTES):
        problems.append(_("Minutes must be more than 0 and at most %(n)d.", n=CHECKIN_MAX_MINUTES))
    if len(note) > NOTE_MAX_CHARS:
        problems.append(_("The note is longer than %(n)d characters.", n=NOTE_MAX_CHARS))
    return problems


def covering_plan_id(engine, cell: int, visited_at_s: int) -> int | None:
    """The published plan with a visit to ``cell`` whose window (give or take
    PLAN_GRACE_S) holds ``visited_at_s``; the visit starting nearest wins. None if none."""
    visits = storage.plan_visits_frame(
        engine,
        cells=np.array([cell], dtype=np.int64),
        start=visited_at_s - 86400,  # no planned visit is longer than a day
        end=visited_at_s + PLAN_GRACE_S + 1,
        published_only=True,
    )
    if visits.empty:
        return None
    inside = visits[
        (visits["start_at"] - PLAN_GRACE_S <= visited_at_s)
        & (visited_at_s <= visits["end_at"] + PLAN_GRACE_S)
    ]
    if inside.empty:
        return None
    nearest = (inside["start_at"] - visited_at_s).abs().to_numpy().argmin()
    return int(inside["plan_id"].iloc[int(nearest)])


def record_checkin(
    engine, user, cell: int, visited_at_s: int, minutes: float, note: str, timezone: str
) -> dict:
    """Store a checked check-in (linked to the covering published plan), audit it, and
    return it as the API shows it."""
    plan_id = covering_plan_id(engine, cell, visited_at_s)
    checkin_id = storage.add_checkin(
        engine, user.id, cell, visited_at_s, minutes, note=note, plan_id=plan_id
    )
    hex_id = hex_from_cells(np.array([cell], dtype=np.int64))[0]
    when = local_iso(visited_at_s, timezone)
    audit(
        "checkin",
        f"cell {hex_id} at {when}, {minutes:g} min"
        + (f", plan {plan_id}" if plan_id is not None else ""),
    )
    return {
        "id": checkin_id,
        "cell": hex_id,
        "visited_at": when,
        "visited_at_s": int(visited_at_s),
        "minutes": float(minutes),
        "note": note,
        "plan_id": plan_id,
        "mine": True,
    }


# --- the page ---------------------------------------------------------------------------


@bp.before_request
@roles_required("grid_worker")
def _grid_workers_only() -> None:
    """Every page of this blueprint is for grid workers (guarded once, here)."""


def _engine():
    return current_app.extensions["engine"]


def _category_names(data) -> dict[str, str]:
    column = "name_zh" if str(get_locale() or "").startswith("zh") else "name_en"
    table = data.categories
    return dict(zip(table["code"], table[column], strict=True))


def _cell_grids(engine, data, grid_ids: Sequence[str]) -> dict[int, tuple[str, int]]:
    """Cell -> (grid id, 1-based number within the grid) for readable labels."""
    labels: dict[int, tuple[str, int]] = {}
    for grid_id in grid_ids:
        try:
            cells = hotspot_data.area_cells(engine, data, f"grid:{grid_id}")
        except hotspot_data.FilterError:  # a grid with no cells
            continue
        for number, cell in enumerate(cells, start=1):
            labels.setdefault(int(cell), (grid_id, number))
    return labels


def _hot_hours(data, rows: np.ndarray) -> tuple[int, int] | None:
    """The busiest 3-hour window (local) of these incidents, when there are enough."""
    if len(rows) < HOT_HOURS_MIN_INCIDENTS:
        return None
    by_hour = np.bincount(data.hour[rows].astype(np.int64), minlength=24)
    windows = by_hour + np.roll(by_hour, -1) + np.roll(by_hour, -2)
    start = int(windows.argmax())
    return start, (start + 3) % 24


def _cell_cards(engine, data, cells: np.ndarray, grid_ids: Sequence[str]) -> list[dict]:
    """One dict per cell for the page: label, status, counts, categories and hints."""
    end_s = reference_time(data)
    status = cell_status(data, cells)
    counts = recent_counts(data, cells, end_s)
    by_category = category_counts(data, cells, end_s, days=(*RECENT_DAYS, HINT_DAYS))
    names = _category_names(data)
    labels = _cell_grids(engine, data, grid_ids)
    hex_ids = hex_from_cells(cells)
    hint_rows = incident_rows(data, cells)
    hint_times = data.incidents["occurred_at"].to_numpy()[hint_rows]
    hint_rows = hint_rows[hint_times >= end_s - HINT_DAYS * 86400]
    hint_cells = data.incidents["cell"].to_numpy()[hint_rows]
    cards = []
    for cell, hex_id in zip(cells.tolist(), hex_ids, strict=True):
        grid_id, number = labels.get(cell, ("", 0))
        mine = by_category[by_category["cell"] == cell]
        recent = mine[mine[f"n_{RECENT_DAYS[-1]}d"] > 0].sort_values(
            [f"n_{RECENT_DAYS[-1]}d", f"n_{RECENT_DAYS[0]}d", "category"],
            ascending=[False, False, True],
        )
        top = mine.sort_values([f"n_{HINT_DAYS}d", "category"], ascending=[False, True])
        top = top[top[f"n_{HINT_DAYS}d"] > 0].head(HINT_CATEGORIES)
        row = status[cell]
        cards.append(
            {
                "cell": cell,
                "hex": hex_id,
                "grid": grid_id,
                "number": number,
                "label": f"{grid_id}-{number}" if grid_id else hex_id[-6:],
                "score": row["score"],
                "rank": row["rank"],
                "tier": row["tier"],
                "gi_bin": row["gi_bin"],
                "counts": {d: int(counts.loc[cell, f"n_{d}d"]) for d in RECENT_DAYS},
                "categories": [
                    {
                        "name": names.get(r.category, r.category),
                        "counts": {d: int(getattr(r, f"n_{d}d")) for d in RECENT_DAYS},
                    }
                    for r in recent.itertuples()
                ],
                "hints": [
                    (names.get(r.category, r.category), int(getattr(r, f"n_{HINT_DAYS}d")))
                    for r in top.itertuples()
                ],
                "hot_hours": _hot_hours(data, hint_rows[hint_cells == cell]),
            }
        )
    # Hottest first: tier, then Gi* class, then rank.
    tier_order = {"top1": 0, "top5": 1, None: 2}
    cards.sort(
        key=lambda c: (
            tier_order[c["tier"]],
            -(c["gi_bin"] or 0),
            c["rank"] if c["rank"] is not None else 10**9,
        )
    )
    return cards


_STATUS_COLOURS = {"top1": "#bd0026", "top5": "#f03b20", "hot": "#feb24c", None: "#9ecae1"}


def _grid_map(engine, cards: list[dict], grid_ids: Sequence[str]) -> dict[str, str]:
    """Folium map of the worker's cells coloured by status, with the grid outlines."""
    import folium
    import h3

    from web.assets import tile_layer_kwargs
    from web.maps import map_parts

    features = []
    lats, lngs = [], []
    for card in cards:
        ring = [[round(lng, 6), round(lat, 6)] for lat, lng in h3.cell_to_boundary(card["hex"])]
        ring.append(ring[0])
        lats += [p[1] for p in ring]
        lngs += [p[0] for p in ring]
        key = card["tier"] or ("hot" if (card["gi_bin"] or 0) > 0 else None)
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {
                    "label": card["label"],
                    "status": _status_text(card),
                    "n28": card["counts"][RECENT_DAYS[-1]],
                    "colour": _STATUS_COLOURS[key],
                },
            }
        )
    fmap = folium.Map(
        location=[float(np.mean(lats)), float(np.mean(lngs))],
        zoom_start=15,
        prefer_canvas=True,
        control_scale=True,
        **tile_layer_kwargs(
            str(current_app.config["TILE_URL"]) or None,
            attribution=str(current_app.config["TILE_ATTRIBUTION"]) or None,
        ),
    )
    grids = storage.load_areas_table(engine, "grid")
    grids = grids[grids["area_id"].isin(list(grid_ids))]
    if len(grids):
        folium.GeoJson(
            grids[["area_id", "geometry"]].to_json(),
            name=_("My grids"),
            style_function=lambda _f: {"color": "#1a3d7c", "weight": 3, "fill": False},
        ).add_to(fmap)
    folium.GeoJson(
        {"type": "FeatureCollection", "features": features},
        name=_("My cells"),
        style_function=lambda f: {
            "fillColor": f["properties"]["colour"],
            "color": "#ffffff",
            "weight": 1,
            "fillOpacity": 0.65,
        },
        tooltip=folium.GeoJsonTooltip(
            fields=["label", "status", "n28"],
            aliases=[_("Cell"), _("Status"), _("Incidents, 28 days")],
        ),
    ).add_to(fmap)
    fmap.fit_bounds([[min(lats), min(lngs)], [max(lats), max(lngs)]])
    return map_parts(fmap)


def _status_text(card: dict) -> str:
    parts = []
    if card["tier"] == "top1":
        parts.append(_("top %(n)d %% of the city", n=1))
    elif card["tier"] == "top5":
        parts.append(_("top %(n)d %% of the city", n=5))
    confidence = {1: 90, 2: 95, 3: 99}.get(card["gi_bin"] or 0)
    if confidence:
        parts.append(_("Gi* hot spot (%(p)d %% confidence)", p=confidence))
    return "; ".join(parts) or _("not a hotspot")


def _today_visits(engine, data, cells: np.ndarray, cards: list[dict], now_s: int) -> list[dict]:
    start_s, end_s = local_day_bounds(data.timezone, now_s)
    visits = storage.plan_visits_frame(
        engine, cells=cells, start=start_s, end=end_s, published_only=True
    )
    if visits.empty:
        return []
    labels = {c["cell"]: c["label"] for c in cards}
    done = storage.checkins_frame(engine, cells=cells, start=start_s - PLAN_GRACE_S, end=end_s)
    out = []
    for v in visits.sort_values(["start_at", "unit_id"]).itertuples():
        delivered = done[
            (done["cell"] == v.cell)
            & (done["visited_at"] >= v.start_at - PLAN_GRACE_S)
            & (done["visited_at"] <= v.end_at + PLAN_GRACE_S)
        ]
        out.append(
            {
                "start_at": int(v.start_at),
                "end_at": int(v.end_at),
                "unit_id": v.unit_id,
                "plan_id": int(v.plan_id),
                "label": labels.get(int(v.cell), ""),
                "hex": hex_from_cells(np.array([v.cell], dtype=np.int64))[0],
                "checked_in": not delivered.empty,
            }
        )
    return out


def _render_home(errors: Sequence[str] = (), form: dict | None = None, status: int = 200):
    engine = _engine()
    data = hotspot_data.site_data(engine)
    cells = storage.user_cells(engine, current_user.id)
    grid_ids = storage.user_grid_ids(engine, current_user.id)
    now_s = int(clock.now_s())
    if not len(cells):
        return render_template("grid/home.html", no_grids=True, grid_ids=grid_ids), status
    cards = _cell_cards(engine, data, cells, grid_ids)
    labels = {c["cell"]: c["label"] for c in cards}
    mine = storage.checkins_frame(
        engine, cells=cells, user_id=current_user.id, start=now_s - 14 * 86400
    ).head(20)
    checkins = [
        {
            "visited_at": int(r.visited_at),
            "label": labels.get(int(r.cell), ""),
            "minutes": float(r.minutes),
            "note": r.note,
            "planned": r.plan_id == r.plan_id and r.plan_id is not None,
        }
        for r in mine.itertuples()
    ]
    now_local = pd.Timestamp(now_s, unit="s", tz="UTC").tz_convert(data.timezone)
    defaults = {
        "cell": cards[0]["hex"],
        "visited_at": now_local.strftime("%Y-%m-%dT%H:%M"),
        "minutes": f"{float(current_app.config['CHECKIN_MINUTES']):g}",
        "note": "",
    }
    defaults.update(form or {})
    return (
        render_template(
            "grid/home.html",
            no_grids=False,
            grid_ids=grid_ids,
            cards=cards,
            map_parts=_grid_map(engine, cards, grid_ids),
            visits=_today_visits(engine, data, cells, cards, now_s),
            checkins=checkins,
            form=defaults,
            errors=list(errors),
            as_of_s=reference_time(data) - 1,
            recent_days=RECENT_DAYS,
            hint_days=HINT_DAYS,
            synthetic=storage.incident_summary(engine)["synthetic"],
            status_text=_status_text,
            max_minutes=CHECKIN_MAX_MINUTES,
            note_max=NOTE_MAX_CHARS,
        ),
        status,
    )


@bp.get("/")
def home():
    """The grid worker's page: their cells, status, today's visits and the check-in form."""
    return _render_home()


@bp.post("/checkin")
def checkin():
    """Record a visit to one of the worker's cells (403 for any other cell)."""
    engine = _engine()
    data = hotspot_data.site_data(engine)
    cells = storage.user_cells(engine, current_user.id)
    form = {k: request.form.get(k, "").strip() for k in ("cell", "visited_at", "minutes", "note")}
    try:
        cell = int(hotspot_data.cells_of([form["cell"]])[0])
    except hotspot_data.FilterError:
        cell = None
    if cell is None or not np.isin(cell, cells):
        abort(403, description=_("That cell is not in your grids; nothing was stored."))
    errors = []
    now_s = int(clock.now_s())
    try:
        visited_at_s = parse_local_datetime(
            form["visited_at"], data.timezone, not_after=now_s + CHECKIN_FUTURE_S
        )
    except ValueError:
        errors.append(_("Enter the visit time as date and time."))
        visited_at_s = now_s
    try:
        minutes = float(form["minutes"])
    except ValueError:
        minutes = float("nan")
    errors += checkin_problems(visited_at_s, minutes, form["note"], now_s)
    if errors:
        return _render_home(errors=errors, form=form, status=400)
    record_checkin(engine, current_user, cell, visited_at_s, minutes, form["note"], data.timezone)
    flash(_("Check-in recorded."), "success")
    return redirect(url_for("grid.home"))
