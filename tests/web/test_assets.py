"""A map with every element the app uses loads nothing from the internet."""

import json
import posixpath
import re
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import branca.colormap
import folium
import pytest
from flask import Flask
from folium.plugins import Fullscreen, HeatMap, MarkerCluster

from web.assets import (
    NODE_MODULES,
    ROTATE_CSS_PATH,
    SITE_SCRIPTS,
    SITE_SOURCE_MAPS,
    VENDOR_FILES,
    register_vendor_assets,
    tile_layer_kwargs,
    use_local_assets,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
URL_PREFIX = "/static/vendor/"
# Every http(s) URL a rendered page may contain; keep it empty.
ALLOWED_INTERNET_URLS: frozenset[str] = frozenset()
# Loaded by leaflet.js (L.Icon.Default), not named by a page or a stylesheet.
LOADED_BY_SCRIPTS = {
    "leaflet@1.9.3/dist/images/marker-icon-2x.png",
    "leaflet@1.9.3/dist/images/marker-shadow.png",
}
# The classes whose link lists use_local_assets rewrites (it also wraps ColorMap.render).
PATCHED_CLASSES = (folium.Map, MarkerCluster, HeatMap, Fullscreen)

CSS_URL = re.compile(r"""url\(\s*(['"]?)(.*?)\1\s*\)""")
SOURCE_MAP_URL = re.compile(r"sourceMappingURL=(\S+?)(?:\s|\*/|$)")
INTERNET_URL = re.compile(r"""https?://[^\s"'<>)]+""")
SERVED_PATH = re.compile(r"(@?[^@]+)@([^/]+)/(.+)")  # package@version/path in package
ATTRIBUTE_URL = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"']*)["']""")


@pytest.fixture
def local_assets(monkeypatch):
    """Switch folium to local assets for one test, then put folium back."""
    for cls in PATCHED_CLASSES:
        monkeypatch.setattr(cls, "default_js", cls.default_js)
        monkeypatch.setattr(cls, "default_css", cls.default_css)
    monkeypatch.setattr(branca.colormap.ColorMap, "render", branca.colormap.ColorMap.render)
    use_local_assets(URL_PREFIX)


@pytest.fixture
def client():
    app = Flask(__name__)
    register_vendor_assets(app)
    return app.test_client()


def build_map() -> folium.Map:
    """A map with each element the app draws: cells, legend, clusters, heat, controls."""
    fmap = folium.Map(location=[51.5, -0.1], zoom_start=13, **tile_layer_kwargs(None))
    colormap = branca.colormap.LinearColormap(
        ["#ffffb2", "#bd0026"], vmin=0.0, vmax=5.0, caption="Gi* z-score"
    )
    cells = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"cell": "89195da49b7ffff", "score": 2.5},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [[-0.1, 51.5], [-0.09, 51.5], [-0.09, 51.51], [-0.1, 51.51], [-0.1, 51.5]]
                    ],
                },
            }
        ],
    }
    folium.GeoJson(
        cells,
        name="cells",
        style_function=lambda feature: {"fillColor": colormap(feature["properties"]["score"])},
        tooltip=folium.GeoJsonTooltip(fields=["cell", "score"]),
    ).add_to(fmap)
    colormap.add_to(fmap)
    incidents = [[51.5 + i / 1000, -0.1 + i / 1000] for i in range(5)]
    cluster = MarkerCluster(name="incidents").add_to(fmap)
    for location in incidents:
        folium.Marker(location, icon=folium.Icon(color="red", icon="info-sign")).add_to(cluster)
    folium.Marker(
        [51.505, -0.095], icon=folium.Icon(color="blue", prefix="fa", icon="car", angle=45)
    ).add_to(fmap)
    HeatMap(incidents, name="heat").add_to(fmap)
    Fullscreen().add_to(fmap)
    folium.LayerControl().add_to(fmap)
    return fmap


def fetch(client, url: str):
    """GET url and close the response, so no served file is left open."""
    with client.get(url) as response:
        response.get_data()
        return response


def local_urls(html: str) -> set[str]:
    return set(re.findall(re.escape(URL_PREFIX) + r"""[^\s"'<>)]+""", html))


def served_path(url: str) -> str:
    return urlsplit(url).path.removeprefix(URL_PREFIX)


def referenced_urls(client, url: str) -> set[str]:
    """URLs a served stylesheet or script loads relative to itself, without query or fragment."""
    text = fetch(client, url).get_data(as_text=True)
    targets = list(SOURCE_MAP_URL.findall(text))
    if url.endswith(".css"):
        targets += [target for _, target in CSS_URL.findall(text)]
    resolved = set()
    for target in targets:
        # data: URIs are inline; "#default#VML" is an old IE behaviour, not a fetch.
        if target.startswith(("data:", "#")):
            continue
        assert not urlsplit(target).scheme, f"{url} loads {target} from outside"
        parts = urlsplit(urljoin(url, target))
        resolved.add(posixpath.normpath(parts.path))
    return resolved


def test_rendered_map_has_no_internet_urls(local_assets):
    html = build_map().get_root().render()

    assert set(INTERNET_URL.findall(html)) <= ALLOWED_INTERNET_URLS
    for value in ATTRIBUTE_URL.findall(html):
        assert value.startswith(URL_PREFIX), value
    assert '"maxZoom": 18' in html


def test_every_local_url_in_the_map_is_served(local_assets, client):
    urls = local_urls(build_map().get_root().render())

    assert URL_PREFIX + "d3@3.5.5/d3.min.js" in urls
    assert URL_PREFIX + ROTATE_CSS_PATH in urls
    for url in sorted(urls):
        assert fetch(client, url).status_code == 200, url


