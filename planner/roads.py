"""Travel times along the streets: points snapped to a street graph, Dijkstra between them.

`snap_points` joins points (H3 cell centres) to the nearest usable node of a
`planner.street_graph.StreetGraph`'s main part, and `road_matrix` runs Dijkstra's algorithm
(``scipy.sparse.csgraph``) from the snapped nodes to fill a `planner.travel.TravelMatrix`,
with the street geometry of every trip for the map.

Routing uses the largest strongly connected component of the graph: inside it every node can
reach every other, so a matrix over snapped points never holds ``inf``. A point next to a
cut-off piece of street (a one-way stub at the edge of the extract, a car park) or too far
from any street is reported, never a crash.

The graph itself (`load_street_graph`, `StreetGraph`, `HIGHWAY_SPEEDS_KMH`,
`NO_SNAP_HIGHWAYS`) lives in ``planner.street_graph`` and is re-exported here.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from planner._arrays import FloatArray, IntArray
from planner.errors import InvalidTravelParameterError, RoadNetworkError
from planner.street_graph import (
    HIGHWAY_SPEEDS_KMH,
    NO_SNAP_HIGHWAYS,
    StreetGraph,
    load_street_graph,
)
from planner.travel import (
    EARTH_RADIUS_M,
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


# An H3 resolution-9 cell centre lies at most 174 m (the cell's circumradius) from a street
# that crosses the cell, and street nodes in a city grid are rarely more than ~100 m apart, so
# 300 m keeps every cell with a street through or beside it; a point farther from every usable
# node (a lake, a rail yard, a point outside the extract) is reported unreachable.
DEFAULT_MAX_SNAP_M = 300.0

# Sources (rows) per Dijkstra call, as a budget of rows x graph nodes: every batch holds a few
# float64 arrays of that size, so 2**21 keeps each near 16 MiB whatever the graph's size.
_BATCH_CELLS = 2**21

# Way geometry cached per source node by TravelMatrix.path: one Dijkstra tree per source.
_PATH_TREES_CACHED = 64


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


def _network_matrices(network: _MainNetwork, sources: IntArray) -> tuple[FloatArray, FloatArray]:
    """Seconds and metres of the fastest street routes between ``sources`` (local nodes)."""
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
    return net_seconds, net_metres


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
    graph, lon, lat
        As for `snap_points`.
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
    net_seconds, net_metres = _network_matrices(network, sources)

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
