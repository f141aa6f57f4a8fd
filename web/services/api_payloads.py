"""The JSON bodies of the API (web/views/api.py) built from plain values: cell rows, incident
aggregates (per hour, weekday, category, cell, day, week or month), plans, visits and
check-ins.

The blueprint parses the request, checks access and scope, and hands the parsed values here;
nothing in this module reads the request or the logged-in user. Times are ISO 8601 with the
city's offset plus epoch seconds (``*_s``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from geo.cells import hex_from_cells
from web.services import grid_work, site_data
from web.services.caches import Cache
from web.services.filters import (
    FilterError,
    Filters,
    category_mask,
    cell_counts,
    selected_positions,
)

__all__ = [
    "MAX_CALENDAR_GROUPS",
    "WEEKDAY_NAMES",
    "aggregate",
    "category_names",
    "cached_aggregate",
    "cell_rows",
    "checkin_json",
    "city_counts",
    "filters_json",
    "plan_json",
    "plan_list_item",
    "plan_status",
    "window_counts",
]

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# Most rows one calendar aggregate answers with (ten years of days): what a chart can show.
MAX_CALENDAR_GROUPS = 3660

# Per data version: incident counts per cell for a filter (city-wide, scoped per request
# afterwards) and aggregate results (per filter and scope).
_counts = Cache("API counts", max_entries=512, max_bytes=64 * 2**20, derived=True)


def filters_json(filters: Filters, timezone: str) -> dict:
    return {
        "start": grid_work.local_iso(filters.start_s, timezone),
        "end": grid_work.local_iso(filters.end_s, timezone),
        "categories": list(filters.categories) if filters.categories is not None else None,
        "hours": list(filters.hours) if filters.hours is not None else None,
        "weekdays": list(filters.weekdays) if filters.weekdays is not None else None,
        "area": filters.area,
    }


def city_counts(data: site_data.SiteData, filters: Filters) -> pd.Series:
    """Incidents per cell passing ``filters`` (city-wide or the area), cached per version."""

    def load() -> pd.Series:
        frame = cell_counts(data, filters)
        return pd.Series(frame["n"].to_numpy(), index=frame["cell"].to_numpy())

    return _counts.get_or_load((data.source, data.version, "cells", filters.key()), load)


def category_names(data: site_data.SiteData) -> tuple[dict[str, str], dict[str, str]]:
    """(English, Chinese) names of the data's category codes, kept with the data."""
    if "api_category_names" not in data._memo:
        table = data.categories
        codes = table["code"].astype(str)
        data._memo["api_category_names"] = (
            dict(zip(codes, table["name_en"].astype(str), strict=True)),
            dict(zip(codes, table["name_zh"].astype(str), strict=True)),
        )
    return data._memo["api_category_names"]


# --- cells ------------------------------------------------------------------------------------


def cell_rows(top: pd.DataFrame, counts: pd.Series, tiers: Mapping[int, str]) -> list[dict]:
    """The rows of ``/api/cells``: ``top`` (cell, score, rank) with each cell's count and
    ``tier`` (web.services.scores.score_tiers: never a cell without incidents)."""
    return [
        {
            "cell": hex_id,
            "score": round(float(score), 6),
            "rank": int(rank),
            "tier": tiers.get(int(cell)),
            "count": int(count),
        }
        for cell, hex_id, score, rank, count in zip(
            top["cell"].to_numpy(),
            hex_from_cells(top["cell"].to_numpy()),
            top["score"].to_numpy(),
            top["rank"].to_numpy(),
            counts.to_numpy(),
            strict=True,
        )
    ]


def window_counts(table: pd.DataFrame) -> dict[str, dict[str, int]]:
    """``category -> window -> count`` of an explanation's counts (``7d``... then ``all``),
    row by row: the categories, then ALL_CATEGORIES once."""
    windows = [str(w) for w in table.columns]
    return {
        str(code): {w: int(n) for w, n in zip(windows, values, strict=True)}
        for code, values in zip(table.index, table.to_numpy().tolist(), strict=True)
    }


# --- incident aggregates --------------------------------------------------------------------


def cached_aggregate(
    data: site_data.SiteData, filters: Filters, by: str, scoped: bool
) -> tuple[int, list[dict]]:
    """:func:`aggregate`, kept per data version, filters and scope (``filters.cells`` when
    ``scoped``)."""
    key = (
        data.source,
        data.version,
        "aggregate",
        by,
        filters.key(),
        filters.cells if scoped else None,
    )
    return _counts.get_or_load(key, lambda: aggregate(data, filters, by, scoped=scoped))


