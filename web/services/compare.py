"""Two periods side by side, cell by cell: how many incidents each cell of the figure area
(web.services.statistics.figure_area) had in period A and in period B, the change, and
whether the whole area's rate changed (geo.statistics.compare_counts).

Periods are local dates, end inclusive, at most MAX_PERIOD_DAYS long; the change of a cell is
B minus A scaled to B's length (periods of different lengths compare fairly), and its rate
ratio is given only from MIN_RATIO_INCIDENTS incidents in the two periods together (fewer say
nothing).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from flask_babel import lazy_gettext as _l

from geo.checks import DAY_S
from geo.statistics import Change, compare_counts
from web.services.filters import FilterError, Filters, cell_counts, local_date, parse_filters
from web.services.statistics import figure_area

if TYPE_CHECKING:
    from web.services.site_data import SiteData

__all__ = [
    "DEFAULT_PERIOD_DAYS",
    "MAX_PERIOD_DAYS",
    "MIN_RATIO_INCIDENTS",
    "Comparison",
    "compare_periods",
    "parse_periods",
]

#: The longest period compared (a year, a leap year's too).
MAX_PERIOD_DAYS = 366
#: Without dates: B is the last DEFAULT_PERIOD_DAYS days of data and A the days before.
DEFAULT_PERIOD_DAYS = 28
#: A cell's rate ratio is shown from this many incidents in A and B together.
MIN_RATIO_INCIDENTS = 5
_FIELDS = ("a_start", "a_end", "b_start", "b_end")


@dataclass(frozen=True)
class Periods:
    """Two periods' filters (dates set) and their local dates, end inclusive."""

    a: Filters
    b: Filters
    dates: dict[str, str]  # a_start, a_end, b_start, b_end

    def days(self, which: str) -> float:
        f = self.a if which == "a" else self.b
        return float(int(f.end_s or 0) - int(f.start_s or 0)) / DAY_S


@dataclass(frozen=True, eq=False)
class Comparison:
    """Per cell of the figure area with an incident in A or B: ``cell``, ``a``, ``b``,
    ``change`` (B - A x days B / days A) and ``ratio`` (B's rate over A's; NaN below
    MIN_RATIO_INCIDENTS, infinite where A had none); largest changes first."""

    periods: Periods
    cells: pd.DataFrame
    area_cells: int
    total: Change  # the whole figure area, A against B
    outside_a: int  # incidents outside the figure area (not in ``cells``)
    outside_b: int


def parse_periods(args: Mapping, data: SiteData, engine=None) -> Periods:
    """Read ``a_start``, ``a_end``, ``b_start``, ``b_end`` (local dates YYYY-MM-DD, end
    inclusive) and the optional ``group`` or ``category`` and ``area`` both periods share.
    Missing dates: B is the last DEFAULT_PERIOD_DAYS days of data, A the same length before.
    Raises FilterError naming the field at fault."""
    given = {k: str(args.get(k) or "").strip()[:40] for k in _FIELDS}
    dates = dict(given)
    if not any(given.values()):
        last = pd.Timestamp(local_date(data.last_s or 0, data.timezone))
        span = pd.Timedelta(days=DEFAULT_PERIOD_DAYS)
        dates = {
            "b_end": last.strftime("%Y-%m-%d"),
            "b_start": (last - span + pd.Timedelta(days=1)).strftime("%Y-%m-%d"),
            "a_end": (last - span).strftime("%Y-%m-%d"),
            "a_start": (last - 2 * span + pd.Timedelta(days=1)).strftime("%Y-%m-%d"),
        }
    missing = [k for k in _FIELDS if not dates[k]]
    if missing:
        raise FilterError(
            f"{missing[0]}: a date is needed (YYYY-MM-DD)",
            _l("Fill in the start and end dates of both periods."),
        )
    shared = {k: args.get(k) for k in ("group", "category", "area") if args.get(k)}
    periods = {}
    for which in ("a", "b"):
        start, end = dates[f"{which}_start"], dates[f"{which}_end"]
        try:
            filters = parse_filters({"start": start, "end": end, **shared}, data, engine)
        except FilterError as err:
            raise FilterError(f"{which}_{err}", err.page_message) from err
        days = (int(filters.end_s or 0) - int(filters.start_s or 0)) / DAY_S
        if days > MAX_PERIOD_DAYS + 0.1:  # a clock change makes a day 23 or 25 hours
            raise FilterError(
                f"{which}_end: a period is at most {MAX_PERIOD_DAYS} days",
                _l("A period is at most %(n)d days.", n=MAX_PERIOD_DAYS),
            )
        periods[which] = filters
    return Periods(periods["a"], periods["b"], dates)


def compare_periods(data: SiteData, periods: Periods) -> Comparison:
    """Count both periods per cell of the figure area (and of the area filter, if any)."""
    area = figure_area(data)
    if periods.a.cells is not None:
        area = np.intersect1d(area, np.asarray(periods.a.cells, dtype=np.int64))
    counts = {}
    outside = {}
    for which, filters in (("a", periods.a), ("b", periods.b)):
        frame = cell_counts(data, filters)
        if filters.cells is not None:
            frame = frame[frame["cell"].isin(filters.cells)]
        inside = frame["cell"].isin(area).to_numpy()
        counts[which] = frame[inside].set_index("cell")["n"]
        outside[which] = int(frame.loc[~inside, "n"].sum())
    table = pd.concat({"a": counts["a"], "b": counts["b"]}, axis=1).fillna(0).astype(np.int64)
    table = table.rename_axis("cell").reset_index()
    days_a, days_b = periods.days("a"), periods.days("b")
    a = table["a"].to_numpy(dtype=np.float64)
    b = table["b"].to_numpy(dtype=np.float64)
    table["change"] = b - a * days_b / days_a
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (b / days_b) / (a / days_a)
    table["ratio"] = np.where(a + b >= MIN_RATIO_INCIDENTS, ratio, np.nan)
    order = np.lexsort((table["cell"].to_numpy(), -np.abs(table["change"].to_numpy())))
    table = table.iloc[order].reset_index(drop=True)
    total = compare_counts(int(a.sum()), int(b.sum()), days_a, days_b)
    return Comparison(periods, table, len(area), total, outside["a"], outside["b"])
