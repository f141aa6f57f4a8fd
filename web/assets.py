"""Serve folium's browser assets from this app instead of public CDNs.

Folium and branca write CDN links into every map page; on a police intranet those
fail and the map is blank. This module moves every asset the app's maps use home:

- ``VENDOR_FILES`` lists each file the app serves (scripts, stylesheets and the
  images and fonts those stylesheets load through relative ``url(...)``). Files come
  from ``node_modules/`` (installed from package.json by ``npm ci``) or, for the
  HeatMap script, from inside the installed folium package.
- ``use_local_assets`` is a one-time switch at app start that points folium's and
  branca's links at those files.
- ``register_vendor_assets`` adds the blueprint that serves them.
- ``tile_layer_kwargs`` keeps the base map off internet tile servers.

Served paths read ``<npm package>@<version>/<path inside the package>``, so the
folder layout that stylesheets rely on (``../webfonts/``, ``images/``) is kept and
an upgrade changes every URL, which is what makes year-long browser caching safe.

Covered: ``folium.Map`` defaults (Leaflet, jQuery, Bootstrap, Bootstrap 3
glyphicons, Font Awesome, awesome markers), the MarkerCluster, HeatMap and
Fullscreen plugins, and branca colormap legends. Folium's Vega/VegaLite popups,
TopoJson and RegularPolygonMarker also emit CDN links; the app uses none of them,
so they are not served: adding one means adding its package here and a test.
"""

import functools
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

import branca.colormap
import folium
from branca.element import Figure, JavascriptLink
from flask import Blueprint, Flask, Response, abort, send_from_directory
from folium.elements import JSCSSMixin
from folium.plugins import Fullscreen, HeatMap, MarkerCluster

__all__ = [
    "DEFAULT_MAX_ZOOM",
    "DEFAULT_NODE_MODULES",
    "SITE_SCRIPTS",
    "SITE_SOURCE_MAPS",
    "INSTALL_COMMAND",
    "TILE_CRS_LEAFLET",
    "VENDOR_FILES",
    "VendorFile",
    "register_vendor_assets",
    "tile_layer_kwargs",
    "use_local_assets",
]

INSTALL_COMMAND = "npm ci --ignore-scripts --no-audit --no-fund"
DEFAULT_NODE_MODULES = Path(__file__).resolve().parents[1] / "node_modules"
# Leaflet's own default for OpenStreetMap-style tile pyramids.
DEFAULT_MAX_ZOOM = 18
#: Leaflet CRS (``L.CRS.<name>``) of each basemap coordinate system (web.config TILE_CRS).
#: GCJ02 is defined by web/static/map-context.js: Web Mercator of the GCJ-02 shifted point.
TILE_CRS_LEAFLET = MappingProxyType({"wgs84": "EPSG3857", "gcj02": "GCJ02"})
DEFAULT_LEAFLET_CRS = "EPSG3857"
# Served paths carry the package version, so a changed file always has a new URL.
CACHE_MAX_AGE_S = 365 * 24 * 60 * 60

NODE_MODULES = "node_modules"
FOLIUM_PACKAGE = "folium"


class VendorFile(NamedTuple):
    """Where a served file lives: ``root`` is NODE_MODULES or FOLIUM_PACKAGE."""

    root: str
    path: str


def _npm_files(package: str, version: str, *paths: str) -> dict[str, VendorFile]:
    return {
        f"{package}@{version}/{path}": VendorFile(NODE_MODULES, f"{package}/{path}")
        for path in paths
    }


def _folium_files(*paths: str) -> dict[str, VendorFile]:
    return {
        f"folium@{folium.__version__}/{path}": VendorFile(FOLIUM_PACKAGE, path) for path in paths
    }


