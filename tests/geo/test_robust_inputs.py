"""Incident files as a tired clerk exports them: every bad row is rejected with its line,
field and reason (and kept for review), every bad file fails with a message naming it."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.boundaries import (
    cells_from_polygons,
    expand_boundary,
    load_areas,
    load_boundary,
    points_in_boundary,
)
from geo.categories import load_categories
from geo.emerging import space_time_cube
from geo.errors import (
    ColumnMappingError,
    FileFormatError,
    GeoError,
    InvalidBoundaryError,
    InvalidCoordinatesError,
)
from geo.hotspots import ring_weights
from geo.ingest import PRESETS, ImportRules, prepare_incidents, read_incident_table
from geo.near_repeat import knox_test
from tests.conftest import REPO

GENERIC = PRESETS["generic"]
NOW = pd.Timestamp("2026-12-01T00:00:00Z")
RULES = ImportRules(
    timezone="Asia/Shanghai",
    now=NOW,
    resolution=9,
    source="test",
    known_categories=load_categories(REPO / "data" / "categories.csv"),
)
HEADER = "incident_id,occurred_at,category,lon,lat,description\n"
GOOD = "2025-01-05T08:03:00,theft,98.29,39.77,x"


def prepare(tmp_path: Path, body: str | bytes, mapping=GENERIC, name: str = "in.csv"):
    path = tmp_path / name
    path.write_bytes(body if isinstance(body, bytes) else body.encode())
    return prepare_incidents(read_incident_table(path, mapping), mapping, RULES)


def reasons(result) -> dict[int, tuple[str, str]]:
    return {int(r.line): (r.field, r.reason) for r in result.rejects.itertuples()}


def test_dates_before_1970_are_rejected_not_stored(tmp_path: Path) -> None:
    rows = ["1900-01-05T08:03:00", "0001-01-01", "1969-12-31T23:00:00", "1970-01-01T08:00:00"]
    body = HEADER + "".join(
        f"{i},{when},theft,98.29,39.77,x\n" for i, when in enumerate(rows, start=1)
    )
    result = prepare(tmp_path, body)
    assert reasons(result) == {line: ("occurred_at", "date/time before 1970") for line in (2, 3, 4)}
    assert result.incidents["line"].tolist() == [5]
    assert result.incidents["occurred_at"].tolist() == [0]  # 08:00 in Shanghai


def test_projected_coordinates_the_crs_cannot_convert_are_rejected_by_row(tmp_path: Path) -> None:
    mapping = replace(GENERIC, crs="EPSG:32647")
    body = HEADER + (
        "1,2025-01-05T08:03:00,theft,500000,4400000,x\n2,2025-01-05T08:03:00,theft,1e300,1e300,x\n"
    )
    result = prepare(tmp_path, body, mapping)
    assert result.incidents["line"].tolist() == [2]
    assert reasons(result) == {3: ("lon/lat", "coordinates cannot be converted from EPSG:32647")}


def test_text_the_database_cannot_keep_is_rejected_by_row(tmp_path: Path) -> None:
    body = HEADER + (
        f"1,{GOOD}\n"
        f"{'9' * 81},{GOOD}\n"
        f"3,2025-01-05T08:03:00,{'T' * 81},98.29,39.77,x\n"
        f"4,2025-01-05T08:03:00,theft,98.29,39.77,{'d' * 10_001}\n"
        "5\x00,2025-01-05T08:03:00,theft,98.29,39.77,x\n"
        "6,2025-01-05T08:03:00,the\x00ft,98.29,39.77,x\n"
    )
    result = prepare(tmp_path, body)
    assert result.incidents["line"].tolist() == [2]
    assert reasons(result) == {
        3: ("incident_id", "longer than 80 characters"),
        4: ("category", "longer than 80 characters"),
        5: ("description", "longer than 10000 characters"),
        6: ("incident_id", "control characters in the text"),
        7: ("category", "control characters in the text"),
    }
    assert result.new_categories == ()


def test_a_column_named_twice_in_the_header_is_an_error_not_a_guess(tmp_path: Path) -> None:
    body = HEADER.replace("lat,", "lat,lat,") + "1,2025-01-05,theft,98.29,39.77,12,x\n"
    with pytest.raises(
        ColumnMappingError, match=r"dup\.csv: the header names column\(s\) 'lat' more"
    ):
        prepare(tmp_path, body, name="dup.csv")


def test_a_byte_order_mark_decides_the_encoding(tmp_path: Path) -> None:
    text = HEADER + "1,2025-01-05T08:03:00,盗窃,98.29,39.77,描述\n"
    # Excel's "CSV UTF-8" read with a wrong --encoding gbk guess: the mark is certain.
    utf8 = prepare(tmp_path, "\ufeff" + text, replace(GENERIC, encoding="gbk"), "utf8.csv")
    # Excel's "Unicode text": UTF-16 with tabs, read without --encoding.
    tabs = replace(GENERIC, delimiter="\t")
    utf16 = prepare(tmp_path, ("\ufeff" + text.replace(",", "\t")).encode("utf-16"), tabs, "u.txt")
    for result in (utf8, utf16):
        assert result.rejects.empty
        assert result.incidents["category"].tolist() == ["盗窃"]
        assert result.details["description"].tolist() == ["描述"]


def test_text_in_another_encoding_is_reported_with_its_line(tmp_path: Path) -> None:
    body = (HEADER + f"1,{GOOD}\n" * 500).encode() + f"2,{GOOD.replace('theft', '盗窃')}\n".encode(
        "gbk"
    )
    with pytest.raises(
        FileFormatError, match=r"in\.csv: the file is not valid utf-8 text at line 502 \(byte 23\)"
    ):
        prepare(tmp_path, body)


def test_a_full_width_comma_delimiter_gets_a_hint(tmp_path: Path) -> None:
    body = HEADER.replace(",", "，") + GOOD.replace(",", "，") + "\n"
    with pytest.raises(ColumnMappingError, match="has '，': wrong delimiter"):
        prepare(tmp_path, body)


def square(x0: float, y0: float, x1: float, y1: float) -> dict:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def write_areas(path: Path, *features: tuple[dict, dict]) -> Path:
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {"type": "Feature", "properties": props, "geometry": geometry}
                    for props, geometry in features
                ],
            }
        )
    )
    return path


def test_an_area_far_too_large_to_cover_is_refused_before_covering(tmp_path: Path) -> None:
    path = write_areas(tmp_path / "asia.geojson", ({"id": "asia"}, square(60, 10, 140, 55)))
    areas = load_areas(path, kind="district").assign(area_id="asia")
    with pytest.raises(InvalidBoundaryError, match=r"area 'asia'.* more than the 2,000,000"):
        cells_from_polygons(areas, 9)
    # The same polygon is fine at a coarse resolution, and a city at resolution 9.
    assert len(cells_from_polygons(areas, 4)) > 1000
    city = write_areas(tmp_path / "city.geojson", ({"id": "c"}, square(98.2, 39.7, 98.3, 39.8)))
    assert len(cells_from_polygons(load_areas(city, kind="district"), 9)) > 500


def test_area_ids_and_names_the_database_cannot_keep_name_the_feature(tmp_path: Path) -> None:
    ok = ({"id": "A", "name": "北区"}, square(98.2, 39.7, 98.25, 39.75))
    long_id = ({"id": "B" * 81, "name": "x"}, square(98.25, 39.7, 98.3, 39.75))
    path = write_areas(tmp_path / "d.geojson", ok, long_id)
    with pytest.raises(InvalidBoundaryError, match=r"d\.geojson: feature 2, field 'id': longer"):
        load_areas(path, kind="district")
    bell = ({"id": "C", "name": "bad\u0007name"}, square(98.25, 39.7, 98.3, 39.75))
    path = write_areas(tmp_path / "n.geojson", ok, bell)
    with pytest.raises(InvalidBoundaryError, match=r"feature 2, field 'name': control char"):
        load_areas(path, kind="district", name_field="name")
    # A boundary's name field that cannot be kept gives way to the file name.
    path = write_areas(tmp_path / "city.geojson", ({"name": "x" * 300}, square(98, 39, 99, 40)))
    assert load_boundary(path)["name"].tolist() == ["city"]


def test_a_csv_without_coordinate_columns_is_a_mapping_error(tmp_path: Path) -> None:
    with pytest.raises(ColumnMappingError, match=r"in\.csv: a CSV file has no point geometry"):
        prepare(tmp_path, HEADER + f"1,{GOOD}\n", replace(GENERIC, lon=None))


def test_a_boundary_tolerance_beyond_ten_kilometres_is_refused() -> None:
    city = shapely.box(98.2, 39.7, 98.3, 39.8)
    assert expand_boundary(city, 10_000).contains(city)
    with pytest.raises(InvalidBoundaryError, match=r"tolerance_m must be a number in \[0, 10000\]"):
        expand_boundary(city, 1e12)  # crashed in GEOS
    with pytest.raises(GeoError, match="tolerance_m"):
        points_in_boundary([98.25], [39.75], city, tolerance_m=1e12)


def city_cells() -> np.ndarray:
    city = shapely.box(98.2, 39.7, 98.3, 39.8)
    areas = gpd.GeoDataFrame({"area_id": ["c"]}, geometry=[city], crs="EPSG:4326")
    return np.unique(cells_from_polygons(areas, 9)["cell"].to_numpy())


def test_neighbour_weights_and_cubes_too_large_to_hold_are_refused() -> None:
    cells = city_cells()
    assert ring_weights(cells, k=2).shape == (cells.size, cells.size)
    with pytest.raises(GeoError, match=r"k=1000 rings around \d+ cells .* use fewer rings"):
        ring_weights(cells, k=1000)  # 16 GB before it died
    week = 7 * 86400
    cube, _ = space_time_cube(cells, [int(cells[0])], [week], 0, 52 * week, week)
    assert cube.sum() == 1
    with pytest.raises(GeoError, match="more than the 20,000,000 counts .* shorter window"):
        space_time_cube(cells, [int(cells[0])], [week], 0, 10**6 * week, week)


def test_knox_permutations_are_bounded() -> None:
    x, t = [0.0, 50.0, 80.0], [0.0, 86400.0, 2 * 86400.0]
    assert knox_test(x, [0.0] * 3, t, permutations=9999, seed=1).observed.sum() >= 1
    with pytest.raises(GeoError, match=r"permutations must be an integer in 1\.\.9999"):
        knox_test(x, [0.0] * 3, t, permutations=10**9)


def test_degrees_in_a_file_labelled_with_a_projected_crs_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "mislabelled.geojson"
    features = [{"type": "Feature", "properties": {"id": "1"},
                 "geometry": square(98.2, 39.7, 98.3, 39.8)}]  # fmt: skip
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}}
    path.write_text(json.dumps({"type": "FeatureCollection", "crs": crs, "features": features}))
    # It was loaded as a jurisdiction 10 m wide at 0°, 0° (one cell), districts with no cell.
    with pytest.raises(InvalidCoordinatesError, match=r"mislabelled\.geojson: the coordinates"):
        load_boundary(path)
    with pytest.raises(InvalidCoordinatesError, match="projected CRS EPSG:3857"):
        load_areas(path, kind="district")
    assert load_boundary(path, crs="EPSG:4326").geometry.iloc[0].bounds == (98.2, 39.7, 98.3, 39.8)


def test_a_header_typed_with_spaces_after_the_commas_is_read(tmp_path: Path) -> None:
    # It passed the column check but Arrow named the columns " occurred_at": a traceback.
    body = HEADER.replace(",", ", ") + "1, 2025-01-05T08:03:00, theft, 98.29, 39.77, x\n"
    result = prepare(tmp_path, body)
    assert result.rejects.empty
    assert result.incidents[["source_id", "category", "lon"]].values.tolist() == [
        ["1", "THEFT", 98.29]
    ]


def test_a_row_with_too_many_fields_names_its_line(tmp_path: Path) -> None:
    body = HEADER + f"1,{GOOD}\n" * 300 + f"\n2,{GOOD},extra\n"
    with pytest.raises(FileFormatError, match=r"in\.csv: malformed CSV at line 303: .*got 7"):
        prepare(tmp_path, body)
    unclosed = HEADER + f"1,{GOOD}\n" + '2,2025-01-05T08:03:00,"theft,98.29,39.77,x\n'
    with pytest.raises(FileFormatError, match="malformed CSV at line 3: .*got 3"):
        prepare(tmp_path, unclosed)


def test_incident_points_in_degrees_labelled_with_a_projected_crs_are_an_error(
    tmp_path: Path,
) -> None:
    mapping = replace(GENERIC, lon=None, lat=None)
    point = {"type": "Point", "coordinates": [98.29, 39.77]}
    props = {"incident_id": "1", "occurred_at": "2025-01-05T08:03:00", "category": "theft",
             "description": "x"}  # fmt: skip
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}}
    feature = {"type": "Feature", "properties": props, "geometry": point}
    path = tmp_path / "points.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "crs": crs, "features": [feature]}))
    with pytest.raises(FileFormatError, match=r"points\.geojson: the points .* projected CRS"):
        read_incident_table(path, mapping)
    # Without the label the same points are read as WGS-84.
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    assert prepare(tmp_path, path.read_bytes(), mapping, "points.geojson").incidents[
        "lon"
    ].tolist() == [98.29]


@pytest.mark.parametrize("compressed", [False, True])
def test_a_file_over_the_size_limit_is_refused_with_a_hint_to_split_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compressed: bool
) -> None:
    """A gzip of a few MB can expand to many GB: the decompressed bytes are counted while the
    file is read (the limit is lowered here; it is 2 GB)."""
    import gzip

    import geo.ingest

    body = (HEADER + "".join(f"{i},{GOOD}\n" for i in range(2000))).encode()
    assert len(gzip.compress(body)) < 20_000 < len(body)
    monkeypatch.setattr(geo.ingest, "MAX_FILE_BYTES", 20_000)
    name = "big.csv.gz" if compressed else "big.csv"
    with pytest.raises(FileFormatError, match=r"big\.csv(\.gz)?: more than 0 MB .* split"):
        prepare(tmp_path, gzip.compress(body) if compressed else body, name=name)
    monkeypatch.setattr(geo.ingest, "MAX_FILE_BYTES", len(body))
    assert (
        len(prepare(tmp_path, gzip.compress(body) if compressed else body, name=name).incidents)
        == 2000
    )
