"""Management grids: split a set of H3 cells into compact, contiguous groups for grid workers.

In grid management (网格化管理) each grid worker looks after one small "grid" of the city.
:func:`generate_grids` draws such grids from H3 cells; :func:`grids_to_polygons` turns any
``[area_id, cell]`` table into outlines for maps.

Algorithm of :func:`generate_grids`
-----------------------------------
1. Cells are nodes of the H3 neighbour graph (``grid_disk(cell, 1)``) restricted to the
   input; cell centres are projected to local metres (equirectangular about the mean
   latitude, exact enough at city scale).
2. Each connected component of that graph gets ``round(size / target_cells)`` grids.
   Components too small for one grid (islands, enclaves, a cell cut off along a river) are
   *fragments*: each joins the grid that owns the input cell nearest to it, so a grid is
   contiguous within every component but may also hold such fragments. When every
   component is a fragment, the largest one is made a grid.
3. In a component with ``k`` grids, ``k`` seed cells are spread out k-means++ style
   (first seed uniform, later ones with probability proportional to squared distance to
   the nearest seed) with ``numpy.random.default_rng(seed)``.
4. All grids grow at once from their seeds over the neighbour graph: a priority queue
   hands out the unassigned cell with the smallest ``squared distance to the centre of an
   adjacent grid - that grid's weight``, and a grid stops taking cells at
   ``ceil(CAPACITY_FACTOR * size / k)``. Cells walled in by full grids then join the
   smallest adjacent grid. Every grid grows from one cell through neighbours, so it is
   contiguous by construction.
5. Lloyd-style rounds: each grid's centre moves to the mean of its cells, its seed to its
   cell nearest that centre, and its weight (an additive, power-diagram weight, in m²)
   rises when the grid came out smaller than the mean and falls when larger; step 4 is
   repeated until the assignment stops changing or after ``LLOYD_ROUNDS`` rounds.
6. Rebalancing: while a grid is more than ``SIZE_BAND`` off the mean size, border cells
   move to it from a neighbouring grid at least two cells bigger (or from it to a
   smaller neighbour), nearest-to-centre first, skipping moves that would split the giver.
7. Grids are numbered in reading order of their centres, north to south in bands one grid
   high, then west to east: ``G001`` is in the north-west corner, the last in the
   south-east.

Everything is deterministic for a given seed: ties in the queue break on the cell id and
components are processed in order of their smallest cell id.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence

import geopandas as gpd
import h3.api.basic_int as h3_int
import numpy as np
import pandas as pd
import shapely.geometry
from h3ronpy import cells_resolution, cells_valid
from h3ronpy.vector import cells_to_coordinates
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from geo.checks import EARTH_RADIUS_M, check_whole
from geo.errors import GeoError, InvalidResolutionError

__all__ = [
    "generate_grids",
    "grids_to_polygons",
]

# Tuning of generate_grids, chosen on Chicago's resolution-9 cover (5,629 cells, targets 30,
# 50 and 200 cells, seeds 0-2): fewer rounds or a larger step leave more grids below 0.7x.
#: A grid stops growing at this multiple of its component's mean grid size.
CAPACITY_FACTOR = 1.2
#: Upper bound on the re-centring rounds.
LLOYD_ROUNDS = 20
#: Share of a typical grid's squared radius added to a grid's weight per unit of relative
#: size shortfall, each round.
BALANCE_STEP = 0.5
#: Relative distance from the mean size beyond which rebalancing moves border cells.
SIZE_BAND = 0.2


def generate_grids(
    cells: Sequence[int] | np.ndarray | pd.Series,
    target_cells: int,
    seed: int,
    prefix: str = "G",
) -> pd.DataFrame:
    """Split H3 cells into compact, contiguous grids of about ``target_cells`` cells.

    See the module docstring for the algorithm.

    Parameters
    ----------
    cells
        Cell ids (int64 or uint64) of one resolution, e.g. the ``"center"`` cover of a
        city's urban core. Duplicates are ignored.
    target_cells
        Wanted cells per grid (at least 1). Sizes vary around it: on Chicago's 5,629
        resolution-9 cells (targets 30, 50, 200; seeds 0-2) every grid held 0.73 to 1.26
        times the target, most within 0.8 to 1.2. Fragments (module docstring) add to a grid.
    seed
        Seed of the random number generator that places the first seeds.
    prefix
        Text before the zero-padded grid number (at least three digits).

    Returns
    -------
    pandas.DataFrame
        Columns ``area_id`` (str, e.g. ``"G001"``) and ``cell`` (int64), one row per
        distinct input cell, sorted by ``area_id`` then ``cell``. Empty input gives an
        empty frame.

    Raises
    ------
    GeoError
        When a value is not a valid H3 cell, or ``target_cells`` or ``seed`` is not a
        positive / non-negative integer.
    InvalidResolutionError
        When the cells are of different resolutions.
    """
    check_whole(target_cells, "target_cells", minimum=1)
    check_whole(seed, "seed", minimum=0)
    cells = np.unique(_validated_cells(cells, name="cells"))
    if cells.size == 0:
        return _empty_area_cells()

    xy = _projected_centres(cells)
    neighbours = _neighbour_lists(cells)
    graph = _adjacency_matrix(neighbours, cells.size)
    n_components, component_of = connected_components(graph, directed=False)
    sizes = np.bincount(component_of, minlength=n_components)
    grids_per_component = np.rint(sizes / target_cells).astype(np.int64)
    if not grids_per_component.any():
        grids_per_component[np.argmax(sizes)] = 1

    rng = np.random.default_rng(seed)
    labels = np.full(cells.size, -1, dtype=np.int64)
    n_grids = 0
    # Labels of connected_components follow the first node reached, i.e. smallest cell id.
    for component in range(n_components):
        k = int(grids_per_component[component])
        if k == 0:
            continue
        nodes = np.flatnonzero(component_of == component)
        local = _partition_component(nodes, k, xy, neighbours, rng)
        labels[nodes] = local + n_grids
        n_grids += k

    fragments = labels < 0
    if fragments.any():
        # Each fragment cell joins the grid of the nearest assigned cell, measured from
        # the cell of the fragment closest to any grid so a fragment is never split.
        assigned = np.flatnonzero(~fragments)
        tree = cKDTree(xy[assigned])
        distance, nearest = tree.query(xy[fragments])
        fragment_cells = np.flatnonzero(fragments)
        for component in np.unique(component_of[fragment_cells]):
            in_component = component_of[fragment_cells] == component
            closest = int(np.argmin(np.where(in_component, distance, np.inf)))
            labels[fragment_cells[in_component]] = labels[assigned[nearest[closest]]]

    order = _reading_order(labels, n_grids, xy, _spacing_m(xy, neighbours), target_cells)
    width = max(3, len(str(n_grids)))
    names = np.array([f"{prefix}{rank + 1:0{width}d}" for rank in range(n_grids)], dtype=object)
    rank_of_label = np.empty(n_grids, dtype=np.int64)
    rank_of_label[order] = np.arange(n_grids)
    result = pd.DataFrame(
        {
            "area_id": pd.array(names[rank_of_label[labels]], dtype="str"),
            "cell": cells,
        }
    )
    return result.sort_values(["area_id", "cell"], ignore_index=True)


def grids_to_polygons(area_cells: pd.DataFrame) -> gpd.GeoDataFrame:
    """Outline each area of an ``[area_id, cell]`` table as the union of its cell hexagons.

    Parameters
    ----------
    area_cells
        Frame with columns ``area_id`` and ``cell`` (int64 or uint64), as from
        :func:`generate_grids` or ``geo.boundaries.cells_from_polygons``.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``area_id`` (str), ``n_cells`` (int64, distinct cells) and ``geometry``
        (Polygon, or MultiPolygon for an area in pieces), CRS EPSG:4326, in order of each
        area's first row.

    Raises
    ------
    GeoError
        When a column is missing or a value is not a valid H3 cell.
    """
    missing = {"area_id", "cell"} - set(area_cells.columns)
    if missing:
        raise GeoError(
            f"area_cells lacks column(s) {sorted(missing)}; columns are {list(area_cells.columns)}"
        )
    cells = _validated_cells(area_cells["cell"], name="area_cells['cell']")
    table = pd.DataFrame({"area_id": area_cells["area_id"].astype("str").to_numpy(), "cell": cells})
    area_ids: list[str] = []
    counts: list[int] = []
    geometries = []
    for area_id, group in table.groupby("area_id", sort=False):
        unique = np.unique(group["cell"].to_numpy())
        shape = h3_int.cells_to_h3shape(unique.tolist(), tight=True)
        area_ids.append(str(area_id))
        counts.append(int(unique.size))
        geometries.append(shapely.geometry.shape(shape.__geo_interface__))
    return gpd.GeoDataFrame(
        {
            "area_id": pd.array(area_ids, dtype="str"),
            "n_cells": np.asarray(counts, dtype=np.int64),
        },
        geometry=geometries,
        crs="EPSG:4326",
    )


def _partition_component(
    nodes: np.ndarray,
    k: int,
    xy: np.ndarray,
    neighbours: list[list[int]],
    rng: np.random.Generator,
) -> np.ndarray:
    """Split one connected component into ``k`` contiguous regions; return local labels."""
    if k == 1:
        return np.zeros(nodes.size, dtype=np.int64)
    points = xy[nodes]
    seeds = _spread_seeds(points, k, rng)
    centres = points[seeds]
    capacity = math.ceil(CAPACITY_FACTOR * nodes.size / k)
    position = {int(node): index for index, node in enumerate(nodes)}
    local_neighbours = [[position[other] for other in neighbours[node]] for node in nodes]
    labels = np.full(nodes.size, -1, dtype=np.int64)
    weights = np.zeros(k)
    mean_size = nodes.size / k
    spread = mean_size * _spacing_m(points, local_neighbours) ** 2 / math.pi
    for _ in range(LLOYD_ROUNDS):
        new_labels = _grow_regions(points, local_neighbours, seeds, centres, capacity, weights)
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
        seeds, centres = _recentre(points, labels, k)
        sizes = np.bincount(labels, minlength=k)
        weights = weights + BALANCE_STEP * spread * (mean_size - sizes) / mean_size
    return _rebalance(points, local_neighbours, labels, k)


def _spread_seeds(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Pick ``k`` distinct seed rows k-means++ style."""
    seeds = [int(rng.integers(points.shape[0]))]
    nearest_d2 = ((points - points[seeds[0]]) ** 2).sum(axis=1)
    for _ in range(1, k):
        total = nearest_d2.sum()
        if total > 0:
            chosen = int(rng.choice(points.shape[0], p=nearest_d2 / total))
        else:
            free = np.setdiff1d(np.arange(points.shape[0]), seeds)
            chosen = int(rng.choice(free))
        seeds.append(chosen)
        nearest_d2 = np.minimum(nearest_d2, ((points - points[chosen]) ** 2).sum(axis=1))
    return np.asarray(seeds, dtype=np.int64)


