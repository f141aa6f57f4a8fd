"""Tests for geo/temporal.py: local hours across daylight saving, profile means, shrinkage
toward the neighbourhood and the city, empirical-Bayes strengths, and hot windows.
"""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest

from geo.errors import GeoError
from geo.temporal import (
    HOT_WINDOW_COLUMNS,
    HOURS_PER_WEEK,
    hot_windows,
    hour_weekday_profile,
    local_weekday_hour,
    risk_at,
)

DAY = 86_400
HOUR = 3_600
LOOP = h3.latlng_to_cell(41.8781, -87.6298, 9)
CENTRE = h3.str_to_int(LOOP)
PETALS = [h3.str_to_int(c) for c in h3.grid_ring(LOOP, 1)]
FLOWER = np.array([CENTRE, *PETALS], dtype=np.int64)
# A cell far from the Loop: no neighbours in the study area.
FAR = h3.str_to_int(h3.latlng_to_cell(41.99, -87.80, 9))
# Monday 2018-07-02 00:00 in Chicago (CDT, UTC-5) as UTC seconds.
MONDAY_CHICAGO = int(pd.Timestamp("2018-07-02 00:00", tz="America/Chicago").timestamp())
NO_SMOOTHING = (1.0,)


def incidents(times: list[int], cells: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "occurred_at": np.asarray(times, dtype=np.int64),
            "cell": np.asarray(cells, dtype=np.int64),
            "category": ["THEFT"] * len(times),
        }
    )


def at(weekday: int, hour: int, week: int = 0) -> int:
    """UTC seconds of a local Chicago weekday and hour, ``week`` weeks after 2018-07-02.

    Daylight-saving time holds until 2018-11-04, so weeks 0..16 share one UTC offset.
    """
    return MONDAY_CHICAGO + week * 7 * DAY + weekday * DAY + hour * HOUR


# --- local hours -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("utc", "timezone", "weekday", "hour"),
    [
        # Chicago springs forward at 02:00 CST on Sunday 2018-03-11.
        ("2018-03-11 07:30", "America/Chicago", 6, 1),  # 01:30 CST
        ("2018-03-11 08:30", "America/Chicago", 6, 3),  # 03:30 CDT: 02:xx never happens
        # ... and falls back at 02:00 CDT on Sunday 2018-11-04: 01:xx happens twice.
        ("2018-11-04 06:30", "America/Chicago", 6, 1),  # 01:30 CDT
        ("2018-11-04 07:30", "America/Chicago", 6, 1),  # 01:30 CST
        ("2018-11-04 08:30", "America/Chicago", 6, 2),
        # Shanghai keeps UTC+8 all year; the local date runs ahead of UTC.
        ("2018-03-11 08:30", "Asia/Shanghai", 6, 16),
        ("2018-07-01 20:00", "Asia/Shanghai", 0, 4),  # Sunday evening UTC is Monday there
        ("2018-11-04 07:30", "Asia/Shanghai", 6, 15),
    ],
)
def test_local_weekday_and_hour(utc: str, timezone: str, weekday: int, hour: int) -> None:
    seconds = int(pd.Timestamp(utc, tz="UTC").timestamp())
    got_weekday, got_hour = local_weekday_hour(np.array([seconds]), timezone)
    assert (int(got_weekday[0]), int(got_hour[0])) == (weekday, hour)


def test_local_weekday_hour_rejects_unknown_timezone() -> None:
    with pytest.raises(GeoError, match="IANA"):
        local_weekday_hour([0], "Mars/Olympus")


def test_profile_uses_local_hours_in_each_timezone() -> None:
    # Three incidents at 2018-07-02 14:00 UTC: Monday 09:00 in Chicago, 22:00 in Shanghai.
    moment = int(pd.Timestamp("2018-07-02 14:00", tz="UTC").timestamp())
    frame = incidents([moment] * 3, [FAR] * 3)
    for timezone, hour in (("America/Chicago", 9), ("Asia/Shanghai", 22)):
        profile = hour_weekday_profile(
            frame,
            np.array([FAR]),
            moment + DAY,
            timezone,
            k=0,
            prior_strength=1.0,
            hour_kernel=NO_SMOOTHING,
        )
        assert np.unravel_index(np.argmax(profile[0]), (7, 24)) == (0, hour)


# --- profile shape, means and shrinkage ------------------------------------------------------


@pytest.fixture(scope="module")
def busy_flower() -> pd.DataFrame:
    """Petals with incidents spread over the week; petal 0 very busy at Monday 09:00 only."""
    rng = np.random.default_rng(11)
    times, cells = [], []
    for petal in PETALS[1:]:
        for _ in range(200):
            times.append(at(int(rng.integers(7)), int(rng.integers(24)), int(rng.integers(17))))
            cells.append(petal)
    for week in range(17):
        for _ in range(50):
            times.append(at(0, 9, week))
            cells.append(PETALS[0])
    return incidents(times, cells)


