"""The readable plan map: distinct unit colours, units grouped by station, routes along the
streets leg by leg when the travel times come from a street graph, and the map's parts."""

from __future__ import annotations

import functools
import json

import numpy as np
import pandas as pd
import pytest

from planner.problem import Problem, Stop, Unit
from planner.solver import SolverOptions, plan_patrols
from planner.travel import TravelMatrix, great_circle_matrix
from web.maps import plan_maps
from web.maps.unit_palette import (
    MAX_DISTINCT,
    delta_e_2000,
    hex_to_lab,
    text_colour,
    unit_palette,
)
from web.services.patrol_plans import PlannedDay, plan_geojson, units_by_station

# CIEDE2000 differences: about 2 is the smallest a trained eye sees side by side; 9 and more
# tells colours apart on a map at a glance. Neighbouring units of a station differ more.
MIN_PAIR_DE = 9.0
MIN_NEIGHBOUR_DE = 15.0


def test_delta_e_2000_matches_the_published_test_pairs() -> None:
    """Pairs 1, 18 and 19 of Sharma, Wu and Dalal (2005), Table 1."""
    pairs = [
        ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
        ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
        ((50.0, 2.5, 0.0), (61.0, -5.0, 29.0), 22.8977),
    ]
    for lab1, lab2, expected in pairs:
        assert delta_e_2000(np.array(lab1), np.array(lab2)) == pytest.approx(expected, abs=1e-4)


def test_sixty_unit_colours_are_pairwise_distinct() -> None:
    colours = unit_palette(MAX_DISTINCT)
    assert len(set(colours)) == MAX_DISTINCT == 60
    lab = np.array([hex_to_lab(c) for c in colours])
    difference = delta_e_2000(lab[:, None, :], lab[None, :, :])
    np.fill_diagonal(difference, np.inf)
    assert difference.min() > MIN_PAIR_DE
    # Colours given in order (station by station) to neighbouring units differ the most.
    neighbours = [difference[i, i + 1] for i in range(MAX_DISTINCT - 1)]
    assert min(neighbours) > MIN_NEIGHBOUR_DE
    # None too light for a light basemap, none near black.
    assert 25 < lab[:, 0].min() and lab[:, 0].max() < 80
    # The palette repeats only beyond 60 units; the numbers on stops stay readable.
    assert unit_palette(61)[60] == colours[0]
    assert unit_palette(0) == []
    for colour in colours:
        ink = text_colour(colour)
        assert _contrast(colour, ink) >= 4.0, (colour, ink)


