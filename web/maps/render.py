"""Folium map building: geo's frames in, the map's header, body and script out; and the
small inline SVG charts of the commander's pages.

Only this module, plan_maps and context import folium. Maps never fetch anything from the
internet: assets are served by the app (see web/assets.py) and the basemap is the bureau's
configured tile service or the streets of the configured extract (web/maps/context.py, which
every map goes through: the GCJ-02 shift, labels by zoom, the print button).

The hotspot map (``hotspot_map``) carries no cell polygons: the page sends H3 ids with their
values and web/static/hotspots.js draws the hexagons in the browser with h3-js, so a
city-wide map of 5,600 cells stays small and fast.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

import folium
import numpy as np
import pandas as pd
import shapely
from branca.colormap import LinearColormap
from branca.element import Figure, MacroElement
from folium.plugins import HeatMap
from folium.template import Template

from geo.cells import hex_from_cells, parent_cells
from web.maps.context import new_map

__all__ = [
    "cells_to_draw",
    "centred_map",
    "frame_bounds",
    "grid_worker_map",
    "hotspot_map",
    "incident_cell_map",
    "line_chart_svg",
    "map_parts",
    "map_text",
    "station_layer",
    "station_rows",
]

_COLOURS = ["#ffffcc", "#ffeda0", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026"]


def map_text(value: object) -> str:
    """Stored text (a station's, grid's or area's name) made safe for folium: escaped as HTML,
    and with ``$``, backquote and backslash as entities, since folium writes tooltips into
    JavaScript template literals (where ``${...}`` would run)."""
    return (
        escape(str(value), quote=True)
        .replace("\\", "&#92;")
        .replace("`", "&#96;")
        .replace("$", "&#36;")
    )


def station_layer(
    stations: Iterable[tuple[object, float, float]],
    label: str,
    *,
    radius: float,
    color: str,
    weight: float | None = None,
    fill_color: str | None = None,
) -> folium.FeatureGroup:
    """A layer of police stations, ``(name, lat, lon)`` each, as filled circle markers with
    their (escaped) names as tooltips; unset ``weight`` and ``fill_color`` keep folium's."""
    style: dict[str, Any] = {"radius": radius, "color": color}
    if weight is not None:
        style["weight"] = weight
    if fill_color is not None:
        style["fill_color"] = fill_color
    group = folium.FeatureGroup(name=map_text(label))
    for name, lat, lon in stations:
        text = map_text(name)
        # The name as a small permanent label (shown from zoom 12, web/static/map-context.css)
        # and in a popup on a tap, at any zoom.
        folium.CircleMarker(
            location=[float(lat), float(lon)], fill=True, fill_opacity=1.0,
            tooltip=folium.Tooltip(text, sticky=False, permanent=True, direction="right",
                                   offset=[int(radius) + 3, 0],
                                   className="map-label map-label-station"),
            popup=folium.Popup(text), **style,
        ).add_to(group)  # fmt: skip
    return group


def station_rows(stations: pd.DataFrame | None) -> tuple[tuple[str, float, float], ...]:
    """``(name, lat, lon)`` of each station, the name in the page's language (``name_en`` in
    English where it is set, else ``name``)."""
    if stations is None or not len(stations):
        return ()
    names = stations["name"].astype(str)
    if "name_en" in stations and _english():
        english = stations["name_en"].fillna("").astype(str).str.strip()
        names = english.where(english != "", names)
    return tuple(
        (str(name), float(lat), float(lon))
        for name, lat, lon in zip(names, stations["lat"], stations["lon"], strict=True)
    )


def _english() -> bool:
    from flask import has_request_context
    from flask_babel import get_locale

    return has_request_context() and str(get_locale() or "").startswith("en")


def print_label() -> str | None:
    """The print button's tooltip in the page's language (None outside a request)."""
    from flask import has_request_context
    from flask_babel import gettext

    return gettext("Print the map") if has_request_context() else None


def _text(message: str, **values: object) -> str:
    """``message`` in the page's language (as it is outside a request); the messages given
    are in the catalogue through the views' own ``_()`` of them."""
    from flask import has_request_context
    from flask_babel import gettext

    return gettext(message, **values) if has_request_context() else message % values


def map_parts(fmap: folium.Map) -> dict[str, str]:
    """Render a map into the three parts a page template places: header, html and script."""
    root = fmap.get_root()
    assert isinstance(root, Figure)  # a folium Map always sits in a Figure
    root.render()
    return {
        "header": root.header.render(),
        "html": root.html.render(),
        "script": root.script.render(),
    }


def frame_bounds(frame) -> list[list[float]] | None:  # noqa: ANN001
    """[[south, west], [north, east]] around a GeoDataFrame's shapes; None when it is empty."""
    if frame is None or not len(frame):
        return None
    minx, miny, maxx, maxy = shapely.union_all(frame.geometry.to_numpy()).bounds
    return [[miny, minx], [maxy, maxx]]


def centred_map(
    bounds: Sequence[Sequence[float]] | None,
    *,
    zoom_start: int,
    tile_url: str | None,
    tile_attribution: str | None,
    prefer_canvas: bool = False,
) -> folium.Map:
    """A map with a scale bar, the site's basemap (web/maps/context.py: tiles in their
    coordinate system, or the extract's streets) and a print button, centred on ``bounds``
    ([[s, w], [n, e]])."""
    return new_map(
        bounds,
        zoom_start=zoom_start,
        tile_url=tile_url,
        tile_attribution=tile_attribution,
        prefer_canvas=prefer_canvas,
        print_label=print_label(),
    )


def cells_to_draw(cells: pd.DataFrame, max_cells: int) -> tuple[pd.DataFrame, int | None]:
    """Aggregate ``cell, n`` counts to coarser parents until at most ``max_cells`` remain.

    Returns the frame to draw and the resolution used (None for an empty frame).
    """
    resolution = _resolution_of(cells)
    if resolution is None:
        return cells, None
    frame = cells
    while len(frame) > max_cells and resolution > 0:
        resolution -= 1
        parents = parent_cells(frame["cell"].to_numpy(), resolution)
        frame = (
            pd.DataFrame({"cell": parents, "n": frame["n"].to_numpy()})
            .groupby("cell")["n"]
            .sum()
            .reset_index()
        )
    return frame, resolution


def _resolution_of(cells: pd.DataFrame) -> int | None:
    """The H3 resolution of the frame's ``cell`` ids (its first), None for an empty frame."""
    import h3

    if cells.empty:
        return None
    return int(h3.get_resolution(hex_from_cells(cells["cell"].to_numpy()[:1])[0]))


def cell_ring(hex_id: str) -> list[list[float]]:
    """An H3 cell's closed boundary as GeoJSON ``[lng, lat]`` pairs to 6 decimals."""
    import h3

    ring = [[round(lng, 6), round(lat, 6)] for lat, lng in h3.cell_to_boundary(hex_id)]
    ring.append(ring[0])
    return ring


def change_map(
    cells: pd.DataFrame,
    fallback_bounds: Sequence[Sequence[float]] | None,
    *,
    tile_url: str | None,
    tile_attribution: str | None,
    layer_name: str,
    aliases: Sequence[str],
) -> dict[str, str]:
    """The parts of a map of ``cells`` (``cell``, ``name``, ``a``, ``b``, ``change`` text and
    ``colour``) filled by their colour, with a tooltip of name, a, b and change (``aliases``),
    fitted to the cells or, without any, to ``fallback_bounds`` ([[s, w], [n, e]])."""
    features = []
    corners: list[list[float]] = []
    for row in cells.to_dict("records"):
        ring = cell_ring(hex_from_cells(np.array([row["cell"]], dtype=np.int64))[0])
        corners.extend(ring)
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {"name": map_text(row["name"]), "a": int(row["a"]),
                               "b": int(row["b"]), "change": row["change"],
                               "colour": row["colour"]},
            }
        )  # fmt: skip
    bounds = fallback_bounds
    if corners:
        lng, lat = np.array(corners).T
        bounds = [[float(lat.min()), float(lng.min())], [float(lat.max()), float(lng.max())]]
    fmap = centred_map(bounds, zoom_start=13, tile_url=tile_url, tile_attribution=tile_attribution)
    if features:
        _coloured_cells(
            features,
            layer_name,
            ["name", "a", "b", "change"],
            aliases,
            outline="#555555",
            weight=0.4,
            opacity=0.8,
        ).add_to(fmap)
    if bounds is not None:
        fmap.fit_bounds(bounds)
    return map_parts(fmap)


