"""Tests for planner/roads.py (with planner/street_graph.py and planner/osm.py): OSM street graphs,
snapping and road travel-time matrices."""

from __future__ import annotations

import heapq
import math
import subprocess
import sys
from pathlib import Path

import h3
import numpy as np
import pytest

from planner.roads import (
    HIGHWAY_SPEEDS_KMH,
    RoadNetworkError,
    StreetGraph,
    load_street_graph,
    road_matrix,
    snap_points,
)
from planner.travel import (
    EARTH_RADIUS_M,
    MODE_SPEEDS_KMH,
    InvalidTravelParameterError,
    TravelMatrix,
    UnknownModeError,
    great_circle_m,
)

ROADS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "roads" / "chicago"
LOGAN_SQUARE = ROADS / "chicago_logan_square_avondale.osm"
# <bounds> of the extract (PROVENANCE.md)
SOUTH, WEST, NORTH, EAST = 41.9247, -87.7272, 41.9429, -87.7026
LOOP = (-87.6298, 41.8781)  # downtown, 8 km south-east of the extract


# --- the hand-made network ----------------------------------------------------------------
#
#   D (0.001, 0.001) <-- E (0.002, 0.001)      way 2: C -> E -> D, one-way, residential
#   |                    ^
#   | way 3 (service)    |
#   |                    |
#   A ------- B -------- C                     way 1: A - B - C, residential
#  (0,0)  (0.001,0)  (0.002,0)                 way 3: D - B, service, two-way
#
# On the equator 0.001 degree is U metres both ways (cos(0.001 degree) = 1 - 1.5e-10).
U = math.radians(0.001) * EARTH_RADIUS_M
RESIDENTIAL_MPS = HIGHWAY_SPEEDS_KMH["car"]["residential"] / 3.6
SERVICE_MPS = HIGHWAY_SPEEDS_KMH["car"]["service"] / 3.6
NODES = {"A": (0.0, 0.0), "B": (0.001, 0.0), "C": (0.002, 0.0), "D": (0.001, 0.001),
         "E": (0.002, 0.001)}  # fmt: skip
ORDER = "ABCDE"


def _osm_xml(ways: list[tuple[int, str, dict[str, str]]], nodes: dict[str, tuple]) -> str:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    for k, (lon, lat) in enumerate(nodes.values(), start=1):
        lines.append(f'  <node id="{k}" lat="{lat}" lon="{lon}"/>')
    ids = {name: k for k, name in enumerate(nodes, start=1)}
    ids["missing"] = 99
    for way_id, names, tags in ways:
        lines.append(f'  <way id="{way_id}">')
        lines += [f'    <nd ref="{ids[n]}"/>' for n in names.split()]
        lines += [f'    <tag k="{k}" v="{v}"/>' for k, v in tags.items()]
        lines.append("  </way>")
    lines.append("</osm>")
    return "\n".join(lines)


def _small_network(
    tmp_path: Path, oneway: str = "yes", extra: dict[str, dict[str, str]] | None = None
) -> Path:
    # oneway=-1 with the nodes listed backwards means the same direction, C -> E -> D.
    one_way_nodes = "C E D" if oneway == "yes" else "D E C"
    ways = [
        (1, "A B C", {"highway": "residential"}),
        (2, one_way_nodes, {"highway": "residential", "oneway": oneway}),
        (3, "D B", {"highway": "service", "service": "alley"}),
    ]
    ways += [(10 + k, nodes, tags) for k, (nodes, tags) in enumerate((extra or {}).items())]
    path = tmp_path / "small.osm"
    path.write_text(_osm_xml(ways, NODES), encoding="utf-8")
    return path


def _small_matrix(path: Path, mode: str = "car") -> TravelMatrix:
    lon, lat = np.array([NODES[n] for n in ORDER]).T
    return road_matrix(load_street_graph(path, mode=mode), lon, lat)


