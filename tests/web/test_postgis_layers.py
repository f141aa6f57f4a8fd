"""The PostGIS layers (migration 0008): the demo's areas, stations and incidents (the tables
and the view ``incident_layer``) read back through GDAL from the PostgreSQL connection, as
QGIS or ArcGIS would open them, match what the site stored; their ``geom`` columns follow
the site's own writes; their GiST indexes serve bounding-box queries; and a database role
that may not create PostGIS gets a clear error.

GDAL's PostgreSQL driver comes from Debian's ``gdal-bin`` (``ogrinfo``, ``ogr2ogr``;
installed by ``make db-deps``): the pyogrio wheel has no PostgreSQL driver, so each layer is
copied to GeoJSON by ``ogr2ogr`` and that file read with pyogrio.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa

from geo.cells import hex_from_cells
from web import storage

pytestmark = pytest.mark.databases("postgresql", demo=True)

# Each layer's geometry type as ogrinfo names it.
LAYERS = {
    "areas": "Multi Polygon",
    "stations": "Point",
    "incidents": "Point",
    "incident_layer": "Point",
}
VIEWS = {"incident_layer"}


def _gdal(program: str, *args: str) -> str:
    path = shutil.which(program)
    assert path, f"{program} not found: install Debian's gdal-bin (`make db-deps`, as root)"
    done = subprocess.run([path, *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{program} {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done.stdout


def _pg_source(url: str) -> str:
    """GDAL's connection string for a database of the test cluster (a unix socket)."""
    parsed = sa.make_url(url)
    return f"PG:host={parsed.query['host']} dbname={parsed.database} user={parsed.username}"


def _read_layer(url: str, layer: str, folder: Path) -> gpd.GeoDataFrame:
    """The layer copied by ogr2ogr into GeoJSON, read with pyogrio, indexed by the row id.

    The ids go as text (each feature's ``id`` member): incident ids are 64-bit keys, some
    negative, which GeoJSON readers take as numbers only when they fit a double. A table's
    ids are GDAL's feature ids; a view has none, its ``id`` is a field.
    """
    out = folder / f"{layer}.geojson"
    ids = ["-lco", "ID_FIELD=id"] if layer in VIEWS else ["-preserve_fid"]
    _gdal("ogr2ogr", "-f", "GeoJSON", *ids, "-lco", "ID_TYPE=String", str(out),
          _pg_source(url), layer)  # fmt: skip
    frame = gpd.read_file(out, engine="pyogrio")
    return frame.set_index(frame["id"].astype("int64")).sort_index()


def _table(url: str, query: str) -> pd.DataFrame:
    engine = storage.make_engine(url)
    with engine.connect() as conn:
        return pd.read_sql(sa.text(query), conn)


@pytest.mark.parametrize("layer", list(LAYERS))
def test_ogrinfo_sees_each_layer_with_its_type_srid_and_count(demo_db, layer) -> None:
    info = _gdal("ogrinfo", "-ro", "-so", _pg_source(demo_db), layer)
    count = _table(demo_db, f"SELECT count(*) AS n FROM {layer}")["n"].item()
    assert count > 0
    assert f"Geometry: {LAYERS[layer]}\n" in info
    assert f"Feature Count: {count}\n" in info
    assert ("FID Column = id\n" in info) == (layer not in VIEWS)
    assert "Geometry Column = geom\n" in info
    # The layer's CRS ends with its EPSG code (the outermost ID of the WKT).
    assert re.search(r'\n    ID\["EPSG",4326\]\]\n', info), info