def test_stylesheet_and_source_map_references_are_served(local_assets, client):
    page_urls = local_urls(build_map().get_root().render())
    referenced = set()
    for url in page_urls:
        referenced |= referenced_urls(client, url)

    for url in sorted(referenced):
        assert fetch(client, url).status_code == 200, url
    # Nothing listed is dead weight: each file is reached from the page.
    reached = {served_path(url) for url in page_urls | referenced} | LOADED_BY_SCRIPTS
    site = set(SITE_SCRIPTS.values()) | SITE_SOURCE_MAPS
    assert reached == (set(VENDOR_FILES) - site) | {ROTATE_CSS_PATH}


def test_site_scripts_and_their_source_maps_are_served(client):
    for path in sorted(set(SITE_SCRIPTS.values()) | SITE_SOURCE_MAPS):
        assert path in VENDOR_FILES
        assert fetch(client, URL_PREFIX + path).status_code == 200, path


def test_font_awesome_keeps_its_webfonts_layout(local_assets, client):
    css_url = URL_PREFIX + "@fortawesome/fontawesome-free@6.2.0/css/all.min.css"

    assert URL_PREFIX + "@fortawesome/fontawesome-free@6.2.0/webfonts/fa-solid-900.woff2" in (
        referenced_urls(client, css_url)
    )


def test_use_local_assets_assigns_new_lists_and_is_idempotent(monkeypatch):
    originals = {}
    for cls in PATCHED_CLASSES:
        for attribute in ("default_js", "default_css"):
            monkeypatch.setattr(cls, attribute, getattr(cls, attribute))
            value = getattr(cls, attribute)
            originals[cls, attribute] = (value, list(value))
    monkeypatch.setattr(branca.colormap.ColorMap, "render", branca.colormap.ColorMap.render)

    use_local_assets(URL_PREFIX)
    first = {key: list(getattr(*key)) for key in originals}
    first_html = build_map().get_root().render()
    use_local_assets(URL_PREFIX)

    for (cls, attribute), (original, snapshot) in originals.items():
        current = getattr(cls, attribute)
        assert original == snapshot, "an original list was mutated"
        assert current is not original
        assert current == first[cls, attribute]
        assert [name for name, _ in current] == [name for name, _ in snapshot]
        assert all(url.startswith(URL_PREFIX) for _, url in current)
    assert build_map().get_root().render().count("d3.min.js") == first_html.count("d3.min.js") == 1


def test_folium_asset_unknown_to_us_fails_at_start(monkeypatch):
    monkeypatch.setattr(
        folium.Map, "default_js", [*folium.Map.default_js, ("new", "https://cdn.example/new.js")]
    )

    with pytest.raises(RuntimeError, match="'new'.*VENDOR_FILES"):
        use_local_assets(URL_PREFIX)


def test_vendor_versions_match_package_json():
    declared = json.loads((REPO_ROOT / "package.json").read_text())["dependencies"]
    for path, vendor_file in VENDOR_FILES.items():
        package, version, rest = SERVED_PATH.fullmatch(path).groups()
        if vendor_file.root == NODE_MODULES:
            manifest = REPO_ROOT / "node_modules" / package / "package.json"
            installed = json.loads(manifest.read_text())["version"]
            assert declared[package] == installed == version, path
            assert vendor_file.path == f"{package}/{rest}"
        else:
            assert (package, version) == ("folium", folium.__version__), path
            assert vendor_file.path == rest


def test_unlisted_paths_are_not_found(client):
    assert fetch(client, URL_PREFIX + "leaflet@1.9.3/package.json").status_code == 404
    assert fetch(client, URL_PREFIX + "leaflet@1.9.3/../../package.json").status_code == 404
    assert fetch(client, URL_PREFIX + "leaflet@1.9.2/dist/leaflet.js").status_code == 404


def test_served_files_are_cached_for_a_year(client):
    for path in ("leaflet@1.9.3/dist/leaflet.js", ROTATE_CSS_PATH):
        response = fetch(client, URL_PREFIX + path)

        assert response.cache_control.max_age == 365 * 24 * 60 * 60
        assert response.cache_control.public
        assert response.cache_control.immutable


def test_register_without_node_modules_says_how_to_install(tmp_path):
    with pytest.raises(RuntimeError, match=r"make install.*npm ci"):
        register_vendor_assets(Flask(__name__), node_modules=tmp_path / "node_modules")


def test_register_with_incomplete_node_modules_lists_missing_files(tmp_path):
    with pytest.raises(RuntimeError, match=r"missing: .*leaflet\.js"):
        register_vendor_assets(Flask(__name__), node_modules=tmp_path)


def test_tile_layer_kwargs_without_tile_server():
    assert tile_layer_kwargs(None) == {"tiles": None, "maxZoom": 18}


def test_tile_layer_kwargs_with_intranet_tile_server():
    url = "https://tiles.intranet/{z}/{x}/{y}.png"
    kwargs = tile_layer_kwargs(url, attribution="City GIS", max_zoom=17)
    html = folium.Map(location=[51.5, -0.1], **kwargs).get_root().render()

    assert url in html
    assert html.count('"maxZoom": 17') == 2  # the map's own option and the tile layer's


@pytest.mark.parametrize(
    ("tile_url", "attribution", "max_zoom", "message"),
    [
        ("OpenStreetMap", "OSM", 18, "tile_url must be an XYZ URL template"),
        ("https://tiles.intranet/{z}/{x}/{y}.png", None, 18, "attribution is required"),
        (None, None, -1, "max_zoom must be a non-negative int"),
    ],
)
def test_tile_layer_kwargs_rejects_bad_input(tile_url, attribution, max_zoom, message):
    with pytest.raises(ValueError, match=message):
        tile_layer_kwargs(tile_url, attribution=attribution, max_zoom=max_zoom)
