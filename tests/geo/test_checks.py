"""Tests for geo/checks.py: argument checks, and local time across daylight-saving changes.

Expected instants are written out by hand as UTC calendar times (``calendar.timegm``), never
computed with the code under test.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import zoneinfo

import numpy as np
import pandas as pd
import pytest

from geo.checks import (
    DAY_S,
    check_aware_timestamp,
    check_cells,
    check_number,
    check_seconds,
    check_timezone,
    check_whole,
    day_start_s,
    local_dates,
    local_seconds_from_utc,
    utc_seconds_from_local,
)
from geo.errors import GeoError, InvalidBoundaryError

CHICAGO = "America/Chicago"
SHANGHAI = "Asia/Shanghai"
HOUR_S = 3600


def utc(*fields: int) -> int:
    """UTC seconds of (year, month, day, hour, minute) written out by hand."""
    year, month, day, hour, minute = (*fields, 0, 0, 0)[:5]
    return calendar.timegm((year, month, day, hour, minute, 0))


# Wall-clock seconds use the same arithmetic as UTC seconds: the local calendar as if UTC.
wall = utc


# --- numbers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kwargs", "expected"),
    [
        (0.5, {"low": 0.0, "high": 1.0}, 0.5),
        (np.float32(2.0), {"low": 0.0, "low_open": True}, 2.0),
        (np.int64(3), {}, 3.0),
        (0, {"low": 0.0}, 0.0),
        (1, {"low": 0.0, "high": 1.0}, 1.0),
    ],
)
def test_check_number_accepts_and_returns_a_float(value, kwargs, expected) -> None:
    number = check_number(value, "x", **kwargs)
    assert number == expected and type(number) is float


@pytest.mark.parametrize(
    ("value", "kwargs", "message"),
    [
        (True, {}, r"x must be a finite number, got True"),
        ("1", {}, r"x must be a finite number, got '1'"),
        (None, {}, r"got None"),
        (math.nan, {}, r"got nan"),
        (math.inf, {"low": 0.0}, r"x must be a finite number >= 0, got inf"),
        (0, {"low": 0.0, "low_open": True}, r"x must be a finite number > 0, got 0"),
        (2, {"high": 1.5}, r"x must be a finite number <= 1.5, got 2"),
        (1.0, {"low": 0.0, "high": 1.0, "high_open": True}, r"x must be a number in \[0, 1\)"),
        (0.0, {"low": 0.0, "high": 1.0, "low_open": True}, r"x must be a number in \(0, 1\]"),
    ],
)
def test_check_number_names_argument_range_and_value(value, kwargs, message) -> None:
    with pytest.raises(GeoError, match=message):
        check_number(value, "x", **kwargs)


def test_check_number_raises_the_class_asked_for() -> None:
    with pytest.raises(InvalidBoundaryError, match="tolerance_m"):
        check_number(-1.0, "tolerance_m", low=0.0, error=InvalidBoundaryError)


def test_check_whole() -> None:
    assert check_whole(np.int16(7), "k", minimum=0) == 7
    assert type(check_whole(np.int64(7), "k")) is int
    assert check_whole(-5, "offset") == -5
    assert check_whole(168, "min_hours", minimum=1, maximum=168) == 168
    cases = [
        (3.0, {"minimum": 0}, "k must be a non-negative whole number, got 3.0"),
        (False, {}, "k must be a whole number, got False"),
        (0, {"minimum": 1}, "k must be a positive whole number, got 0"),
        (1, {"minimum": 2}, "k must be a whole number >= 2, got 1"),
        (5, {"maximum": 4}, "k must be a whole number <= 4, got 5"),
        (169, {"minimum": 1, "maximum": 168}, r"k must be a whole number in 1\.\.168, got 169"),
    ]
    for value, kwargs, message in cases:
        with pytest.raises(GeoError, match=message):
            check_whole(value, "k", **kwargs)  # type: ignore[arg-type]


def test_check_seconds() -> None:
    assert check_seconds(np.int64(1_500_000_000), "as_of_s") == 1_500_000_000
    for value in (1.5e9, True, "1500000000", None):
        with pytest.raises(GeoError, match="as_of_s must be whole UTC seconds"):
            check_seconds(value, "as_of_s")


def test_check_timezone() -> None:
    assert check_timezone(CHICAGO) == zoneinfo.ZoneInfo(CHICAGO)
    for value in ("Mars/Olympus", "", None, 8, "../etc/passwd"):
        with pytest.raises(GeoError, match="timezone must be an IANA name"):
            check_timezone(value)
    with pytest.raises(GeoError, match="zone must be"):
        check_timezone("Nowhere", name="zone")


def test_check_aware_timestamp() -> None:
    stamp = pd.Timestamp("2024-06-30 15:20", tz=SHANGHAI)
    assert check_aware_timestamp(stamp, "now") is stamp
    for value in (pd.Timestamp("2024-06-30"), dt.datetime.now(dt.UTC), "2024-06-30T00:00Z"):
        with pytest.raises(GeoError, match="now must be a timezone-aware pandas.Timestamp"):
            check_aware_timestamp(value, "now")


def test_check_cells() -> None:
    cells = np.array([30, 10, 20], dtype=np.int64)
    checked = check_cells(cells)
    assert checked.tolist() == [30, 10, 20] and checked.dtype == np.int64
    checked[0] = 0
    assert cells[0] == 30  # a copy, never the caller's array
    # uint64 ids are reinterpreted bit for bit, as H3 ids from other libraries arrive.
    big = np.array([2**63 + 5], dtype=np.uint64)
    assert check_cells(big).tolist() == [-(2**63) + 5]
    assert check_cells([10, 20, 30], ordered=True).tolist() == [10, 20, 30]
    with pytest.raises(GeoError, match=r"cells must be sorted and unique; pass np.unique\(cells\)"):
        check_cells(cells, ordered=True)
    with pytest.raises(GeoError, match="study must be distinct"):
        check_cells([10, 10], "study")
    for bad in ([], [[1, 2]], [1.5], ["8928308280fffff"]):
        with pytest.raises(GeoError, match="non-empty 1-D array of int64 H3 ids"):
            check_cells(bad)


# --- local time ---------------------------------------------------------------------------------


def test_local_seconds_across_chicago_daylight_saving() -> None:
    times = np.array(
        [
            utc(2018, 3, 11, 7, 59),  # 01:59 CST, a minute before the jump
            utc(2018, 3, 11, 8, 0),  # 03:00 CDT
            utc(2018, 11, 4, 6, 30),  # 01:30 CDT, first time round
            utc(2018, 11, 4, 7, 30),  # 01:30 CST, second time round
            utc(2018, 7, 2, 5, 0),  # midnight starting Monday 2 July
        ]
    )
    expected = [
        wall(2018, 3, 11, 1, 59),
        wall(2018, 3, 11, 3, 0),
        wall(2018, 11, 4, 1, 30),
        wall(2018, 11, 4, 1, 30),
        wall(2018, 7, 2, 0, 0),
    ]
    assert local_seconds_from_utc(times, CHICAGO).tolist() == expected
    # Shape is kept; Shanghai has no daylight saving: always 8 hours ahead.
    grid = times.reshape(5, 1)
    assert local_seconds_from_utc(grid, SHANGHAI).tolist() == (grid + 8 * HOUR_S).tolist()
    assert local_seconds_from_utc(np.array([], dtype=np.int64), CHICAGO).shape == (0,)


def test_local_seconds_reject_fractions_and_unknown_zones() -> None:
    with pytest.raises(GeoError, match="times_s must be whole UTC seconds, got dtype float64"):
        local_seconds_from_utc([1.5], CHICAGO)
    with pytest.raises(GeoError, match="IANA"):
        local_seconds_from_utc([0], "Mars/Olympus")


def test_utc_from_local_follows_the_first_occurrence_and_shift_forward_rule() -> None:
    spring = wall(2018, 3, 11, 2, 30)  # never happens in Chicago
    fall = wall(2018, 11, 4, 1, 30)  # happens twice
    assert utc_seconds_from_local([spring], CHICAGO).tolist() == [utc(2018, 3, 11, 8, 0)]
    assert utc_seconds_from_local([fall], CHICAGO).tolist() == [utc(2018, 11, 4, 6, 30)]
    assert utc_seconds_from_local([fall], CHICAGO, ambiguous="last").tolist() == [
        utc(2018, 11, 4, 7, 30)
    ]
    # Outside the changes the conversion is the inverse of local_seconds_from_utc.
    times = np.arange(utc(2018, 1, 1), utc(2019, 1, 1), 3 * HOUR_S + 17, dtype=np.int64)
    local = local_seconds_from_utc(times, CHICAGO)
    repeated = (local >= wall(2018, 11, 4, 1)) & (local < wall(2018, 11, 4, 2))
    assert (utc_seconds_from_local(local, CHICAGO)[~repeated] == times[~repeated]).all()
    assert utc_seconds_from_local(local.reshape(-1, 1), SHANGHAI).shape == (local.size, 1)
    with pytest.raises(GeoError, match="ambiguous must be one of"):
        utc_seconds_from_local([fall], CHICAGO, ambiguous="earliest")  # type: ignore[arg-type]
    with pytest.raises(GeoError, match="local_s must be whole wall-clock seconds"):
        utc_seconds_from_local(np.array([1.0]), CHICAGO)


def test_local_dates_run_ahead_of_or_behind_utc() -> None:
    assert str(local_dates([utc(2026, 12, 31, 16, 30)], SHANGHAI)[0]) == "2027-01-01"
    assert str(local_dates([utc(2027, 1, 1, 5, 59)], CHICAGO)[0]) == "2026-12-31"
    days = local_dates(np.array([utc(1969, 12, 31, 23), utc(1970, 1, 1, 6)]), CHICAGO)
    assert days.dtype == np.dtype("datetime64[D]")
    assert days.astype(np.int64).tolist() == [-1, 0]
    assert str(days.astype("datetime64[M]")[0]) == "1969-12"


def test_day_start_on_short_long_and_ordinary_days() -> None:
    assert day_start_s("2018-03-11", CHICAGO) == utc(2018, 3, 11, 6)
    assert day_start_s(dt.date(2018, 3, 12), CHICAGO) == utc(2018, 3, 12, 5)
    assert day_start_s("2018-03-12", CHICAGO) - day_start_s("2018-03-11", CHICAGO) == 23 * HOUR_S
    assert day_start_s("2018-11-05", CHICAGO) - day_start_s("2018-11-04", CHICAGO) == 25 * HOUR_S
    assert day_start_s("2027-01-01", SHANGHAI) == utc(2026, 12, 31, 16)
    # Santiago's clocks jumped from 00:00 to 01:00 on 12 August 2018: the day starts at 01:00
    # (UTC-3).
    assert day_start_s("2018-08-12", "America/Santiago") == utc(2018, 8, 12, 4)


def test_day_start_agrees_with_the_standard_library_on_ordinary_zones() -> None:
    for name in (CHICAGO, SHANGHAI, "Europe/London", "America/Sao_Paulo", "Asia/Beirut"):
        zone = zoneinfo.ZoneInfo(name)
        for day in (dt.date(2016, 1, 1) + dt.timedelta(days=n) for n in range(0, 1100, 3)):
            midnight = dt.datetime(day.year, day.month, day.day, tzinfo=zone)
            assert day_start_s(day, name) == int(midnight.timestamp()), (name, day)


def test_day_start_rejects_what_is_not_a_date() -> None:
    for value in ("2018-02-30", "yesterday", 20180101, dt.datetime(2018, 1, 1)):
        with pytest.raises(GeoError, match="when must be a date"):
            day_start_s(value, CHICAGO, name="when")  # type: ignore[arg-type]
    with pytest.raises(GeoError, match="IANA"):
        day_start_s("2018-01-01", "Mars/Olympus")
    assert DAY_S == 24 * HOUR_S
