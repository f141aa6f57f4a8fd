"""Street graphs from OpenStreetMap extracts, and travel times along them.

`load_street_graph` reads a local ``.osm`` XML file (standard library) or ``.osm.pbf`` file
(pyosmium, imported only for that) and keeps the ways a travel mode may use. Every pair of
consecutive way nodes becomes a directed edge, so an edge is a straight segment and a route's
geometry is the chain of its nodes. `snap_points` joins points (H3 cell centres) to the
nearest usable node of the graph's main part, and `road_matrix` runs Dijkstra's algorithm
(``scipy.sparse.csgraph``) from the snapped nodes to fill a `planner.travel.TravelMatrix`.

Routing uses the largest strongly connected component of the graph: inside it every node can
reach every other, so a matrix over snapped points never holds ``inf``. Nodes outside it are
kept so that a point next to a cut-off piece of street (a one-way stub at the edge of the
extract, a car park) is reported as such instead of being joined to a farther street.

Nothing here touches the network: extracts are prepared elsewhere and read from disk.
"""

from __future__ import annotations

import functools
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from planner.errors import (
    InvalidTravelParameterError,
    RoadNetworkError,
    UnknownModeError,
)
from planner.travel import (
    EARTH_RADIUS_M,
    MODE_SPEEDS_KMH,
    TravelMatrix,
    UnreachablePoint,
    great_circle_m,
    mode_speed_kmh,
    points_from_lon_lat,
)

