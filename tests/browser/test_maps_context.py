"""Maps with context in a real browser (issue 15, item 2): the bureau's own tile service in
GCJ-02 with every overlay shifted onto it (tiles from a local tile server started here),
streets of an OpenStreetMap extract as a light base when there is no tile service, grid and
station labels by zoom, cells named by grid and number, maps opening on where the incidents
are, and a printable map page; desktop and a 390 x 844 phone, Chinese and English."""

from __future__ import annotations

import io
import math
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from geo.coords import gcj02_from_wgs84, wgs84_from_gcj02
from tests.browser.conftest import DESKTOP, PHONE, demo_database, page_opener, serving
from tests.osm_files import write_osm
from web import create_app

pytestmark = pytest.mark.browser

SECRET = "browser-tests-" + "m" * 20
# Station S01 of the Jiayuguan demo (雄关派出所), WGS-84.
STATION = {"lat": 39.773, "lon": 98.289, "zh": "雄关派出所", "en": "Xiongguan Police Station"}
ZOOM = 17  # the GCJ-02 shift here (~110 m) is ~120 px at this zoom
TILE_PATH = re.compile(r"^/(\d+)/(\d+)/(\d+)\.png$")
CELL_NAME = re.compile(r"^G\d{3}-\d+$")
SIZES = {"desktop": DESKTOP, "phone": PHONE}


def _tile_png() -> bytes:
    """A light grey 256 px tile with a darker border (so tiles show in screenshots)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (256, 256), (236, 234, 228))
    ImageDraw.Draw(image).rectangle([0, 0, 255, 255], outline=(200, 196, 188))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


class TileServer:
    """A tile server on 127.0.0.1 serving one generated PNG for every ``/z/x/y.png`` and
    remembering each (z, x, y) asked for."""

    def __init__(self) -> None:
        png = _tile_png()
        requested: list[tuple[int, int, int]] = []
        self.requested = requested

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802  (http.server's name)
                match = TILE_PATH.match(self.path)
                if not match:
                    self.send_error(404)
                    return
                requested.append(tuple(int(v) for v in match.groups()))  # type: ignore[arg-type]
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(png)))
                self.end_headers()
                try:
                    self.wfile.write(png)
                except (BrokenPipeError, ConnectionResetError):  # a tile no longer wanted
                    pass

            def log_message(self, *_args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _osm_extract(path) -> None:  # noqa: ANN001
    """A small OSM XML extract of streets around Jiayuguan's centre: a grid of residential
    streets and two primary roads (lon 98.26-98.32, lat 39.75-39.80)."""
    write_osm(
        path,
        [("primary", [(98.26, 39.775), (98.32, 39.775)])]
        + [("primary", [(98.29, 39.75), (98.29, 39.80)])]
        + [("residential", [(98.26, lat), (98.32, lat)]) for lat in (39.76, 39.765, 39.785, 39.79)]
        + [("residential", [(lon, 39.75), (lon, 39.80)]) for lon in (98.27, 98.28, 98.30, 98.31)]
        + [("footway", [(98.285, 39.77), (98.295, 39.78)])],
    )


@pytest.fixture(scope="module")
def tiles() -> Iterator[TileServer]:
    server = TileServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def sites(tmp_path_factory, tiles) -> Iterator[dict[str, str]]:
    """The demo served twice: on the GCJ-02 tile server, and with no tile service but the
    streets of an extract."""
    directory = tmp_path_factory.mktemp("maps")
    url, _env = demo_database(directory)
    osm = directory / "jiayuguan.osm"
    _osm_extract(osm)
    base = {"DATABASE_URL": url, "SECRET_KEY": SECRET}
    gcj = create_app(base | {"TILE_URL": tiles.url + "/{z}/{x}/{y}.png", "TILE_CRS": "gcj02",
                             "TILE_ATTRIBUTION": "Test PGIS"})  # fmt: skip
    streets = create_app(base | {"ROAD_NETWORK_FILE": str(osm)})
    with serving(gcj) as gcj_url, serving(streets) as streets_url:
        yield {"gcj02": gcj_url, "streets": streets_url}


@pytest.fixture
def open_page(browser):
    """Opens watched pages (``base_url``, size, language); after the test each is checked
    for console errors, failed and non-local requests (conftest.page_opener)."""
    with page_opener(browser) as open_:
        yield lambda base_url, size, lang: open_(
            base_url, locale="zh-CN" if lang == "zh" else "en-US", **SIZES[size]
        )


def _lon_lat(x: float, y: float, zoom: int) -> tuple[float, float]:
    """The Web Mercator pixel's longitude and latitude (inverse of _world_pixel)."""
    scale = 256 * 2**zoom
    lon = x / scale * 360.0 - 180.0
    lat = math.degrees(math.atan(math.sinh(math.pi * (1.0 - 2.0 * y / scale))))
    return lon, lat