@pytest.mark.parametrize("oneway", ["yes", "-1"])
def test_small_network_gives_the_hand_computed_car_times(tmp_path, oneway) -> None:
    matrix = _small_matrix(_small_network(tmp_path, oneway))
    r, s = U / RESIDENTIAL_MPS, U / SERVICE_MPS  # seconds per residential / service block
    expected = {
        "AB": r, "BA": r, "AC": 2 * r, "CA": 2 * r,
        "CD": 2 * r,  # C -> E -> D along the one-way street beats C -> B -> D (r + s)
        "DC": s + r,  # D -> E is against the one-way: back through the alley, D -> B -> C
        "AE": 3 * r,  # A -> B -> C -> E: the alley would lead to D, which cannot reach E
        "EA": 2 * r + s,  # E -> D -> B -> A
        "DA": s + r, "AD": r + s, "EC": r + s + r, "CE": r,
    }  # fmt: skip
    for pair, seconds in expected.items():
        i, j = ORDER.index(pair[0]), ORDER.index(pair[1])
        assert matrix.seconds[i, j] == pytest.approx(seconds, rel=1e-9), pair
    assert matrix.metres[ORDER.index("E"), 0] == pytest.approx(3 * U, rel=1e-9)
    assert matrix.metres[ORDER.index("D"), ORDER.index("C")] == pytest.approx(2 * U, rel=1e-9)
    np.testing.assert_allclose(matrix.snap_m, 0.0, atol=1e-6)
    assert matrix.unreachable == ()
    e, a = ORDER.index("E"), ORDER.index("A")
    assert matrix.path(e, a) == [NODES["E"], NODES["D"], NODES["B"], NODES["A"]]


def test_small_network_on_foot_ignores_one_way(tmp_path) -> None:
    matrix = _small_matrix(_small_network(tmp_path), mode="foot")
    walk = U / (MODE_SPEEDS_KMH["foot"] / 3.6)
    d, c = ORDER.index("D"), ORDER.index("C")
    assert matrix.seconds[d, c] == pytest.approx(2 * walk, rel=1e-9)
    np.testing.assert_allclose(matrix.seconds, matrix.seconds.T, rtol=1e-9)
    assert matrix.mode == "foot"


def test_graph_counts_and_edges_of_the_small_network(tmp_path) -> None:
    graph = load_street_graph(_small_network(tmp_path))
    assert graph.node_count == 5
    # way 1: 2 segments x 2 directions, way 2: 2 segments one way, way 3: 1 x 2
    assert graph.edge_count == 8
    assert sorted(set(graph.edge_way_id.tolist())) == [1, 2, 3]
    assert graph.in_main.all()
    assert graph.missing_node_refs == 0
    np.testing.assert_allclose(graph.edge_metres, U, rtol=1e-9)


def test_an_isolated_one_way_stub_is_cut_off(tmp_path) -> None:
    # F -> G is a one-way street leading nowhere: its nodes are their own components.
    nodes = NODES | {"F": (0.003, 0.0), "G": (0.004, 0.0)}
    ways = [(1, "A B C", {"highway": "residential"}),
            (4, "F G", {"highway": "residential", "oneway": "yes"})]  # fmt: skip
    path = tmp_path / "stub.osm"
    path.write_text(_osm_xml(ways, nodes), encoding="utf-8")
    graph = load_street_graph(path)
    assert graph.node_count == 5
    assert int(graph.in_main.sum()) == 3
    matrix = road_matrix(graph, [0.0, 0.004], [0.0, 0.0], max_snap_m=50.0)
    assert [(u.index, u.cause) for u in matrix.unreachable] == [(1, "cut_off")]
    assert "cut off from the main one" in matrix.unreachable[0].detail
    assert np.isinf(matrix.seconds[0, 1]) and np.isinf(matrix.seconds[1, 0])
    assert matrix.seconds[1, 1] == 0.0
    assert matrix.path(0, 1) == []
    # With a longer snap leg the point reaches the main network instead.
    assert road_matrix(graph, [0.0, 0.004], [0.0, 0.0], max_snap_m=500.0).unreachable == ()


@pytest.mark.parametrize(
    ("tags", "car_edges", "foot_edges"),
    [
        ({"highway": "footway"}, 0, 2),
        ({"highway": "motorway"}, 1, 0),  # a motorway is one-way unless tagged otherwise
        ({"highway": "motorway", "oneway": "no"}, 2, 0),
        ({"highway": "residential", "access": "private"}, 0, 0),
        ({"highway": "residential", "motor_vehicle": "no"}, 0, 2),
        ({"highway": "primary", "foot": "no"}, 2, 0),
        ({"highway": "residential", "oneway": "reversible"}, 0, 2),
        ({"highway": "residential", "junction": "roundabout"}, 1, 2),
        ({"highway": "pedestrian", "area": "yes"}, 0, 0),
        ({"highway": "proposed"}, 0, 0),
    ],
)
def test_which_ways_each_mode_may_use(tmp_path, tags, car_edges, foot_edges) -> None:
    path = _small_network(tmp_path, extra={"A E": tags})  # a diagonal extra way, way 10
    for mode, expected in (("car", car_edges), ("foot", foot_edges)):
        graph = load_street_graph(path, mode=mode)
        assert int(np.count_nonzero(graph.edge_way_id == 10)) == expected, mode