# Versions must match package.json; tests/web/test_assets.py checks them against
# node_modules. Source maps are listed where a served file names one.
VENDOR_FILES: Mapping[str, VendorFile] = MappingProxyType(
    {
        **_npm_files(
            "leaflet",
            "1.9.3",
            "dist/leaflet.js",
            "dist/leaflet.js.map",
            "dist/leaflet.css",
            # leaflet.css names three of these; L.Icon.Default loads the other two.
            "dist/images/layers.png",
            "dist/images/layers-2x.png",
            "dist/images/marker-icon.png",
            "dist/images/marker-icon-2x.png",
            "dist/images/marker-shadow.png",
        ),
        **_npm_files("jquery", "3.7.1", "dist/jquery.min.js"),
        **_npm_files(
            "bootstrap",
            "5.2.2",
            "dist/js/bootstrap.bundle.min.js",
            "dist/js/bootstrap.bundle.min.js.map",
            "dist/css/bootstrap.min.css",
            "dist/css/bootstrap.min.css.map",
        ),
        # Awesome markers' default icon prefix is "glyphicon", a Bootstrap 3 font;
        # this package is Bootstrap 3.3.7's glyphicon rules and fonts alone.
        **_npm_files(
            "@neos21/bootstrap3-glyphicons",
            "1.0.7",
            "dist/css/bootstrap3-glyphicons.min.css",
            "dist/fonts/glyphicons-halflings-regular.eot",
            "dist/fonts/glyphicons-halflings-regular.svg",
            "dist/fonts/glyphicons-halflings-regular.ttf",
            "dist/fonts/glyphicons-halflings-regular.woff",
            "dist/fonts/glyphicons-halflings-regular.woff2",
        ),
        **_npm_files(
            "@fortawesome/fontawesome-free",
            "6.2.0",
            "css/all.min.css",
            "webfonts/fa-brands-400.ttf",
            "webfonts/fa-brands-400.woff2",
            "webfonts/fa-regular-400.ttf",
            "webfonts/fa-regular-400.woff2",
            "webfonts/fa-solid-900.ttf",
            "webfonts/fa-solid-900.woff2",
            "webfonts/fa-v4compatibility.ttf",
            "webfonts/fa-v4compatibility.woff2",
        ),
        **_npm_files(
            "leaflet.awesome-markers",
            "2.0.5",
            "dist/leaflet.awesome-markers.js",
            "dist/leaflet.awesome-markers.css",
            "dist/images/markers-soft.png",
            "dist/images/markers-soft@2x.png",
            "dist/images/markers-shadow.png",
            "dist/images/markers-shadow@2x.png",
        ),
        **_npm_files(
            "leaflet.markercluster",
            "1.1.0",
            "dist/leaflet.markercluster.js",
            "dist/MarkerCluster.css",
            "dist/MarkerCluster.Default.css",
        ),
        # The package ships no .min.js; folium's URL relies on the CDN minifying.
        **_npm_files(
            "leaflet.fullscreen",
            "3.0.0",
            "Control.FullScreen.js",
            "Control.FullScreen.css",
            "icon-fullscreen.svg",
        ),
        **_npm_files("d3", "3.5.5", "d3.min.js"),
        # The site's own scripts: H3 cell outlines drawn in the browser from hex ids (the
        # hotspot map sends ids and values, not polygons) and the OpenAPI document viewer.
        **_npm_files("h3-js", "4.5.0", "dist/h3-js.umd.js", "dist/h3-js.umd.js.map"),
        **_npm_files(
            "swagger-ui-dist",
            "5.35.0",
            "swagger-ui-bundle.js",
            "swagger-ui-bundle.js.map",
            "swagger-ui.css",
            "swagger-ui.css.map",
        ),
        **_folium_files("templates/leaflet_heat.min.js"),
    }
)

# Folium loads this stylesheet from its GitHub repository; it is in neither the
# installed package nor npm. It only maps Icon(angle=N) to a rotation, so it is
# generated here and served from memory.
ROTATE_CSS_PATH = "generated/leaflet.awesome.rotate.css"
_ROTATE_CSS = "".join(
    f".fa-rotate-{angle}{{transform:rotate({angle}deg)}}\n" for angle in range(360)
).encode()

# Served files the site's own templates load (not folium): the hotspot map's cell outlines
# and the API document viewer, with their source maps.
SITE_SCRIPTS = MappingProxyType(
    {
        "h3": "h3-js@4.5.0/dist/h3-js.umd.js",
        "swagger_js": "swagger-ui-dist@5.35.0/swagger-ui-bundle.js",
        "swagger_css": "swagger-ui-dist@5.35.0/swagger-ui.css",
    }
)
SITE_SOURCE_MAPS = frozenset(
    {
        "h3-js@4.5.0/dist/h3-js.umd.js.map",
        "swagger-ui-dist@5.35.0/swagger-ui-bundle.js.map",
        "swagger-ui-dist@5.35.0/swagger-ui.css.map",
    }
)

D3_PATH = "d3@3.5.5/d3.min.js"
_BRANCA_RENDER = "_branca_render"