def _coloured_cells(
    features: list[dict],
    name: str,
    fields: Sequence[str],
    aliases: Sequence[str],
    *,
    outline: str | None,
    weight: float,
    opacity: float,
) -> folium.GeoJson:
    """A layer ``name`` of GeoJSON cell ``features``, each filled with its ``colour``
    property and outlined in ``outline`` (None: its own colour), with a tooltip of the
    properties ``fields`` under ``aliases``; names and aliases are escaped here."""

    def style(feature: dict) -> dict:
        colour = feature["properties"]["colour"]
        return {
            "fillColor": colour,
            "color": colour if outline is None else outline,
            "weight": weight,
            "fillOpacity": opacity,
        }

    return folium.GeoJson(
        {"type": "FeatureCollection", "features": features},
        name=map_text(name),
        style_function=style,
        tooltip=folium.GeoJsonTooltip(
            fields=list(fields), aliases=[map_text(alias) for alias in aliases]
        ),
    )


def _cell_features(
    frame: pd.DataFrame, colormap: LinearColormap, names: Mapping[int, str] | None = None
) -> list[dict]:
    """The cells as GeoJSON features with ``cell`` (the readable name, then the H3 id:
    ``G061-12 · 8924ae57577ffff``), ``n`` and ``colour``."""

    names = names or {}
    features = []
    cells = frame["cell"].to_numpy()
    for cell, hex_id, n in zip(cells, hex_from_cells(cells), frame["n"], strict=True):
        ring = cell_ring(hex_id)
        name = names.get(int(cell))
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {
                    "cell": f"{map_text(name)} · {hex_id}" if name else hex_id,
                    "n": int(n),
                    "colour": colormap(int(n)),
                },
            }
        )
    return features