def test_points_do_not_snap_to_motorway_nodes(tmp_path) -> None:
    # X sits on a motorway far from the grid; a point on it snaps to the grid instead.
    nodes = NODES | {"X": (0.002, 0.003)}
    ways = [(1, "A B C", {"highway": "residential"}),
            (2, "C X A", {"highway": "motorway", "oneway": "no"})]  # fmt: skip
    path = tmp_path / "motorway.osm"
    path.write_text(_osm_xml(ways, nodes), encoding="utf-8")
    graph = load_street_graph(path)
    assert graph.snappable.sum() == 3
    snapped = snap_points(graph, [0.002], [0.003], max_snap_m=1000.0)
    assert graph.node_id[snapped.node[0]] == 3  # C, the nearest residential node
    assert snapped.snap_m[0] == pytest.approx(3 * U, rel=1e-6)


def test_missing_nodes_leave_a_gap_not_a_crash(tmp_path) -> None:
    path = _small_network(tmp_path, extra={"C missing E": {"highway": "residential"}})
    graph = load_street_graph(path)
    assert graph.missing_node_refs == 1
    assert not (graph.edge_way_id == 10).any()


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("empty.osm", "", "the file is empty"),
        ("broken.osm", "<osm><node id='1'", "not well-formed XML"),
        ("other.osm", "<gpx></gpx>", "not OSM XML"),
        ("noid.osm", "<osm><node lat='1' lon='2'/></osm>", "lacks the attribute 'id'"),
        ("badid.osm", "<osm><node id='x' lat='1' lon='2'/></osm>", "is not a number"),
        ("bad.osm.pbf", "garbage" * 100, "cannot read as .osm.pbf"),
        ("roads.csv", "a,b", "expected an .osm"),
        ("paths.osm", _osm_xml([(1, "A B", {"highway": "footway"})], NODES),
         "no way that mode 'car' may use"),
        ("ghost.osm", _osm_xml([(1, "missing missing", {"highway": "residential"})], {}),
         "have no nodes"),
        ("page.osm", "<html><body>Too many requests</body></html>",
         r"page\.osm: not OSM XML \(root element <html>\)$"),
        ("nan.osm", "<osm><node id='7' lat='nan' lon='2'/></osm>",
         r"node 7 has lon=2\.0, lat=nan, not a longitude"),
        ("far.osm", "<osm><node id='7' lat='1' lon='2'/><node id='8' lat='139' lon='2'/></osm>",
         r"node 8 has lon=2\.0, lat=139\.0, not a longitude .* \(1 such node"),
        ("twice.osm", "<osm><node id='7' lat='1' lon='2'/><node id='7' lat='3' lon='4'/></osm>",
         "node id 7 is given more than once"),
        ("huge.osm", "<osm><node id='99999999999999999999' lat='1' lon='2'/></osm>",
         "an id is larger than a 64-bit OSM id"),
    ],
)  # fmt: skip
def test_unusable_files_raise_road_network_error(tmp_path, name, text, message) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RoadNetworkError, match=message):
        load_street_graph(path)


def test_bad_arguments_raise(tmp_path) -> None:
    with pytest.raises(RoadNetworkError, match="file not found"):
        load_street_graph(tmp_path / "nowhere.osm")
    path = _small_network(tmp_path)
    with pytest.raises(UnknownModeError, match="mode must be one of"):
        load_street_graph(path, mode="boat")
    graph = load_street_graph(path)
    with pytest.raises(RoadNetworkError, match="load the street graph with mode='foot'"):
        road_matrix(graph, [0.0], [0.0], mode="foot")
    with pytest.raises(InvalidTravelParameterError, match="max_snap_m"):
        snap_points(graph, [0.0], [0.0], max_snap_m=-1.0)
    with pytest.raises(InvalidTravelParameterError, match="speed_kmh"):
        road_matrix(graph, [0.0], [0.0], snap_speed_kmh=0.0)