def _contrast(a: str, b: str) -> float:
    def luminance(colour: str) -> float:
        rgb = np.array([int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
        linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
        return float(linear @ np.array([0.2126, 0.7152, 0.0722]))

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_unit_colours_follow_the_order_given() -> None:
    units = [f"S{s:02d}-{n}" for s in range(1, 16) for n in range(1, 5)]  # 60 units
    colours = plan_maps.unit_colours(units)
    assert list(colours) == units and len(set(colours.values())) == 60
    assert colours["S01-1"] == unit_palette(1)[0]
    assert plan_maps.unit_colours(["A", "A", "B"]) == dict(zip("AB", unit_palette(2), strict=True))


def test_units_are_grouped_by_station_in_plan_order() -> None:
    units = [
        {"id": "S02-1", "start": "North", "stops": [{}, {}]},
        {"id": "S01-1", "start": "South", "stops": [{}]},
        {"id": "S02-2", "start": "North", "stops": []},
        {"id": "X", "start": "", "stops": [{}]},
    ]
    groups = units_by_station(units)
    assert [g["station"] for g in groups] == ["North", "South", ""]
    assert [[u["id"] for u in g["units"]] for g in groups] == [["S02-1", "S02-2"], ["S01-1"], ["X"]]
    assert [g["stops"] for g in groups] == [2, 1, 1]
    assert units_by_station([]) == []


@functools.cache
def _tiny_plan() -> tuple[Problem, object]:
    """A station and three cells a few hundred metres apart, one unit."""
    lon_lat = np.array([[98.280, 39.800], [98.290, 39.805], [98.300, 39.800], [98.290, 39.795]])
    matrix = great_circle_matrix(lon_lat[:, 0], lon_lat[:, 1])
    problem = Problem(
        travel_time_s={"car": matrix.seconds},
        units=(Unit(id="U1", start_node=0, end_node=0, shift_start_s=0.0, shift_end_s=7200.0),),
        stops=tuple(
            Stop(node=k, value=float(k), dwell_s=300.0, cell=f"cell-{k}") for k in (1, 2, 3)
        ),
        node_lon_lat=lon_lat,
        node_names=("Station", "cell-1", "cell-2", "cell-3"),
    )
    return problem, plan_patrols(problem, SolverOptions(time_limit_s=1.0, seed=1))


def _bent(points: np.ndarray):
    """A fake street path: each leg goes east first, then north or south (an L)."""

    def path(i: int, j: int) -> list[tuple[float, float]]:
        (x1, y1), (x2, y2) = points[i], points[j]
        return [(float(x1), float(y1)), (float(x2), float(y1)), (float(x2), float(y2))]

    return path


def test_routes_follow_the_street_path_of_every_leg_when_a_graph_is_set() -> None:
    problem, plan = _tiny_plan()
    route = plan.routes[0]
    assert len(route.visits) == 3
    points = problem.node_lon_lat
    n = len(points)
    base = great_circle_matrix(points[:, 0], points[:, 1])
    road = TravelMatrix(points=points, seconds=base.seconds, metres=base.metres, unreachable=(),
                        mode="car", method="road", snap_m=np.zeros(n),
                        route_geometry=_bent(points))  # fmt: skip
    day = pd.Timestamp("2027-07-01", tz="UTC")
    streets = plan_geojson(PlannedDay(problem, plan, day, "UTC", 1, travel={"car": road}))
    (line,) = [f for f in streets["features"] if f["properties"]["kind"] == "route"]
    assert line["properties"]["streets"] is True
    nodes = [route.start_node, *(v.node for v in route.visits), route.end_node]
    expected: list[list[float]] = []
    for a, b in zip(nodes[:-1], nodes[1:], strict=True):
        for x, y in _bent(points)(a, b):
            vertex = [round(x, 6), round(y, 6)]
            if not expected or expected[-1] != vertex:
                expected.append(vertex)
    assert line["geometry"]["coordinates"] == expected
    # Every corner of every leg is on the line: more vertices than stops.
    assert len(expected) > len(nodes)
    # The map draws that line and its legend says "along the streets" (solid, not dashed).
    units, options = _init_call(_render(streets))
    assert units[0]["line"] == [[y, x] for x, y in expected] and units[0]["streets"] is True
    assert (options["streets"], options["some_straight"]) == (True, False)

    straight = plan_geojson(PlannedDay(problem, plan, day, "UTC", 1, travel={"car": base}))
    (line,) = [f for f in straight["features"] if f["properties"]["kind"] == "route"]
    assert line["properties"]["streets"] is False
    assert line["geometry"]["coordinates"] == [points[k].tolist() for k in nodes]


def _render(geojson: dict, **kwargs) -> str:
    labels = {key: key.upper() for key in ("unit", "station", "stop", "cell", "arrive", "start",
                                           "leave", "value", "stations")}  # fmt: skip
    labels |= {"streets": "along the streets", "straight": "straight lines, not streets"}
    parts = plan_maps.plan_map(geojson, clock=lambda s: f"t{int(s)}", labels=labels, **kwargs)
    return parts["script"]


def _init_call(script: str) -> tuple[list[dict], dict]:
    """The units and options ``PlanMap.init`` is called with."""
    call = script[script.index("PlanMap.init(") :]
    units_text = call[call.index("[") :]
    decoder = json.JSONDecoder()
    units, end = decoder.raw_decode(units_text)
    options, _end = decoder.raw_decode(units_text[end:].lstrip(", \n"))
    return units, options


def test_the_map_hands_each_units_route_and_stops_to_the_selector() -> None:
    problem, plan = _tiny_plan()
    day = pd.Timestamp("2027-07-01", tz="UTC")
    base = great_circle_matrix(problem.node_lon_lat[:, 0], problem.node_lon_lat[:, 1])
    geojson = plan_geojson(PlannedDay(problem, plan, day, "UTC", 1, travel={"car": base}))
    script = _render(geojson, colours={"U1": "#123456"}, unit_stations={"U1": "St <b>"},
                     cell_label=lambda hex_id: f"name of {hex_id}")  # fmt: skip
    assert "St <b>" not in script and "St \\u003cb\\u003e" in script  # safe in a script
    units, options = _init_call(script)
    (unit,) = units
    assert (unit["unit"], unit["station"], unit["colour"]) == ("U1", "St <b>", "#123456")
    assert unit["ink"] == text_colour("#123456") and unit["streets"] is False
    route = plan.routes[0]
    assert [s["order"] for s in unit["stops"]] == [1, 2, 3]
    assert [s["cell"] for s in unit["stops"]] == [f"name of {v.cell}" for v in route.visits]
    assert [s["start"] for s in unit["stops"]] == [f"t{int(v.start_s)}" for v in route.visits]
    # The line runs station, stops, station as [lat, lon].
    points = problem.node_lon_lat
    nodes = [route.start_node, *(v.node for v in route.visits), route.end_node]
    assert unit["line"] == [[points[k][1], points[k][0]] for k in nodes]
    assert options["streets"] is False and options["some_straight"] is True
    assert options["labels"]["straight"] == "straight lines, not streets"
    # No folium layer per unit, and no layer control listing every unit.
    assert "L.control.layers" not in script and "L.marker(" not in script