def _grow_regions(
    points: np.ndarray,
    neighbours: list[list[int]],
    seeds: np.ndarray,
    centres: np.ndarray,
    capacity: int,
    weights: np.ndarray,
) -> np.ndarray:
    """Grow all regions at once from their seeds, nearest-to-centre first, up to capacity."""
    xs = points[:, 0].tolist()
    ys = points[:, 1].tolist()
    centre_x = centres[:, 0].tolist()
    centre_y = centres[:, 1].tolist()
    bonus = weights.tolist()
    labels = [-1] * len(xs)
    sizes = [0] * len(seeds)
    queue: list[tuple[float, int, int]] = []

    def take(node: int, region: int) -> None:
        labels[node] = region
        sizes[region] += 1
        cx, cy, w = centre_x[region], centre_y[region], bonus[region]
        for other in neighbours[node]:
            if labels[other] < 0:
                d2 = (xs[other] - cx) ** 2 + (ys[other] - cy) ** 2
                heapq.heappush(queue, (d2 - w, other, region))

    for region, node in enumerate(seeds.tolist()):
        take(node, region)
    while queue:
        _, node, region = heapq.heappop(queue)
        if labels[node] < 0 and sizes[region] < capacity:
            take(node, region)

    # Cells walled in by full regions join the smallest adjacent region, layer by layer.
    left = [node for node, label in enumerate(labels) if label < 0]
    while left:
        joined = []
        for node in left:
            adjacent = {labels[other] for other in neighbours[node] if labels[other] >= 0}
            if adjacent:
                region = min(adjacent, key=lambda r: (sizes[r], r))
                joined.append((node, region))
        for node, region in joined:
            labels[node] = region
            sizes[region] += 1
        left = [node for node in left if labels[node] < 0]
    return np.asarray(labels, dtype=np.int64)


