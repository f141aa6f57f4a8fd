"""Tests for geo/ingest.py: reading files, row checks, time zones, coordinates, formats."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.categories import load_categories
from geo.cells import hex_from_cells
from geo.coords import gcj02_from_wgs84
from geo.errors import ColumnMappingError, FileFormatError
from geo.ingest import (
    PRESETS,
    ColumnMapping,
    ImportRules,
    prepare_incidents,
    read_incident_table,
)
from tests.conftest import CHICAGO_BOUNDARIES, REPO, chicago_lines

CHICAGO = PRESETS["chicago"]
GENERIC = PRESETS["generic"]
NOW = pd.Timestamp("2026-01-01T00:00:00Z")
CATEGORIES = load_categories(REPO / "data" / "categories.csv")
HEADER = chicago_lines(n=0)[0].decode().rstrip("\r\n").split(",")
LAT = HEADER.index("Latitude")
LON = HEADER.index("Longitude")


@pytest.fixture(scope="module")
def chicago_boundary():
    frame = gpd.read_file(CHICAGO_BOUNDARIES / "city_boundary.geojson")
    return shapely.union_all(frame.geometry.to_numpy())


def rules(**changes) -> ImportRules:
    base = ImportRules(
        timezone="America/Chicago",
        now=NOW,
        resolution=9,
        source="chicago",
        known_categories=CATEGORIES,
    )
    return replace(base, **changes)


def prepare(path: Path, mapping: ColumnMapping = CHICAGO, **rule_changes):
    return prepare_incidents(read_incident_table(path, mapping), mapping, rules(**rule_changes))


def edited_sample(tmp_path: Path, edits: dict[int, dict[int, str]], n: int = 30) -> Path:
    """Write the first n real rows, with ``edits[row][column] = value`` applied (row from 1)."""
    lines = [line.decode().rstrip("\r\n") for line in chicago_lines(n=n)]
    out = [lines[0]]
    for number, line in enumerate(lines[1:], start=1):
        fields = _split_csv(line)
        for column, value in edits.get(number, {}).items():
            fields[column] = value
        out.append(",".join(_quote(f) for f in fields))
    path = tmp_path / "edited.csv"
    path.write_text("\r\n".join(out) + "\r\n", encoding="utf-8")
    return path


def _split_csv(line: str) -> list[str]:
    import csv

    return next(csv.reader([line]))


def _quote(value: str) -> str:
    return f'"{value}"' if "," in value else value


# --- the happy path on real rows ----------------------------------------------------------


def test_chicago_sample_reads_every_row_with_times_in_utc(chicago_sample: Path) -> None:
    result = prepare(chicago_sample)
    assert result.rows_read == 200
    assert len(result.incidents) + len(result.rejects) == 200
    first = result.incidents.iloc[0]
    # 01/01/2016 12:01:00 AM in Chicago (CST, UTC-6) is 06:01 UTC.
    assert first["occurred_at"] == pd.Timestamp("2016-01-01T06:01:00Z").timestamp()
    assert first["source_id"] == "10364665"
    assert first["category"] == "CRIMINAL DAMAGE"


def test_leading_zeros_of_codes_are_kept(chicago_sample: Path) -> None:
    result = prepare(chicago_sample)
    codes = result.details["offense_code"].to_numpy()[result.incidents["detail"]]
    assert "0460" in set(codes)  # BATTERY SIMPLE on line 3 of the real file
    assert len(result.details) < len(result.incidents)  # repeated details are kept once


def test_cells_agree_with_the_h3_package(chicago_sample: Path) -> None:
    frame = prepare(chicago_sample).incidents
    expected = [h3.latlng_to_cell(y, x, 9) for y, x in zip(frame["lat"], frame["lon"], strict=True)]
    assert hex_from_cells(frame["cell"].to_numpy()) == expected


def test_times_across_daylight_saving_changes(tmp_path: Path) -> None:
    path = tmp_path / "dst.csv"
    path.write_text(
        "incident_id,occurred_at,lon,lat,category,description\n"
        "a,2016-11-06T01:30:00,-87.63,41.88,THEFT,ambiguous local time\n"
        "b,2016-03-13T02:30:00,-87.63,41.88,THEFT,local time that never happened\n"
        "c,2016-07-01T12:00:00+08:00,-87.63,41.88,THEFT,explicit offset\n"
        "d,2016-07-01T04:00:00Z,-87.63,41.88,THEFT,UTC\n",
        encoding="utf-8",
    )
    got = prepare(path, GENERIC).incidents.set_index("source_id")["occurred_at"]
    # 01:30 happens twice on 6 Nov 2016; the first time is CDT (UTC-5).
    assert got["a"] == pd.Timestamp("2016-11-06T06:30:00Z").timestamp()
    # 02:30 never happens on 13 Mar 2016; it moves forward to 03:00 CDT = 08:00 UTC.
    assert got["b"] == pd.Timestamp("2016-03-13T08:00:00Z").timestamp()
    assert got["c"] == pd.Timestamp("2016-07-01T04:00:00Z").timestamp()
    assert got["d"] == got["c"]


# --- row-level rejects --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edits", "field", "reason"),
    [
        ({LAT: ""}, "Latitude", "missing coordinate"),
        ({LAT: "NaN", LON: "NaN"}, "Longitude", "missing coordinate"),
        ({LAT: "41.8x"}, "Latitude", "unparsable coordinate"),
        ({LAT: "120.15", LON: "30.28"}, "Latitude", "look swapped"),
        ({LAT: "95.0"}, "Latitude", "latitude out of range"),
        ({LON: "-187.0"}, "Longitude", "longitude out of range"),
        ({2: "13/45/2016 12:01:00 AM"}, "Date", "unparsable date/time"),
        ({2: ""}, "Date", "missing date/time"),
        ({2: "01/01/2099 12:01:00 AM"}, "Date", "in the future"),
        ({5: ""}, "Primary Type", "missing category"),
    ],
)
def test_each_bad_row_is_rejected_with_line_field_and_reason(tmp_path, edits, field, reason):
    path = edited_sample(tmp_path, {3: edits})
    result = prepare(path)
    assert len(result.rejects) == 1
    bad = result.rejects.iloc[0]
    assert bad["line"] == 4  # header is line 1, so data row 3 is line 4
    assert bad["field"] == field
    assert reason in bad["reason"]
    assert json.loads(bad["raw"])["ID"] == _split_csv(chicago_lines(n=3)[3].decode())[0]
    assert len(result.incidents) == 29


def test_swapped_coordinates_inside_the_boundary_are_named(tmp_path, chicago_boundary) -> None:
    row = _split_csv(chicago_lines(n=1)[1].decode())
    # Swapped Chicago coordinates are out of range anyway; a boundary near the equator
    # shows the "inside when swapped" rule on a point whose swap stays in range.
    path = edited_sample(tmp_path, {1: {LAT: row[LON], LON: row[LAT]}})
    assert "swapped" in prepare(path, boundary=chicago_boundary).rejects.iloc[0]["reason"]
    square = shapely.box(10, 20, 12, 22)
    near = edited_sample(tmp_path, {1: {LAT: "11.0", LON: "21.0"}})
    result = prepare(near, boundary=square)
    swapped = result.rejects[result.rejects["line"] == 2].iloc[0]
    assert "inside when swapped" in swapped["reason"]


def test_points_outside_the_boundary_are_rejected_unless_within_tolerance(
    tmp_path, chicago_boundary
) -> None:
    # Line 2 moved into Lake Michigan, about 5 km east of the shore.
    lake = edited_sample(tmp_path, {1: {LAT: "41.88", LON: "-87.55"}})
    result = prepare(lake, boundary=chicago_boundary, boundary_tolerance_m=50)
    assert list(result.rejects["reason"]) == ["outside the jurisdiction boundary"]
    assert result.rejects.iloc[0]["field"] == "Longitude/Latitude"


def test_unknown_category_is_rejected_when_strict_and_added_otherwise(tmp_path) -> None:
    path = edited_sample(tmp_path, {5: {5: "DRONE NUISANCE"}})
    strict = prepare(path, strict_categories=True)
    assert list(strict.rejects["reason"]) == ["unknown category (not in the category table)"]
    relaxed = prepare(path)
    assert relaxed.rejects.empty
    assert relaxed.new_categories == ("DRONE NUISANCE",)
    assert "DRONE NUISANCE" in set(relaxed.incidents["category"])


def test_aliases_and_spelling_variants_map_to_one_code(tmp_path) -> None:
    path = edited_sample(tmp_path, {1: {5: "NON - CRIMINAL"}, 2: {5: " non-criminal "}})
    cats = prepare(path, strict_categories=True).incidents["category"].iloc[:2]
    assert list(cats) == ["NON-CRIMINAL", "NON-CRIMINAL"]


def test_duplicate_ids_in_one_file_keep_the_first_row(tmp_path) -> None:
    lines = chicago_lines(n=5)
    path = tmp_path / "dup.csv"
    path.write_bytes(b"".join(lines + [lines[2]]))
    result = prepare(path)
    assert len(result.incidents) == 5
    assert list(result.rejects["line"]) == [7]
    assert result.rejects.iloc[0]["reason"] == "duplicate of line 3 in the same file"


def test_rows_without_ids_are_deduplicated_on_content(tmp_path) -> None:
    path = tmp_path / "noid.csv"
    path.write_text(
        "occurred_at,lon,lat,category\n"
        "2020-01-01T10:00:00,-87.63,41.88,THEFT\n"
        "2020-01-01T10:00:00,-87.63,41.88,THEFT\n"
        "2020-01-01T10:00:01,-87.63,41.88,THEFT\n",
        encoding="utf-8",
    )
    mapping = ColumnMapping(occurred_at="occurred_at", category="category", lon="lon", lat="lat")
    result = prepare(path, mapping)
    assert len(result.incidents) == 2
    assert list(result.rejects["line"]) == [3]


# --- whole-file problems ------------------------------------------------------------------


def test_empty_file(tmp_path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(FileFormatError, match=r"empty\.csv: the file is empty"):
        read_incident_table(path, CHICAGO)


def test_header_without_rows(tmp_path) -> None:
    path = tmp_path / "header.csv"
    path.write_bytes(chicago_lines(n=0)[0])
    with pytest.raises(FileFormatError, match="header but no data rows"):
        read_incident_table(path, CHICAGO)


def test_truncated_gzip(tmp_path) -> None:
    whole = gzip.compress(b"".join(chicago_lines(n=2000)))
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(FileFormatError, match=r"cut\.csv\.gz: the compressed data is truncated"):
        read_incident_table(path, CHICAGO)


def test_wrong_delimiter_is_named(tmp_path) -> None:
    lines = [line.decode().replace(",", ";") for line in chicago_lines(n=5)]
    path = tmp_path / "semicolon.csv"
    path.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(ColumnMappingError, match="wrong delimiter") as err:
        read_incident_table(path, CHICAGO)
    assert "semicolon.csv" in str(err.value)
    ok = read_incident_table(path, replace(CHICAGO, delimiter=";"))
    assert ok.num_rows == 5


def test_missing_columns_are_listed(tmp_path) -> None:
    lines = [line.decode() for line in chicago_lines(n=3)]
    lines[0] = lines[0].replace("Primary Type", "Crime Kind").replace("Latitude", "Lat")
    path = tmp_path / "renamed.csv"
    path.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(ColumnMappingError) as err:
        read_incident_table(path, CHICAGO)
    message = str(err.value)
    assert "renamed.csv" in message
    assert "Primary Type (category)" in message and "Latitude (lat)" in message
    assert "Crime Kind" in message  # the available columns are shown


def test_text_that_is_not_utf8(tmp_path) -> None:
    lines = chicago_lines(n=3)
    lines[2] = lines[2].replace(b"BATTERY", "BATTERY \u00e9".encode("latin-1"))
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"".join(lines))
    with pytest.raises(FileFormatError, match=r"latin1\.csv: the file is not valid utf-8"):
        read_incident_table(path, CHICAGO)


def test_utf16_file_is_read_by_its_byte_order_mark(tmp_path) -> None:
    path = tmp_path / "utf16.csv"
    lines = chicago_lines(n=3)
    path.write_bytes(b"".join(lines).decode().encode("utf-16"))  # the codec writes the mark
    table = read_incident_table(path, CHICAGO)
    plain = tmp_path / "plain.csv"
    plain.write_bytes(b"".join(lines))
    assert table.equals(read_incident_table(plain, CHICAGO))


def test_gbk_files_read_with_their_encoding(tmp_path) -> None:
    path = tmp_path / "gbk.csv"
    path.write_bytes(
        "incident_id,occurred_at,lon,lat,category,description\n"
        "1,2024-05-01T20:15:00,98.29,39.77,THEFT,电动车被盗\n".encode("gbk")
    )
    with pytest.raises(FileFormatError, match="not valid utf-8"):
        read_incident_table(path, GENERIC)
    result = prepare(path, replace(GENERIC, encoding="gbk"), timezone="Asia/Shanghai")
    detail = result.details.iloc[result.incidents.iloc[0]["detail"]]
    assert detail["description"] == "电动车被盗"
    assert result.incidents.iloc[0]["occurred_at"] == pd.Timestamp("2024-05-01T12:15Z").timestamp()


def test_unknown_file_type(tmp_path) -> None:
    path = tmp_path / "incidents.xlsx"
    path.write_bytes(b"PK")
    with pytest.raises(FileFormatError, match="unknown file type"):
        read_incident_table(path, CHICAGO)


# --- coordinate systems and formats ---------------------------------------------------------


def test_gcj02_coordinates_come_back_to_wgs84_within_a_centimetre(tmp_path) -> None:
    lon = np.array([98.2890, 98.3012, 98.2755])
    lat = np.array([39.7731, 39.7804, 39.7650])
    gx, gy = gcj02_from_wgs84(lon, lat)
    rows = [
        f"{i},2024-05-01T20:15:00,{x:.9f},{y:.9f},THEFT,x"
        for i, (x, y) in enumerate(zip(gx, gy, strict=True))
    ]
    path = tmp_path / "gcj.csv"
    path.write_text(
        "incident_id,occurred_at,lon,lat,category,description\n" + "\n".join(rows) + "\n",
        encoding="utf-8",
    )
    got = prepare(path, replace(GENERIC, crs="GCJ-02"), timezone="Asia/Shanghai").incidents
    # 1e-7 degrees is about 1 cm at this latitude.
    np.testing.assert_allclose(got["lon"], lon, atol=1e-7)
    np.testing.assert_allclose(got["lat"], lat, atol=1e-7)
    assert np.abs(gx - lon).max() > 5e-4  # GCJ-02 really is tens to hundreds of metres off


def test_projected_coordinates_via_pyproj(chicago_sample: Path) -> None:
    mapping = replace(CHICAGO, lon="X Coordinate", lat="Y Coordinate", crs="EPSG:3435")
    projected = prepare(chicago_sample, mapping).incidents.set_index("source_id")
    geographic = prepare(chicago_sample).incidents.set_index("source_id")
    common = projected.index.intersection(geographic.index)
    assert len(common) > 150
    # Block-level X/Y and lat/lon are published separately; they agree to a few metres.
    assert np.abs(projected.loc[common, "lat"] - geographic.loc[common, "lat"]).max() < 5e-5
    assert np.abs(projected.loc[common, "lon"] - geographic.loc[common, "lon"]).max() < 5e-5


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".parquet", ".geoparquet"])
def test_spatial_and_parquet_files_give_the_same_incidents(tmp_path, chicago_sample, suffix):
    frame = pd.read_csv(chicago_sample, dtype=str, keep_default_na=False)
    frame = frame[frame["Latitude"] != ""]
    points = gpd.GeoDataFrame(
        frame.drop(columns=["Latitude", "Longitude"]),
        geometry=gpd.points_from_xy(
            frame["Longitude"].astype(float), frame["Latitude"].astype(float)
        ),
        crs="EPSG:4326",
    )
    path = tmp_path / f"incidents{suffix}"
    mapping = replace(CHICAGO, lon=None, lat=None)
    if suffix == ".parquet":
        frame.to_parquet(path)  # plain Parquet with coordinate columns
        mapping = CHICAGO
    elif suffix == ".geoparquet":
        path = tmp_path / "incidents.parquet"
        points.to_parquet(path)
    else:
        points.to_file(path)
    got = prepare(path, mapping).incidents
    want = prepare(chicago_sample).incidents
    assert sorted(got["key"]) == sorted(want["key"])
    merged = got.merge(want, on="key", suffixes=("", "_csv"))
    np.testing.assert_allclose(merged["lat"], merged["lat_csv"], atol=1e-9)
    assert (merged["occurred_at"] == merged["occurred_at_csv"]).all()
    assert (merged["cell"] == merged["cell_csv"]).all()


def test_a_spatial_file_of_polygons_is_refused(tmp_path) -> None:
    frame = gpd.GeoDataFrame(
        {"Date": ["01/01/2016 12:01:00 AM"], "Primary Type": ["THEFT"], "ID": ["1"]},
        geometry=[shapely.box(0, 0, 1, 1)],
        crs="EPSG:4326",
    )
    path = tmp_path / "areas.geojson"
    frame.to_file(path)
    mapping = ColumnMapping(occurred_at="Date", category="Primary Type", source_id="ID",
                            time_format=CHICAGO.time_format)  # fmt: skip
    with pytest.raises(FileFormatError, match="incidents must be points; found Polygon"):
        read_incident_table(path, mapping)


def test_dedupe_keys_keep_leading_zeros_and_sources_apart() -> None:
    from geo.ingest import dedupe_keys

    ids = pd.Series(["12", "0012", "12", None])
    n = len(ids)
    zeros = np.zeros(n)
    cats = pd.Series(["THEFT"] * n)
    desc = pd.Series(["x"] * n)
    a = dedupe_keys("a", ids, np.arange(n), zeros, zeros, cats, desc)
    b = dedupe_keys("b", ids, np.arange(n), zeros, zeros, cats, desc)
    assert a[0] == a[2] and a[0] != a[1]
    assert len(set(a) & set(b)) == 0
    numeric = dedupe_keys("a", pd.Series(["12", "13"]), np.arange(2), zeros[:2], zeros[:2],
                          cats[:2], desc[:2])  # fmt: skip
    assert numeric[0] != numeric[1]
    assert numeric[0] == a[0]  # "12" has one key whatever else its file holds