def _world_pixel(lon: float, lat: float, zoom: int) -> tuple[float, float]:
    """Web Mercator pixel of a point at a zoom (256 px tiles)."""
    scale = 256 * 2**zoom
    phi = math.radians(lat)
    x = (lon + 180.0) / 360.0 * scale
    y = (1.0 - math.log(math.tan(phi) + 1.0 / math.cos(phi)) / math.pi) / 2.0 * scale
    return x, y


def _wait_for_map(page) -> None:
    page.wait_for_function("() => window.MapContext && MapContext.maps.length > 0")
    page.wait_for_function("() => window.HotspotMap && HotspotMap.state && HotspotMap.state.data")
    page.wait_for_load_state("networkidle")
    page.wait_for_function("() => !MapContext.maps[0]._animatingZoom")


def _commander_map(open_page, base_url: str, size: str, lang: str, path: str):  # noqa: ANN001, ANN202
    """A commander's watched page on ``path`` once its map has drawn."""
    watched = open_page(base_url, size, lang)
    watched.login("commander")
    watched.goto(path)
    _wait_for_map(watched.page)
    return watched


# --- GCJ-02 basemap ---------------------------------------------------------------------------


def test_gcj02_tiles_and_overlays_line_up(open_page, sites, tiles) -> None:
    """Tiles come from the bureau's server with the z/x/y of the GCJ-02 place; the station
    marker is drawn on its GCJ-02 shifted place on those tiles; a click there reads back the
    station's WGS-84 position; the page's conversion is geo.coords'."""
    watched = _commander_map(open_page, sites["gcj02"], "desktop", "en", "/command/hotspots")
    page = watched.page
    assert page.evaluate("MapContext.maps[0].options.crs.code") == "GCJ02"
    page.evaluate(
        "([lat, lon, z]) => { MapContext.maps[0].setView([lat, lon], z, {reset: true}); }",
        [STATION["lat"], STATION["lon"], ZOOM],
    )
    (gx,), (gy,) = gcj02_from_wgs84([STATION["lon"]], [STATION["lat"]])
    px, py = _world_pixel(float(gx), float(gy), ZOOM)
    tile_x, tile_y = int(px // 256), int(py // 256)
    tile_src = f"{tiles.url}/{ZOOM}/{tile_x}/{tile_y}.png"
    assert page.evaluate("MapContext.maps[0].getZoom()") == ZOOM
    page.wait_for_function(
        "src => [...document.querySelectorAll('img.leaflet-tile')]"
        ".some(t => t.src === src && t.complete && t.naturalWidth > 0)",
        arg=tile_src,
    )
    assert (ZOOM, tile_x, tile_y) in tiles.requested

    drawn = page.evaluate(
        """([lat, lon, src]) => {
          const map = MapContext.maps[0];
          let marker = null;
          map.eachLayer(l => {
            const p = l instanceof L.CircleMarker && l.getLatLng();
            if (p && Math.abs(p.lat - lat) < 1e-9 && Math.abs(p.lng - lon) < 1e-9) {
              marker = l;
            }
          });
          const box = map.getContainer().getBoundingClientRect();
          const at = map.layerPointToContainerPoint(marker._point);  // where it was drawn
          const tile = [...document.querySelectorAll('img.leaflet-tile')].find(t => t.src === src);
          const tileBox = tile.getBoundingClientRect();
          return {x: box.left + at.x, y: box.top + at.y,
                  tileLeft: tileBox.left, tileTop: tileBox.top,
                  attribution: document.querySelector('.leaflet-control-attribution').textContent};
        }""",
        [STATION["lat"], STATION["lon"], tile_src],
    )
    # On the tile, the marker sits where the GCJ-02 place is (within a pixel) ...
    assert abs(drawn["x"] - (drawn["tileLeft"] + px % 256)) < 1.5
    assert abs(drawn["y"] - (drawn["tileTop"] + py % 256)) < 1.5
    # ... which is far from where the unshifted WGS-84 position would put it.
    wx, wy = _world_pixel(STATION["lon"], STATION["lat"], ZOOM)
    assert math.hypot(px - wx, py - wy) > 50
    assert "Test PGIS" in drawn["attribution"]

    # A click on the map reads back WGS-84 (as the explain-a-cell click and a report's
    # place need): the GCJ-02 place under the pointer, shifted back.
    page.evaluate(
        "() => { window.__clicked = null; MapContext.maps[0].once('click', "
        "e => { window.__clicked = [e.latlng.lat, e.latlng.lng]; }); }"
    )
    x, y = round(drawn["x"]) + 25, round(drawn["y"]) + 25  # beside the marker: the map gets it
    page.mouse.click(x, y)
    clicked = page.evaluate("window.__clicked")
    gcj_lon, gcj_lat = _lon_lat(px + x - drawn["x"], py + y - drawn["y"], ZOOM)
    (want_lon,), (want_lat,) = wgs84_from_gcj02([gcj_lon], [gcj_lat])
    pixel_deg = 360.0 / (256 * 2**ZOOM)
    assert abs(clicked[1] - float(want_lon)) < 1.5 * pixel_deg
    assert abs(clicked[0] - float(want_lat)) < 1.5 * pixel_deg
    assert abs(clicked[1] - gcj_lon) > 20 * pixel_deg  # not the unshifted GCJ-02 value

    # The page's shift is geo.coords' (and the identity outside China).
    points = [(98.289, 39.773), (116.391, 39.907), (121.47, 31.23), (-87.7, 41.9), (2.35, 48.85)]
    lon = np.array([p[0] for p in points])
    lat = np.array([p[1] for p in points])
    g_lon, g_lat = gcj02_from_wgs84(lon, lat)
    js = page.evaluate("pts => pts.map(p => MapContext.gcjFromWgs(p[1], p[0]))", points)
    assert np.allclose([j[0] for j in js], g_lat, atol=1e-9, rtol=0)
    assert np.allclose([j[1] for j in js], g_lon, atol=1e-9, rtol=0)
    back = page.evaluate("pts => pts.map(p => MapContext.wgsFromGcj(p[0], p[1]))", js)
    assert np.allclose([b[0] for b in back], lat, atol=1e-8, rtol=0)
    assert np.allclose([b[1] for b in back], lon, atol=1e-8, rtol=0)
    watched.shot("maps-gcj02-tiles-desktop-en")


# --- labels, names, opening view, streets (no tile service) ---------------------------------


@pytest.mark.parametrize("size", ["desktop", "phone"])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_hotspot_map_has_context(open_page, sites, size, lang) -> None:
    watched = _commander_map(open_page, sites["streets"], size, lang, "/command/hotspots")
    page = watched.page

    # Opens on where the incidents are, with the whole jurisdiction still drawn around it.
    view = page.evaluate(
        """() => {
          const map = MapContext.maps[0];
          let outline = null;
          map.eachLayer(l => {
            const p = l.feature && l.feature.properties;
            if (p && p.area_id === 'jurisdiction') { outline = l; }
          });
          const v = map.getBounds(), j = outline.getBounds();
          const area = b => (b.getEast() - b.getWest()) * (b.getNorth() - b.getSouth());
          return {share: area(v) / area(j), inside: j.contains(v.getCenter()), zoom: map.getZoom()};
        }"""
    )
    assert view["inside"] and view["share"] < 0.2, view

    # The streets of the extract: one canvas layer in its own pane under the overlays.
    page.wait_for_function("() => MapContext.streets.length === 1")
    streets = page.evaluate(
        """() => {
          const map = MapContext.maps[0];
          const pane = map.getPane('streets');
          return {features: MapContext.streets[0].getLayers().length,
                  canvases: pane.querySelectorAll('canvas').length,
                  paths: pane.querySelectorAll('path').length,
                  below: +pane.style.zIndex < +getComputedStyle(map.getPane('overlayPane')).zIndex,
                  attribution: document.querySelector('.leaflet-control-attribution').textContent};
        }"""
    )
    # Primary roads and residential streets (the footway is not drawn): two features.
    assert streets["features"] == 2 and streets["canvases"] == 1 and streets["paths"] == 0
    assert streets["below"] and "OpenStreetMap" in streets["attribution"]

    # Station labels in the page's language from zoom 12, grid labels from zoom 13.
    page.evaluate(
        "([lat, lon]) => { MapContext.maps[0].setView([lat, lon], 14, {reset: true}); }",
        [STATION["lat"], STATION["lon"]],
    )
    station = page.locator(".map-label-station", has_text=STATION[lang])
    station.first.wait_for(state="visible")
    other = STATION["zh" if lang == "en" else "en"]
    assert page.locator(".map-label-station", has_text=other).count() == 0
    assert page.locator(".map-label-grid:visible").count() > 0
    labels = page.locator(".map-label-grid").all_inner_texts()
    assert all(re.fullmatch(r"G\d{3}", t.strip()) for t in labels), labels[:5]
    watched.shot(f"maps-hotspots-labels-{size}-{lang}")
    page.evaluate("() => { MapContext.maps[0].setZoom(11, {animate: false}); }")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.map-label-grid')]"
        ".every(e => e.offsetParent === null)"
    )
    assert page.locator(".map-label-station:visible").count() == 0

    # Cells are named by grid and number, the H3 id second: the top-cells list, the tooltip
    # and the explanation.
    names = page.locator("#top-cells a").all_inner_texts()
    assert any(CELL_NAME.fullmatch(n) for n in names), names
    first = page.locator("#top-cells a").filter(has_text=re.compile(r"^G\d{3}-\d+$")).first
    hex_id = first.get_attribute("data-cell")
    name = first.inner_text()
    first.click()
    page.locator("#cell-body b", has_text=name).wait_for()
    assert hex_id in page.locator("#cell-body").inner_text()
    tooltip = page.evaluate(
        """hex => {
          let text = null;
          MapContext.maps[0].eachLayer(l => {
            const p = l.feature && l.feature.properties;
            if (p && p.cell === hex && p.v !== undefined) { text = HotspotMap.cellTooltip(l); }
          });
          return text;
        }""",
        hex_id,
    )
    if tooltip is not None:  # the cell is drawn at full resolution at this zoom
        assert name in tooltip and hex_id in tooltip
    watched.shot(f"maps-hotspots-cell-{size}-{lang}")