def _rebalance(
    points: np.ndarray, neighbours: list[list[int]], labels: np.ndarray, k: int
) -> np.ndarray:
    """Move border cells from bigger to smaller adjacent regions until sizes are in band.

    Each move goes from a region at least two cells bigger than the receiver, so the sum
    of squared sizes falls and the loop ends; a move that would split the giver is skipped.
    """
    label_of: list[int] = labels.tolist()
    members: list[set[int]] = [set() for _ in range(k)]
    for node, region in enumerate(label_of):
        members[region].add(node)
    mean_size = len(label_of) / k
    low, high = (1 - SIZE_BAND) * mean_size, (1 + SIZE_BAND) * mean_size
    stuck: set[int] = set()
    while True:
        sizes = [len(cells) for cells in members]
        outside = [r for r in range(k) if r not in stuck and not low <= sizes[r] <= high]
        if not outside:
            break
        region = max(outside, key=lambda r: (abs(sizes[r] - mean_size), -r))
        centre: np.ndarray = points[sorted(members[region])].mean(axis=0)
        if sizes[region] < low:
            # Take the neighbouring cell closest to this region's centre.
            options = sorted(
                {
                    other
                    for node in members[region]
                    for other in neighbours[node]
                    if label_of[other] != region and sizes[label_of[other]] >= sizes[region] + 2
                },
                key=lambda node: (float(((points[node] - centre) ** 2).sum()), node),
            )
            moves: list[tuple[int, int, int]] = [(node, label_of[node], region) for node in options]
        else:
            # Give away the border cell farthest from this region's centre.
            options = sorted(
                {
                    node
                    for node in members[region]
                    if any(
                        label_of[other] != region and sizes[label_of[other]] <= sizes[region] - 2
                        for other in neighbours[node]
                    )
                },
                key=lambda node: (-float(((points[node] - centre) ** 2).sum()), node),
            )
            moves = []
            for node in options:
                receivers = [
                    label_of[other]
                    for other in neighbours[node]
                    if label_of[other] != region and sizes[label_of[other]] <= sizes[region] - 2
                ]
                moves.append((node, region, min(receivers, key=lambda r: (sizes[r], r))))
        for node, giver, receiver in moves:
            if _stays_connected(members[giver] - {node}, neighbours):
                members[giver].discard(node)
                members[receiver].add(node)
                label_of[node] = receiver
                break
        else:
            stuck.add(region)
    return np.asarray(label_of, dtype=np.int64)


