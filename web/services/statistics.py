"""Incidents per week or month and category group, and whether they changed: exact tests of
two Poisson counts, with Holm's adjustment over the groups tested together; the figure area
(where incidents happen) every headline figure is counted over, and how concentrated the
incidents of some dates are in it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from geo.checks import DAY_S as _DAY_S
from geo.checks import day_start_s
from geo.statistics import ALPHA, compare_counts, holm
from web.services.filters import (
    FilterError,
    Filters,
    category_groups,
    incident_mask,
    local_date,
)

if TYPE_CHECKING:
    from web.services.site_data import SiteData

__all__ = [
    "ALPHA",
    "TOP_SHARE",
    "Concentration",
    "PeriodCounts",
    "concentration",
    "concentration_text",
    "figure_area",
    "top_share_of",
    "period_counts",
]  # the tests of counts: geo.statistics

#: The share of the figure area the headline figures speak of ("the top 5 % of cells").
TOP_SHARE = 0.05
#: H3 rings around a cell with incidents that still count as where incidents happen.
FIGURE_AREA_RINGS = 1
_AREA_MEMO = "figure_area"


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


def _no_days(first: int, stop: int, filters: Filters, tz: str) -> None:
    """Raise FilterError for a start after the newest incident (no end given) or an end
    before the oldest one (no start given): there is no day to count."""
    if filters.start_s is not None:
        newest = local_date(stop - 1, tz)
        raise FilterError(
            f"start: after the newest incident ({newest}); give an end date too",
            _l("The start date is after the newest incident (%(date)s).", date=newest),
        )
    oldest = local_date(first, tz)
    raise FilterError(
        f"end: before the oldest incident ({oldest}); give a start date too",
        _l("The end date is before the oldest incident (%(date)s).", date=oldest),
    )


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
        stop = day_start_s(local_date(data.last_s or first, tz), tz) + _DAY_S
    if stop <= first:  # one date given, the other the data's: they cross
        _no_days(first, stop, filters, tz)
    first_day = pd.Timestamp(local_date(first, tz))
    last_day = pd.Timestamp(local_date(stop - 1, tz))
    freq = "W-SUN" if period == "week" else "M"
    periods = pd.period_range(first_day.to_period(freq), last_day.to_period(freq), freq=freq)

    mask = incident_mask(data, filters)
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


# --- the figure area and concentration ------------------------------------------------------


def figure_area(data: SiteData) -> np.ndarray:
    """The cells every headline figure is counted over (int64, sorted): the study cells
    (the jurisdiction's) that had at least one stored incident, and their neighbours
    (FIGURE_AREA_RINGS ring), so empty desert, water or farmland far from any incident
    does not make a forecast look good. Worked out once per data version."""
    memo = data._memo.get(_AREA_MEMO)
    if memo is not None and memo[0] == data.version:
        return memo[1]
    import h3

    with_incidents = data.cell_ids[np.isin(data.cell_ids, data.cells)]
    near: set[int] = set()
    for cell in with_incidents.tolist():
        near.update(h3.grid_disk(h3.int_to_str(int(cell)), FIGURE_AREA_RINGS))
    ids = np.array([h3.str_to_int(c) for c in near], dtype=np.int64)
    area = np.intersect1d(data.cells, ids).astype(np.int64)
    area.setflags(write=False)
    data._memo[_AREA_MEMO] = (data.version, area)
    return area


@dataclass(frozen=True)
class Concentration:
    """Where the incidents of some dates fell, over the figure area (or an area of it).

    ``top_cells`` is TOP_SHARE of ``area_cells`` (rounded up); ``top_incidents`` the
    incidents of the busiest ``top_cells`` cells, counting only cells with incidents (a cell
    with none is never among the busiest, ties at zero are not hot spots), so when fewer
    cells than that had any, ``busy_cells < top_cells`` and the sentence says so.
    """

    area_cells: int
    area_km2: float
    incidents: int  # every incident passing the filters
    outside: int  # of those, outside the figure area
    busy_cells: int  # cells with at least one incident
    top_cells: int
    top_incidents: int

    @property
    def top_share(self) -> float | None:
        """Share of the incidents in the busiest cells; None without incidents."""
        return self.top_incidents / self.incidents if self.incidents else None

    @property
    def busy_share(self) -> float | None:
        """Share of the area's cells with any incident; None for an empty area."""
        return self.busy_cells / self.area_cells if self.area_cells else None

    @property
    def times_chance(self) -> float | None:
        """How many times its share of the cells the busiest cells' share of incidents is."""
        share = self.top_share
        if share is None or not self.top_cells:
            return None
        return share / (min(self.top_cells, self.busy_cells) / self.area_cells)

    def as_dict(self) -> dict:
        """The figures and the derived shares, JSON-ready (None where undefined)."""
        return {
            "area_cells": self.area_cells,
            "area_km2": round(self.area_km2, 2),
            "incidents": self.incidents,
            "outside": self.outside,
            "busy_cells": self.busy_cells,
            "top_cells": self.top_cells,
            "top_incidents": self.top_incidents,
            "top_share": self.top_share,
            "busy_share": self.busy_share,
            "times_chance": self.times_chance,
            "text": concentration_text(self),
        }


def concentration(data: SiteData, filters: Filters) -> Concentration:
    """How the incidents passing ``filters`` spread over the figure area (the area filter's
    part of it when one is set)."""
    from geo.evaluation import cell_areas_km2

    area = figure_area(data)
    if filters.cells is not None:
        area = np.intersect1d(area, np.asarray(filters.cells, dtype=np.int64))
    mask = incident_mask(data, filters)
    index = data.cell_index if mask is None else data.cell_index[mask]
    counts = np.bincount(index, minlength=len(data.cell_ids)).astype(np.int64)
    if filters.cells is not None:  # the area filter: incidents of the area's cells only
        counts[~np.isin(data.cell_ids, np.asarray(filters.cells, dtype=np.int64))] = 0
    inside = np.isin(data.cell_ids, area)
    in_area = np.sort(counts[inside & (counts > 0)])[::-1]
    top_cells = math.ceil(TOP_SHARE * len(area)) if len(area) else 0
    return Concentration(
        area_cells=len(area),
        area_km2=float(cell_areas_km2(area).sum()) if len(area) else 0.0,
        incidents=int(counts.sum()),
        outside=int(counts[~inside].sum()),
        busy_cells=len(in_area),
        top_cells=top_cells,
        top_incidents=int(in_area[:top_cells].sum()),
    )


def concentration_text(spread: Concentration) -> str:
    """The concentration in plain words, in the page's language."""
    if not spread.area_cells:
        return _("No cells where incidents happen: no incidents stored yet.")
    if not spread.incidents:
        return _("No incidents in this range.")
    values = {
        "n": f"{spread.area_cells:,}",
        "busy": f"{spread.busy_cells:,}",
        "busy_pct": f"{100 * (spread.busy_share or 0):.0f}",
        "p": f"{TOP_SHARE * 100:g}",
        "top": f"{spread.top_cells:,}",
        "share": f"{100 * (spread.top_share or 0):.0f}",
        "times": f"{spread.times_chance or 0:.1f}",
        "total": f"{spread.incidents:,}",
    }
    if spread.busy_cells < spread.top_cells:
        return _(
            "Of %(n)s cells where incidents happen, only %(busy)s (%(busy_pct)s %%) had any: "
            "all %(total)s incidents fell in fewer cells than the top %(p)s %% (%(top)s "
            "cells), %(times)s times their share of the area.",
            **values,
        )
    return _(
        "Of %(n)s cells where incidents happen, %(busy)s (%(busy_pct)s %%) had at least one "
        "incident; the busiest %(p)s %% of cells (%(top)s cells) held %(share)s %% of the "
        "%(total)s incidents, %(times)s times their share of the area.",
        **values,
    )


def top_share_of(data: SiteData, cells: np.ndarray, values: np.ndarray, counts: np.ndarray) -> dict:
    """The map's headline over the figure area: of the cells drawn (``cells``, with the
    value shown, ``values``, NaN for none, and their incidents ``counts``), the figure
    area's TOP_SHARE ranked highest by value, counting only cells with a positive value
    (ties at zero are not hot spots), and the share of the area's incidents they hold."""
    area = figure_area(data)
    inside = np.isin(cells, area)
    value = np.where(np.isfinite(values), values, 0.0)[inside]
    count = np.asarray(counts, dtype=np.int64)[inside]
    n_top = math.ceil(TOP_SHARE * int(inside.sum())) if inside.any() else 0
    order = np.argsort(-value, kind="stable")
    chosen = order[:n_top][value[order[:n_top]] > 0]
    total = int(count.sum())
    return {
        "area_cells": int(inside.sum()),
        "top_cells": int(len(chosen)),
        "incidents": total,
        "top_incidents": int(count[chosen].sum()),
        "top_share": float(count[chosen].sum()) / total if total else None,
    }