def _selected_positions(data: site_data.SiteData, filters: Filters) -> np.ndarray:
    """Positions in ``data.incidents`` of the incidents passing ``filters``.

    With cells (a grid worker's, an area's) only those cells' incidents are looked at, through
    the by-cell index, instead of masking every incident of the city.
    """
    if filters.cells is None:
        return selected_positions(data, filters)
    rows = grid_work.incident_rows(data, filters.cells)
    incidents = data.incidents
    keep = np.ones(len(rows), dtype=bool)
    times = incidents["occurred_at"].to_numpy()[rows]
    if filters.start_s is not None:
        keep &= times >= filters.start_s
    if filters.end_s is not None:
        keep &= times < filters.end_s
    if filters.categories is not None:
        keep &= category_mask(data, filters.categories, rows)
    if filters.hours is not None:
        keep &= np.isin(data.hour[rows], filters.hours)
    if filters.weekdays is not None:
        keep &= np.isin(data.weekday[rows], filters.weekdays)
    return np.sort(rows[keep])


def aggregate(data, filters, by: str, scoped: bool) -> tuple[int, list[dict]]:
    """(total, groups) of the incidents passing ``filters``, grouped ``by``."""
    tz = data.timezone
    if filters.cells is not None and not len(filters.cells):
        positions = np.empty(0, dtype=np.int64)
    else:
        positions = _selected_positions(data, filters)
    groups: list[dict] = []
    if by in ("hour", "weekday"):
        values = (data.hour if by == "hour" else data.weekday)[positions].astype(np.int64)
        size = 24 if by == "hour" else 7
        for key, n in enumerate(np.bincount(values, minlength=size).tolist()):
            item: dict = {"key": key, "count": int(n)}
            if by == "weekday":
                item["name"] = WEEKDAY_NAMES[key]
            groups.append(item)
    elif by == "category":
        category = data.incidents["category"].astype("category")
        codes = category.cat.codes.to_numpy()[positions]
        counts = np.bincount(codes, minlength=len(category.cat.categories))
        names_en, names_zh = category_names(data)
        pairs = [
            (str(c), int(n)) for c, n in zip(category.cat.categories, counts, strict=True) if n
        ]
        for code, n in sorted(pairs, key=lambda kv: (-kv[1], kv[0])):
            groups.append({"key": code, "count": n, "name_en": names_en.get(code, code),
                           "name_zh": names_zh.get(code, code)})  # fmt: skip
    elif by == "cell":
        if not scoped:  # the city-wide counts are cached per filter
            per_cell = city_counts(data, filters)
        else:
            per_cell = pd.Series(data.incidents["cell"].to_numpy()[positions]).value_counts()
        per_cell = per_cell[per_cell > 0].sort_values(ascending=False, kind="stable")
        for hex_id, n in zip(
            hex_from_cells(per_cell.index.to_numpy()), per_cell.to_numpy(), strict=True
        ):
            groups.append({"key": hex_id, "count": int(n)})
    else:
        groups = _calendar_groups(data, filters, positions, by, tz)
    return int(len(positions)), groups


