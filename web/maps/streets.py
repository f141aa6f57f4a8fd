"""Streets of the configured OpenStreetMap extract (``HOTSPOT_ROAD_NETWORK_FILE``) as a light
base layer for maps without a basemap tile service.

The extract is read once (planner.osm), its drivable and walkable streets simplified (about
5 m) and merged into three GeoJSON features by rank (1 major roads, 2 through roads, 3 the
rest), so a city's streets are one small download the browser draws on one canvas
(web/static/map-context.js). Results are cached per file (path, size and modification time);
a file that cannot be read gives no streets (the maps work without them) and is logged once.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

__all__ = ["STREET_RANKS", "StreetLayer", "street_layer"]

log = logging.getLogger(__name__)

#: OSM ``highway`` values drawn, by rank (1 major, 2 through roads, 3 the rest); footways,
#: paths, steps, tracks and service roads are left out (they crowd a city map).
STREET_RANKS = {
    **dict.fromkeys(("motorway", "trunk", "primary", "motorway_link", "trunk_link"), 1),
    **dict.fromkeys(("primary_link", "secondary", "tertiary", "secondary_link"), 2),
    **dict.fromkeys(("tertiary_link", "unclassified", "residential", "living_street"), 3),
    "pedestrian": 3,
}
#: Simplification tolerance in degrees (about 5 m): a street bends less than a pixel at the
#: zooms the site uses, and the file is a fraction of the extract.
TOLERANCE_DEG = 5e-5
#: Decimal places of the coordinates written (about 1 m).
DECIMALS = 5


@dataclass(frozen=True)
class StreetLayer:
    """The streets as GeoJSON text, its bounds (min lon, min lat, max lon, max lat) and a key
    that changes with the file (for the URL the browser caches)."""

    geojson: bytes
    bounds: tuple[float, float, float, float] | None
    key: str

    def covers(self, bounds) -> bool:  # noqa: ANN001
        """Whether the streets reach into ``bounds`` ([[south, west], [north, east]])."""
        if self.bounds is None or bounds is None:
            return False
        (south, west), (north, east) = bounds
        minx, miny, maxx, maxy = self.bounds
        return minx <= east and maxx >= west and miny <= north and maxy >= south


def street_layer(path: str) -> StreetLayer | None:
    """The streets of the extract at ``path`` (None for no file or an unreadable one)."""
    if not path:
        return None
    try:
        stat = os.stat(path)
    except OSError:
        _log_once(path, "file not found")
        return None
    return _street_layer(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _street_layer(path: str, size: int, mtime_ns: int) -> StreetLayer | None:
    from planner.errors import RoadNetworkError
    from planner.osm import read_osm

    try:
        streets = read_osm(Path(path))
    except RoadNetworkError as err:
        _log_once(path, str(err))
        return None
    key = hashlib.sha256(f"{path}\0{size}\0{mtime_ns}".encode()).hexdigest()[:16]
    position = {int(n): i for i, n in enumerate(streets.node_id.tolist())}
    lines: dict[int, list[shapely.LineString]] = {1: [], 2: [], 3: []}
    for way in streets.ways:
        rank = STREET_RANKS.get(way.tags.get("highway", ""))
        if rank is None or way.tags.get("area") == "yes":
            continue
        at = [position[r] for r in way.refs if r in position]
        if len(at) < 2:
            continue
        lines[rank].append(shapely.LineString(np.column_stack([streets.lon[at], streets.lat[at]])))
    features = []
    every: list[shapely.Geometry] = []
    for rank, parts in lines.items():
        if not parts:
            continue
        merged = shapely.simplify(shapely.MultiLineString(parts), TOLERANCE_DEG)
        every.append(merged)
        geometry = json.loads(shapely.to_geojson(shapely.set_precision(merged, 10**-DECIMALS)))
        features.append({"type": "Feature", "properties": {"rank": rank}, "geometry": geometry})
    bounds = None
    if every:
        minx, miny, maxx, maxy = shapely.GeometryCollection(every).bounds
        bounds = (float(minx), float(miny), float(maxx), float(maxy))
    text = json.dumps({"type": "FeatureCollection", "features": features}, separators=(",", ":"))
    return StreetLayer(text.encode(), bounds, key)


@functools.lru_cache(maxsize=16)
def _log_once(path: str, reason: str) -> None:
    log.warning("streets base layer: %s (%s); maps show no streets", path, reason)