def _grid_outlines(fmap: folium.Map, grids, name: str, style: dict) -> None:  # noqa: ANN001
    """The management grids (a GeoDataFrame with ``area_id, geometry``; None or empty: none)
    as a layer ``name`` drawn in ``style`` that lets clicks through, labelled with their ids."""
    if grids is None or not len(grids):
        return
    layer = folium.GeoJson(
        grids[["area_id", "geometry"]].to_json(),
        name=map_text(name),
        style_function=lambda _f: style,
        interactive=False,
    )
    layer.add_to(fmap)
    _AreaLabels(layer, "area_id", "grid").add_to(fmap)


def label_areas(layer, property_name: str, kind: str) -> None:  # noqa: ANN001
    """Permanent labels of a GeoJSON layer's polygons (``property_name`` of each feature,
    raw text) on the layer's map, shown from a zoom on like every grid label."""
    _AreaLabels(layer, property_name, kind).add_to(layer._parent)


class _AreaLabels(MacroElement):
    """Permanent small labels (``property`` of each feature, raw text: the script escapes
    it) on a GeoJSON layer's polygons, by web/static/map-context.js; CSS shows them from a
    zoom on (``map-label-<kind>``)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        MapContext.labelAreas({{ this.layer }}, {{ this.property|tojson }}, {{ this.kind|tojson }});
        {% endmacro %}
        """
    )

    def __init__(self, layer: folium.GeoJson, property: str, kind: str) -> None:  # noqa: A002
        super().__init__()
        self._name = "AreaLabels"
        self.layer = layer.get_name()
        self.property = property
        self.kind = kind


