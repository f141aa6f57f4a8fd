"""What every map of the site gets from the site's settings, in one place: the basemap (the
bureau's tile service, its coordinate system and attribution), or else the streets of the
OpenStreetMap extract; the shared map script (web/static/map-context.js: the GCJ-02 CRS,
labels by zoom, streets, print button) and its stylesheet.

Maps are built by web/maps/render.py (``centred_map`` and the maps built on it, plan maps
included); each calls :func:`new_map`, so views pass nothing new. Settings are read from the
app's config when there is one; outside an app (scripts, unit tests) a map has no basemap.

GCJ-02: with ``HOTSPOT_TILE_CRS=gcj02`` the map's CRS is ``L.CRS.GCJ02``, which projects each
WGS-84 position through the GCJ-02 shift before Web Mercator. Overlays stay in WGS-84
everywhere (server and page scripts alike) and are drawn on the shifted place; positions read
from the map (clicks) come back in WGS-84.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import folium
from branca.element import CssLink, Figure, JavascriptLink, MacroElement
from flask import Blueprint, Flask, Response, abort, current_app, has_app_context, url_for
from flask_babel import lazy_gettext as _l
from folium.template import Template

from web.assets import DEFAULT_MAX_ZOOM, TILE_CRS_LEAFLET, tile_layer_kwargs

__all__ = [
    "OSM_ATTRIBUTION",
    "Basemap",
    "basemap",
    "new_map",
    "register_map_data",
    "streets_for",
]

#: Credit the OpenStreetMap licence asks for where its streets are drawn (translated: the
#: Chinese form is OpenStreetMap's own, "© OpenStreetMap 贡献者").
OSM_ATTRIBUTION = _l("© OpenStreetMap contributors")
SCRIPT = "map-context.js"
STYLESHEET = "map-context.css"


@dataclass(frozen=True)
class Basemap:
    """The basemap settings (TILE_* in web/config.py); ``url`` None for no tile service."""

    url: str | None = None
    attribution: str = ""
    crs: str = "wgs84"
    subdomains: str = "abc"
    max_zoom: int = DEFAULT_MAX_ZOOM
    labels_url: str | None = None


def basemap(tile_url: str | None = None, tile_attribution: str | None = None) -> Basemap:
    """The site's basemap; ``tile_url`` and ``tile_attribution`` (what views pass) win over
    the settings of the same name."""
    config: Mapping[str, Any] = current_app.config if has_app_context() else {}
    url = tile_url if tile_url is not None else (str(config.get("TILE_URL") or "") or None)
    attribution = tile_attribution or str(config.get("TILE_ATTRIBUTION") or "")
    return Basemap(
        url=url or None,
        attribution=attribution,
        crs=str(config.get("TILE_CRS") or "wgs84"),
        subdomains=str(config.get("TILE_SUBDOMAINS") or "abc"),
        max_zoom=int(config.get("TILE_MAX_ZOOM") or DEFAULT_MAX_ZOOM),
        labels_url=str(config.get("TILE_LABELS_URL") or "") or None,
    )


def streets_for(bounds) -> dict[str, str] | None:  # noqa: ANN001
    """The streets layer option of a map showing ``bounds`` ([[s, w], [n, e]]): its URL and
    attribution when an extract is set, readable and reaches into the bounds; else None (a
    map of a city the extract does not cover shows no streets and credits none)."""
    from flask import has_request_context

    if not has_request_context() or current_app.config.get("TILE_URL"):
        return None  # outside a request there is no URL to give (and no one to draw for)
    from web.maps.streets import street_layer

    layer = street_layer(str(current_app.config.get("ROAD_NETWORK_FILE") or ""))
    if layer is None or not layer.covers(bounds):
        return None
    credit = str(OSM_ATTRIBUTION)
    return {"url": url_for("map_data.streets", key=layer.key), "attribution": credit}


def _static_url(filename: str) -> str:
    if has_app_context():
        try:
            return url_for("static", filename=filename)
        except RuntimeError:  # an app context without a request: no URL adapter
            pass
    return f"/static/{filename}"


class MapContextElement(MacroElement):
    """Loads web/static/map-context.js and .css and attaches the map to them."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        MapContext.attach({{ this._parent.get_name() }}, {{ this.options|tojson }});
        {% endmacro %}
        """
    )

    def __init__(self, options: Mapping[str, object]) -> None:
        super().__init__()
        self._name = "MapContext"
        self.options = dict(options)

    def render(self, **kwargs: Any) -> None:  # type: ignore[override]  # as MacroElement.render
        figure = self.get_root()
        assert isinstance(figure, Figure)  # a folium Map always sits in a Figure
        # After the map's own links (Leaflet first), before any map script runs.
        figure.header.add_child(JavascriptLink(_static_url(SCRIPT)), name="map_context_js")
        figure.header.add_child(CssLink(_static_url(STYLESHEET)), name="map_context_css")
        super().render(**kwargs)


def control_texts() -> dict[str, str]:
    """Leaflet's own control tooltips (English in Leaflet) in the page's language."""
    from flask import has_request_context
    from flask_babel import gettext

    if not has_request_context():
        return {}
    return {
        "zoomIn": gettext("Zoom in"),
        "zoomOut": gettext("Zoom out"),
        "layers": gettext("Layers"),
    }


def new_map(
    bounds,  # noqa: ANN001
    *,
    zoom_start: int,
    tile_url: str | None = None,
    tile_attribution: str | None = None,
    prefer_canvas: bool = False,
    print_label: str | None = None,
    location: list[float] | None = None,
) -> folium.Map:
    """A map with a scale bar and the site's basemap (tiles in their CRS, or the streets of
    the extract), centred on ``bounds`` ([[s, w], [n, e]]) or ``location``; a print button
    when ``print_label`` is given (its tooltip)."""
    base = basemap(tile_url, tile_attribution)
    if location is None:
        location = [0.0, 0.0]
        if bounds is not None:
            location = [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2]
    crs = TILE_CRS_LEAFLET[base.crs] if base.url else TILE_CRS_LEAFLET["wgs84"]
    fmap = folium.Map(
        location=location,
        zoom_start=zoom_start,
        prefer_canvas=prefer_canvas,
        control_scale=False,  # metric only, added by map-context.js
        crs=crs,
        **tile_layer_kwargs(None, max_zoom=base.max_zoom),
    )
    if base.url:
        # Checks the template and the attribution (settings are checked at start too).
        tile_layer_kwargs(base.url, attribution=base.attribution, max_zoom=base.max_zoom)
        for url, name in ((base.url, "basemap"), (base.labels_url, "basemap labels")):
            if url:
                folium.TileLayer(
                    tiles=url, attr=base.attribution, name=name, max_zoom=base.max_zoom,
                    subdomains=base.subdomains, control=False, overlay=url != base.url,
                ).add_to(fmap)  # fmt: skip
    options: dict[str, object] = {"crs": crs, "controls": control_texts()}
    streets = streets_for(bounds)
    if streets:
        options["streets"] = streets
    if print_label:
        options["print"] = print_label
    MapContextElement(options).add_to(fmap)
    return fmap


def register_map_data(app: Flask) -> None:
    """Serve the streets layer (``/maps/streets/<key>.geojson``, for logged-in users)."""
    blueprint = Blueprint("map_data", __name__, url_prefix="/maps")

    @blueprint.get("/streets/<key>.geojson")
    def streets(key: str) -> Response:
        """The streets of the configured extract; the key in the URL changes with the file."""
        from flask_login import current_user

        from web.maps.streets import street_layer

        if not current_user.is_authenticated:
            abort(401)
        layer = street_layer(str(current_app.config.get("ROAD_NETWORK_FILE") or ""))
        if layer is None or layer.key != key:
            abort(404)
        response = Response(layer.geojson, mimetype="application/geo+json")
        response.cache_control.private = True
        response.cache_control.max_age = 365 * 24 * 60 * 60
        response.cache_control.immutable = True
        return response

    app.register_blueprint(blueprint)
