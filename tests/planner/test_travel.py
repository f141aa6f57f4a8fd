"""Tests for planner/travel.py: the great-circle travel-time estimate and TravelMatrix."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyproj import Geod

from planner.travel import (
    DEFAULT_CIRCUITY,
    EARTH_RADIUS_M,
    MODE_SPEEDS_KMH,
    InvalidPointsError,
    InvalidTravelParameterError,
    TravelMatrix,
    TravelTimeError,
    UnknownModeError,
    great_circle_m,
    great_circle_matrix,
)

CITY_HALL = (-87.63235, 41.88375)  # Chicago City Hall, 121 N LaSalle St
OHARE = (-87.90480, 41.97860)  # O'Hare International Airport, terminal area
WILLIS_TOWER = (-87.63590, 41.87890)


def test_one_degree_of_latitude_is_111_2_km() -> None:
    metres = great_circle_m(0.0, 10.0, 0.0, 11.0)
    assert metres == pytest.approx(math.radians(1.0) * EARTH_RADIUS_M, rel=1e-12)
    assert metres == pytest.approx(111_195, abs=1)


@pytest.mark.parametrize("other", [OHARE, WILLIS_TOWER])
def test_distances_match_the_wgs84_ellipsoid_to_half_a_percent(other) -> None:
    _, _, ellipsoid_m = Geod(ellps="WGS84").inv(*CITY_HALL, *other)
    assert great_circle_m(*CITY_HALL, *other) == pytest.approx(ellipsoid_m, rel=0.005)


def test_antipodes_give_half_the_circumference_not_nan() -> None:
    assert great_circle_m(0.0, 0.0, 180.0, 0.0) == pytest.approx(math.pi * EARTH_RADIUS_M)


@pytest.fixture
def three_points() -> TravelMatrix:
    lon, lat = zip(CITY_HALL, OHARE, WILLIS_TOWER, strict=True)
    return great_circle_matrix(lon, lat)


def test_matrix_is_symmetric_with_a_zero_diagonal(three_points: TravelMatrix) -> None:
    for values in (three_points.seconds, three_points.metres):
        assert values.shape == (3, 3)
        np.testing.assert_array_equal(np.diag(values), 0.0)
        np.testing.assert_allclose(values, values.T, rtol=1e-12)
        assert (values[~np.eye(3, dtype=bool)] > 0).all()
    assert three_points.unreachable == ()
    assert three_points.reachable.all()
    np.testing.assert_array_equal(three_points.snap_m, 0.0)


def test_metres_are_circuity_times_great_circle_and_seconds_use_the_mode_speed(
    three_points: TravelMatrix,
) -> None:
    straight = great_circle_m(*CITY_HALL, *OHARE)
    assert three_points.metres[0, 1] == pytest.approx(DEFAULT_CIRCUITY * straight)
    car_mps = MODE_SPEEDS_KMH["car"] / 3.6
    assert three_points.seconds[0, 1] == pytest.approx(DEFAULT_CIRCUITY * straight / car_mps)
    assert three_points.mode == "car"
    assert three_points.method == "great_circle"


def test_circuity_and_speed_scale_the_matrix(three_points: TravelMatrix) -> None:
    lon, lat = three_points.points.T
    straight = great_circle_matrix(lon, lat, circuity=1.0)
    np.testing.assert_allclose(straight.metres * DEFAULT_CIRCUITY, three_points.metres)
    faster = great_circle_matrix(lon, lat, speed_kmh=60.0)
    np.testing.assert_allclose(faster.seconds * 2.0, three_points.seconds)
    np.testing.assert_allclose(faster.metres, three_points.metres)
    walking = great_circle_matrix(lon, lat, mode="foot")
    ratio = MODE_SPEEDS_KMH["car"] / MODE_SPEEDS_KMH["foot"]
    np.testing.assert_allclose(walking.seconds, three_points.seconds * ratio)


def test_path_is_the_straight_segment(three_points: TravelMatrix) -> None:
    assert three_points.path(0, 1) == [CITY_HALL, OHARE]
    assert three_points.path(2, 2) == [WILLIS_TOWER]
    assert three_points.path(-1, 0) == [WILLIS_TOWER, CITY_HALL]
    with pytest.raises(IndexError, match="out of range for 3 points"):
        three_points.path(0, 3)


def test_arrays_are_read_only_and_inputs_untouched() -> None:
    lon, lat = np.array([CITY_HALL[0], OHARE[0]]), np.array([CITY_HALL[1], OHARE[1]])
    matrix = great_circle_matrix(lon, lat)
    with pytest.raises(ValueError, match="read-only"):
        matrix.seconds[0, 1] = 0.0
    lon[0] = 0.0  # the caller's arrays stay theirs
    assert matrix.points[0, 0] == CITY_HALL[0]


def test_no_points_give_an_empty_matrix() -> None:
    matrix = great_circle_matrix([], [])
    assert matrix.seconds.shape == (0, 0)
    assert matrix.points.shape == (0, 2)


@pytest.mark.parametrize(
    ("lon", "lat", "error", "message"),
    [
        ([1.0, 2.0], [1.0], InvalidPointsError, "1-d arrays of one length"),
        ([1.0, np.nan], [1.0, 2.0], InvalidPointsError, "point 1 is"),
        ([30.67], [104.06], InvalidPointsError, "swapped"),  # Chengdu as (lat, lon)
        ([[1.0]], [[1.0]], InvalidPointsError, "1-d"),
        (["x"], [1.0], InvalidPointsError, "arrays of numbers"),
    ],
)
def test_bad_points_are_rejected(lon, lat, error, message) -> None:
    with pytest.raises(error, match=message):
        great_circle_matrix(lon, lat)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"mode": "bicycle"}, UnknownModeError, "mode must be one of"),
        ({"speed_kmh": 0.0}, InvalidTravelParameterError, "speed_kmh must be positive"),
        ({"speed_kmh": np.inf}, InvalidTravelParameterError, "speed_kmh must be positive"),
        ({"speed_kmh": "fast"}, InvalidTravelParameterError, "speed_kmh must be a number"),
        ({"circuity": 0.9}, InvalidTravelParameterError, "circuity must be at least 1"),
    ],
)
def test_bad_parameters_are_rejected(kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        great_circle_matrix([0.0], [0.0], **kwargs)
    assert issubclass(error, TravelTimeError)
    assert issubclass(error, ValueError)


def test_travel_errors_are_planner_errors() -> None:
    from planner.errors import PlannerError, RoadNetworkError, TravelTimeError
    from planner.travel import InvalidPointsError, UnknownModeError

    for error in (TravelTimeError, InvalidPointsError, UnknownModeError, RoadNetworkError):
        assert issubclass(error, PlannerError) and issubclass(error, ValueError)
