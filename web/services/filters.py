"""Which incidents a page or an API answer is about: filters read from query strings, and the
incidents of the site data that pass them.

Dates are local dates in the city's timezone, ``end`` inclusive; hours 0-23 and weekdays
0 (Monday)-6 in local time; categories by code or by group; an area as ``KIND:ID``.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from flask_babel import lazy_gettext as _l

from geo.checks import DAY_S, day_start_s, local_dates
from web import storage
from web.services.scoring_data import GROUPS

if TYPE_CHECKING:
    from web.services.site_data import SiteData

__all__ = [
    "FilterError",
    "Filters",
    "area_cells",
    "area_frame",
    "category_groups",
    "category_mask",
    "cell_counts",
    "cells_of",
    "in_study_area",
    "incident_mask",
    "local_date",
    "parse_filters",
    "select",
    "selected_positions",
]

_DAY_S = DAY_S
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_HEX_ID = re.compile(r"[0-9a-fA-F]{15}")
#: The dates a filter may name: what a person can use, not what pandas can hold.
FIRST_DATE, LAST_DATE = "1970-01-01", "2099-12-31"


class FilterError(ValueError):
    """A query-string filter that cannot be read (the message names the parameter, in English
    as the API's errors are); ``page_message``, for the problems a person makes with the
    pages' own fields, says it in the page's language."""

    def __init__(self, message: str, page_message: object = None) -> None:
        super().__init__(message)
        self.page_message = page_message

    def for_page(self) -> str:
        """What a page shows: ``page_message`` when there is one, with the message naming
        the field in brackets; else the message."""
        if self.page_message is None:
            return str(self)
        return f"{self.page_message} ({self})"


#: What the pages say for problems with their date and hours fields (lazy: in the language of
#: the request that shows them).
DATES_PAGE_MESSAGE = _l("Dates run from %(first)s to %(last)s, written as YYYY-MM-DD.",
                        first=FIRST_DATE, last=LAST_DATE)  # fmt: skip
END_BEFORE_START_PAGE_MESSAGE = _l("The end date is before the start date.")
HOURS_PAGE_MESSAGE = _l("Hours: whole hours 0 to 23 or ranges, such as 18-23 or 22-2.")


@dataclass(frozen=True)
class Filters:
    """Which incidents to count: UTC [start_s, end_s), categories, local hours and weekdays,
    and the cells of an area (``area`` names it, ``cells`` holds them)."""

    start_s: int | None = None
    end_s: int | None = None
    categories: tuple[str, ...] | None = None
    hours: tuple[int, ...] | None = None
    weekdays: tuple[int, ...] | None = None
    area: str | None = None
    cells: tuple[int, ...] | None = None

    def key(self) -> tuple:
        return (self.start_s, self.end_s, self.categories, self.hours, self.weekdays, self.area)


def parse_filters(args: Mapping, data: SiteData, engine=None) -> Filters:
    """Read ``start``, ``end`` (local dates, end inclusive), ``category`` (codes, repeatable
    or comma-separated) or ``group`` (all, a group of the category table such as violent or
    property, or burglary), ``hours`` (e.g. 18-23), ``weekdays`` (0 Monday .. 6; both
    repeatable), ``area`` (KIND:ID; needs ``engine``)."""
    tz = data.timezone
    start = _local_day_start(args["start"], tz, "start") if args.get("start") else None
    end = None
    if args.get("end"):
        # The day after the end date, read as its own local midnight (a DST change makes the
        # end date 23 or 25 hours long).
        next_day = (_date(args["end"], "end") + pd.Timedelta(days=1)).date()
        end = day_start_s(next_day, tz, name="end")
    if start is not None and end is not None and end <= start:
        raise FilterError("end: must not be before start", END_BEFORE_START_PAGE_MESSAGE)
    categories: tuple[str, ...] | None = None
    codes = [c.strip().upper() for c in _values(args, "category")]
    group = str(args.get("group") or "").strip()
    if codes and group:
        raise FilterError("give either category or group, not both")
    if "codes" not in data._memo:
        data._memo["codes"] = frozenset(data.categories["code"])
    known = data._memo["codes"]
    if codes:
        unknown = [c for c in codes if c not in known]
        if unknown:
            raise FilterError(f"category: unknown code(s) {', '.join(unknown)}")
        categories = tuple(sorted(set(codes)))
    elif group and group != "all":
        # The city's own table first: the named groups hold Chicago's codes (the benchmark's),
        # which another city's table (the Chinese demo's) does not use.
        table_groups = category_groups(data)
        members: Collection[str] | None
        if group in table_groups:
            members = table_groups[group]
        elif group in GROUPS:
            members = GROUPS[group]
        else:
            known = ", ".join(dict.fromkeys([*GROUPS, *table_groups]))
            raise FilterError(f"group: unknown {group!r}; known: {known}")
        categories = tuple(sorted(members)) if members is not None else None
    # Repeated parameters (one checkbox per weekday) are read like a comma-separated list.
    hours_text = ",".join(_values(args, "hours"))
    weekdays_text = ",".join(_values(args, "weekdays"))
    hours = _int_set(hours_text, "hours", 0, 23) if hours_text else None
    weekdays = _int_set(weekdays_text, "weekdays", 0, 6) if weekdays_text else None
    area = str(args["area"]) if args.get("area") else None
    cells = None
    if area is not None:
        if engine is None:
            raise FilterError("area: not available here")
        cells = area_cells(engine, data, area)
    return Filters(start, end, categories, hours, weekdays, area, cells)


@functools.lru_cache(maxsize=1024)
def _local_day_start(text: str, timezone: str, name: str) -> int:
    return day_start_s(_date(text, name).date(), timezone, name=name)


def _date(text: str, name: str) -> pd.Timestamp:
    """A local date from ``YYYY-MM-DD`` within :data:`FIRST_DATE` .. :data:`LAST_DATE`."""
    value = str(text).strip()
    if not _DATE.fullmatch(value):
        raise FilterError(
            f"{name}: expected a date YYYY-MM-DD, got {str(text)[:40]!r}", DATES_PAGE_MESSAGE
        )
    try:
        day = pd.Timestamp(value)
    except (ValueError, TypeError) as err:
        raise FilterError(
            f"{name}: expected a date YYYY-MM-DD, got {value!r}", DATES_PAGE_MESSAGE
        ) from err
    if not FIRST_DATE <= value <= LAST_DATE:
        raise FilterError(
            f"{name}: dates from {FIRST_DATE} to {LAST_DATE}, got {value}", DATES_PAGE_MESSAGE
        )
    return day


def _int_set(text: str, name: str, low: int, high: int) -> tuple[int, ...]:
    """``"18-23,0-2"`` or ``"1,3,5"`` (ranges inclusive) into sorted distinct integers; the
    full-width commas, dashes and digits of a Chinese keyboard (``18－23，0-2``) and ``、`` or
    ``~`` (``18~23``) read like their ASCII forms."""
    out: set[int] = set()
    page_message = HOURS_PAGE_MESSAGE if name == "hours" else None
    plain = unicodedata.normalize("NFKC", text).replace("、", ",").replace("~", "-")
    for part in plain.replace(" ", "").split(","):
        if not part:
            continue
        first, sep, last = part.partition("-")
        try:
            a = int(first)
            b = int(last) if sep else a
        except ValueError as err:
            raise FilterError(
                f"{name}: expected numbers or ranges like 18-23, got {text!r}", page_message
            ) from err
        if not (low <= a <= high and low <= b <= high):
            raise FilterError(
                f"{name}: values must be in {low}..{high}, got {text!r}", page_message
            )
        if a <= b:
            out.update(range(a, b + 1))
        else:  # wraps around, e.g. hours 22-2
            out.update(range(a, high + 1))
            out.update(range(low, b + 1))
    if not out:
        raise FilterError(f"{name}: no values in {text!r}", page_message)
    return tuple(sorted(out))


def _values(args: Mapping, name: str) -> list[str]:
    getlist = getattr(args, "getlist", None)
    raw = getlist(name) if getlist is not None else [args[name]] if name in args else []
    return [v for item in raw for v in str(item).split(",") if v.strip()]


def area_cells(engine, data: SiteData, area: str) -> tuple[int, ...]:
    """Cells of an area named ``kind:area_id`` (e.g. ``grid:G017``), cached per data version."""
    kind, sep, area_id = area.partition(":")
    if not sep or not kind or not area_id:
        raise FilterError(f"area: expected KIND:ID (e.g. grid:G001), got {area!r}")
    if kind not in data._areas:
        data._areas[kind] = storage.load_area_cells(engine, kind)
    frame = data._areas[kind]
    cells = frame.loc[frame["area_id"] == area_id, "cell"].to_numpy(dtype=np.int64)
    if not len(cells):
        raise FilterError(f"area: no {kind} with id {area_id!r}")
    return tuple(int(c) for c in np.sort(cells))


def area_frame(engine, data: SiteData, kind: str) -> pd.DataFrame:
    if kind not in data._areas:
        data._areas[kind] = storage.load_area_cells(engine, kind)
    return data._areas[kind]


def category_groups(data: SiteData) -> dict[str, tuple[str, ...]]:
    """Group name of the category table -> its codes (e.g. ``property``), in table order."""
    if "category_groups" not in data._memo:
        data._memo["category_groups"] = _category_groups(data.categories)
    return dict(data._memo["category_groups"])


def _category_groups(table: pd.DataFrame) -> dict[str, tuple[str, ...]]:
    groups: dict[str, list[str]] = {}
    for code, group in zip(table["code"], table["group"].fillna(""), strict=True):
        if group:
            groups.setdefault(str(group), []).append(str(code))
    return {name: tuple(codes) for name, codes in groups.items()}


def local_date(epoch_s: int, timezone: str) -> str:
    """The local calendar date (YYYY-MM-DD) of a UTC second."""
    return str(local_dates([int(epoch_s)], timezone)[0])


def category_mask(data: SiteData, categories: Sequence[str], rows=slice(None)) -> np.ndarray:
    """Whether each incident (or each of ``rows``) has one of ``categories`` (a look-up of
    each incident's category row in a small table)."""
    wanted = set(categories)
    lookup = np.array([code in wanted for code in data.category_codes], dtype=bool)
    return lookup[data.category_index[rows]]


def _small_int_mask(values: np.ndarray, wanted: Sequence[int], size: int) -> np.ndarray:
    """``np.isin`` for small non-negative integers (hours, weekdays), by table look-up."""
    lookup = np.zeros(size, dtype=bool)
    lookup[list(wanted)] = True
    return lookup[values]


def incident_mask(
    data: SiteData,
    filters: Filters,
    *,
    use_time: bool = True,
    use_categories: bool = True,
    rows=slice(None),
) -> np.ndarray | None:
    """Whether each incident (or each of ``rows``) passes the filters; None when no filter
    applies (every incident passes)."""
    masks = []
    if use_time and filters.start_s is not None:
        masks.append(data.occurred_at[rows] >= filters.start_s)
    if use_time and filters.end_s is not None:
        masks.append(data.occurred_at[rows] < filters.end_s)
    if use_categories and filters.categories is not None:
        masks.append(category_mask(data, filters.categories, rows))
    if filters.hours is not None:
        masks.append(_small_int_mask(data.hour[rows], filters.hours, 24))
    if filters.weekdays is not None:
        masks.append(_small_int_mask(data.weekday[rows], filters.weekdays, 7))
    if filters.cells is not None:
        wanted = np.isin(data.cell_ids, np.asarray(filters.cells, dtype=np.int64))
        masks.append(wanted[data.cell_index[rows]])
    if not masks:
        return None
    mask = masks[0]
    for more in masks[1:]:
        mask &= more
    return mask


def select(data: SiteData, filters: Filters) -> pd.DataFrame:
    """The incidents that pass the filters (``occurred_at``, ``cell``, ``category``)."""
    mask = incident_mask(data, filters)
    return data.incidents if mask is None else data.frame(mask)


def selected_positions(data: SiteData, filters: Filters) -> np.ndarray:
    """Positions (rows of the data's columns) of the incidents that pass the filters."""
    mask = incident_mask(data, filters)
    return np.arange(data.n_incidents) if mask is None else np.flatnonzero(mask)


def in_study_area(data: SiteData, cell: int) -> bool:
    """Whether ``cell`` is one of the study cells (a binary search: they are sorted)."""
    at = int(np.searchsorted(data.cells, cell))
    return at < len(data.cells) and int(data.cells[at]) == cell


def cell_counts(data: SiteData, filters: Filters) -> pd.DataFrame:
    """``cell``, ``n``: incidents per cell passing the filters (cells with none left out)."""
    mask = incident_mask(data, filters)
    index = data.cell_index if mask is None else data.cell_index[mask]
    counts = np.bincount(index, minlength=len(data.cell_ids))
    present = np.flatnonzero(counts)
    return pd.DataFrame(
        {"cell": data.cell_ids[present].astype(np.int64), "n": counts[present].astype(np.int64)}
    )


def cells_of(values: Sequence[str]) -> np.ndarray:
    """H3 hex ids into int64 cells; raises FilterError naming a bad id."""
    from geo.cells import cells_from_hex

    values = list(values)
    for value in values:  # 15 hex digits; anything else is refused before h3 sees it
        if not isinstance(value, str) or not _HEX_ID.fullmatch(value):
            raise FilterError(f"cell: not an H3 cell id (15 hex digits): {str(value)[:40]!r}")
    try:
        return np.asarray(cells_from_hex(values), dtype=np.int64)
    except (ValueError, TypeError, OverflowError) as err:
        raise FilterError(f"cell: not an H3 cell id: {err}") from err