def test_no_points_give_an_empty_matrix(tmp_path) -> None:
    matrix = road_matrix(load_street_graph(_small_network(tmp_path)), [], [])
    assert matrix.seconds.shape == (0, 0)
    assert matrix.unreachable == ()


# --- the Chicago extract ------------------------------------------------------------------


@pytest.fixture(scope="module")
def car_graph() -> StreetGraph:
    return load_street_graph(LOGAN_SQUARE, mode="car")


@pytest.fixture(scope="module")
def cell_centres() -> np.ndarray:
    """(lon, lat) of the 21 resolution-9 cells whose centres lie ~200 m inside the bounds."""
    inset_lat, inset_lon = 0.0025, 0.0025 / math.cos(math.radians(SOUTH))
    south, north = SOUTH + inset_lat, NORTH - inset_lat
    west, east = WEST + inset_lon, EAST - inset_lon
    box = h3.LatLngPoly([(south, west), (south, east), (north, east), (north, west)])
    cells = sorted(h3.polygon_to_cells(box, 9))
    return np.array([h3.cell_to_latlng(c)[::-1] for c in cells])


@pytest.fixture(scope="module")
def chicago_matrix(car_graph: StreetGraph, cell_centres: np.ndarray) -> TravelMatrix:
    return road_matrix(car_graph, cell_centres[:, 0], cell_centres[:, 1])


def test_chicago_graph_has_plausible_size(car_graph: StreetGraph) -> None:
    # PROVENANCE.md: 1,984 nodes, 258 highway ways; osmnx keeps 709 nodes after merging the
    # chains of degree-2 nodes, which this graph keeps as they are.
    assert 1_200 < car_graph.node_count < 1_984
    assert 2.0 < car_graph.edge_count / car_graph.node_count < 3.0
    assert car_graph.in_main.mean() > 0.85
    assert car_graph.missing_node_refs == 0
    assert (car_graph.edge_metres > 0).all() and (car_graph.edge_metres < 2_000).all()
    foot = load_street_graph(LOGAN_SQUARE, mode="foot")
    # On foot nothing is one-way, so nothing is cut off; the expressway is left out.
    assert foot.in_main.all()
    assert foot.node_count < car_graph.node_count


def test_chicago_matrix_is_finite_and_no_shorter_than_the_straight_line(
    chicago_matrix: TravelMatrix, cell_centres: np.ndarray
) -> None:
    n = len(cell_centres)
    assert 18 <= n <= 25
    assert chicago_matrix.unreachable == ()
    assert np.isfinite(chicago_matrix.seconds).all()
    assert (chicago_matrix.snap_m < 200).all()
    lon, lat = cell_centres.T
    straight_m = great_circle_m(lon[:, None], lat[:, None], lon[None, :], lat[None, :])
    assert (chicago_matrix.metres >= straight_m - 1e-6).all()
    fastest_mps = max(HIGHWAY_SPEEDS_KMH["car"].values()) / 3.6
    assert (chicago_matrix.seconds >= straight_m / fastest_mps - 1e-6).all()
    off_diagonal = ~np.eye(n, dtype=bool)
    circuity = chicago_matrix.metres[off_diagonal] / straight_m[off_diagonal]
    assert 1.0 < np.median(circuity) < 1.6


def test_one_way_streets_make_some_trips_asymmetric(chicago_matrix: TravelMatrix) -> None:
    gap = np.abs(chicago_matrix.seconds - chicago_matrix.seconds.T)
    assert (gap > 5.0).sum() >= 10


def test_matrix_matches_an_independent_dijkstra(
    car_graph: StreetGraph, chicago_matrix: TravelMatrix
) -> None:
    snapped = snap_points(car_graph, *chicago_matrix.points.T)
    assert car_graph.snappable[snapped.node].all()  # no cell joins the expressway
    leg_s = snapped.snap_m / (MODE_SPEEDS_KMH["car"] / 3.6)
    for i in (0, 7, 15):
        seconds = _heap_dijkstra(car_graph, int(snapped.node[i]))
        expected = leg_s[i] + np.array([seconds[int(k)] for k in snapped.node]) + leg_s
        expected[i] = 0.0
        np.testing.assert_allclose(chicago_matrix.seconds[i], expected, rtol=1e-9)


