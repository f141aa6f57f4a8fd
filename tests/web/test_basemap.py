"""Maps with context (issue 15, item 2): the basemap settings and their checks, the GCJ-02
CRS every map goes through (its shift compared with geo.coords in node), the streets base
layer, labels, cell names and the box maps open on."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo.coords import gcj02_from_wgs84, wgs84_from_gcj02
from tests.osm_files import write_osm
from tests.web.conftest import login
from web import create_app
from web.assets import tile_layer_kwargs
from web.config import ConfigError, load_settings, tile_crs_name
from web.maps import render
from web.maps.streets import STREET_RANKS, street_layer
from web.services.map_layers import cell_focus_box, focus_box

REPO = Path(__file__).resolve().parents[2]
TILES = "http://pgis.intranet/tiles/{z}/{x}/{y}.png"
SECRET = {"SECRET_KEY": "t" * 40}


def settings(**values) -> dict[str, object]:
    return load_settings({**SECRET, **values}, environ={})


# --- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spelling", "name"),
    [("wgs84", "wgs84"), ("WGS-84", "wgs84"), ("cgcs2000", "wgs84"), ("EPSG:4326", "wgs84"),
     ("gcj02", "gcj02"), ("GCJ-02", "gcj02"), ("gcj_02", "gcj02")],
)  # fmt: skip
def test_tile_crs_spellings(spelling, name) -> None:
    assert tile_crs_name(spelling) == name
    assert settings(TILE_CRS=spelling)["TILE_CRS"] == name


def test_tile_crs_from_the_environment() -> None:
    values = load_settings(SECRET, environ={"HOTSPOT_TILE_CRS": "GCJ-02"})
    assert values["TILE_CRS"] == "gcj02"
    assert load_settings(SECRET, environ={})["TILE_CRS"] == "wgs84"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"TILE_CRS": "bd09"}, "TILE_CRS: expected wgs84 or gcj02"),
        ({"TILE_URL": "OpenStreetMap", "TILE_ATTRIBUTION": "x"}, r"TILE_URL: expected a tile URL"),
        ({"TILE_URL": "ftp://x/{z}/{x}/{y}.png", "TILE_ATTRIBUTION": "x"}, "http"),
        ({"TILE_URL": TILES}, "TILE_ATTRIBUTION: required"),
        ({"TILE_URL": TILES, "TILE_ATTRIBUTION": "  "}, "TILE_ATTRIBUTION: required"),
        ({"TILE_LABELS_URL": TILES}, "TILE_LABELS_URL needs HOTSPOT_TILE_URL"),
        ({"TILE_URL": TILES, "TILE_ATTRIBUTION": "x", "TILE_LABELS_URL": "/labels.png"},
         "TILE_LABELS_URL: expected a tile URL"),
        ({"TILE_URL": TILES, "TILE_ATTRIBUTION": "x",
          "TILE_LABELS_URL": "http://other.intranet/{z}/{x}/{y}.png"}, "same server"),
        ({"TILE_MAX_ZOOM": 0}, "TILE_MAX_ZOOM: expected 1 to 22"),
        ({"TILE_MAX_ZOOM": 23}, "TILE_MAX_ZOOM"),
        ({"TILE_SUBDOMAINS": "a-b"}, "TILE_SUBDOMAINS"),
        ({"TILE_SUBDOMAINS": ""}, "TILE_SUBDOMAINS"),
    ],
)  # fmt: skip
def test_bad_basemap_settings_are_refused_at_start(values, message) -> None:
    with pytest.raises(ConfigError, match=message):
        settings(**values)


def test_a_complete_basemap_setting_is_kept() -> None:
    values = settings(TILE_URL=f" {TILES} ", TILE_ATTRIBUTION="市公安局 PGIS", TILE_CRS="gcj02",
                      TILE_SUBDOMAINS="01234567", TILE_MAX_ZOOM=19,
                      TILE_LABELS_URL="http://pgis.intranet/labels/{z}/{x}/{y}.png")  # fmt: skip
    assert values["TILE_URL"] == TILES
    assert (values["TILE_CRS"], values["TILE_SUBDOMAINS"], values["TILE_MAX_ZOOM"]) == (
        "gcj02",
        "01234567",
        19,
    )


def test_tile_layer_kwargs_crs() -> None:
    assert tile_layer_kwargs(TILES, attribution="x", crs="gcj02")["crs"] == "GCJ02"
    assert "crs" not in tile_layer_kwargs(TILES, attribution="x", crs="wgs84")
    assert tile_layer_kwargs(None, crs="gcj02") == {"tiles": None, "maxZoom": 18}
    with pytest.raises(ValueError, match="crs must be one of"):
        tile_layer_kwargs(TILES, attribution="x", crs="bd09")


# --- every map goes through the shared context ------------------------------------------------


def _render(app, **kwargs) -> str:
    with app.test_request_context("/"):
        fmap = render.centred_map([[39.7, 98.2], [39.8, 98.3]], zoom_start=12, **kwargs)
        return "".join(render.map_parts(fmap).values())


@pytest.fixture(scope="module")
def bare_app(tmp_path_factory):
    """An app on an empty database (maps need no data) with a GCJ-02 basemap."""
    url = f"sqlite:///{tmp_path_factory.mktemp('basemap') / 'empty.db'}"
    return create_app({"DATABASE_URL": url, **SECRET, "TILE_URL": TILES, "TILE_CRS": "gcj02",
                       "TILE_ATTRIBUTION": "PGIS 测试", "TILE_SUBDOMAINS": "0123",
                       "TILE_LABELS_URL": "http://pgis.intranet/cva/{z}/{x}/{y}.png"})  # fmt: skip


def test_gcj02_basemap_map_uses_the_shifting_crs(bare_app) -> None:
    html = _render(bare_app, tile_url=TILES, tile_attribution="PGIS 测试")
    assert "crs: L.CRS.GCJ02" in html
    assert TILES in html and "http://pgis.intranet/cva/{z}/{x}/{y}.png" in html
    assert '"subdomains": "0123"' in html
    # The shared script is loaded after Leaflet and attached to the map.
    leaflet = html.index("leaflet.js")
    assert leaflet < html.index("/static/map-context.js")
    assert "/static/map-context.css" in html
    assert re.search(r"MapContext\.attach\(map_\w+, \{", html)
    # The print button and Leaflet's own controls are named in the page's language (the
    # app's default, Chinese, here).
    assert '"print": "\\u6253\\u5370\\u5730\\u56fe"' in html  # 打印地图
    assert '"zoomIn": "\\u653e\\u5927"' in html  # 放大


def test_without_tiles_the_map_is_plain_web_mercator(bare_app) -> None:
    with bare_app.test_request_context("/"):
        bare_app.config["TILE_URL"] = ""
        try:
            fmap = render.centred_map(None, zoom_start=12, tile_url=None, tile_attribution=None)
            html = "".join(render.map_parts(fmap).values())
        finally:
            bare_app.config["TILE_URL"] = TILES
    assert "crs: L.CRS.EPSG3857" in html and "tileLayer" not in html
    assert "MapContext.attach" in html


def test_the_page_script_shifts_as_geo_coords_does() -> None:
    """map-context.js's GCJ-02 shift and its inverse, run in node, agree with geo.coords to
    1e-9 degrees (a tenth of a millimetre) in China and are the identity outside it; the CRS
    projects a WGS-84 point where Web Mercator puts its GCJ-02 place and unprojects back."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is needed (it installs the map assets: make install)")
    points = [(98.289, 39.773), (116.391, 39.907), (121.47, 31.23), (104.07, 30.67),
              (-87.7, 41.9), (2.35, 48.85), (105.0, 35.0)]  # fmt: skip
    # Leaflet's pieces the script uses, with Leaflet's spherical Web Mercator.
    script = f"""
      const R = 6378137, D = Math.PI / 180;
      const mercator = {{
        project: ll => ({{x: R * ll.lng * D,
                          y: R * Math.log(Math.tan(Math.PI / 4 + ll.lat * D / 2))}}),
        unproject: p => ({{lat: (2 * Math.atan(Math.exp(p.y / R)) - Math.PI / 2) / D,
                           lng: p.x / D / R}}),
        bounds: null,
      }};
      global.window = global; global.addEventListener = () => {{}};
      global.L = {{Projection: {{SphericalMercator: mercator}},
                  CRS: {{EPSG3857: {{code: "EPSG:3857"}}}},
                  extend: Object.assign, latLng: (lat, lng) => ({{lat, lng}})}};
      require({json.dumps(str(REPO / "web" / "static" / "map-context.js"))});
      const pts = {json.dumps(points)};
      const out = pts.map(([lon, lat]) => {{
        const g = MapContext.gcjFromWgs(lat, lon);
        const w = MapContext.wgsFromGcj(g[0], g[1]);
        const p = L.CRS.GCJ02.projection.project(L.latLng(lat, lon));
        const q = mercator.project(L.latLng(g[0], g[1]));
        const back = L.CRS.GCJ02.projection.unproject(p);
        return {{g, w, dp: Math.hypot(p.x - q.x, p.y - q.y), back: [back.lat, back.lng]}};
      }});
      process.stdout.write(JSON.stringify(out));
    """
    result = subprocess.run([node, "-e", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    lon = np.array([p[0] for p in points])
    lat = np.array([p[1] for p in points])
    g_lon, g_lat = gcj02_from_wgs84(lon, lat)
    assert np.allclose([o["g"][0] for o in out], g_lat, atol=1e-9, rtol=0)
    assert np.allclose([o["g"][1] for o in out], g_lon, atol=1e-9, rtol=0)
    w_lon, w_lat = wgs84_from_gcj02(g_lon, g_lat)
    assert np.allclose([o["w"][0] for o in out], w_lat, atol=1e-9, rtol=0)
    assert np.allclose([o["w"][1] for o in out], w_lon, atol=1e-9, rtol=0)
    assert np.allclose([o["back"][0] for o in out], lat, atol=1e-8, rtol=0)
    assert np.allclose([o["back"][1] for o in out], lon, atol=1e-8, rtol=0)
    assert max(o["dp"] for o in out) < 1e-6  # metres of projected Web Mercator
    # Jiayuguan moves by about a hundred metres; Chicago and Paris not at all.
    assert 50 < np.hypot((g_lon[0] - lon[0]) * 85_000, (g_lat[0] - lat[0]) * 111_000) < 500
    assert out[4]["g"] == [41.9, -87.7] and out[5]["g"] == [48.85, 2.35]


# --- streets ----------------------------------------------------------------------------------


def test_streets_are_simplified_by_rank(tmp_path) -> None:
    bent = [(98.26 + i * 0.001, 39.77 + (1e-6 if i % 2 else 0.0)) for i in range(50)]
    osm = write_osm(tmp_path / "city.osm", [
        ("primary", bent), ("secondary", [(98.27, 39.75), (98.27, 39.79)]),
        ("residential", [(98.28, 39.75), (98.28, 39.79)]),
        ("footway", [(98.29, 39.75), (98.29, 39.79)]), ("service", [(98.3, 39.75), (98.3, 39.79)]),
    ])  # fmt: skip
    layer = street_layer(str(osm))
    assert layer is not None
    data = json.loads(layer.geojson)
    ranks = {f["properties"]["rank"]: f["geometry"] for f in data["features"]}
    assert sorted(ranks) == [1, 2, 3]
    # A wiggle of a decimetre is simplified away: the bent road keeps its two ends.
    assert ranks[1] == {"type": "LineString", "coordinates": [[98.26, 39.77], [98.309, 39.77]]}
    # Footways and service roads are not drawn.
    drawn = json.dumps(data)
    assert "98.29," not in drawn and "98.3," not in drawn
    assert layer.bounds == pytest.approx((98.26, 39.75, 98.309, 39.79))
    assert layer.covers([[39.7, 98.2], [39.76, 98.265]])
    assert not layer.covers([[41.8, -87.8], [41.9, -87.6]])
    assert STREET_RANKS["motorway"] == 1 and "footway" not in STREET_RANKS


def test_streets_key_follows_the_file_and_bad_files_give_none(tmp_path, caplog) -> None:
    osm = write_osm(tmp_path / "a.osm", [("primary", [(98.26, 39.77), (98.27, 39.77)])])
    first = street_layer(str(osm))
    write_osm(osm, [("primary", [(98.26, 39.77), (98.28, 39.77)])])
    second = street_layer(str(osm))
    assert first is not None and second is not None and first.key != second.key
    assert street_layer("") is None
    assert street_layer(str(tmp_path / "missing.osm")) is None
    broken = tmp_path / "broken.osm"
    broken.write_text("<osm><node")
    assert street_layer(str(broken)) is None
    assert "maps show no streets" in caplog.text


def test_streets_route_needs_a_login_and_the_current_key(app, tmp_path) -> None:
    osm = write_osm(tmp_path / "jyg.osm", [("primary", [(98.26, 39.77), (98.3, 39.77)])])
    layer = street_layer(str(osm))
    app.config["ROAD_NETWORK_FILE"] = str(osm)
    try:
        client = app.test_client()
        assert client.get(f"/maps/streets/{layer.key}.geojson").status_code == 401
        login(client, "commander")
        response = client.get(f"/maps/streets/{layer.key}.geojson")
        assert response.status_code == 200 and response.mimetype == "application/geo+json"
        assert response.cache_control.private and response.cache_control.immutable
        assert json.loads(response.data)["features"][0]["properties"] == {"rank": 1}
        assert client.get("/maps/streets/0123456789abcdef.geojson").status_code == 404
        # The hotspot map, around the city, asks for these streets and credits OSM.
        page = client.get("/command/hotspots").get_data(as_text=True)
        assert f"/maps/streets/{layer.key}.geojson" in page
        assert "OpenStreetMap contributors" in page
    finally:
        app.config["ROAD_NETWORK_FILE"] = ""


def test_an_extract_of_another_city_draws_nothing(app) -> None:
    chicago = "/work/shared/data/roads/chicago/chicago_logan_square_avondale.osm"
    app.config["ROAD_NETWORK_FILE"] = chicago
    try:
        client = app.test_client()
        login(client, "commander")
        page = client.get("/command/hotspots").get_data(as_text=True)
        assert "/maps/streets/" not in page and "OpenStreetMap" not in page
    finally:
        app.config["ROAD_NETWORK_FILE"] = ""


# --- where maps open, labels and names --------------------------------------------------------


def test_focus_box_leaves_out_the_few_far_incidents() -> None:
    lat = np.r_[np.linspace(39.76, 39.78, 98), 40.5, 39.0]
    lng = np.r_[np.linspace(98.28, 98.30, 98), 97.0, 99.5]
    box = focus_box(lat, lng, np.ones(100))
    assert box == pytest.approx((98.28, 39.76, 98.30, 39.78), abs=1e-3)
    # Weights count: a heavy far cell is kept.
    weights = np.r_[np.ones(98), 50.0, 0.0]
    assert focus_box(lat, lng, weights)[3] == pytest.approx(40.5)
    assert focus_box(lat, lng, np.zeros(100)) is None


def test_cell_focus_box_is_padded_around_cell_centres() -> None:
    import h3

    cells = np.array([h3.str_to_int(h3.latlng_to_cell(39.77, 98.29, 9))], dtype=np.int64)
    minx, miny, maxx, maxy = cell_focus_box(cells, np.array([3]))
    assert minx < 98.29 < maxx and miny < 39.77 < maxy
    assert 0.001 < maxy - miny < 0.01


def test_station_names_follow_the_language(app) -> None:
    stations = pd.DataFrame({"name": ["雄关派出所", "无英文名"], "name_en": ["Xiongguan PS", ""],
                             "lat": [39.77, 39.78], "lon": [98.28, 98.29]})  # fmt: skip
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        assert [r[0] for r in render.station_rows(stations)] == ["Xiongguan PS", "无英文名"]
    with app.test_request_context("/", headers={"Accept-Language": "zh-CN"}):
        assert [r[0] for r in render.station_rows(stations)] == ["雄关派出所", "无英文名"]
    assert render.station_rows(None) == ()


def test_hotspot_page_labels_grids_and_stations_and_names_cells(app) -> None:
    client = app.test_client()
    login(client, "commander")
    page = client.get("/command/hotspots").get_data(as_text=True)
    assert re.search(r'MapContext\.labelAreas\(geo_json_\w+, "area_id", "grid"\)', page)
    assert page.count("map-label map-label-station") == 5
    assert "Xiongguan Police Station" in page  # English page: the English names
    start = page.index('"names": ') + len('"names": ')
    names, _end = json.JSONDecoder().raw_decode(page[start:])
    assert len(names) == 64 and all(re.fullmatch(r"G\d{3}", k) for k in names)
    assert all(re.fullmatch(r"[0-9a-f]{15}", h) for h in names["G001"])


def test_hotspot_map_opens_on_the_incidents_not_the_jurisdiction(app) -> None:
    from web.services.map_layers import study_bounds
    from web.services.site_data import site_data

    data = site_data(app.extensions["engine"])
    minx, miny, maxx, maxy = study_bounds(data)
    import h3

    from geo.cells import hex_from_cells

    centres = np.array([h3.cell_to_latlng(c) for c in hex_from_cells(data.cells)])
    whole = (centres[:, 1].max() - centres[:, 1].min()) * (
        centres[:, 0].max() - centres[:, 0].min()
    )
    assert (maxx - minx) * (maxy - miny) < 0.1 * whole
    cells, counts = np.unique(data.incident_cells, return_counts=True)
    points = np.array([h3.cell_to_latlng(c) for c in hex_from_cells(cells)])
    inside = ((points[:, 1] >= minx) & (points[:, 1] <= maxx) & (points[:, 0] >= miny)
              & (points[:, 0] <= maxy))  # fmt: skip
    assert counts[inside].sum() >= 0.95 * counts.sum()


def test_cell_explanation_names_the_cell(app) -> None:
    from web.services.cell_names import cell_names
    from web.services.site_data import site_data

    engine = app.extensions["engine"]
    names = cell_names(engine, site_data(engine))
    cell, name = next(iter(names.by_cell.items()))
    import h3

    client = app.test_client()
    login(client, "commander")
    body = client.get(f"/command/cell/{h3.int_to_str(cell)}").get_json()
    assert body["name"] == name and re.fullmatch(r"G\d{3}-\d+", name)
    assert body["label"] == f"{name} ({h3.int_to_str(cell)})"
    assert {"kind": "grid", "id": name.rsplit("-", 1)[0]} in body["area_list"]