def test_profile_shape_and_mean_one(busy_flower: pd.DataFrame) -> None:
    study = np.append(FLOWER, FAR)
    profile = hour_weekday_profile(busy_flower, study, at(0, 0, 41), "America/Chicago", 365)
    assert profile.shape == (8, 7, 24)
    np.testing.assert_allclose(profile.mean(axis=(1, 2)), 1.0, rtol=1e-12)
    assert (profile > 0).all()


def test_cell_without_incidents_gets_its_neighbourhood_profile(busy_flower: pd.DataFrame) -> None:
    as_of = at(0, 0, 41)
    strength = 10.0
    profile = hour_weekday_profile(
        busy_flower,
        FLOWER,
        as_of,
        "America/Chicago",
        k=1,
        prior_strength=strength,
        hour_kernel=NO_SMOOTHING,
    )
    # By hand: the centre's neighbourhood is all six petals; shrink it toward the city.
    weekday = (busy_flower["occurred_at"].to_numpy() - MONDAY_CHICAGO) // DAY % 7
    hour = (busy_flower["occurred_at"].to_numpy() - MONDAY_CHICAGO) // HOUR % 24
    counts = np.bincount(weekday * 24 + hour, minlength=HOURS_PER_WEEK).astype(float)
    city = (counts + 0.5) / (counts.sum() + 0.5 * HOURS_PER_WEEK)
    expected = HOURS_PER_WEEK * (counts + strength * city) / (counts.sum() + strength)
    np.testing.assert_allclose(profile[0].ravel(), expected, rtol=1e-12)