def _site_cell_names() -> dict[int, str]:
    """The readable names of the site's cells (web.services.cell_names); empty outside an
    app or when the site has no data yet."""
    from flask import current_app, has_app_context

    if not has_app_context() or "engine" not in current_app.extensions:
        return {}
    from web.services.cell_names import cell_names
    from web.services.site_data import site_data

    try:
        engine = current_app.extensions["engine"]
        return cell_names(engine, site_data(engine)).by_cell
    except Exception:  # noqa: BLE001  (an empty database: the map shows H3 ids)
        return {}


def incident_cell_map(
    cells: pd.DataFrame,
    *,
    boundary=None,
    grids=None,
    stations: pd.DataFrame | None = None,
    tile_url: str | None = None,
    tile_attribution: str | None = None,
    max_cells: int = 5000,
) -> dict[str, str]:
    """Render a map of incident counts per cell with boundary, grids and stations.

    Returns a dict with ``header``, ``html`` and ``script`` parts to place in a template.
    """
    bounds = frame_bounds(boundary)
    drawn, resolution = cells_to_draw(cells, max_cells)
    if len(drawn):
        # Open on where the incidents are, not on the whole jurisdiction.
        from web.services.map_layers import cell_focus_box

        box = cell_focus_box(drawn["cell"].to_numpy(), drawn["n"].to_numpy())
        if box is not None:
            bounds = [[box[1], box[0]], [box[3], box[2]]]
    fmap = centred_map(bounds, zoom_start=11, tile_url=tile_url,
                       tile_attribution=tile_attribution, prefer_canvas=True)  # fmt: skip
    if boundary is not None and len(boundary):
        folium.GeoJson(
            boundary[["area_id", "geometry"]].to_json(),
            name=map_text(_text("Jurisdiction")),
            style_function=lambda _f: {"color": "#333333", "weight": 2, "fill": False},
        ).add_to(fmap)
    _grid_outlines(
        fmap,
        grids,
        _text("Management grids"),
        {"color": "#3366cc", "weight": 1, "fillOpacity": 0.02},
    )
    if len(drawn):
        # Counts are skewed: colour breaks at quantiles keep the few top cells from washing
        # out the rest.
        breaks = np.unique(np.quantile(drawn["n"].to_numpy(), [0, 0.5, 0.75, 0.9, 0.97, 1]))
        if len(breaks) < 2:
            breaks = np.array([breaks[0], breaks[0] + 1])
        colormap = LinearColormap(
            _COLOURS[-len(breaks) :], index=breaks.tolist(), vmin=breaks[0], vmax=breaks[-1]
        )
        colormap.caption = f"{_text('Incidents per cell')} ({_text('H3 resolution')} {resolution})"
        names = _site_cell_names() if resolution == _resolution_of(cells) else {}
        _coloured_cells(
            _cell_features(drawn, colormap, names),
            _text("Incidents per cell"),
            ["cell", "n"],
            [_text("Cell"), _text("Incidents")],
            outline=None,
            weight=0.5,
            opacity=0.7,
        ).add_to(fmap)
        colormap.add_to(fmap)
    rows = station_rows(stations)
    if rows:
        station_layer(rows, _text("Police stations"), radius=6, color="#1a237e").add_to(fmap)
    folium.LayerControl(collapsed=True).add_to(fmap)
    if bounds is not None:
        fmap.fit_bounds(bounds)
    return map_parts(fmap)


# --- a grid worker's cells -----------------------------------------------------------------