def _stays_connected(cells: set[int], neighbours: list[list[int]]) -> bool:
    """Tell whether a non-empty set of cells is connected over the neighbour graph."""
    if not cells:
        return False
    start = next(iter(cells))
    seen = {start}
    stack = [start]
    while stack:
        node = stack.pop()
        for other in neighbours[node]:
            if other in cells and other not in seen:
                seen.add(other)
                stack.append(other)
    return len(seen) == len(cells)


def _recentre(points: np.ndarray, labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Return each region's member nearest its mean, and the means."""
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    centres = np.column_stack(
        [
            np.bincount(labels, weights=points[:, 0], minlength=k) / counts,
            np.bincount(labels, weights=points[:, 1], minlength=k) / counts,
        ]
    )
    d2 = ((points - centres[labels]) ** 2).sum(axis=1)
    order = np.lexsort((d2, labels))
    first = np.ones(order.size, dtype=bool)
    first[1:] = labels[order][1:] != labels[order][:-1]
    seeds = np.empty(k, dtype=np.int64)
    seeds[labels[order][first]] = order[first]
    return seeds, centres


def _reading_order(
    labels: np.ndarray, n_grids: int, xy: np.ndarray, spacing_m: float, target_cells: int
) -> np.ndarray:
    """Return grid labels sorted north to south in bands one grid high, then west to east."""
    counts = np.bincount(labels, minlength=n_grids)
    centre_x = np.bincount(labels, weights=xy[:, 0], minlength=n_grids) / counts
    centre_y = np.bincount(labels, weights=xy[:, 1], minlength=n_grids) / counts
    band_height_m = spacing_m * math.sqrt(target_cells)
    band = np.floor((centre_y.max() - centre_y) / band_height_m)
    return np.lexsort((centre_x, band))


def _spacing_m(xy: np.ndarray, neighbours: list[list[int]]) -> float:
    """Return the median distance between neighbouring cell centres (1 for lone cells)."""
    pairs = [(node, other) for node, others in enumerate(neighbours) for other in others[:1]]
    if not pairs:
        return 1.0
    a, b = np.asarray(pairs).T
    return float(np.median(np.hypot(*(xy[a] - xy[b]).T)))


def _projected_centres(cells: np.ndarray) -> np.ndarray:
    """Return cell centres as x/y metres, equirectangular about their mean latitude."""
    coordinates = cells_to_coordinates(cells.view(np.uint64))
    lat = np.radians(np.asarray(coordinates["lat"]))
    lng = np.radians(np.asarray(coordinates["lng"]))
    return np.column_stack(
        [EARTH_RADIUS_M * lng * math.cos(float(lat.mean())), EARTH_RADIUS_M * lat]
    )


def _neighbour_lists(cells: np.ndarray) -> list[list[int]]:
    """Return, for each cell, the positions of its neighbours among ``cells`` (sorted)."""
    position = {cell: index for index, cell in enumerate(cells.tolist())}
    result = []
    for cell in cells.tolist():
        others = (position.get(other) for other in h3_int.grid_disk(cell, 1) if other != cell)
        result.append(sorted(index for index in others if index is not None))
    return result


def _adjacency_matrix(neighbours: list[list[int]], n: int) -> csr_matrix:
    """Return the neighbour lists as a sparse adjacency matrix."""
    rows = np.repeat(np.arange(n), [len(others) for others in neighbours])
    cols = np.fromiter((other for others in neighbours for other in others), dtype=np.int64)
    return csr_matrix((np.ones(rows.size, dtype=np.int8), (rows, cols)), shape=(n, n))


def _validated_cells(cells: Sequence[int] | np.ndarray | pd.Series, name: str) -> np.ndarray:
    """Return cells as int64, checking they are valid H3 cells of one resolution."""
    array = np.asarray(cells)
    if array.size == 0:
        return np.empty(0, dtype=np.int64)
    if array.dtype == np.uint64:
        array = array.view(np.int64)
    elif not np.issubdtype(array.dtype, np.integer):
        raise GeoError(f"{name} must be integer H3 cell ids, got dtype {array.dtype}")
    array = array.astype(np.int64, copy=False).ravel()
    valid = np.asarray(cells_valid(array.view(np.uint64), booleanarray=True))
    if not valid.all():
        bad = int(array[np.flatnonzero(~valid)[0]])
        raise GeoError(f"{name} holds {int((~valid).sum())} invalid H3 cell id(s), e.g. {bad}")
    resolutions = np.unique(np.asarray(cells_resolution(array.view(np.uint64))))
    if resolutions.size > 1:
        raise InvalidResolutionError(
            f"{name} mixes H3 resolutions {resolutions.tolist()}; use cells of one resolution"
        )
    return array


def _empty_area_cells() -> pd.DataFrame:
    """Return an empty ``[area_id, cell]`` frame with the documented dtypes."""
    return pd.DataFrame({"area_id": pd.array([], dtype="str"), "cell": np.empty(0, np.int64)})
