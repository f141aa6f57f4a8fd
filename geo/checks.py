"""Argument checks, units and local-time conversions shared by the geo modules.

Checks validate one argument at a public entry point: each takes the value and the
argument's name, returns the value in its plain Python type, and raises
:class:`~geo.errors.GeoError` (or the subclass asked for) with a message naming the
argument, what was expected and what was received. Booleans are never numbers here.

Local time: incidents are stored as UTC seconds, but days, weekdays and hours are the city's
("local"), in an IANA time zone with its daylight-saving changes. Local times are handled
as *wall-clock seconds*: seconds since 1970-01-01 00:00 on the local clock, so that
``wall // 86400`` is the local day number and ``wall % 86400`` the time of day. Reading a
wall-clock time back into UTC follows one rule everywhere:

- a time that happens twice (clocks going back) is the first occurrence, daylight time,
  unless ``ambiguous="last"`` asks for the second;
- a time that never happens (clocks going forward) moves to the first moment after the
  gap: 02:30 on the night Chicago's clocks jump from 02:00 to 03:00 reads as 03:00 CDT.
"""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from geo.errors import GeoError

__all__ = [
    "DAY_S",
    "EARTH_RADIUS_M",
    "check_number",
    "check_whole",
    "check_seconds",
    "check_timezone",
    "check_aware_timestamp",
    "check_cells",
    "local_seconds_from_utc",
    "utc_seconds_from_local",
    "local_dates",
    "day_start_s",
]

DAY_S = 86_400
#: Control characters (C0 and DEL), no part of a stored id, code or name (PostgreSQL refuses
#: a NUL in text): one regular expression for ``re``, pandas and Arrow alike.
CONTROL_CHARACTERS = r"[\x00-\x1f\x7f]"
#: Mean Earth radius (IUGG), metres: the geo modules' local projections use it.
EARTH_RADIUS_M = 6_371_008.8

_AMBIGUOUS = ("first", "last")


# --- argument checks -----------------------------------------------------------------------------


def check_number(
    value: Any,
    name: str,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
    error: type[GeoError] = GeoError,
) -> float:
    """Return ``value`` as a float, or raise unless it is a finite real number in range.

    Parameters
    ----------
    value
        The argument.
    name
        Its name in the message.
    low, high
        Bounds of the accepted range (infinite: no bound).
    low_open, high_open
        Exclude the bound itself (``low_open=True`` with ``low=0``: positive numbers).
    error
        The class to raise.

    Returns
    -------
    float
        The value.

    Raises
    ------
    GeoError
        (or ``error``) For a bool, a non-number, NaN, an infinity or a number out of range.

    Examples
    --------
    >>> check_number(0.5, "share", low=0.0, high=1.0)
    0.5
    >>> check_number(0, "half_life_days", low=0.0, low_open=True)
    Traceback (most recent call last):
    geo.errors.GeoError: half_life_days must be a finite number > 0, got 0
    """
    expected = _range_text(low, high, low_open=low_open, high_open=high_open)
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise error(f"{name} must be {expected}, got {value!r}")
    number = float(value)
    too_low = number <= low if low_open else number < low
    too_high = number >= high if high_open else number > high
    if not math.isfinite(number) or too_low or too_high:
        raise error(f"{name} must be {expected}, got {value!r}")
    return number