def grid_worker_map(
    cells: Sequence[Mapping],
    grids,
    labels: Mapping[str, str],
    tile_url: str | None = None,
    tile_attribution: str | None = None,
) -> dict[str, str]:
    """A grid worker's cells (dicts with ``hex, label, status, n28, colour``) over their grids'
    outlines (a GeoDataFrame with ``area_id, geometry``); ``labels`` names the layers
    (``grids``, ``cells``) and the tooltip fields (``label``, ``status``, ``n28``)."""
    features = []
    lats: list[float] = []
    lngs: list[float] = []
    for cell in cells:
        ring = cell_ring(cell["hex"])
        lats += [p[1] for p in ring]
        lngs += [p[0] for p in ring]
        properties: dict[str, object] = {key: map_text(cell[key]) for key in ("label", "status")}
        # The raw H3 id (no tooltip shows it): a tap on the cell opens its check-in.
        properties |= {"n28": int(cell["n28"]), "colour": cell["colour"], "hex": cell["hex"]}
        features.append({"type": "Feature", "properties": properties,
                         "geometry": {"type": "Polygon", "coordinates": [ring]}})  # fmt: skip
    corners = [[min(lats), min(lngs)], [max(lats), max(lngs)]]
    fmap = new_map(
        corners,
        zoom_start=15,
        tile_url=tile_url,
        tile_attribution=tile_attribution,
        prefer_canvas=True,
        location=[float(np.mean(lats)), float(np.mean(lngs))],
    )
    _grid_outlines(fmap, grids, labels["grids"], {"color": "#1a3d7c", "weight": 3, "fill": False})
    fields = ("label", "status", "n28")
    _coloured_cells(
        features,
        labels["cells"],
        fields,
        [labels[k] for k in fields],
        outline="#ffffff",
        weight=1,
        opacity=0.65,
    ).add_to(fmap)
    fmap.fit_bounds(corners)
    return map_parts(fmap)


# --- the commander's hotspot map ------------------------------------------------------------

# Outline colours per area kind; other kinds get the last one.
_OUTLINE_STYLES = {
    "jurisdiction": {"color": "#222222", "weight": 2.5, "fill": False},
    "district": {"color": "#37474f", "weight": 1.5, "fill": False, "dashArray": "4 3"},
    "urban_core": {"color": "#6a1b9a", "weight": 1.5, "fill": False, "dashArray": "2 4"},
    "grid": {"color": "#1565c0", "weight": 1, "fill": False},
    "beat": {"color": "#546e7a", "weight": 0.8, "fill": False},
}
_OTHER_OUTLINE = {"color": "#455a64", "weight": 1, "fill": False}


class _HotspotLayers(MacroElement):
    """Hands the folium map, its layer control and heat layer to web/static/hotspots.js."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        HotspotMap.init({{ this._parent.get_name() }}, {{ this.control }}, {{ this.heat }},
                        {{ this.options|tojson }});
        {% endmacro %}
        """
    )

    def __init__(self, control: str, heat: str, options: Mapping[str, object]) -> None:
        super().__init__()
        self._name = "HotspotLayers"
        self.control = control
        self.heat = heat
        self.options = dict(options)


def hotspot_map(
    *,
    bounds: Sequence[float] | None,
    outlines: Mapping[str, tuple[str, str, bool]],
    stations: pd.DataFrame | None = None,
    tile_url: str | None = None,
    tile_attribution: str | None = None,
    heat_label: str = "heat",
    stations_label: str = "stations",
    config_element: str = "hotspot-config",
) -> dict[str, str]:
    """The hotspot map's frame: outlines, stations, an empty heat layer and the layer control.

    ``bounds`` is (min lon, min lat, max lon, max lat) to fit; ``outlines`` maps an area kind
    to (layer label, GeoJSON text with ``area_id`` and ``name``, shown at start). The cells
    are drawn by ``HotspotMap.init`` (web/static/hotspots.js) from the JSON in the page
    element ``config_element``. Returns ``header``, ``html`` and ``script`` parts.

    The frame does not depend on the filters, so the rendered parts are cached: folium
    compiles a Jinja template for every element it renders, which costs more than the
    scoring on a city with two dozen stations.
    """
    from web.maps.context import basemap, streets_for

    corners = None if bounds is None else [[bounds[1], bounds[0]], [bounds[3], bounds[2]]]
    # Everything the frame depends on is in the cache key: the settings read centrally too.
    settings = (basemap(tile_url, tile_attribution), str(streets_for(corners)), print_label())
    return dict(
        _hotspot_map(
            None if bounds is None else tuple(float(b) for b in bounds),
            tuple((kind, tuple(parts)) for kind, parts in outlines.items()),
            station_rows(stations),
            tile_url,
            tile_attribution,
            heat_label,
            stations_label,
            config_element,
            _names_json(),
            settings,
        )
    )


