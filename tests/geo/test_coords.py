"""Tests for geo/coords.py: GCJ-02 and BD-09 against prcoords, round trips, pyproj, outlines."""

from __future__ import annotations

from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import prcoords
import pyproj
import pytest
import shapely

from geo.coords import (
    CHINESE_CRS,
    bd09_from_gcj02,
    bd09_from_wgs84,
    gcj02_from_bd09,
    gcj02_from_wgs84,
    geometry_to_wgs84,
    normalise_crs_name,
    to_wgs84,
    wgs84_from_bd09,
    wgs84_from_gcj02,
)
from geo.errors import InvalidCoordinatesError
from tests.conftest import REPO, SHARED

JIAYUGUAN_SHARED = SHARED / "data" / "boundaries" / "jiayuguan"
JIAYUGUAN_GCJ02 = JIAYUGUAN_SHARED / "620200_full.json"
JIAYUGUAN_AMAP_WGS84 = JIAYUGUAN_SHARED / "jiayuguan_620200_amap_wgs84.geojson"
JIAYUGUAN_REPO = REPO / "data" / "boundaries" / "jiayuguan.geojson"
CHICAGO_CRIMES = SHARED / "data" / "incidents" / "chicago" / "chicago_crimes_2016-01.csv.gz"

EQUAL_AREA_CRS = "EPSG:6933"
GEOD = pyproj.Geod(ellps="WGS84")
ONE_CM_M = 0.01

# (lon, lat) in WGS-84, from west to east, so a failure names a real place.
CITIES = {
    "urumqi": (87.6168, 43.8256),
    "jiayuguan": (98.2773, 39.7865),
    "beijing": (116.3913, 39.9075),
    "shenzhen": (114.0579, 22.5431),
}
OUTSIDE_CHINA = {
    "london": (-0.1276, 51.5072),
    "new_york": (-74.006, 40.7128),
    "sydney": (151.2093, -33.8688),
    "moscow": (37.6173, 55.7558),
    "tokyo": (139.6917, 35.6895),
}
CONVERSIONS = [
    gcj02_from_wgs84,
    wgs84_from_gcj02,
    bd09_from_gcj02,
    gcj02_from_bd09,
    bd09_from_wgs84,
    wgs84_from_bd09,
]
Conversion = Callable[..., tuple[np.ndarray, np.ndarray]]