def test_no_extract_for_the_city_draws_no_streets_and_credits_none(watched) -> None:
    """The default browser site has no extract: no streets, no OpenStreetMap credit."""
    watched.login("commander")
    watched.goto("/command/hotspots")
    _wait_for_map(watched.page)
    watched.page.wait_for_load_state("networkidle")
    assert watched.page.evaluate("MapContext.streets.length") == 0
    assert "OpenStreetMap" not in watched.page.locator(".leaflet-control-attribution").inner_text()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_map_page_prints_the_map_and_legend(open_page, sites, lang) -> None:
    watched = _commander_map(open_page, sites["streets"], "desktop", lang, "/command/hotspots")
    page = watched.page
    assert page.locator(".map-print").is_visible()
    page.emulate_media(media="print")
    for selector in (".topbar", ".leaflet-control-zoom", ".leaflet-control-layers", ".map-print",
                     "#filters"):  # fmt: skip
        assert not page.locator(selector).first.is_visible(), selector
    for selector in ("#map-panel", "#hotspot-legend", "#stats"):
        assert page.locator(selector).first.is_visible(), selector
    box = page.locator("#map-panel").bounding_box()
    assert box is not None and box["width"] > 600 and box["height"] > 400
    watched.shot(f"maps-hotspots-print-{lang}")
    page.emulate_media(media="screen")