@pytest.mark.parametrize("layer", ["stations", "incidents", "incident_layer"])
def test_point_layers_read_through_gdal_are_the_stored_positions(demo_db, layer, tmp_path) -> None:
    frame = _read_layer(demo_db, layer, tmp_path)
    table = "incidents" if layer == "incident_layer" else layer
    stored = _table(demo_db, f"SELECT id, lon, lat FROM {table} ORDER BY id").set_index("id")
    assert frame.crs.to_epsg() == 4326
    assert frame.index.tolist() == stored.index.tolist()
    assert set(frame.geom_type) == {"Point"}
    np.testing.assert_allclose(frame.geometry.x, stored["lon"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(frame.geometry.y, stored["lat"], rtol=0, atol=1e-9)


def test_the_incident_layer_names_categories_times_and_cells(demo_db, tmp_path) -> None:
    frame = _read_layer(demo_db, "incident_layer", tmp_path)
    stored = _table(
        demo_db,
        "SELECT i.id, i.occurred_at, i.cell, c.code, c.name_zh, d.description FROM incidents i "
        "JOIN categories c ON c.id = i.category_id "
        "LEFT JOIN incident_details d ON d.id = i.detail_id ORDER BY i.id",
    ).set_index("id")
    assert frame.index.tolist() == stored.index.tolist()
    occurred = pd.to_datetime(frame["occurred"], utc=True)
    assert (occurred == pd.to_datetime(stored["occurred_at"], unit="s", utc=True)).all()
    assert frame["category"].tolist() == stored["code"].tolist()
    assert frame["category_zh"].tolist() == stored["name_zh"].tolist()
    assert frame["description"].tolist() == stored["description"].tolist()
    assert frame["cell"].tolist() == hex_from_cells(stored["cell"].to_numpy())
    assert frame["cell"].str.fullmatch("89[0-9a-f]{13}").all()  # resolution 9 H3 ids


def test_the_area_layer_read_through_gdal_holds_the_stored_shapes(demo_db, tmp_path) -> None:
    frame = _read_layer(demo_db, "areas", tmp_path)
    stored = _table(demo_db, "SELECT id, kind, geometry FROM areas ORDER BY id").set_index("id")
    assert frame.crs.to_epsg() == 4326
    assert frame.index.tolist() == stored.index.tolist()
    assert {"jurisdiction", "grid"} <= set(stored["kind"])  # the demo's kinds of area
    assert set(frame.geom_type) == {"MultiPolygon"}
    shapes = [_multi(shape) for shape in shapely.from_geojson(stored["geometry"].tolist())]
    for area_id, read, shape in zip(stored.index, frame.geometry, shapes, strict=True):
        assert shapely.equals_exact(read, shape, tolerance=1e-9), area_id


def _multi(shape: shapely.Geometry) -> shapely.MultiPolygon:
    """A stored Polygon as the layer holds it: a MultiPolygon of one."""
    return shapely.MultiPolygon([shape]) if shape.geom_type == "Polygon" else shape


def test_each_layer_has_a_gist_index_that_bounding_box_queries_use(demo_db) -> None:
    indexes = _table(
        demo_db, "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
    )
    engine = storage.make_engine(demo_db)
    for layer in LAYERS:
        table = "incidents" if layer == "incident_layer" else layer
        index = indexes[indexes["indexname"] == f"ix_{table}_geom"]
        assert index["tablename"].tolist() == [table]
        assert index["indexdef"].item().endswith("USING gist (geom)")
        with engine.begin() as conn:
            # What QGIS asks when it draws a map extent; the planner may use the index only
            # when sequential scans are off (the demo's tables are small).
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = conn.exec_driver_sql(
                f"EXPLAIN SELECT id FROM {layer} "
                "WHERE geom && ST_MakeEnvelope(98.0, 39.5, 98.5, 40.0, 4326)"
            ).scalars()
            assert f"ix_{table}_geom" in "\n".join(plan)


def test_the_geometry_columns_follow_what_the_site_writes(demo_copy_url) -> None:
    engine = storage.make_engine(demo_copy_url)
    stations = pd.DataFrame(
        [{"station_id": "S9", "name": "新站", "name_en": "New", "lon": 98.3, "lat": 39.8}]
    )
    storage.store_stations(engine, stations)
    square = shapely.box(98.2, 39.7, 98.21, 39.71)
    two = shapely.MultiPolygon([square, shapely.box(98.3, 39.7, 98.31, 39.71)])
    areas = gpd.GeoDataFrame(
        {"area_id": ["a", "b"], "name": ["A", "B"]}, geometry=[square, two], crs="EPSG:4326"
    )
    storage.store_areas(engine, "beat", areas, pd.DataFrame({"area_id": [], "cell": []}))
    with engine.begin() as conn:
        station = conn.exec_driver_sql("SELECT ST_AsEWKT(geom) FROM stations").scalar_one()
        beats = conn.exec_driver_sql(
            "SELECT area_id, ST_SRID(geom), ST_NumGeometries(geom), ST_Area(geom) FROM areas "
            "WHERE kind = 'beat' ORDER BY area_id"
        ).all()
        moved = conn.exec_driver_sql(
            "UPDATE incidents SET lon = lon + 0.01 WHERE id = (SELECT min(id) FROM incidents) "
            "RETURNING ST_X(geom) - lon, ST_Y(geom) - lat, ST_SRID(geom)"
        ).one()
    assert station == "SRID=4326;POINT(98.3 39.8)"
    assert [(a, srid, n) for a, srid, n, _ in beats] == [("a", 4326, 1), ("b", 4326, 2)]
    assert beats[0][3] == pytest.approx(square.area, abs=1e-12)
    assert beats[1][3] == pytest.approx(two.area, abs=1e-12)
    assert tuple(moved) == (0.0, 0.0, 4326)


def test_a_role_that_may_not_create_postgis_gets_a_clear_error(postgres_cluster) -> None:
    admin = postgres_cluster.admin()
    with admin.connect() as conn:
        conn.exec_driver_sql("CREATE ROLE hotspot_plain LOGIN")
        conn.exec_driver_sql(
            "CREATE DATABASE hotspot_no_postgis OWNER hotspot_plain TEMPLATE template0"
        )
    url = sa.make_url(postgres_cluster.url("hotspot_no_postgis")).set(username="hotspot_plain")
    engine = storage.make_engine(url.render_as_string(hide_password=False))
    try:
        with pytest.raises(RuntimeError, match="CREATE EXTENSION postgis") as raised:
            storage.init_db(engine)
        assert "the database role may not create it" in str(raised.value)
        assert "postgresql-15-postgis-3" in str(raised.value)
        assert storage.current_revision(engine) is None  # the whole upgrade rolled back
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql("DROP DATABASE hotspot_no_postgis WITH (FORCE)")
            conn.exec_driver_sql("DROP ROLE hotspot_plain")