def _names_json() -> str:
    """The site's cell names as JSON {area: [hex of number 1, 2, ...]} (the hotspot map's
    script names cells ``area-n`` from it); ``{}`` outside an app or without data."""
    from flask import current_app, has_app_context

    if not has_app_context() or "engine" not in current_app.extensions:
        return "{}"
    from web.services.map_layers import cell_name_table
    from web.services.site_data import site_data

    try:
        engine = current_app.extensions["engine"]
        data = site_data(engine)
        if "cell_name_json" not in data._memo:
            table = cell_name_table(engine, data)
            data._memo["cell_name_json"] = json.dumps(table, separators=(",", ":"))
        return data._memo["cell_name_json"]
    except Exception:  # noqa: BLE001  (an empty database: the map shows H3 ids)
        return "{}"


@functools.lru_cache(maxsize=8)
def _hotspot_map(
    bounds,
    outlines,
    stations,
    tile_url,
    tile_attribution,
    heat_label,
    stations_label,
    config_element,
    names_json,
    _settings,
) -> tuple[tuple[str, str], ...]:
    corners = None if bounds is None else [[bounds[1], bounds[0]], [bounds[3], bounds[2]]]
    fmap = centred_map(corners, zoom_start=11, tile_url=tile_url,
                       tile_attribution=tile_attribution, prefer_canvas=True)  # fmt: skip
    kind_labels = {}
    for kind, (label, geojson, show) in outlines:
        kind_labels[kind] = str(label)
        style = _OUTLINE_STYLES.get(kind, _OTHER_OUTLINE)
        layer = folium.GeoJson(
            geojson,
            name=map_text(label),
            show=show,
            style_function=lambda _f, style=style: style,
            # Outlines must not catch the clicks meant for the cells under them.
            interactive=False,
        )
        layer.add_to(fmap)
        if kind == "grid":
            _AreaLabels(layer, "area_id", "grid").add_to(fmap)
    if stations:
        station_layer(stations, stations_label, radius=6, color="#1a237e", weight=2,
                      fill_color="#ffffff").add_to(fmap)  # fmt: skip
    # Filled from the cells by hotspots.js; folium adds the (locally served) script.
    heat = HeatMap([], name=map_text(heat_label), show=False, radius=18, blur=14, min_opacity=0.3)
    heat.add_to(fmap)
    control = folium.LayerControl(collapsed=False)
    control.add_to(fmap)
    if corners is not None:
        fmap.fit_bounds(corners)
    # After the fit: the page's script may open on its own box (an area filter's incidents).
    options = {"config": config_element, "kindLabels": kind_labels, "names": json.loads(names_json)}
    _HotspotLayers(control.get_name(), heat.get_name(), options).add_to(fmap)
    return tuple(map_parts(fmap).items())


# --- inline SVG charts ----------------------------------------------------------------------

_SERIES_COLOURS = (
    "#1a3d7c",
    "#c62828",
    "#2e7d32",
    "#ef6c00",
    "#6a1b9a",
    "#00838f",
    "#5d4037",
    "#9e9d24",
)