@pytest.mark.parametrize("path", ["/overview", "/command/live", "/plans/1"])
def test_other_maps_go_through_the_shared_context(open_page, sites, path) -> None:
    """Every map, plan maps included, uses the GCJ-02 CRS and the tile server."""
    watched = open_page(sites["gcj02"], "desktop", "zh")
    page = watched.page
    watched.login("commander")
    watched.goto(path)
    page.wait_for_function("() => window.MapContext && MapContext.maps.length > 0")
    assert page.evaluate("MapContext.maps.every(m => m.options.crs.code === 'GCJ02')")
    page.wait_for_function("() => document.querySelectorAll('img.leaflet-tile').length > 0")
    watched.shot("maps-gcj02" + path.replace("/", "-") + "-zh")


def test_an_area_filter_opens_on_that_area(open_page, sites) -> None:
    """With one grid chosen, the hotspot map opens on that grid's cells."""
    watched = _commander_map(
        open_page, sites["streets"], "desktop", "en", "/command/hotspots?area=grid:G040"
    )
    page = watched.page
    # The whole jurisdiction's focus opens at zoom 13 here; the grid's cells closer.
    page.wait_for_function(
        "() => MapContext.maps[0].getZoom() >= 15 && !MapContext.maps[0]._animatingZoom"
    )
    inside = page.evaluate(
        """() => {
          const map = MapContext.maps[0];
          const view = map.getBounds();
          const data = HotspotMap.state.data;
          const cells = data.cells.filter((c, i) => data.count[i] > 0);
          return {n: cells.length, all: cells.every(c => view.contains(h3.cellToLatLng(c))),
                  zoom: map.getZoom()};
        }"""
    )
    assert inside["n"] > 0 and inside["all"] and inside["zoom"] >= 15, inside