def check_whole(
    value: Any,
    name: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    error: type[GeoError] = GeoError,
) -> int:
    """Return ``value`` as an int, or raise unless it is an integer within the bounds.

    Parameters
    ----------
    value
        The argument: a Python or numpy integer (floats such as ``3.0`` are refused).
    name
        Its name in the message.
    minimum, maximum
        Inclusive bounds; None for none.
    error
        The class to raise.

    Returns
    -------
    int
        The value.

    Raises
    ------
    GeoError
        (or ``error``) For a bool, a non-integer or a value out of bounds.

    Examples
    --------
    >>> check_whole(3, "k", minimum=0)
    3
    >>> check_whole(-1, "seed", minimum=0)
    Traceback (most recent call last):
    geo.errors.GeoError: seed must be a non-negative whole number, got -1
    """
    if minimum is not None and maximum is not None:
        expected = f"a whole number in {minimum}..{maximum}"
    elif minimum == 0:
        expected = "a non-negative whole number"
    elif minimum == 1:
        expected = "a positive whole number"
    elif minimum is not None:
        expected = f"a whole number >= {minimum}"
    elif maximum is not None:
        expected = f"a whole number <= {maximum}"
    else:
        expected = "a whole number"
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise error(f"{name} must be {expected}, got {value!r}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise error(f"{name} must be {expected}, got {value!r}")
    return int(value)


def check_seconds(value: Any, name: str) -> int:
    """Return a moment in whole UTC seconds as an int, or raise naming the argument.

    Raises
    ------
    GeoError
        For a bool or anything but a Python or numpy integer.
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise GeoError(f"{name} must be whole UTC seconds (int), got {value!r}")
    return int(value)


def check_timezone(timezone: Any, name: str = "timezone") -> zoneinfo.ZoneInfo:
    """Return the time zone named ``timezone``, or raise unless it is a known IANA name.

    Raises
    ------
    GeoError
        For anything but the name of a zone in the IANA database (``"America/Chicago"``).
    """
    try:
        return zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError) as err:
        raise GeoError(
            f"{name} must be an IANA name like 'America/Chicago', got {timezone!r}"
        ) from err


def check_aware_timestamp(value: Any, name: str) -> pd.Timestamp:
    """Return ``value`` unchanged, or raise unless it is a timezone-aware pandas Timestamp.

    Raises
    ------
    GeoError
        For anything but a ``pandas.Timestamp`` with a time zone.
    """
    if not isinstance(value, pd.Timestamp) or value.tz is None:
        raise GeoError(f"{name} must be a timezone-aware pandas.Timestamp, got {value!r}")
    return value


def check_cells(cells: Any, name: str = "cells", *, ordered: bool = False) -> NDArray[np.int64]:
    """Return study cells as a fresh 1-D ``int64`` array, or raise unless they are distinct.

    Parameters
    ----------
    cells
        Integer H3 ids (``int64``, or ``uint64`` reinterpreted bit for bit); not modified.
    name
        Its name in the message.
    ordered
        Also require ascending order (the form ``np.unique`` gives).

    Returns
    -------
    numpy.ndarray
        The cells, in the order given.

    Raises
    ------
    GeoError
        For an empty, non-integer or multi-dimensional array, repeated cells, or (with
        ``ordered``) cells out of order.
    """
    array = np.asarray(cells)
    if array.ndim != 1 or array.size == 0 or array.dtype.kind not in "iu":
        raise GeoError(
            f"{name} must be a non-empty 1-D array of int64 H3 ids, got "
            f"shape {array.shape} and dtype {array.dtype}"
        )
    array = array.view(np.int64) if array.dtype == np.uint64 else array.astype(np.int64)
    if ordered and not (np.diff(array) > 0).all():
        raise GeoError(f"{name} must be sorted and unique; pass np.unique({name})")
    if not ordered and np.unique(array).size != array.size:
        raise GeoError(f"{name} must be distinct; pass np.unique({name})")
    return array.copy()


# --- local time --------------------------------------------------------------------------------


def local_seconds_from_utc(
    times_s: ArrayLike, timezone: str, *, name: str = "times_s"
) -> NDArray[np.int64]:
    """Convert UTC seconds to wall-clock seconds of the local clock in ``timezone``.

    Parameters
    ----------
    times_s
        UTC seconds since the epoch (whole numbers, any shape).
    timezone
        IANA name, e.g. ``"America/Chicago"``; daylight-saving time is applied.
    name
        Name of ``times_s`` in error messages.

    Returns
    -------
    numpy.ndarray
        ``int64`` wall-clock seconds shaped like ``times_s``: the local day number is
        ``wall // 86400`` (:data:`DAY_S`), the hour ``wall % 86400 // 3600``.

    Raises
    ------
    GeoError
        For an unknown time zone, or times that are not whole numbers (float seconds are
        refused rather than rounded).

    Examples
    --------
    2018-03-11 08:30 UTC is 03:30 CDT, just after Chicago's clocks jumped:

    >>> local_seconds_from_utc([1520757000], "America/Chicago") % 86400 // 3600
    array([3])
    """
    zone = check_timezone(timezone)
    times = _whole_array(times_s, name, "whole UTC seconds")
    flat = times.ravel()
    if flat.size == 0:
        return flat.reshape(times.shape)
    utc = pd.DatetimeIndex(flat.astype("datetime64[s]")).tz_localize("UTC")
    wall = utc.tz_convert(zone.key).tz_localize(None).as_unit("s").asi8
    return np.asarray(wall, dtype=np.int64).reshape(times.shape)


def utc_seconds_from_local(
    local_s: ArrayLike,
    timezone: str,
    *,
    ambiguous: Literal["first", "last"] = "first",
    name: str = "local_s",
) -> NDArray[np.int64]:
    """Convert wall-clock seconds of the local clock in ``timezone`` to UTC seconds.

    A time that happens twice is read as its first occurrence (``ambiguous="first"``,
    daylight time) or its second (``"last"``); a time that never happens moves to the first
    moment after the gap (see the module notes).

    Parameters
    ----------
    local_s
        Wall-clock seconds since 1970-01-01 00:00 local (whole numbers, any shape).
    timezone
        IANA name.
    ambiguous
        ``"first"`` or ``"last"``.
    name
        Name of ``local_s`` in error messages.

    Returns
    -------
    numpy.ndarray
        ``int64`` UTC seconds shaped like ``local_s``.

    Raises
    ------
    GeoError
        For an unknown time zone, times that are not whole numbers or an unknown
        ``ambiguous``.

    Examples
    --------
    01:30 on 4 November 2018 happened twice in Chicago, at 06:30 and 07:30 UTC:

    >>> wall = 1541295000  # 2018-11-04 01:30 as wall-clock seconds
    >>> [int(utc_seconds_from_local([wall], "America/Chicago", ambiguous=a)[0] - wall)
    ...  for a in ("first", "last")]
    [18000, 21600]
    """
    zone = check_timezone(timezone)
    if ambiguous not in _AMBIGUOUS:
        raise GeoError(f"ambiguous must be one of {list(_AMBIGUOUS)}, got {ambiguous!r}")
    wall = _whole_array(local_s, name, "whole wall-clock seconds")
    flat = wall.ravel()
    if flat.size == 0:
        return flat.reshape(wall.shape)
    # pandas reads the boolean as "daylight time": the first occurrence when clocks go back.
    utc = pd.DatetimeIndex(flat.astype("datetime64[s]")).tz_localize(
        zone.key,
        ambiguous=np.full(flat.size, ambiguous == "first"),
        nonexistent="shift_forward",
    )
    return np.asarray(utc.as_unit("s").asi8, dtype=np.int64).reshape(wall.shape)


def local_dates(times_s: ArrayLike, timezone: str, *, name: str = "times_s") -> NDArray[Any]:
    """Return the local calendar date of each UTC second, as ``datetime64[D]``.

    ``str()`` of an element is its ISO date; ``.astype(np.int64)`` gives day numbers since
    1970-01-01 and ``.astype("datetime64[M]")`` the month. Raises as
    :func:`local_seconds_from_utc` does.

    Examples
    --------
    23:30 on 31 December 2026 in Chicago is already 1 January in UTC:

    >>> str(local_dates([1798781400], "America/Chicago")[0])
    '2026-12-31'
    """
    wall = local_seconds_from_utc(times_s, timezone, name=name)
    return np.floor_divide(wall, DAY_S).astype("datetime64[D]")


def day_start_s(day: dt.date | str, timezone: str, *, name: str = "day") -> int:
    """Return the UTC seconds of the local midnight that starts ``day``.

    A midnight skipped by a daylight-saving jump is the first moment after the jump; one
    that happens twice is the first (see the module notes). The next day's start minus this
    one is 23, 24 or 25 hours.

    Parameters
    ----------
    day
        A date, or its ISO text ``"YYYY-MM-DD"``.
    timezone
        IANA name.
    name
        Name of ``day`` in error messages.

    Returns
    -------
    int
        UTC seconds of that midnight.

    Raises
    ------
    GeoError
        For a ``day`` that is not a date or an unknown time zone.

    Examples
    --------
    >>> day_start_s("2018-03-12", "America/Chicago") - day_start_s("2018-03-11", "America/Chicago")
    82800
    """
    if isinstance(day, str):
        try:
            day = dt.date.fromisoformat(day)
        except ValueError as err:
            raise GeoError(f"{name} must be a date 'YYYY-MM-DD', got {day!r}") from err
    if isinstance(day, dt.datetime) or not isinstance(day, dt.date):
        raise GeoError(f"{name} must be a date or 'YYYY-MM-DD', got {day!r}")
    wall = (day - dt.date(1970, 1, 1)).days * DAY_S
    return int(utc_seconds_from_local(np.array([wall]), timezone)[0])


# --- helpers ----------------------------------------------------------------------------------


def _range_text(low: float, high: float, *, low_open: bool, high_open: bool) -> str:
    """Describe a range for a message: ``a finite number > 0``, ``a number in [0, 1)``."""
    if math.isinf(low) and math.isinf(high):
        return "a finite number"
    if math.isinf(high):
        return f"a finite number {'>' if low_open else '>='} {low:g}"
    if math.isinf(low):
        return f"a finite number {'<' if high_open else '<='} {high:g}"
    return f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def _whole_array(values: ArrayLike, name: str, what: str) -> NDArray[np.int64]:
    """``values`` as an int64 array, or GeoError unless they are whole numbers."""
    array = np.asarray(values)
    if array.size and array.dtype.kind not in "iu":
        raise GeoError(f"{name} must be {what}, got dtype {array.dtype}")
    return array.astype(np.int64)