__all__ = [
    "DEFAULT_MAX_SNAP_M",
    "HIGHWAY_SPEEDS_KMH",
    "NO_SNAP_HIGHWAYS",
    "RoadNetworkError",
    "SnappedPoints",
    "StreetGraph",
    "load_street_graph",
    "road_matrix",
    "snap_points",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_WALK_KMH = MODE_SPEEDS_KMH["foot"]

# Average speeds by OSM ``highway`` value, stops at signals and junctions included, so they
# sit well below the posted limits (Chicago: 30 mph on city streets, 55 mph on the Kennedy).
# A highway value missing from a mode's table is a way that mode cannot use: cars keep off
# footways, paths, steps and cycleways; people on foot keep off motorways.
HIGHWAY_SPEEDS_KMH: Mapping[str, Mapping[str, float]] = MappingProxyType(
    {
        "car": MappingProxyType(
            {
                "motorway": 80.0,
                "motorway_link": 45.0,
                "trunk": 50.0,
                "trunk_link": 40.0,
                "primary": 40.0,
                "primary_link": 30.0,
                "secondary": 35.0,
                "secondary_link": 30.0,
                "tertiary": 30.0,
                "tertiary_link": 25.0,
                "unclassified": 25.0,
                "residential": 25.0,
                "road": 25.0,
                # Alleys, car parks and driveways: narrow, blind corners, people on foot.
                "service": 15.0,
                "living_street": 10.0,
            }
        ),
        "foot": MappingProxyType(
            {
                **dict.fromkeys(
                    (
                        "trunk",
                        "trunk_link",
                        "primary",
                        "primary_link",
                        "secondary",
                        "secondary_link",
                        "tertiary",
                        "tertiary_link",
                        "unclassified",
                        "residential",
                        "road",
                        "service",
                        "living_street",
                        "pedestrian",
                        "footway",
                        "path",
                        "cycleway",
                        "track",
                        "bridleway",
                    ),
                    _WALK_KMH,
                ),
                # Stairs take about twice as long as the same horizontal distance on the flat.
                "steps": _WALK_KMH / 2.0,
            }
        ),
    }
)

# A patrol car cannot join an expressway mid-span, so a cell centre beside one must snap to
# the street grid instead; motorway nodes still carry routes between snapped nodes.
NO_SNAP_HIGHWAYS = frozenset({"motorway", "motorway_link"})

# An H3 resolution-9 cell centre lies at most 174 m (the cell's circumradius) from a street
# that crosses the cell, and street nodes in a city grid are rarely more than ~100 m apart, so
# 300 m keeps every cell with a street through or beside it; a point farther from every usable
# node (a lake, a rail yard, a point outside the extract) is reported unreachable.
DEFAULT_MAX_SNAP_M = 300.0

# Tags whose value decides access, most specific first (the first one present wins).
_ACCESS_KEYS = {
    "car": ("motorcar", "motor_vehicle", "vehicle", "access"),
    "foot": ("foot", "access"),
}
_NO_ACCESS = frozenset({"no", "private"})
_ONEWAY_FORWARD = frozenset({"yes", "true", "1"})
_ONEWAY_BACKWARD = frozenset({"-1", "reverse"})
_TWO_WAY = frozenset({"no", "false", "0"})

# Sources (rows) per Dijkstra call, as a budget of rows x graph nodes: every batch holds a few
# float64 arrays of that size, so 2**21 keeps each near 16 MiB whatever the graph's size.
_BATCH_CELLS = 2**21

# Way geometry cached per source node by TravelMatrix.path: one Dijkstra tree per source.
_PATH_TREES_CACHED = 64


@dataclass(frozen=True, eq=False)
class StreetGraph:
    """A directed street graph for one travel mode, built from an OpenStreetMap extract.

    Nodes are the OSM nodes of the usable ways; each edge joins two consecutive nodes of a
    way (both ways unless it is one-way for the mode; duplicates keep the fastest). The
    arrays are read-only.

    Attributes
    ----------
    mode
        Travel mode the graph was built for (``"car"`` or ``"foot"``).
    node_id
        ``(m,)`` OSM node ids.
    lon, lat
        ``(m,)`` node coordinates in WGS-84 degrees.
    edge_from, edge_to
        ``(e,)`` node positions (into the node arrays) where each edge starts and ends.
    edge_metres
        ``(e,)`` great-circle length of each edge.
    edge_seconds
        ``(e,)`` travel time along each edge at the speed of its way's highway type.
    edge_way_id
        ``(e,)`` OSM id of the way each edge belongs to.
    snappable
        ``(m,)`` True for nodes on a way that points may join (not only on `NO_SNAP_HIGHWAYS`).
    component
        ``(m,)`` strongly connected component label of each node.
    main_component
        Label of the largest component: the part of the graph used for routing.
    missing_node_refs
        Way node references with no node in the file (their segments are left out).
    source
        The file the graph was read from.
    """

    mode: str
    node_id: IntArray
    lon: FloatArray
    lat: FloatArray
    edge_from: IntArray
    edge_to: IntArray
    edge_metres: FloatArray
    edge_seconds: FloatArray
    edge_way_id: IntArray
    snappable: BoolArray
    component: IntArray
    main_component: int
    missing_node_refs: int
    source: str

    def __post_init__(self) -> None:
        for value in vars(self).values():
            if isinstance(value, np.ndarray):
                value.setflags(write=False)

    @property
    def node_count(self) -> int:
        """Number of nodes, the cut-off parts included."""
        return int(self.node_id.size)

    @property
    def edge_count(self) -> int:
        """Number of directed edges, the cut-off parts included."""
        return int(self.edge_from.size)

    @property
    def in_main(self) -> BoolArray:
        """``(m,)`` True for the nodes of the main (routing) component."""
        return np.asarray(self.component == self.main_component)


@dataclass(frozen=True, eq=False)
class SnappedPoints:
    """Where each point joins the street graph.

    Attributes
    ----------
    node
        ``(n,)`` node position in the graph, ``-1`` for an unreachable point.
    snap_m
        ``(n,)`` great-circle metres from the point to that node; for an unreachable point,
        to the nearest usable node of any component.
    unreachable
        The points that could not be snapped to the main component, with the reason.
    """

    node: IntArray
    snap_m: FloatArray
    unreachable: tuple[UnreachablePoint, ...]


# --- reading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _OsmWay:
    way_id: int
    refs: tuple[int, ...]
    tags: Mapping[str, str]


@dataclass(frozen=True, eq=False)
class _OsmStreets:
    """The raw content of an extract: node coordinates and the ways with a highway tag."""

    node_id: IntArray
    lon: FloatArray
    lat: FloatArray
    ways: tuple[_OsmWay, ...]


def load_street_graph(path: str | os.PathLike[str], mode: str = "car") -> StreetGraph:
    """Read an OpenStreetMap extract into a street graph for one travel mode.

    Parameters
    ----------
    path
        A ``.osm`` (OSM XML) or ``.osm.pbf`` file. Reading ``.osm.pbf`` needs the ``osmium``
        package (pyosmium).
    mode
        ``"car"``: ways in ``HIGHWAY_SPEEDS_KMH["car"]``, one-way rules respected (motorways
        and roundabouts are one-way unless tagged otherwise; ``oneway=reversible`` ways are
        left out, as their direction changes with the time of day). ``"foot"``: ways in
        ``HIGHWAY_SPEEDS_KMH["foot"]``, every way walkable both ways. Both modes leave out
        ways tagged ``access``/``foot``/``motor_vehicle`` etc. ``no`` or ``private``, and
        ``area=yes`` outlines.

    Returns
    -------
    StreetGraph
        Nodes, edges with metres and seconds, and the strongly connected components.

    Raises
    ------
    UnknownModeError
        For a mode without a speed table.
    RoadNetworkError
        When the file is missing, of an unknown type, unreadable, or has no usable way.
    """
    if mode not in HIGHWAY_SPEEDS_KMH:
        raise UnknownModeError(f"mode must be one of {sorted(HIGHWAY_SPEEDS_KMH)}, got {mode!r}")
    path = Path(path)
    if not path.is_file():
        raise RoadNetworkError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise RoadNetworkError(f"{path}: the file is empty")
    name = path.name.lower()
    if name.endswith(".pbf"):
        streets = _read_osm_pbf(path)
    elif name.endswith((".osm", ".xml")):
        streets = _read_osm_xml(path)
    else:
        raise RoadNetworkError(f"{path}: expected an .osm (OSM XML) or .osm.pbf file")
    return _build_street_graph(streets, mode, source=str(path))


def _read_osm_xml(path: Path) -> _OsmStreets:
    """Read nodes and highway ways from OSM XML, streaming so large files stay small."""
    node_ids: list[int] = []
    lons: list[float] = []
    lats: list[float] = []
    ways: list[_OsmWay] = []
    try:
        context = ET.iterparse(path, events=("start", "end"))
        _, root = next(context)
        if root.tag != "osm":
            raise RoadNetworkError(f"{path}: not OSM XML (root element <{root.tag}>)")
        for event, element in context:
            if event != "end" or element.tag not in ("node", "way", "relation"):
                continue
            if element.tag == "node":
                node_ids.append(int(element.attrib["id"]))
                lons.append(float(element.attrib["lon"]))
                lats.append(float(element.attrib["lat"]))
            elif element.tag == "way":
                tags = {t.attrib["k"]: t.attrib["v"] for t in element.iter("tag")}
                if "highway" in tags:
                    refs = tuple(int(nd.attrib["ref"]) for nd in element.iter("nd"))
                    ways.append(_OsmWay(int(element.attrib["id"]), refs, tags))
            # Each top-level element is done with: dropping it keeps memory flat.
            root.clear()
    except ET.ParseError as err:
        raise RoadNetworkError(f"{path}: not well-formed XML: {err}") from err
    except KeyError as err:
        raise RoadNetworkError(f"{path}: a node, way or tag lacks the attribute {err}") from err
    except ValueError as err:
        raise RoadNetworkError(f"{path}: an id or coordinate is not a number: {err}") from err
    return _OsmStreets(
        node_id=np.array(node_ids, dtype=np.int64),
        lon=np.array(lons, dtype=np.float64),
        lat=np.array(lats, dtype=np.float64),
        ways=tuple(ways),
    )


def _read_osm_pbf(path: Path) -> _OsmStreets:
    """Read highway ways and their node locations from an .osm.pbf file with pyosmium."""
    try:
        import osmium
        import osmium.filter
    except ImportError as err:
        raise RoadNetworkError(
            f"{path}: reading .osm.pbf needs the 'osmium' package (pip install osmium), "
            "or convert the file to .osm XML"
        ) from err
    locations: dict[int, tuple[float, float]] = {}
    ways: list[_OsmWay] = []
    try:
        processor = (
            osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
            .with_locations()
            .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
            .with_filter(osmium.filter.KeyFilter("highway"))
        )
        for way in processor:
            if not isinstance(way, osmium.osm.Way):  # the entity filter lets only ways through
                continue
            refs = []
            for way_node in way.nodes:
                refs.append(way_node.ref)
                # A node missing from the extract has no location: treated as in XML.
                if way_node.location.valid():
                    locations[way_node.ref] = (way_node.lon, way_node.lat)
            ways.append(_OsmWay(way.id, tuple(refs), dict(way.tags)))
    except RuntimeError as err:
        raise RoadNetworkError(f"{path}: cannot read as .osm.pbf: {err}") from err
    node_ids = np.array(sorted(locations), dtype=np.int64)
    coords = np.array([locations[i] for i in node_ids.tolist()], dtype=np.float64)
    coords = coords.reshape(-1, 2)
    return _OsmStreets(node_id=node_ids, lon=coords[:, 0], lat=coords[:, 1], ways=tuple(ways))


# --- building -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _WayRule:
    speed_kmh: float
    forward: bool
    backward: bool
    snappable: bool


def _way_rule(tags: Mapping[str, str], mode: str) -> _WayRule | None:
    """How a mode may use a way, or None when it may not."""
    highway = tags.get("highway", "")
    speed_kmh = HIGHWAY_SPEEDS_KMH[mode].get(highway)
    if speed_kmh is None or tags.get("area") == "yes":
        return None
    for key in _ACCESS_KEYS[mode]:
        if key in tags:
            if tags[key] in _NO_ACCESS:
                return None
            break
    forward = backward = True
    if mode == "car":
        oneway = tags.get("oneway")
        if oneway == "reversible":
            return None
        if oneway in _ONEWAY_FORWARD:
            backward = False
        elif oneway in _ONEWAY_BACKWARD:
            forward = False
        elif oneway not in _TWO_WAY and (
            highway == "motorway" or tags.get("junction") in ("roundabout", "circular")
        ):
            backward = False
    return _WayRule(speed_kmh, forward, backward, highway not in NO_SNAP_HIGHWAYS)


def _build_street_graph(streets: _OsmStreets, mode: str, source: str) -> StreetGraph:
    """Turn raw nodes and ways into a directed graph for ``mode``."""
    seg_from: list[IntArray] = []
    seg_to: list[IntArray] = []
    seg_way: list[int] = []
    seg_rules: list[_WayRule] = []
    for way in streets.ways:
        rule = _way_rule(way.tags, mode)
        if rule is None or len(way.refs) < 2:
            continue
        refs = np.array(way.refs, dtype=np.int64)
        seg_from.append(refs[:-1])
        seg_to.append(refs[1:])
        seg_way.append(way.way_id)
        seg_rules.append(rule)
    if not seg_rules:
        raise RoadNetworkError(f"{source}: no way that mode {mode!r} may use")

    counts = np.array([len(a) for a in seg_from])
    ref_from, ref_to = np.concatenate(seg_from), np.concatenate(seg_to)
    way_id = np.repeat(np.array(seg_way, dtype=np.int64), counts)

    order = np.argsort(streets.node_id, kind="stable")
    sorted_ids = streets.node_id[order]

    def position(refs: IntArray) -> IntArray:
        """Index of each OSM node id in the raw node arrays, -1 when the file lacks it."""
        if sorted_ids.size == 0:
            return np.full(refs.shape, -1, dtype=np.int64)
        found = np.searchsorted(sorted_ids, refs).clip(max=sorted_ids.size - 1)
        return np.where(sorted_ids[found] == refs, order[found], -1)

    pos_from, pos_to = position(ref_from), position(ref_to)
    used_refs = np.unique(np.concatenate([ref_from, ref_to]))
    missing_node_refs = int(np.count_nonzero(position(used_refs) < 0))
    # A repeated node in a way (a data slip) would make a self-loop; a missing node leaves a
    # gap in the way rather than a guessed segment.
    keep = (pos_from >= 0) & (pos_to >= 0) & (pos_from != pos_to)
    if not keep.any():
        raise RoadNetworkError(f"{source}: the ways usable by mode {mode!r} have no nodes")

    speed_kmh = np.repeat([r.speed_kmh for r in seg_rules], counts)[keep].astype(np.float64)
    forward = np.repeat([r.forward for r in seg_rules], counts)[keep].astype(bool)
    backward = np.repeat([r.backward for r in seg_rules], counts)[keep].astype(bool)
    snappable_way = np.repeat([r.snappable for r in seg_rules], counts)[keep].astype(bool)
    pos_from, pos_to, way_id = pos_from[keep], pos_to[keep], way_id[keep]

    # Renumber to the nodes the kept segments use, in OSM id order.
    used, inverse = np.unique(
        streets.node_id[np.concatenate([pos_from, pos_to])], return_inverse=True
    )
    node_from, node_to = np.split(inverse.astype(np.int64), 2)
    node_pos = position(used)
    lon, lat = streets.lon[node_pos], streets.lat[node_pos]
    snappable = np.zeros(used.size, dtype=bool)
    snappable[node_from[snappable_way]] = True
    snappable[node_to[snappable_way]] = True

    metres = great_circle_m(lon[node_from], lat[node_from], lon[node_to], lat[node_to])
    seconds = metres / (speed_kmh / 3.6)
    edge_from = np.concatenate([node_from[forward], node_to[backward]])
    edge_to = np.concatenate([node_to[forward], node_from[backward]])
    edge_metres = np.concatenate([metres[forward], metres[backward]])
    edge_seconds = np.concatenate([seconds[forward], seconds[backward]])
    edge_way_id = np.concatenate([way_id[forward], way_id[backward]])

    # Two ways sharing a pair of nodes would give a parallel edge, and scipy's sparse matrices
    # add parallel entries up; keep the fastest one.
    first = np.lexsort((edge_seconds, edge_to, edge_from))
    keys = edge_from[first] * used.size + edge_to[first]
    first = first[np.concatenate([[True], keys[1:] != keys[:-1]])]
    edge_from, edge_to = edge_from[first], edge_to[first]
    edge_metres, edge_seconds = edge_metres[first], edge_seconds[first]
    edge_way_id = edge_way_id[first]

    adjacency = sp.csr_matrix((edge_seconds, (edge_from, edge_to)), shape=(used.size, used.size))
    _, labels = connected_components(adjacency, directed=True, connection="strong")
    return StreetGraph(
        mode=mode,
        node_id=used.astype(np.int64),
        lon=lon,
        lat=lat,
        edge_from=edge_from,
        edge_to=edge_to,
        edge_metres=edge_metres,
        edge_seconds=edge_seconds,
        edge_way_id=edge_way_id,
        snappable=snappable,
        component=labels.astype(np.int64),
        main_component=int(np.argmax(np.bincount(labels))),
        missing_node_refs=missing_node_refs,
        source=source,
    )


# --- snapping -----------------------------------------------------------------------------


def _local_xy_m(
    lon: FloatArray, lat: FloatArray, origin: tuple[float, float]
) -> npt.NDArray[np.float64]:
    """Project to metres east and north of ``origin`` (equirectangular, scale true there).

    Over a city (tens of km) the distortion is a fraction of a percent, enough to pick the
    nearest node; the distances reported are great-circle ones.
    """
    lon0, lat0 = origin
    x = np.radians(lon - lon0) * np.cos(np.radians(lat0)) * EARTH_RADIUS_M
    y = np.radians(lat - lat0) * EARTH_RADIUS_M
    return np.column_stack([x, y])


def snap_points(
    graph: StreetGraph,
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
) -> SnappedPoints:
    """Join each point to the nearest usable node of the graph's main component.

    Usable nodes lie on a way that is not in `NO_SNAP_HIGHWAYS`. A point farther than
    ``max_snap_m`` from every usable main-component node is unreachable: ``"cut_off"`` when a
    usable node of a smaller component lies within ``max_snap_m``, else
    ``"too_far_from_street"``.

    Parameters
    ----------
    graph
        A graph from `load_street_graph`.
    lon, lat
        Point coordinates in WGS-84 degrees (1-d, equal length).
    max_snap_m
        Longest straight walk or drive, in metres, from a point to its node.

    Returns
    -------
    SnappedPoints
        Node positions (``-1`` where unreachable), snap distances and the unreachable points.

    Raises
    ------
    InvalidPointsError
        For coordinates of unequal length, non-finite or out of range.
    InvalidTravelParameterError
        When ``max_snap_m`` is negative or not finite.
    """
    points = points_from_lon_lat(lon, lat)
    if isinstance(max_snap_m, bool) or not (
        isinstance(max_snap_m, int | float | np.integer | np.floating)
        and np.isfinite(max_snap_m)
        and max_snap_m >= 0
    ):
        raise InvalidTravelParameterError(
            f"max_snap_m must be a finite number of metres >= 0, got {max_snap_m!r}"
        )
    n = points.shape[0]
    node = np.full(n, -1, dtype=np.int64)
    snap_m = np.full(n, np.inf)
    if n == 0:
        return SnappedPoints(node=node, snap_m=snap_m, unreachable=())
    origin = (float(np.mean(graph.lon)), float(np.mean(graph.lat)))
    point_xy = _local_xy_m(points[:, 0], points[:, 1], origin)
    main = np.flatnonzero(graph.snappable & graph.in_main)
    nearest_main, main_m = _nearest(graph, main, points, point_xy, origin)
    ok = main_m <= max_snap_m
    node[ok], snap_m[ok] = nearest_main[ok], main_m[ok]

    unreachable: list[UnreachablePoint] = []
    bad = np.flatnonzero(~ok)
    if bad.size:
        anywhere = np.flatnonzero(graph.snappable)
        nearest_any, any_m = _nearest(graph, anywhere, points[bad], point_xy[bad], origin)
        snap_m[bad] = any_m
        sizes = np.bincount(graph.component)
        for k, index in enumerate(bad.tolist()):
            if any_m[k] <= max_snap_m:
                other = int(nearest_any[k])
                detail = (
                    f"the nearest usable street node (OSM {graph.node_id[other]}, "
                    f"{any_m[k]:.0f} m away) lies in a part of the {graph.mode} network of "
                    f"{sizes[graph.component[other]]} nodes cut off from the main one; the main "
                    f"network is {main_m[index]:.0f} m away, beyond max_snap_m={max_snap_m:g}"
                )
                unreachable.append(UnreachablePoint(index, "cut_off", detail))
            else:
                detail = (
                    f"no usable street node for {graph.mode} within max_snap_m={max_snap_m:g} "
                    f"m; the nearest is {snap_m[index]:.0f} m away"
                )
                unreachable.append(UnreachablePoint(index, "too_far_from_street", detail))
    return SnappedPoints(node=node, snap_m=snap_m, unreachable=tuple(unreachable))


def _nearest(
    graph: StreetGraph,
    candidates: IntArray,
    points: FloatArray,
    point_xy: FloatArray,
    origin: tuple[float, float],
) -> tuple[IntArray, FloatArray]:
    """Nearest candidate node of each point and its great-circle distance (inf if none)."""
    if candidates.size == 0:
        return np.full(points.shape[0], -1, dtype=np.int64), np.full(points.shape[0], np.inf)
    tree = cKDTree(_local_xy_m(graph.lon[candidates], graph.lat[candidates], origin))
    _, nearest = tree.query(point_xy, k=1)
    node = candidates[nearest]
    return node, great_circle_m(points[:, 0], points[:, 1], graph.lon[node], graph.lat[node])


# --- routing ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _MainNetwork:
    """The main component as a sparse matrix of edge seconds, numbered 0..k-1."""

    nodes: IntArray  # graph node position of each local node
    local: IntArray  # local number of each graph node, -1 outside the main component
    seconds: sp.csr_matrix
    edge_keys: IntArray  # sorted from * k + to, for looking up edge metres
    edge_metres: FloatArray


def _main_network(graph: StreetGraph) -> _MainNetwork:
    nodes = np.flatnonzero(graph.in_main).astype(np.int64)
    local = np.full(graph.node_count, -1, dtype=np.int64)
    local[nodes] = np.arange(nodes.size)
    inside = graph.in_main[graph.edge_from] & graph.in_main[graph.edge_to]
    edge_from, edge_to = local[graph.edge_from[inside]], local[graph.edge_to[inside]]
    keys = edge_from * nodes.size + edge_to
    order = np.argsort(keys)
    seconds = sp.csr_matrix(
        (graph.edge_seconds[inside], (edge_from, edge_to)), shape=(nodes.size, nodes.size)
    )
    return _MainNetwork(nodes, local, seconds, keys[order], graph.edge_metres[inside][order])


def _tree_metres(network: _MainNetwork, predecessors: npt.NDArray[np.int32]) -> FloatArray:
    """Metres from each row's source to every node along its shortest-path tree.

    Pointer jumping: each round adds the length of the path to the current ancestor and
    jumps to that ancestor's ancestor, so trees of depth d need log2(d) vectorised rounds.
    """
    size = predecessors.shape[1]
    parent = predecessors.astype(np.int64)
    has_parent = parent >= 0
    columns = np.broadcast_to(np.arange(size), parent.shape)
    metres = np.zeros(parent.shape)
    slots = np.searchsorted(network.edge_keys, parent[has_parent] * size + columns[has_parent])
    metres[has_parent] = network.edge_metres[slots]
    while has_parent.any():
        safe = np.where(has_parent, parent, 0)
        metres += np.where(has_parent, np.take_along_axis(metres, safe, axis=1), 0.0)
        parent = np.where(has_parent, np.take_along_axis(parent, safe, axis=1), -1)
        has_parent = parent >= 0
    return metres


class _StreetRoutes:
    """``TravelMatrix.path`` for road matrices: walks a cached shortest-path tree."""

    def __init__(
        self,
        graph: StreetGraph,
        network: _MainNetwork,
        points: FloatArray,
        point_local: IntArray,
    ) -> None:
        self._lon = graph.lon[network.nodes]
        self._lat = graph.lat[network.nodes]
        self._seconds = network.seconds
        self._points = points
        self._point_local = point_local
        self._tree = functools.lru_cache(maxsize=_PATH_TREES_CACHED)(self._predecessors)

    def _predecessors(self, source: int) -> npt.NDArray[np.int32]:
        _, predecessors = dijkstra(
            self._seconds, directed=True, indices=source, return_predecessors=True
        )
        return np.asarray(predecessors)

    def __call__(self, i: int, j: int) -> list[tuple[float, float]]:
        source, target = int(self._point_local[i]), int(self._point_local[j])
        predecessors = self._tree(source)
        chain = [target]
        while chain[-1] != source:
            chain.append(int(predecessors[chain[-1]]))
        chain.reverse()
        vertices = [(float(self._points[i, 0]), float(self._points[i, 1]))]
        vertices += [(float(self._lon[k]), float(self._lat[k])) for k in chain]
        vertices.append((float(self._points[j, 0]), float(self._points[j, 1])))
        # A point lying exactly on its node would repeat a vertex.
        return [v for k, v in enumerate(vertices) if k == 0 or v != vertices[k - 1]]


def _batches(values: IntArray, size: int) -> Iterator[tuple[int, IntArray]]:
    for start in range(0, values.size, size):
        yield start, values[start : start + size]


def road_matrix(
    graph: StreetGraph,
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    mode: str | None = None,
    *,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
    snap_speed_kmh: float | None = None,
) -> TravelMatrix:
    """Travel seconds and metres between points along the streets.

    Each point is snapped (`snap_points`); a trip is the straight snap leg to the start node
    at ``snap_speed_kmh``, the fastest street route, and the snap leg from the end node.
    ``metres`` is the length of that same fastest route. Points that cannot be snapped to
    the main component are listed in ``unreachable`` and their rows and columns are ``inf``
    (diagonal 0); all other entries are finite. ``path(i, j)`` gives the street geometry.

    Parameters
    ----------
    graph
        A graph from `load_street_graph`.
    lon, lat
        Point coordinates in WGS-84 degrees (1-d, equal length).
    mode
        Must equal ``graph.mode`` when given: one-way rules and usable ways differ by mode,
        so another mode needs its own graph.
    max_snap_m
        Longest snap leg in metres (`DEFAULT_MAX_SNAP_M`).
    snap_speed_kmh
        Speed on the snap legs; ``None`` uses ``MODE_SPEEDS_KMH[graph.mode]``.

    Returns
    -------
    TravelMatrix
        With ``method="road"`` and the snap distances in ``snap_m``.

    Raises
    ------
    InvalidPointsError
        For coordinates of unequal length, non-finite or out of range.
    RoadNetworkError
        When ``mode`` differs from the graph's mode.
    InvalidTravelParameterError
        For a snap speed or ``max_snap_m`` that is not a positive finite number.
    """
    if mode is not None and mode != graph.mode:
        raise RoadNetworkError(
            f"mode {mode!r} differs from the graph's mode {graph.mode!r}; "
            f"load the street graph with mode={mode!r}"
        )
    points = points_from_lon_lat(lon, lat)
    snap_mps = mode_speed_kmh(graph.mode, snap_speed_kmh) / 3.6
    snapped = snap_points(graph, points[:, 0], points[:, 1], max_snap_m=max_snap_m)
    network = _main_network(graph)
    n = points.shape[0]
    ok = np.flatnonzero(snapped.node >= 0)
    point_local = np.full(n, -1, dtype=np.int64)
    point_local[ok] = network.local[snapped.node[ok]]

    sources, source_of_point = np.unique(point_local[ok], return_inverse=True)
    net_seconds = np.empty((sources.size, sources.size))
    net_metres = np.empty((sources.size, sources.size))
    batch = max(1, _BATCH_CELLS // max(network.nodes.size, 1))
    for start, rows in _batches(sources, batch):
        seconds, predecessors = dijkstra(
            network.seconds, directed=True, indices=rows, return_predecessors=True
        )
        metres = _tree_metres(network, predecessors)
        net_seconds[start : start + rows.size] = seconds[:, sources]
        net_metres[start : start + rows.size] = metres[:, sources]

    seconds_out = np.full((n, n), np.inf)
    metres_out = np.full((n, n), np.inf)
    leg_m = snapped.snap_m[ok]
    block = np.ix_(ok, ok)
    pairs = np.ix_(source_of_point, source_of_point)
    metres_out[block] = leg_m[:, None] + net_metres[pairs] + leg_m[None, :]
    seconds_out[block] = (leg_m[:, None] + leg_m[None, :]) / snap_mps + net_seconds[pairs]
    np.fill_diagonal(seconds_out, 0.0)
    np.fill_diagonal(metres_out, 0.0)
    return TravelMatrix(
        points=points,
        seconds=seconds_out,
        metres=metres_out,
        unreachable=snapped.unreachable,
        mode=graph.mode,
        method="road",
        snap_m=snapped.snap_m,
        route_geometry=_StreetRoutes(graph, network, points, point_local),
    )
