"""Street graphs for one travel mode, built from OpenStreetMap extracts.

`load_street_graph` reads an extract (``planner.osm``) and keeps the ways a travel mode may
use (`HIGHWAY_SPEEDS_KMH`, access tags, one-way rules for cars). Every pair of consecutive
way nodes becomes a directed edge, so an edge is a straight segment and a route's geometry
is the chain of its nodes. The graph's strongly connected components are labelled: routing
(``planner.roads``) uses the largest, and nodes outside it are kept so that a point next to a
cut-off piece of street is reported as such instead of being joined to a farther street.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from planner._arrays import BoolArray, FloatArray, IntArray
from planner.errors import RoadNetworkError, UnknownModeError
from planner.osm import OsmStreets, read_osm
from planner.travel import MODE_SPEEDS_KMH, great_circle_m

__all__ = ["HIGHWAY_SPEEDS_KMH", "NO_SNAP_HIGHWAYS", "StreetGraph", "load_street_graph"]


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

# Tags whose value decides access, most specific first (the first one present wins).
_ACCESS_KEYS = {
    "car": ("motorcar", "motor_vehicle", "vehicle", "access"),
    "foot": ("foot", "access"),
}
_NO_ACCESS = frozenset({"no", "private"})
_ONEWAY_FORWARD = frozenset({"yes", "true", "1"})
_ONEWAY_BACKWARD = frozenset({"-1", "reverse"})
_TWO_WAY = frozenset({"no", "false", "0"})


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
    return _build_street_graph(read_osm(path), mode, source=str(path))


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


@dataclass(frozen=True, eq=False)
class _Segments:
    """The segments (consecutive node pairs) of the ways a mode may use.

    Ends are positions in the raw node arrays; a segment with a node missing from the file
    is left out and counted in ``missing_node_refs``.
    """

    pos_from: IntArray
    pos_to: IntArray
    way_id: IntArray
    speed_kmh: FloatArray
    forward: BoolArray
    backward: BoolArray
    snappable: BoolArray
    missing_node_refs: int


def _position_lookup(node_id: IntArray) -> Callable[[IntArray], IntArray]:
    """Return a function giving the index of OSM node ids in ``node_id`` (-1 when absent)."""
    order = np.argsort(node_id, kind="stable")
    sorted_ids = node_id[order]

    def position(refs: IntArray) -> IntArray:
        """Index of each OSM node id in the raw node arrays, -1 when the file lacks it."""
        if sorted_ids.size == 0:
            return np.full(refs.shape, -1, dtype=np.int64)
        found = np.searchsorted(sorted_ids, refs).clip(max=sorted_ids.size - 1)
        return np.where(sorted_ids[found] == refs, order[found], -1)

    return position


def _segments(
    streets: OsmStreets, mode: str, source: str, position: Callable[[IntArray], IntArray]
) -> _Segments:
    """The segments of the ways ``mode`` may use, with each way's rule per segment."""
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

    pos_from, pos_to = position(ref_from), position(ref_to)
    used_refs = np.unique(np.concatenate([ref_from, ref_to]))
    missing_node_refs = int(np.count_nonzero(position(used_refs) < 0))
    # A repeated node in a way (a data slip) would make a self-loop; a missing node leaves a
    # gap in the way rather than a guessed segment.
    keep = (pos_from >= 0) & (pos_to >= 0) & (pos_from != pos_to)
    if not keep.any():
        raise RoadNetworkError(f"{source}: the ways usable by mode {mode!r} have no nodes")

    return _Segments(
        pos_from=pos_from[keep],
        pos_to=pos_to[keep],
        way_id=way_id[keep],
        speed_kmh=np.repeat([r.speed_kmh for r in seg_rules], counts)[keep].astype(np.float64),
        forward=np.repeat([r.forward for r in seg_rules], counts)[keep].astype(bool),
        backward=np.repeat([r.backward for r in seg_rules], counts)[keep].astype(bool),
        snappable=np.repeat([r.snappable for r in seg_rules], counts)[keep].astype(bool),
        missing_node_refs=missing_node_refs,
    )


def _build_street_graph(streets: OsmStreets, mode: str, source: str) -> StreetGraph:
    """Turn raw nodes and ways into a directed graph for ``mode``."""
    position = _position_lookup(streets.node_id)
    seg = _segments(streets, mode, source, position)
    forward, backward, way_id = seg.forward, seg.backward, seg.way_id

    # Renumber to the nodes the kept segments use, in OSM id order.
    used, inverse = np.unique(
        streets.node_id[np.concatenate([seg.pos_from, seg.pos_to])], return_inverse=True
    )
    node_from, node_to = np.split(inverse.astype(np.int64), 2)
    node_pos = position(used)
    lon, lat = streets.lon[node_pos], streets.lat[node_pos]
    snappable = np.zeros(used.size, dtype=bool)
    snappable[node_from[seg.snappable]] = True
    snappable[node_to[seg.snappable]] = True

    metres = great_circle_m(lon[node_from], lat[node_from], lon[node_to], lat[node_to])
    seconds = metres / (seg.speed_kmh / 3.6)
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
        missing_node_refs=seg.missing_node_refs,
        source=source,
    )