def test_a_link_to_a_cell_opens_on_it_explained(open_page, sites) -> None:
    """The search's links (?cell=HEX) centre the map on the cell and explain it, named."""
    watched = _commander_map(open_page, sites["streets"], "phone", "zh", "/command/hotspots")
    page = watched.page
    hex_id, name = page.evaluate(
        """() => {
          const data = HotspotMap.state.data;
          const i = data.count.indexOf(Math.max(...data.count));
          return [data.cells[i], HotspotMap.nameOf(data.cells[i])];
        }"""
    )
    assert name != hex_id  # the busiest cell lies in a grid and has a name
    watched.goto(f"/command/hotspots?cell={hex_id}")
    _wait_for_map(page)
    page.wait_for_function(f"() => HotspotMap.state.selected === '{hex_id}'")
    page.wait_for_function("() => !MapContext.maps[0]._animatingZoom")
    page.locator("#cell-body table").first.wait_for()
    assert name in page.locator("#cell-body").inner_text()
    near = page.evaluate(
        f"""() => {{
          const map = MapContext.maps[0];
          const c = h3.cellToLatLng('{hex_id}');
          return map.getZoom() >= 15 && map.distance(map.getCenter(), c) < 50;
        }}"""
    )
    assert near
    # A value that is not a cell id is ignored: the map opens as usual, nothing selected.
    watched.goto("/command/hotspots?cell=%3Cscript%3E")
    _wait_for_map(page)
    assert page.evaluate("HotspotMap.state.selected || null") is None