def _calendar_groups(data, filters, positions: np.ndarray, by: str, tz: str) -> list[dict]:
    """Counts per local day, week (from Monday) or month, zeros filled over the range."""
    days = data.day[positions]  # local calendar day: days since 1970-01-01 in the city's time
    if filters.start_s is not None and filters.end_s is not None:
        local = pd.to_datetime([filters.start_s, filters.end_s - 1], unit="s", utc=True)
        span = local.tz_convert(tz).tz_localize(None).to_numpy().astype("datetime64[D]")
        low, high = int(span[0].astype(np.int64)), int(span[1].astype(np.int64))
    elif len(days):
        low, high = int(days.min()), int(days.max())
    else:
        return []
    groups = {"day": high - low + 1, "week": (high - low) // 7 + 2, "month": (high - low) // 28 + 2}
    if groups.get(by, 0) > MAX_CALENDAR_GROUPS:
        raise FilterError(
            f"by: {by} over {high - low + 1} days gives more than {MAX_CALENDAR_GROUPS} groups; "
            "choose a shorter range or a longer period (week, month)"
        )
    days = days[(days >= low) & (days <= high)]
    if by == "day":
        first, step = low, 1
        numbers = days - first
        starts = np.arange(low, high + 1).astype("datetime64[D]")
    elif by == "week":
        # 1970-01-01 was a Thursday: day - (day + 3) % 7 is the Monday starting its week.
        first, step = low - (low + 3) % 7, 7
        numbers = (days - first) // step
        starts = np.arange(first, high + 1, step).astype("datetime64[D]")
    else:
        months = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
        month_low = int(np.datetime64(low, "D").astype("datetime64[M]").astype(np.int64))
        month_high = int(np.datetime64(high, "D").astype("datetime64[M]").astype(np.int64))
        numbers = months - month_low
        starts = np.arange(month_low, month_high + 1).astype("datetime64[M]")
    counts = np.bincount(numbers, minlength=len(starts))
    labels = [str(s) for s in starts]
    local_starts = pd.DatetimeIndex(starts.astype("datetime64[D]")).tz_localize(
        tz, ambiguous=np.ones(len(starts), dtype=bool), nonexistent="shift_forward"
    )
    epoch = local_starts.as_unit("s").asi8
    return [
        {"key": label, "start": stamp.isoformat(), "start_s": int(start_s), "count": int(n)}
        for label, stamp, start_s, n in zip(
            labels, local_starts, epoch.tolist(), counts.tolist(), strict=True
        )
    ]


# --- plans ----------------------------------------------------------------------------------


def _json_or_text(value: Any) -> Any:
    if isinstance(value, dict | list):
        return value
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def plan_list_item(row: Any, tz: str, visits_in_scope: pd.Series | None) -> dict:
    """One plan of ``/api/plans`` from a row of ``storage.list_plans``: with its summary, or
    (``visits_in_scope``: visits per plan in a grid worker's cells) its visits there."""
    replaced_by = getattr(row, "replaced_by", None)
    item = {
        "id": int(row.id),
        "date": row.plan_date,
        "shift": row.shift,
        "status": plan_status(row.status, None if pd.isna(replaced_by) else replaced_by),
        "created_at": grid_work.local_iso(row.created_at, tz),
        "created_at_s": int(row.created_at),
        "published_at": grid_work.local_iso(row.published_at, tz),
        "published_at_s": None if pd.isna(row.published_at) else int(row.published_at),
        "revision": int(getattr(row, "revision", 1)),
        "revision_of": None if pd.isna(row.revision_of) else int(row.revision_of),
    }
    if visits_in_scope is None:
        item["summary"] = _json_or_text(row.summary)
    else:
        item["visits_in_your_cells"] = int(visits_in_scope.get(int(row.id), 0))
    return item


def _visits_json(visits: pd.DataFrame, tz: str) -> list[dict]:
    return [
        {
            "unit_id": str(unit_id),
            "seq": int(seq),
            "cell": hex_id,
            "start": grid_work.local_iso(start_at, tz),
            "start_s": int(start_at),
            "end": grid_work.local_iso(end_at, tz),
            "end_s": int(end_at),
            "value": round(float(value), 6),
        }
        for unit_id, seq, hex_id, start_at, end_at, value in zip(
            visits["unit_id"],
            visits["seq"],
            hex_from_cells(visits["cell"].to_numpy()),
            visits["start_at"],
            visits["end_at"],
            visits["value"],
            strict=True,
        )
    ]


def plan_status(stored_status: str, replaced_by: int | None) -> str:
    """The status the API gives a plan: ``draft``, ``published`` (in force) or ``replaced``
    (published, then replaced by a newer published plan of its date and shift; the table
    keeps it "published" with its publication time, as the plan pages show it)."""
    if stored_status == "published" and replaced_by is not None:
        return "replaced"
    return stored_status


def plan_json(
    stored: Any, visits: pd.DataFrame, tz: str, with_summary: bool, replaced_by: int | None = None
) -> dict:
    """``/api/plans/<id>``: a stored plan with ``visits`` (all, or a grid worker's cells');
    ``replaced_by``: the plan that replaced it, if any (its status is then "replaced")."""
    item = {
        "id": stored.id,
        "date": stored.plan_date,
        "shift": stored.shift,
        "status": plan_status(stored.status, replaced_by),
        "shift_start": grid_work.local_iso(stored.shift_start, tz),
        "shift_start_s": int(stored.shift_start),
        "created_at": grid_work.local_iso(stored.created_at, tz),
        "created_at_s": int(stored.created_at),
        "published_at": grid_work.local_iso(stored.published_at, tz),
        "published_at_s": stored.published_at,
        "revision": int(stored.revision),
        "revision_of": stored.revision_of,
        "visits": _visits_json(visits, tz),
    }
    if with_summary:
        item["summary"] = stored.summary
    return item


# --- check-ins ------------------------------------------------------------------------------


def checkin_json(row: dict, hex_id: str, tz: str, user_id: int, with_names: bool) -> dict:
    """One check-in of ``/api/checkins``; ``mine`` when ``user_id`` made it."""
    plan_id = row["plan_id"]
    item = {
        "id": int(row["id"]),
        "cell": hex_id,
        "visited_at": grid_work.local_iso(row["visited_at"], tz),
        "visited_at_s": int(row["visited_at"]),
        "minutes": float(row["minutes"]),
        "note": row["note"],
        "plan_id": None if plan_id is None or plan_id != plan_id else int(plan_id),
        "mine": int(row["user_id"]) == user_id,
    }
    if with_names:
        item["username"] = row["username"]
    return item
