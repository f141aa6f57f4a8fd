"""Grid workers' cells and check-ins: the rules the grid worker's page and the JSON API share.

Which cells a user may see (:func:`scope_cells`), a cell's status and recent counts, the
city's local times, and how a check-in is checked and stored (:func:`checkin_problems`,
:func:`record_checkin`).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from flask_babel import gettext as _

from geo.cells import hex_from_cells
from web import clock, storage
from web.services import site_data
from web.services.accounts import account_cells
from web.services.caches import Cache
from web.services.filters import Filters
from web.services.scores import MAP_MODEL, cell_scores

__all__ = [
    "CHECKIN_FUTURE_S",
    "CHECKIN_PAST_S",
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

RECENT_DAYS = (7, 28)
# Phone clocks drift and a form takes a while to fill in: a few minutes ahead is accepted.
CHECKIN_FUTURE_S = 10 * 60
# Older visits are reported to the planner by other means; a week covers a late entry.
CHECKIN_PAST_S = 7 * 86400
CHECKIN_MAX_MINUTES = 8 * 60  # one shift
NOTE_MAX_CHARS = 500
# Control characters other than line breaks and tabs have no place in a note.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A visit somewhat early or late still delivers the planned stop.
PLAN_GRACE_S = 30 * 60
# Rank tiers of the city-wide score: (share of study cells, tier name).
RANK_TIERS = ((0.01, "top1"), (0.05, "top5"))
GI_STAR_DAYS = 365  # Gi* window, as `hotspot hotspots`
HINT_DAYS = 90  # "what to check" looks at this many days of the cell's incidents
HINT_CATEGORIES = 3
HOT_HOURS_MIN_INCIDENTS = 5  # fewer incidents say nothing about the time of day

# Per (database, data version): the Gi* class of each study cell.
_gi_bins = Cache("Gi* classes", max_entries=8, max_bytes=16 * 2**20, derived=True)


# --- scope, time and per-cell numbers -------------------------------------------------------


def scope_cells(engine, user) -> np.ndarray | None:
    """Cells a user may see: a grid worker's assigned cells (int64, sorted), else None (all)."""
    if user.role == "grid_worker":
        return account_cells(engine, user.id)
    return None


def reference_time(data: site_data.SiteData) -> int:
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


def _sorted_positions(data: site_data.SiteData, cells: np.ndarray) -> np.ndarray:
    """Rows of the incidents in ``cells`` (distinct, sorted): the site data is sorted by
    cell, so each cell's incidents are one slice of rows."""
    at = np.searchsorted(data.cell_ids, cells)
    found = at < len(data.cell_ids)
    found[found] = data.cell_ids[at[found]] == cells[found]
    left = data.cell_starts[at[found]]
    lengths = data.cell_starts[at[found] + 1] - left
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    # Each cell's run of positions, concatenated without a Python loop.
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(left - offsets, lengths) + np.arange(total)


def incident_rows(data: site_data.SiteData, cells: Sequence[int] | np.ndarray) -> np.ndarray:
    """Positions (rows of the site data's columns) of the incidents in ``cells``, sorted."""
    return _sorted_positions(data, np.unique(np.asarray(cells, dtype=np.int64)))


def _window(data: site_data.SiteData, cells, start_s: int, end_s: int):
    """(distinct sorted cells, each incident's cell number, time, category row) in
    [start_s, end_s) of ``cells``."""
    wanted = np.unique(np.asarray(cells, dtype=np.int64))
    positions = _sorted_positions(data, wanted)
    times = data.occurred_at[positions]
    inside = (times >= start_s) & (times < end_s)
    positions = positions[inside]
    cell_number = np.searchsorted(wanted, data.incident_cells[positions])
    codes = data.category_index[positions].astype(np.int64)
    return wanted, cell_number, times[inside], codes


def recent_counts(data, cells, end_s: int, days: Sequence[int] = RECENT_DAYS) -> pd.DataFrame:
    """Incidents per cell in the ``days`` before ``end_s``: index ``cell``, columns ``n_7d``..."""
    cells = np.asarray(cells, dtype=np.int64)
    wanted, number, times, _codes = _window(data, cells, end_s - max(days) * 86400, end_s)
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
    wanted, number, times, codes = _window(data, cells, end_s - max(days) * 86400, end_s)
    categories = data.category_codes
    n_categories = max(len(categories), 1)
    keys = number * n_categories + codes
    size = len(wanted) * n_categories
    longest = np.bincount(keys, minlength=size)
    present = np.flatnonzero(longest)
    columns: dict[str, object] = {
        "cell": wanted[present // n_categories],
        "category": [categories[k] for k in (present % n_categories).tolist()],
    }
    for n_days in days:
        counts = np.bincount(keys[times >= end_s - n_days * 86400], minlength=size)
        columns[f"n_{n_days}d"] = counts[present].astype(np.int64)
    return pd.DataFrame(columns)


def _gi_star_bins(data: site_data.SiteData) -> tuple[np.ndarray, np.ndarray]:
    """Gi* class (-3..3, FDR) of every study cell over the last year of data, as sorted
    cells and their classes; cached."""
    return _gi_bins.get_or_load((data.source, data.version), lambda: _gi_star_classes(data))


def _gi_star_classes(data: site_data.SiteData) -> tuple[np.ndarray, np.ndarray]:
    from geo.hotspots import hotspot_table

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
    return bins


def rank_tier(rank: int | None, score: float | None, n_cells: int) -> str | None:
    """``top1`` / ``top5`` when the city-wide rank is in that share of study cells."""
    if rank is None or score is None or not score > 0:
        return None
    for share, name in RANK_TIERS:
        if rank <= math.ceil(share * n_cells):
            return name
    return None


def cell_status(data: site_data.SiteData, cells, model: str = MAP_MODEL) -> dict[int, dict]:
    """Cell -> ``score``, city-wide ``rank``, ``tier`` and Gi* class ``gi_bin``.

    Cells outside the study area have None for each.
    """
    cells = np.asarray(cells, dtype=np.int64)
    scores = cell_scores(data, Filters(), model=model)
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


# --- check-ins (shared with web/views/api.py) -----------------------------------------------------


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
    if CONTROL_CHARACTERS.search(note):
        problems.append(_("The note holds control characters; type it as plain text."))
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
    engine,
    user,
    cell: int,
    visited_at_s: int,
    minutes: float,
    note: str,
    timezone: str,
    ip: str = "",
) -> tuple[dict, bool]:
    """Store a checked check-in (linked to the covering published plan), audit it (from
    address ``ip``), and return it as the API shows it, and whether it is new (False when
    the same visit was stored already: same account, cell and minute; sending twice stores
    it once)."""
    plan_id = covering_plan_id(engine, cell, visited_at_s)
    checkin_id, new = storage.add_checkin(
        engine, user.id, cell, visited_at_s, minutes, note=note, plan_id=plan_id
    )
    hex_id = hex_from_cells(np.array([cell], dtype=np.int64))[0]
    when = local_iso(visited_at_s, timezone)
    if new:
        storage.audit(
            engine,
            "checkin",
            user_id=user.id,
            username=user.username,
            detail=f"cell {hex_id} at {when}, {minutes:g} min"
            + (f", plan {plan_id}" if plan_id is not None else ""),
            ip=ip,
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
    }, new
