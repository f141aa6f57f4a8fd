"""Maps of patrol plans: the interactive plan map (folium) and a small print-ready route
drawing (inline SVG) for unit briefings.

Both read a plan's stored GeoJSON (``web.services.patrol_plans.plan_geojson``): one
``route`` LineString per unit (along the streets, leg by leg, when the plan was made with a
road network) and one ``visit`` Point per stop, with times in seconds since local midnight of
the plan's date. Nothing here fetches anything from the internet. The interactive map is a
folium map (basemap, jurisdiction, stations) whose units' routes and stops are drawn in the
page by web/static/plan-map.js from one data block, which also shows all units, one station's
or one unit's as the page's selector says; colours come from web/maps/unit_palette.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import folium
import pandas as pd
from branca.element import MacroElement
from folium.template import Template
from markupsafe import Markup

from web.maps.render import centred_map, frame_bounds, map_parts, map_text, station_layer
from web.maps.unit_palette import text_colour, unit_palette

__all__ = ["UNIT_COLOURS", "plan_map", "route_svg", "unit_colours"]

#: The first twelve unit colours (the briefings' default); :func:`unit_colours` gives up to
#: 60 distinct ones (web/maps/unit_palette.py).
UNIT_COLOURS = tuple(unit_palette(12))

# Length of a degree of latitude (and of longitude at the equator) on the WGS-84 mean sphere.
_METRES_PER_DEGREE = 111_195.0


def unit_colours(unit_ids: Sequence[str]) -> dict[str, str]:
    """One colour per unit, in the order given (pass units station by station: neighbours
    get the colours that differ most); distinct for up to 60 units."""
    unit_ids = list(dict.fromkeys(unit_ids))
    return dict(zip(unit_ids, unit_palette(len(unit_ids)), strict=True))


def _routes_and_visits(geojson: Mapping) -> tuple[list[dict], list[dict]]:
    features = geojson.get("features", [])
    routes = [f for f in features if f["properties"].get("kind") == "route"]
    visits = [f for f in features if f["properties"].get("kind") == "visit"]
    return routes, visits


class _PlanLayers(MacroElement):
    """Hands the map and every unit's route and stops (plain data) to ``PlanMap.init``
    (web/static/plan-map.js), which draws them and shows all units, one station's or one
    unit's, as the page's selector says. One data block instead of folium layers per unit:
    folium compiles a template for every element, seconds for a city's sixty units."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        PlanMap.init({{ this._parent.get_name() }}, {{ this.units|tojson }},
                     {{ this.options|tojson }});
        {% endmacro %}
        """
    )

    def __init__(self, units: list[dict], options: Mapping[str, object]) -> None:
        super().__init__()
        self._name = "PlanLayers"
        self.units = units
        self.options = dict(options)


def plan_map(
    geojson: Mapping,
    *,
    clock: Callable[[float], str],
    labels: Mapping[str, str],
    stations: pd.DataFrame | None = None,
    boundary=None,
    tile_url: str | None = None,
    tile_attribution: str | None = None,
    colours: Mapping[str, str] | None = None,
    unit_stations: Mapping[str, str] | None = None,
    cell_label: Callable[[str], str] = str,
) -> dict[str, str]:
    """Render a plan: per unit its route line, its stops as dots (all units shown) and as
    numbered markers (one station or one unit shown); web/static/plan-map.js draws and
    switches them. Texts go to the page as data and are set as text there, never as HTML.

    Parameters
    ----------
    geojson
        The plan's GeoJSON document.
    clock
        Formats seconds since local midnight of the plan's date for the popups.
    labels
        Translated labels: ``unit, station, stop, cell, arrive, start, leave, value,
        streets, straight, stations`` (the legend says ``streets`` or ``straight``;
        straight-line legs are drawn dashed).
    stations
        Optional stations (``name, lon, lat``) drawn as dark dots.
    boundary
        Optional jurisdiction GeoDataFrame, drawn as an outline for orientation.
    colours
        Unit -> colour (default :func:`unit_colours` in route order).
    unit_stations
        Unit -> the name of its station (the selector's groups).
    cell_label
        H3 id -> the text the popups show (the readable name, the id second).

    Returns
    -------
    dict
        ``header``, ``html`` and ``script`` parts to place in a template.
    """
    routes, visits = _routes_and_visits(geojson)
    if colours is None:
        colours = unit_colours([r["properties"]["unit_id"] for r in routes])
    unit_stations = unit_stations or {}
    points = [xy for r in routes for xy in r["geometry"]["coordinates"]]
    points += [v["geometry"]["coordinates"] for v in visits]
    if stations is not None and len(stations):
        points += [
            [float(x), float(y)] for x, y in zip(stations["lon"], stations["lat"], strict=True)
        ]
    bounds: list[list[float]] | None
    if points:
        lons, lats = [p[0] for p in points], [p[1] for p in points]
        bounds = [[min(lats), min(lons)], [max(lats), max(lons)]]
    else:
        bounds = frame_bounds(boundary)
    fmap = centred_map(bounds, zoom_start=12, tile_url=tile_url, tile_attribution=tile_attribution)
    if boundary is not None and len(boundary):
        folium.GeoJson(
            boundary[["area_id", "geometry"]].to_json(),
            name="jurisdiction",
            style_function=lambda _f: {"color": "#555555", "weight": 1.5, "fill": False},
            interactive=False,
            control=False,
        ).add_to(fmap)
    if stations is not None and len(stations):
        rows = zip(stations["name"], stations["lat"], stations["lon"], strict=True)
        layer = station_layer(rows, labels.get("stations", "stations"), radius=7,
                              color="#000000", weight=2, fill_color="#1a237e")  # fmt: skip
        layer.control = False
        layer.add_to(fmap)
    by_unit: dict[str, list[dict]] = {}
    for visit in visits:
        by_unit.setdefault(visit["properties"]["unit_id"], []).append(visit)
    fallback = iter(unit_palette(len(routes)))
    units = []
    for route in routes:
        unit = str(route["properties"]["unit_id"])
        colour = colours.get(unit) or next(fallback)
        units.append(
            _unit_data(route, by_unit.get(unit, []), colour, str(unit_stations.get(unit, "")),
                       clock, cell_label)
        )  # fmt: skip
    on_streets = [u["streets"] for u in units]
    options = {
        "select": "plan-view",
        "list": "stop-list",
        # The legend's line: along the streets when every route is, else straight (dashed);
        # both when some units follow streets and some go straight.
        "streets": bool(on_streets) and all(on_streets),
        "some_streets": any(on_streets),
        "some_straight": not all(on_streets),
        "labels": {key: str(labels.get(key, key)) for key in _LABEL_KEYS},
    }
    _PlanLayers(units, options).add_to(fmap)
    if bounds is not None:
        fmap.fit_bounds(bounds, padding=(20, 20))
    return map_parts(fmap)


_LABEL_KEYS = ("unit", "station", "stop", "cell", "arrive", "start", "leave", "value",
               "streets", "straight", "stations")  # fmt: skip


def _unit_data(
    route: dict,
    visits: list[dict],
    colour: str,
    station: str,
    clock: Callable[[float], str],
    cell_label: Callable[[str], str],
) -> dict:
    """What the page script draws of a unit: its line ([lat, lon] points), whether it follows
    the streets, and its stops in order with their times and the cell's label."""
    stops = []
    for visit in sorted(visits, key=lambda v: int(v["properties"]["order"])):
        p = visit["properties"]
        lon, lat = visit["geometry"]["coordinates"][:2]
        stops.append(
            {
                "order": int(p["order"]),
                "lat": round(float(lat), 6),
                "lon": round(float(lon), 6),
                "cell": cell_label(str(p["cell"])),
                "arrive": clock(p["arrival_s"]),
                "start": clock(p["start_s"]),
                "leave": clock(p["departure_s"]),
                "value": f"{float(p['value']):.2f}",
            }
        )
    return {
        "unit": str(route["properties"]["unit_id"]),
        "station": station,
        "colour": colour,
        "ink": text_colour(colour),
        "streets": bool(route["properties"].get("streets")),
        "line": [
            [round(float(y), 6), round(float(x), 6)]
            for x, y, *_ in route["geometry"]["coordinates"]
        ],  # fmt: skip
        "stops": stops,
    }


def route_svg(
    geojson: Mapping,
    unit_id: str,
    *,
    colour: str = UNIT_COLOURS[0],
    width_px: int = 640,
    station_label: str = "",
    scale_label: Callable[[float], str] = lambda metres: f"{metres:g} m",
) -> Markup:
    """Draw one unit's route as inline SVG: its line, numbered stops, the station, a scale.

    Longitude is scaled by the cosine of the mean latitude, so the drawing keeps the shape
    of the route (an equirectangular view, fine at city scale); the height follows the
    route's shape within 240-520 px. Prints without scripts. Empty for an unknown unit.
    """
    routes, visits = _routes_and_visits(geojson)
    route = next((r for r in routes if r["properties"]["unit_id"] == unit_id), None)
    if route is None:
        return Markup("")
    stops = [v for v in visits if v["properties"]["unit_id"] == unit_id]
    line = [tuple(xy) for xy in route["geometry"]["coordinates"]]
    points = line + [tuple(v["geometry"]["coordinates"]) for v in stops]
    west, south = min(p[0] for p in points), min(p[1] for p in points)
    cos_lat = math.cos(math.radians(sum(p[1] for p in points) / len(points)))
    metres = [((lon - west) * cos_lat * _METRES_PER_DEGREE, (lat - south) * _METRES_PER_DEGREE)
              for lon, lat in points]  # fmt: skip
    # A route that stays on one spot still gets a 200 m frame.
    extent_x = max(max(x for x, _ in metres), 200.0)
    extent_y = max(max(y for _, y in metres), 200.0)
    margin, footer = 28, 22
    inner_w = width_px - 2 * margin
    height_px = int(min(max(inner_w * extent_y / extent_x, 240 - 2 * margin - footer),
                        520 - 2 * margin - footer)) + 2 * margin + footer  # fmt: skip
    scale = min(inner_w / extent_x, (height_px - 2 * margin - footer) / extent_y)

    def xy(lon: float, lat: float) -> tuple[float, float]:
        x = margin + (lon - west) * cos_lat * _METRES_PER_DEGREE * scale
        y = height_px - margin - footer - (lat - south) * _METRES_PER_DEGREE * scale
        return round(x, 1), round(y, 1)

    path = " ".join(f"{x},{y}" for x, y in (xy(*p) for p in line))
    dashed = "" if route["properties"].get("streets") else ' stroke-dasharray="6 5"'
    parts = [
        f'<svg class="route-svg" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width_px} '
        f'{height_px}" width="100%" role="img" aria-label="{map_text(unit_id)}">',
        f'<rect x="0" y="0" width="{width_px}" height="{height_px}" fill="#fff" stroke="#999"/>',
        f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="3" '
        f'stroke-linejoin="round" stroke-linecap="round"{dashed}/>',
    ]
    if line:
        sx, sy = xy(*line[0])
        parts.append(
            f'<rect x="{sx - 8}" y="{sy - 8}" width="16" height="16" fill="#1a237e" '
            'stroke="#fff" stroke-width="2"/>'
        )
        if station_label:
            # Label on the side with room, so it never runs off the drawing.
            right = sx < width_px * 0.6
            parts.append(
                f'<text x="{sx + 12 if right else sx - 12}" y="{sy + 4}" font-size="13" '
                f'font-weight="700" text-anchor="{"start" if right else "end"}" fill="#1a237e" '
                f'paint-order="stroke" stroke="#fff" stroke-width="3">'
                f"{map_text(station_label)}</text>"
            )
    ink = text_colour(colour)
    for visit in sorted(stops, key=lambda v: -int(v["properties"]["order"])):
        x, y = xy(*visit["geometry"]["coordinates"])
        order = int(visit["properties"]["order"])
        parts.append(
            f'<g class="stop"><circle cx="{x}" cy="{y}" r="10" fill="{colour}" stroke="#fff" '
            f'stroke-width="2"/><text x="{x}" y="{y + 4}" font-size="11" font-weight="700" '
            f'text-anchor="middle" fill="{ink}">{order}</text></g>'
        )
    bar_m = _nice_length(max(extent_x, extent_y) / 4)
    bar_px = round(bar_m * scale, 1)
    parts.append(
        f'<g class="scale"><line x1="{margin}" y1="{height_px - 14}" x2="{margin + bar_px}" '
        f'y2="{height_px - 14}" stroke="#000" stroke-width="3"/><text x="{margin + bar_px + 6}" '
        f'y="{height_px - 10}" font-size="11">{map_text(scale_label(bar_m))}</text></g>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))


def _nice_length(metres: float) -> float:
    """The largest 1, 2 or 5 x 10^k not above ``metres`` (a round scale-bar length)."""
    if metres <= 0:
        return 100.0
    power = 10 ** math.floor(math.log10(metres))
    for step in (5, 2, 1):
        if step * power <= metres:
            return float(step * power)
    return float(power)