def test_path_follows_the_streets_and_matches_the_metres(
    car_graph: StreetGraph, chicago_matrix: TravelMatrix
) -> None:
    node_coords = set(zip(car_graph.lon.tolist(), car_graph.lat.tolist(), strict=True))
    n = chicago_matrix.points.shape[0]
    for i, j in [(0, n - 1), (n - 1, 0), (3, 11), (11, 3)]:
        path = chicago_matrix.path(i, j)
        assert path[0] == tuple(chicago_matrix.points[i])
        assert path[-1] == tuple(chicago_matrix.points[j])
        assert all(vertex in node_coords for vertex in path[1:-1])
        lon, lat = np.array(path).T
        length = great_circle_m(lon[:-1], lat[:-1], lon[1:], lat[1:]).sum()
        assert length == pytest.approx(chicago_matrix.metres[i, j], rel=1e-9)


def test_a_point_far_outside_the_extract_is_reported_not_fatal(
    car_graph: StreetGraph, cell_centres: np.ndarray
) -> None:
    lon = np.append(cell_centres[:3, 0], LOOP[0])
    lat = np.append(cell_centres[:3, 1], LOOP[1])
    matrix = road_matrix(car_graph, lon, lat)
    assert [(u.index, u.cause) for u in matrix.unreachable] == [(3, "too_far_from_street")]
    assert "max_snap_m=300" in matrix.unreachable[0].detail
    assert matrix.snap_m[3] > 5_000
    assert np.isinf(matrix.seconds[3, :3]).all() and np.isinf(matrix.seconds[:3, 3]).all()
    assert np.isinf(matrix.metres[3, :3]).all()
    assert np.isfinite(matrix.seconds[:3, :3]).all()
    assert matrix.reachable.tolist() == [True, True, True, False]


def test_a_point_on_a_cut_off_chicago_street_is_reported(car_graph: StreetGraph) -> None:
    stranded = np.flatnonzero(car_graph.snappable & ~car_graph.in_main)
    assert stranded.size > 0  # one-way stubs where the extract's edge cuts streets
    k = int(stranded[0])
    snapped = snap_points(car_graph, [car_graph.lon[k]], [car_graph.lat[k]], max_snap_m=1.0)
    assert snapped.node.tolist() == [-1]
    assert snapped.unreachable[0].cause == "cut_off"
    assert snapped.snap_m[0] == pytest.approx(0.0, abs=1e-6)


def test_pbf_reads_like_the_xml(tmp_path, car_graph: StreetGraph) -> None:
    import osmium  # the .osm.pbf reader's dependency; tests fail rather than skip without it

    pbf = tmp_path / "logan_square.osm.pbf"
    with osmium.SimpleWriter(str(pbf)) as writer:
        for obj in osmium.FileProcessor(str(LOGAN_SQUARE)):
            writer.add(obj)
    graph = load_street_graph(pbf, mode="car")
    for name in ("node_id", "edge_from", "edge_to", "edge_way_id", "component", "snappable"):
        np.testing.assert_array_equal(getattr(graph, name), getattr(car_graph, name), name)
    # PBF stores coordinates to 1e-7 degree, as the XML does.
    np.testing.assert_allclose(graph.lon, car_graph.lon, atol=1e-7)
    np.testing.assert_allclose(graph.edge_seconds, car_graph.edge_seconds, rtol=1e-6)


def test_planner_modules_import_no_web_database_solver_or_pbf_library() -> None:
    code = (
        "import sys, planner.travel, planner.roads; "
        "print(sorted({m.split('.')[0] for m in sys.modules}))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout  # fmt: skip
    for forbidden in ("web", "flask", "sqlalchemy", "sqlite3", "folium", "ortools", "osmium"):
        assert f"'{forbidden}'" not in loaded


def _heap_dijkstra(graph: StreetGraph, source: int) -> dict[int, float]:
    """Textbook Dijkstra over the graph's edge list, independent of scipy."""
    outgoing: dict[int, list[tuple[int, float]]] = {}
    for u, v, s in zip(graph.edge_from.tolist(), graph.edge_to.tolist(),
                       graph.edge_seconds.tolist(), strict=True):  # fmt: skip
        outgoing.setdefault(u, []).append((v, s))
    best = {source: 0.0}
    queue = [(0.0, source)]
    while queue:
        seconds, u = heapq.heappop(queue)
        if seconds > best[u]:
            continue
        for v, step in outgoing.get(u, []):
            if seconds + step < best.get(v, math.inf):
                best[v] = seconds + step
                heapq.heappush(queue, (seconds + step, v))
    return best