def test_cell_with_no_incidents_anywhere_near_gets_the_city_profile(
    busy_flower: pd.DataFrame,
) -> None:
    study = np.append(FLOWER, FAR)
    profile = hour_weekday_profile(busy_flower, study, at(0, 0, 41), "America/Chicago", 365)
    counts = np.zeros(HOURS_PER_WEEK)
    local = busy_flower["occurred_at"].to_numpy() - MONDAY_CHICAGO
    np.add.at(counts, (local // DAY % 7) * 24 + local // HOUR % 24, 1.0)
    city = (counts + 0.5) / (counts.sum() + 0.5 * HOURS_PER_WEEK)
    kernel = np.array([0.25, 0.5, 0.25])
    smoothed = sum(w * np.roll(city, s) for s, w in zip((-1, 0, 1), kernel, strict=True))
    np.testing.assert_allclose(profile[-1].ravel(), HOURS_PER_WEEK * smoothed, rtol=1e-10)


def test_busy_cell_keeps_its_own_profile(busy_flower: pd.DataFrame) -> None:
    profile = hour_weekday_profile(
        busy_flower,
        FLOWER,
        at(0, 0, 41),
        "America/Chicago",
        prior_strength=20.0,
        hour_kernel=NO_SMOOTHING,
    )
    busy = profile[1]  # petal 0: 850 incidents, all on Monday 09:00
    assert busy[0, 9] > 0.95 * HOURS_PER_WEEK
    # A petal next to it borrows some of that peak; the petal opposite does not.
    assert profile[2][0, 9] > 2 * profile[4][0, 9]


def test_empirical_bayes_strength_follows_the_data() -> None:
    rng = np.random.default_rng(2)
    cells = np.array(sorted(h3.str_to_int(c) for c in h3.grid_disk(LOOP, 3)), dtype=np.int64)
    as_of = at(0, 0, 60)

    def profile_for(hours_of: np.ndarray) -> np.ndarray:
        times = [at(int(h) // 24, int(h) % 24, int(rng.integers(50))) for h in hours_of]
        owners = np.repeat(cells, 60)
        return hour_weekday_profile(
            incidents(times, owners.tolist()),
            cells,
            as_of,
            "America/Chicago",
            400,
            k=0,
            hour_kernel=NO_SMOOTHING,
        )

    # Every cell with the same flat profile: shrink hard, every cell gets the city's.
    same = profile_for(rng.integers(HOURS_PER_WEEK, size=cells.size * 60))
    assert np.abs(same - same.mean(axis=0)).max() < 0.1
    # Each cell concentrated on its own few hours: shrink little, the peaks survive.
    own_hours = rng.integers(HOURS_PER_WEEK, size=(cells.size, 3))
    pick = rng.integers(3, size=(cells.size, 60))
    distinct = profile_for(np.take_along_axis(own_hours, pick, axis=1).ravel())
    assert np.median(distinct.reshape(cells.size, -1).max(axis=1)) > 30


def test_hour_smoothing_wraps_around_the_week() -> None:
    frame = incidents([at(6, 23)] * 100, [FAR] * 100)  # Sunday 23:00
    profile = hour_weekday_profile(
        frame,
        np.array([FAR]),
        at(0, 0, 2),
        "America/Chicago",
        k=0,
        prior_strength=1.0,
    )
    row = profile[0]
    assert row[0, 0] == pytest.approx(row[6, 22])  # Monday 00:00 mirrors Sunday 22:00
    assert row[6, 23] > row[0, 0] > row[3, 12]
    assert row.mean() == pytest.approx(1.0)


def test_lookback_and_as_of_cut_the_incidents() -> None:
    # Week 0 is older than the 30-day lookback, the last incident is at as_of: neither counts.
    frame = incidents([at(3, 20), at(0, 9, week=9), at(2, 15, week=10)], [FAR] * 3)
    kwargs = {"k": 0, "prior_strength": 1.0, "hour_kernel": NO_SMOOTHING}
    as_of = at(2, 15, week=10)
    profile = hour_weekday_profile(frame, np.array([FAR]), as_of, "America/Chicago", 30, **kwargs)
    assert np.unravel_index(np.argmax(profile[0]), (7, 24)) == (0, 9)
    nothing = hour_weekday_profile(
        frame, np.array([FAR]), at(0, 0, 5), "America/Chicago", 30, **kwargs
    )
    np.testing.assert_allclose(nothing, 1.0)  # no incidents at all: a flat profile


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timezone": "Nowhere"}, "IANA"),
        ({"lookback_days": 0}, "lookback_days"),
        ({"k": -1}, "k must"),
        ({"prior_strength": 0.0}, "prior_strength"),
        ({"hour_kernel": (0.5, 0.5)}, "odd number"),
    ],
)
def test_profile_rejects_bad_settings(kwargs: dict, message: str) -> None:
    arguments = {
        "incidents": incidents([at(0, 9)], [FAR]),
        "cells": np.array([FAR]),
        "as_of_s": at(0, 0, 1),
        "timezone": "America/Chicago",
        **kwargs,
    }
    with pytest.raises(GeoError, match=message):
        hour_weekday_profile(**arguments)


# --- risk_at and hot windows ---------------------------------------------------------------------


def test_risk_at_reads_and_broadcasts() -> None:
    profile = np.arange(2 * 168, dtype=float).reshape(2, 7, 24)
    assert risk_at(profile, 1, 0, 5) == 168 + 5
    got = risk_at(profile, np.array([0, 1]), 6, np.array([23, 0]))
    assert got.tolist() == [167.0, 168.0 + 144]
    with pytest.raises(GeoError, match="local_hour"):
        risk_at(profile, 0, 0, 24)
    with pytest.raises(GeoError, match="cell_index"):
        risk_at(profile, 2, 0, 0)
    with pytest.raises(GeoError, match="shape"):
        risk_at(profile[0], 0, 0, 0)


def test_hot_windows_wrap_around_midnight_and_the_week() -> None:
    row = np.ones((7, 24))
    row[6, 22:] = 2.0
    row[0, :2] = 3.0  # Sunday 22:00 .. Monday 02:00: one window of four hours
    row[2, 9:11] = 1.5  # Wednesday 09:00 .. 11:00
    row[4, 20] = 1.6  # Friday 20:00, a single hour
    windows = hot_windows(row, threshold=1.2)
    assert windows.columns.tolist() == list(HOT_WINDOW_COLUMNS)
    assert windows[["weekday", "start_hour", "hours"]].values.tolist() == [
        [2, 9, 2],
        [4, 20, 1],
        [6, 22, 4],
    ]
    assert windows["mean_risk"].tolist() == pytest.approx([1.5, 1.6, 2.5])
    assert windows["peak_risk"].tolist() == pytest.approx([1.5, 1.6, 3.0])
    longer = hot_windows(row.ravel(), threshold=1.2, min_hours=2)
    assert longer["hours"].tolist() == [2, 4]


def test_hot_windows_edge_cases() -> None:
    flat = np.ones(168)
    assert hot_windows(flat, threshold=1.0).empty  # strictly above the threshold
    everything = hot_windows(flat, threshold=0.5)
    assert everything[["weekday", "start_hour", "hours"]].values.tolist() == [[0, 0, 168]]
    with pytest.raises(GeoError, match="shape"):
        hot_windows(np.ones(24), threshold=1.0)
    with pytest.raises(GeoError, match="min_hours"):
        hot_windows(flat, threshold=1.0, min_hours=0)