# For each class folium renders links from: the (name -> served path) of every
# entry in its default_js and default_css. Names are folium's own.
_CLASS_ASSETS: dict[type[JSCSSMixin], tuple[dict[str, str], dict[str, str]]] = {
    folium.Map: (
        {
            "leaflet": "leaflet@1.9.3/dist/leaflet.js",
            "jquery": "jquery@3.7.1/dist/jquery.min.js",
            "bootstrap": "bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js",
            "awesome_markers": "leaflet.awesome-markers@2.0.5/dist/leaflet.awesome-markers.js",
        },
        {
            "leaflet_css": "leaflet@1.9.3/dist/leaflet.css",
            "bootstrap_css": "bootstrap@5.2.2/dist/css/bootstrap.min.css",
            "glyphicons_css": (
                "@neos21/bootstrap3-glyphicons@1.0.7/dist/css/bootstrap3-glyphicons.min.css"
            ),
            "awesome_markers_font_css": "@fortawesome/fontawesome-free@6.2.0/css/all.min.css",
            "awesome_markers_css": (
                "leaflet.awesome-markers@2.0.5/dist/leaflet.awesome-markers.css"
            ),
            "awesome_rotate_css": ROTATE_CSS_PATH,
        },
    ),
    MarkerCluster: (
        {"markerclusterjs": "leaflet.markercluster@1.1.0/dist/leaflet.markercluster.js"},
        {
            "markerclustercss": "leaflet.markercluster@1.1.0/dist/MarkerCluster.css",
            "markerclusterdefaultcss": (
                "leaflet.markercluster@1.1.0/dist/MarkerCluster.Default.css"
            ),
        },
    ),
    HeatMap: (
        {"leaflet-heat.js": f"folium@{folium.__version__}/templates/leaflet_heat.min.js"},
        {},
    ),
    Fullscreen: (
        {"Control.Fullscreen.js": "leaflet.fullscreen@3.0.0/Control.FullScreen.js"},
        {"Control.FullScreen.css": "leaflet.fullscreen@3.0.0/Control.FullScreen.css"},
    ),
}


def use_local_assets(url_prefix: str) -> None:
    """Point folium's and branca's asset links at ``url_prefix + served path``.

    Call once at app start, before any map renders; calling again (with any prefix)
    re-derives the links and is harmless. ``url_prefix`` is the URL the browser
    sees, e.g. "/static/vendor/" (include SCRIPT_NAME when mounted under a path).

    The class attributes get new lists: the originals are folium's module-level
    lists, and mutating them (as ``Map.add_js_link`` does) would leak into any
    other code holding them.
    """
    base = url_prefix.rstrip("/") + "/"
    for cls, (js_paths, css_paths) in _CLASS_ASSETS.items():
        cls.default_js = _local_links(cls, "default_js", js_paths, base)
        cls.default_css = _local_links(cls, "default_css", css_paths, base)
    _use_local_colormap_d3(base + D3_PATH)


def _local_links(
    cls: type[JSCSSMixin], attribute: str, served_paths: Mapping[str, str], base: str
) -> list[tuple[str, str]]:
    links = []
    for name, url in getattr(cls, attribute):
        if name not in served_paths:
            # A folium upgrade added an asset: fail at start-up, not with a blank map.
            raise RuntimeError(
                f"folium {folium.__version__} lists {name!r} ({url}) in "
                f"{cls.__name__}.{attribute}, which web/assets.py does not serve: add its "
                "npm package to package.json and its files to VENDOR_FILES"
            )
        links.append((name, base + served_paths[name]))
    return links


def _use_local_colormap_d3(d3_url: str) -> None:
    # ColorMap.render() adds a d3 JavascriptLink to a hard-coded cdnjs URL after
    # its other work; re-adding a link under the same name replaces it in place.
    # The wrapper keeps branca's render so that repeated calls do not nest.
    colormap_class = branca.colormap.ColorMap
    branca_render = getattr(colormap_class.render, _BRANCA_RENDER, colormap_class.render)

    @functools.wraps(branca_render)
    def render(self: branca.colormap.ColorMap, **kwargs: Any) -> None:
        branca_render(self, **kwargs)
        root = self.get_root()
        assert isinstance(root, Figure)  # branca's render has checked it is in a Figure
        root.header.add_child(JavascriptLink(d3_url), name="d3")

    setattr(render, _BRANCA_RENDER, branca_render)
    colormap_class.render = render  # type: ignore[method-assign]  # the wrapper, on purpose