def random_points_in_china(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform points over mainland China's extent plus the named cities, as (lon, lat)."""
    rng = np.random.default_rng(seed)
    city_lon, city_lat = np.array(list(CITIES.values())).T
    lon = np.concatenate([rng.uniform(73.5, 135.0, count), city_lon])
    lat = np.concatenate([rng.uniform(18.0, 53.5, count), city_lat])
    return lon, lat


def distance_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Geodesic distance in metres between matching points on WGS-84."""
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def intersection_over_union(first: gpd.GeoSeries, second: gpd.GeoSeries) -> float:
    """IoU of two outlines, measured in an equal-area projection."""
    first_area = first.to_crs(EQUAL_AREA_CRS).union_all()
    second_area = second.to_crs(EQUAL_AREA_CRS).union_all()
    return float(first_area.intersection(second_area).area / first_area.union(second_area).area)


@pytest.fixture(scope="module")
def jiayuguan_amap_wgs84() -> gpd.GeoSeries:
    return gpd.read_file(JIAYUGUAN_AMAP_WGS84).geometry


@pytest.fixture(scope="module")
def jiayuguan_gcj02() -> gpd.GeoSeries:
    # DataV labels nothing, so geopandas reads the GCJ-02 degrees as EPSG:4326.
    return gpd.read_file(JIAYUGUAN_GCJ02).geometry


def max_error_from_prcoords(convert, reference, n: int, seed: int) -> float:
    """Largest difference in degrees between ``convert`` and prcoords' ``reference`` (which
    takes and returns ``(lat, lon)``) over ``n`` random points in China."""
    lon, lat = random_points_in_china(n, seed=seed)
    got_lon, got_lat = convert(lon, lat)
    expected = np.array([reference((y, x)) for x, y in zip(lon, lat, strict=True)])
    return max(np.max(np.abs(got_lat - expected[:, 0])), np.max(np.abs(got_lon - expected[:, 1])))


@pytest.mark.parametrize(
    ("forward", "prcoords_forward", "seed"),
    [
        (gcj02_from_wgs84, prcoords.wgs_gcj, 1),
        (bd09_from_gcj02, prcoords.gcj_bd, 2),
        (bd09_from_wgs84, prcoords.wgs_bd, 3),
    ],
)
def test_forward_converters_match_prcoords(forward, prcoords_forward, seed):
    assert max_error_from_prcoords(forward, prcoords_forward, n=3000, seed=seed) < 1e-9


@pytest.mark.parametrize(
    ("inverse", "prcoords_inverse"),
    [
        (wgs84_from_gcj02, prcoords.gcj_wgs_bored),
        (gcj02_from_bd09, prcoords.bd_gcj_bored),
        (wgs84_from_bd09, prcoords.bd_wgs_bored),
    ],
)
def test_inverse_matches_prcoords_iterative_inverse(inverse, prcoords_inverse):
    # prcoords stops iterating at a 1e-5 degree step, which leaves it within ~1e-7 degrees.
    assert max_error_from_prcoords(inverse, prcoords_inverse, n=1000, seed=4) < 1e-6


@pytest.mark.parametrize(
    ("forward", "inverse"),
    [
        (gcj02_from_wgs84, wgs84_from_gcj02),
        (bd09_from_wgs84, wgs84_from_bd09),
        (bd09_from_gcj02, gcj02_from_bd09),
    ],
)
def test_round_trip_is_within_one_centimetre(forward, inverse):
    lon, lat = random_points_in_china(5000, seed=5)
    shifted_lon, shifted_lat = forward(lon, lat)
    back_lon, back_lat = inverse(shifted_lon, shifted_lat)
    # The forward shift must be real (typically hundreds of metres) for the round trip to
    # mean anything.
    shift_m = distance_m(lon, lat, shifted_lon, shifted_lat)
    assert shift_m.min() > 1.0
    assert np.median(shift_m) > 100.0
    assert distance_m(lon, lat, back_lon, back_lat).max() < ONE_CM_M
    # And the other way round: the inverse's answer maps back onto its input.
    again_lon, again_lat = forward(*inverse(lon, lat))
    assert distance_m(lon, lat, again_lon, again_lat).max() < ONE_CM_M


@pytest.mark.parametrize("city", sorted(CITIES))
def test_named_city_round_trips_through_gcj02_and_bd09(city):
    lon, lat = CITIES[city]
    gcj_back = wgs84_from_gcj02(*gcj02_from_wgs84(lon, lat))
    bd_back = wgs84_from_bd09(*bd09_from_wgs84(lon, lat))
    assert distance_m(lon, lat, *gcj_back) < ONE_CM_M
    assert distance_m(lon, lat, *bd_back) < ONE_CM_M


def test_round_trip_holds_on_the_singular_meridian_and_china_extremes():
    # The formula has sqrt(|lon - 105|), whose slope is unbounded at 105 E; the extreme
    # points of China (Pamirs, Heixiazi Island, Mohe, Sanya, Zengmu Ansha) are where the
    # shift is largest.
    lon = np.array([105.0, 105.0 + 1e-12, 105.0 - 1e-9, 73.5, 134.77, 122.5, 109.5, 112.3])
    lat = np.array([35.0, 20.0, 50.0, 39.4, 48.4, 53.56, 18.2, 3.9])
    back_lon, back_lat = wgs84_from_gcj02(*gcj02_from_wgs84(lon, lat))
    assert distance_m(lon, lat, back_lon, back_lat).max() < ONE_CM_M


@pytest.mark.parametrize("convert", CONVERSIONS, ids=lambda convert: convert.__name__)
def test_points_outside_china_are_unchanged(convert: Conversion):
    lon, lat = np.array(list(OUTSIDE_CHINA.values())).T
    result_lon, result_lat = convert(lon, lat)
    np.testing.assert_array_equal(result_lon, lon)
    np.testing.assert_array_equal(result_lat, lat)


def test_china_box_edge_is_inclusive():
    lon = np.array([72.004, 72.0039, 137.8347, 137.8348])
    lat = np.full(4, 30.0)
    result_lon, _ = gcj02_from_wgs84(lon, lat)
    assert list(result_lon != lon) == [True, False, True, False]


@pytest.mark.parametrize("convert", CONVERSIONS, ids=lambda convert: convert.__name__)
def test_nan_in_gives_nan_out(convert: Conversion):
    lon = np.array([np.nan, 98.29, 98.29, np.nan])
    lat = np.array([39.77, np.nan, 39.77, np.nan])
    result_lon, result_lat = convert(lon, lat)
    np.testing.assert_array_equal(np.isnan(result_lon), np.isnan(lon))
    np.testing.assert_array_equal(np.isnan(result_lat), np.isnan(lat))
    assert result_lon[2] != lon[2]


@pytest.mark.parametrize("convert", CONVERSIONS, ids=lambda convert: convert.__name__)
def test_all_nan_and_empty_inputs_do_not_warn(convert: Conversion):
    # warnings are errors under our pytest config, so an all-NaN reduction would fail here.
    result_lon, _ = convert([np.nan, np.nan], [np.nan, np.nan])
    empty_lon, empty_lat = convert([], [])
    assert np.isnan(result_lon).all()
    assert empty_lon.shape == (0,)
    assert empty_lat.shape == (0,)


def test_outputs_are_float64_in_the_broadcast_shape():
    scalar_lon, scalar_lat = gcj02_from_wgs84(98.29, 39.77)
    grid_lon, grid_lat = gcj02_from_wgs84([[98.2, 98.3], [98.4, 98.5]], 39.77)
    assert scalar_lon.dtype == np.float64
    assert scalar_lon.shape == ()
    assert grid_lat.dtype == np.float64
    assert grid_lon.shape == (2, 2)
    assert grid_lat.shape == (2, 2)
    assert scalar_lat.shape == ()
    np.testing.assert_array_equal(grid_lon[0, 0], gcj02_from_wgs84(98.2, 39.77)[0])


def test_inputs_are_not_mutated():
    lon, lat = random_points_in_china(10, seed=6)
    lon_before, lat_before = lon.copy(), lat.copy()
    wgs84_from_bd09(lon, lat)
    to_wgs84(lon, lat, "WGS84")[0][:] = 0.0
    np.testing.assert_array_equal(lon, lon_before)
    np.testing.assert_array_equal(lat, lat_before)


@pytest.mark.parametrize(
    ("lon", "lat"),
    [([98.2, 98.3, 98.4], [39.7, 39.8]), (["north", "west"], [39.7, 39.8])],
)
def test_unusable_coordinates_raise(lon, lat):
    with pytest.raises(InvalidCoordinatesError, match="lon and lat"):
        gcj02_from_wgs84(lon, lat)


@pytest.mark.parametrize(
    ("crs", "expected"),
    [
        ("EPSG:4326", "EPSG:4326"),
        ("epsg:4326", "EPSG:4326"),
        ("WGS84", "EPSG:4326"),
        ("wgs-84", "EPSG:4326"),
        (4326, "EPSG:4326"),
        ("OGC:CRS84", "EPSG:4326"),
        ("GCJ-02", "GCJ-02"),
        ("gcj02", "GCJ-02"),
        (" Gcj_02 ", "GCJ-02"),
        ("BD-09", "BD-09"),
        ("bd09", "BD-09"),
        ("bd09ll", "BD-09"),
        ("EPSG:3435", "EPSG:3435"),
        (pyproj.CRS.from_epsg(32647), "EPSG:32647"),
    ],
)
def test_normalise_crs_name(crs, expected):
    assert normalise_crs_name(crs) == expected


def test_chinese_crs_names_are_their_own_normal_form():
    assert CHINESE_CRS == ("GCJ-02", "BD-09")
    assert tuple(normalise_crs_name(name) for name in CHINESE_CRS) == CHINESE_CRS


@pytest.mark.parametrize("crs", ["Mars", "GCJ-03", "EPSG:12345678", ""])
def test_unknown_crs_raises_naming_the_value(crs):
    with pytest.raises(InvalidCoordinatesError, match=repr(crs)):
        normalise_crs_name(crs)
    with pytest.raises(InvalidCoordinatesError, match=repr(crs)):
        to_wgs84([98.29], [39.77], crs)
    with pytest.raises(InvalidCoordinatesError, match=repr(crs)):
        geometry_to_wgs84([shapely.Point(98.29, 39.77)], crs)


def test_to_wgs84_dispatches_on_crs():
    lon, lat = random_points_in_china(20, seed=7)
    for crs, inverse in [("gcj02", wgs84_from_gcj02), ("BD-09", wgs84_from_bd09)]:
        result_lon, result_lat = to_wgs84(lon, lat, crs)
        expected_lon, expected_lat = inverse(lon, lat)
        np.testing.assert_array_equal(result_lon, expected_lon)
        np.testing.assert_array_equal(result_lat, expected_lat)
    same_lon, same_lat = to_wgs84(lon, lat, "EPSG:4326")
    np.testing.assert_array_equal(same_lon, lon)
    np.testing.assert_array_equal(same_lat, lat)


def test_to_wgs84_from_illinois_state_plane_matches_chicago_data():
    crimes = pd.read_csv(
        CHICAGO_CRIMES,
        nrows=200,
        usecols=["X Coordinate", "Y Coordinate", "Latitude", "Longitude"],
    ).dropna()
    assert len(crimes) > 100
    lon, lat = to_wgs84(crimes["X Coordinate"], crimes["Y Coordinate"], "EPSG:3435")
    assert distance_m(lon, lat, crimes["Longitude"], crimes["Latitude"]).max() < 2.0


def test_to_wgs84_from_illinois_state_plane_known_point():
    lon, lat = to_wgs84(1165074.0, 1889429.0, "EPSG:3435")
    # Near Chicago's Loop; Chicago itself lies about 87.5-87.95 W, 41.64-42.03 N.
    assert -87.7 < lon < -87.6
    assert 41.8 < lat < 41.9


def test_to_wgs84_projected_nan_stays_nan():
    lon, lat = to_wgs84([np.nan, 1165074.0], [1889429.0, 1889429.0], "EPSG:3435")
    assert np.isnan(lon[0])
    assert np.isfinite(lon[1])
    assert np.isfinite(lat[1])


def test_geometry_to_wgs84_converts_the_gcj02_jiayuguan_outline(
    jiayuguan_gcj02, jiayuguan_amap_wgs84
):
    converted = geometry_to_wgs84(jiayuguan_gcj02, "GCJ-02")
    assert converted.crs == "EPSG:4326"
    assert converted.index.equals(jiayuguan_gcj02.index)
    assert converted.is_valid.all()
    assert intersection_over_union(converted, jiayuguan_amap_wgs84) >= 0.999
    # Without the conversion the outline is still recognisably the same, about 100 m off.
    unconverted = intersection_over_union(jiayuguan_gcj02, jiayuguan_amap_wgs84)
    assert 0.98 < unconverted < 0.99


def test_geometry_to_wgs84_from_bd09_agrees_with_gcj02_path(jiayuguan_gcj02):
    bd09 = shapely.transform(
        np.asarray(jiayuguan_gcj02), bd09_from_gcj02, include_z=False, interleaved=False
    )
    from_bd09 = geometry_to_wgs84(bd09, "bd09")
    from_gcj02 = geometry_to_wgs84(jiayuguan_gcj02, "GCJ-02")
    # 1e-7 degrees is about a centimetre at this latitude.
    assert shapely.equals_exact(from_bd09.values[0], from_gcj02.values[0], tolerance=1e-7)
    assert not shapely.equals_exact(bd09[0], from_gcj02.values[0], tolerance=1e-3)


def test_geometry_to_wgs84_projects_points_and_keeps_missing_geometries():
    geoms = gpd.GeoSeries(
        [shapely.Point(1165074.0, 1889429.0), None, shapely.Point(1150945, 1892794, 10)],
        index=[10, 20, 30],
        name="location",
    )
    converted = geometry_to_wgs84(geoms, "EPSG:3435")
    assert list(converted.index) == [10, 20, 30]
    assert converted.name == "location"
    assert converted.iloc[1] is None
    assert not converted.has_z.any()
    assert distance_m(converted.x.iloc[2], converted.y.iloc[2], -87.721386272, 41.861717546) < 2


def test_geometry_to_wgs84_rejects_non_geometries():
    with pytest.raises(InvalidCoordinatesError, match="geometries"):
        geometry_to_wgs84(["POINT (1 2)"], "GCJ-02")


def test_repo_jiayuguan_outline_is_valid_wgs84_and_matches_amap(jiayuguan_amap_wgs84):
    outline = gpd.read_file(JIAYUGUAN_REPO)
    assert outline.crs == "EPSG:4326"
    assert len(outline) == 1
    assert outline.is_valid.all()
    assert outline.loc[0, ["name", "name_en", "adcode"]].tolist() == [
        "嘉峪关市",
        "Jiayuguan",
        620200,
    ]
    assert outline.contains(shapely.Point(CITIES["jiayuguan"])).all()
    area_km2 = outline.to_crs(EQUAL_AREA_CRS).area.sum() / 1e6
    assert 1200 < area_km2 < 1250
    assert intersection_over_union(outline.geometry, jiayuguan_amap_wgs84) >= 0.999
