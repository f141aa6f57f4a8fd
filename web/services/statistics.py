"""Incidents per week or month and category group, and whether they changed: exact tests of
two Poisson counts, with Holm's adjustment over the groups tested together."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

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

__all__ = ["ALPHA", "PeriodCounts", "period_counts"]  # the tests: geo.statistics


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
        stop = day_start_s(local_date(data.last_s or first, tz), tz) + _DAY_S
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