def nice_max(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above ``value`` (1 for 0)."""
    if not value > 0:
        return 1.0
    magnitude = 10 ** np.floor(np.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)


def line_chart_svg(
    x: Sequence[float],
    series: Mapping[str, Sequence[float]],
    *,
    x_labels: Sequence[tuple[float, str]] = (),
    y_max: float | None = None,
    y_format: str = "{:g}",
    title: str = "",
    dashed: Sequence[str] = (),
    width: int = 640,
    height: int = 260,
) -> str:
    """A line chart as inline SVG: one polyline per series (NaN breaks a line), a legend,
    y gridlines with ``y_format`` labels and ``x_labels`` ticks at given x positions.

    Text is escaped; the markup is safe to embed with ``|safe``.
    """
    per_row = max(1, min(4, (width - 80) // 150))  # legend entries per row
    rows_of_legend = (len(series) + per_row - 1) // per_row
    left, right, top, bottom = 56, 12, 24 if title else 10, 26 + 14 * max(rows_of_legend, 1)
    plot_w, plot_h = width - left - right, height - top - bottom
    xs = np.asarray(x, dtype=float)
    x_min, x_max = (float(xs.min()), float(xs.max())) if xs.size else (0.0, 1.0)
    if x_max <= x_min:
        x_max = x_min + 1
    values = [np.asarray(v, dtype=float) for v in series.values()]
    top_value = max((float(np.nanmax(v)) for v in values if np.isfinite(v).any()), default=0.0)
    y_top = nice_max(top_value) if y_max is None else float(y_max)

    def px(value: float) -> float:
        return left + (value - x_min) / (x_max - x_min) * plot_w

    def py(value: float) -> float:
        return top + plot_h - value / y_top * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" class="chart" font-size="11" font-family="sans-serif">',
    ]
    if title:
        parts.append(f"<title>{escape(title)}</title>")
        parts.append(f'<text x="{left}" y="14" font-weight="bold">{escape(title)}</text>')
    for i in range(5):
        value = y_top * i / 4
        y = py(value)
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d8dee6"/>'
        )
        parts.append(
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(y_format.format(value))}</text>"
        )
    for position, label in x_labels:
        x_px = px(float(position))
        parts.append(
            f'<line x1="{x_px:.1f}" x2="{x_px:.1f}" y1="{top + plot_h}" '
            f'y2="{top + plot_h + 4}" stroke="#5f6b7a"/>'
        )
        parts.append(
            f'<text x="{x_px:.1f}" y="{top + plot_h + 16}" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
    for k, (name, ys) in enumerate(zip(series, values, strict=True)):
        colour = _SERIES_COLOURS[k % len(_SERIES_COLOURS)]
        dash = ' stroke-dasharray="5 4"' if name in dashed else ""
        run: list[str] = []
        runs = []
        for xv, yv in zip(xs, ys, strict=True):
            if np.isfinite(yv):
                run.append(f"{px(xv):.1f},{py(min(yv, y_top)):.1f}")
            elif run:
                runs.append(run)
                run = []
        if run:
            runs.append(run)
        for points in runs:
            parts.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="1.8"{dash} '
                f'points="{" ".join(points)}"><title>{escape(name)}</title></polyline>'
            )
        legend_x = left + 8 + (k % per_row) * ((plot_w - 16) / per_row)
        legend_y = top + plot_h + 32 + 14 * (k // per_row)
        parts.append(
            f'<line x1="{legend_x:.1f}" x2="{legend_x + 18:.1f}" y1="{legend_y - 4}" '
            f'y2="{legend_y - 4}" stroke="{colour}" stroke-width="2.5"{dash}/>'
        )
        parts.append(f'<text x="{legend_x + 22:.1f}" y="{legend_y}">{escape(name)}</text>')
    parts.append(
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
        f'stroke="#5f6b7a"/>'
    )
    parts.append("</svg>")
    return "".join(parts)
