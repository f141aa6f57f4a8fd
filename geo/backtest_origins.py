"""Backtest origins: when each forecast is made and the test window it is judged on.

An :class:`Origin` is a pair of UTC seconds: the forecaster sees the incidents before
``origin_s`` and is judged on those in ``[origin_s, end_s)``. :func:`monthly_origins` gives
one per calendar month (month-ahead) and :func:`weekly_origins` consecutive weeks
(week-ahead), both on the city's local calendar. :mod:`geo.backtest` re-exports them.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import NamedTuple

from geo.checks import check_timezone, check_whole, day_start_s
from geo.errors import GeoError

__all__ = ["Origin", "monthly_origins", "weekly_origins"]

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class Origin(NamedTuple):
    """A forecast origin and the end of its test window, both UTC seconds.

    The forecaster sees incidents with ``occurred_at < origin_s``; the test window is
    ``origin_s <= occurred_at < end_s``.
    """

    origin_s: int
    end_s: int


def monthly_origins(first: str, last: str, timezone: str) -> list[Origin]:
    """Return one origin per calendar month, in the city's local time.

    Month ``M`` gives ``origin_s`` = local midnight starting the 1st of ``M`` and ``end_s`` =
    local midnight starting the 1st of the next month: the forecaster sees everything before
    month ``M`` and is tested on month ``M`` itself (month-ahead). The labels therefore name
    the test months.

    Parameters
    ----------
    first, last
        First and last test month, ``"YYYY-MM"``, inclusive.
    timezone
        IANA timezone of the city, e.g. ``"America/Chicago"``.

    Returns
    -------
    list of Origin
        In time order. A window spanning a daylight-saving change is an hour shorter or
        longer than its calendar days (March 2018 in Chicago: 31 days less one hour).

    Raises
    ------
    GeoError
        When a month is not ``"YYYY-MM"``, ``last`` precedes ``first`` or the timezone is
        unknown.

    Examples
    --------
    >>> [o.end_s - o.origin_s for o in monthly_origins("2018-03", "2018-03", "America/Chicago")]
    [2674800]
    """
    check_timezone(timezone)
    start_year, start_month = _month(first, "first")
    end_year, end_month = _month(last, "last")
    n_months = (end_year - start_year) * 12 + (end_month - start_month) + 1
    if n_months < 1:
        raise GeoError(f"last must not precede first, got first={first!r} and last={last!r}")
    starts = []
    for k in range(n_months + 1):
        year, month0 = divmod(start_month - 1 + k, 12)
        starts.append(day_start_s(dt.date(start_year + year, month0 + 1, 1), timezone))
    return [Origin(starts[k], starts[k + 1]) for k in range(n_months)]


def weekly_origins(end: str, n: int, timezone: str) -> list[Origin]:
    """Return ``n`` consecutive week-long test windows ending with the day ``end``.

    The last window ends at local midnight after ``end`` (for ``end="2018-07-31"``:
    2018-08-01 00:00 local); each window is seven local calendar days, so the windows tile
    ``n`` weeks with no gap, and each origin is its window's start (a local midnight).

    Parameters
    ----------
    end
        Last day of the last test window, ``"YYYY-MM-DD"`` (local date).
    n
        Number of weeks (at least 1).
    timezone
        IANA timezone of the city.

    Returns
    -------
    list of Origin
        In time order. A week spanning a daylight-saving change is an hour shorter or longer.

    Raises
    ------
    GeoError
        When ``end`` is not a date, ``n`` is not a positive integer or the timezone is unknown.
    """
    check_timezone(timezone)
    try:
        last_day = dt.date.fromisoformat(end)
    except (TypeError, ValueError) as err:
        raise GeoError(f"end must be a date 'YYYY-MM-DD', got {end!r}") from err
    n = check_whole(n, "n", minimum=1)
    stop = last_day + dt.timedelta(days=1)
    starts = [day_start_s(stop - dt.timedelta(days=7 * (n - k)), timezone) for k in range(n + 1)]
    return [Origin(starts[k], starts[k + 1]) for k in range(n)]


def _month(text: str, name: str) -> tuple[int, int]:
    """Parse ``"YYYY-MM"`` into (year, month), or raise naming the argument."""
    match = _MONTH.match(text) if isinstance(text, str) else None
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise GeoError(f"{name} must be a month 'YYYY-MM', got {text!r}")
    return int(match.group(1)), int(match.group(2))