def tile_layer_kwargs(
    tile_url: str | None,
    *,
    attribution: str | None = None,
    max_zoom: int = DEFAULT_MAX_ZOOM,
    crs: str = "wgs84",
) -> dict[str, Any]:
    """Keyword arguments for ``folium.Map`` that never fetch internet tiles.

    Folium's default base map is OpenStreetMap from the internet. With no intranet
    tile server (``tile_url`` None) the map gets ``tiles=None``: no base layer, only
    our own layers. Leaflet then has no maxZoom and MarkerCluster fails ("Map has no
    maxZoom specified"); folium's ``max_zoom`` argument only reaches a tile layer, so
    ``maxZoom`` goes into the map's own options.

    ``tile_url`` is an intranet XYZ template such as
    "https://tiles.intranet/{z}/{x}/{y}.png"; ``attribution`` is then required. ``crs`` is
    the coordinate system the tiles are drawn in: with ``gcj02`` the map uses the Leaflet CRS
    ``L.CRS.GCJ02`` (web/static/map-context.js, which the page must load), which draws every
    WGS-84 overlay where the GCJ-02 tiles show that place.
    """
    if isinstance(max_zoom, bool) or not isinstance(max_zoom, int) or max_zoom < 0:
        raise ValueError(f"max_zoom must be a non-negative int, got {max_zoom!r}")
    if crs not in TILE_CRS_LEAFLET:
        raise ValueError(f"crs must be one of {', '.join(TILE_CRS_LEAFLET)}, got {crs!r}")
    if tile_url is None:
        return {"tiles": None, "maxZoom": max_zoom}
    if not all(part in tile_url for part in ("{z}", "{x}", "{y}")):
        # A bare name such as "OpenStreetMap" would make folium use a public server.
        raise ValueError(
            f"tile_url must be an XYZ URL template with {{z}}, {{x}} and {{y}}, got {tile_url!r}"
        )
    if not attribution:
        raise ValueError(f"attribution is required with tile_url {tile_url!r}, got {attribution!r}")
    kwargs: dict[str, Any] = {"tiles": tile_url, "attr": attribution, "max_zoom": max_zoom,
                              "maxZoom": max_zoom}  # fmt: skip
    if TILE_CRS_LEAFLET[crs] != DEFAULT_LEAFLET_CRS:
        kwargs["crs"] = TILE_CRS_LEAFLET[crs]
    return kwargs


def register_vendor_assets(
    app: Flask,
    url_prefix: str = "/static/vendor",
    *,
    node_modules: Path | str | None = None,
) -> None:
    """Serve VENDOR_FILES under ``url_prefix``; anything else there is a 404. Also registers
    the maps' data routes (web.maps.context.register_map_data: the streets base layer).

    Raises RuntimeError at registration when node_modules (by default the one at the
    repository root) is missing or lacks a listed file.
    """
    node_modules = DEFAULT_NODE_MODULES if node_modules is None else Path(node_modules)
    roots = {NODE_MODULES: node_modules, FOLIUM_PACKAGE: Path(folium.__file__).resolve().parent}
    if not node_modules.is_dir():
        raise RuntimeError(
            f"{node_modules} does not exist: run `make install` ({INSTALL_COMMAND}) "
            "to install the map's browser assets"
        )
    missing = sorted(
        str(roots[vendor_file.root] / vendor_file.path)
        for vendor_file in VENDOR_FILES.values()
        if not (roots[vendor_file.root] / vendor_file.path).is_file()
    )
    if missing:
        raise RuntimeError(
            f"map assets are missing: {', '.join(missing)}; run `make install` "
            f"({INSTALL_COMMAND}) and check that package.json matches web/assets.py"
        )

    blueprint = Blueprint("vendor_assets", __name__, url_prefix=url_prefix.rstrip("/"))

    @blueprint.get("/<path:filename>")
    def vendor_file(filename: str) -> Response:
        """Serve one listed asset with year-long caching."""
        if filename == ROTATE_CSS_PATH:
            response = Response(_ROTATE_CSS, mimetype="text/css")
            response.cache_control.public = True
            response.cache_control.max_age = CACHE_MAX_AGE_S
        elif filename in VENDOR_FILES:
            root, path = VENDOR_FILES[filename]
            response = send_from_directory(
                roots[root],
                path,
                max_age=CACHE_MAX_AGE_S,
                mimetype="application/json" if path.endswith(".map") else None,
            )
        else:
            abort(404)
        response.cache_control.immutable = True
        return response

    app.register_blueprint(blueprint)
    # The maps' own data (the streets base layer) is served beside their assets.
    from web.maps.context import register_map_data

    register_map_data(app)
