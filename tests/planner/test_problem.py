"""Problem model, integer scaling, the exact feasibility check and the JSON schema."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from planner.errors import InvalidPlanError, InvalidProblemError, ProblemFormatError
from planner.plan import (
    BreakTaken,
    PatrolPlan,
    Route,
    RouteSchedule,
    SolverStats,
    Visit,
    check_plan,
    plan_from_schedules,
)
from planner.problem import (
    DEFAULT_DWELL_S,
    INF_TICKS,
    Problem,
    RestBreak,
    Stop,
    TimeWindow,
    Unit,
    ceil_ticks,
    floor_ticks,
    reachable_stops,
    ticks_per_second,
    visit_weight,
    windows_from_hourly_risk,
)
from planner.problem_json import (
    load_problem_json,
    plan_to_json,
    problem_to_json,
    top_to_json,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
TOP = SHARED / "bench" / "top" / "instances" / "chao"
STATS = SolverStats("test", 0, 1.0, 0.0, 0, "nothing_to_do", 1.0)


def line_problem(**overrides: object) -> Problem:
    """Station 0 and stops at 1, 2, 3 on a line, 100 s apart; one unit, 1,000 s shift."""
    positions = np.array([0.0, 100.0, 200.0, 300.0])
    travel = np.abs(positions[:, None] - positions[None, :])
    fields: dict[str, object] = {
        "travel_time_s": travel,
        "units": (Unit("u1", 0, 0, 0.0, 1000.0),),
        "stops": (Stop(1, 1.0, dwell_s=0.0), Stop(2, 2.0, dwell_s=0.0), Stop(3, 3.0, dwell_s=0.0)),
        "node_lon_lat": np.array([[0.0, 0.0], [0.001, 0.0], [0.002, 0.0], [0.003, 0.0]]),
    }
    fields.update(overrides)
    return Problem(**fields)  # type: ignore[arg-type]


def plan_of(problem: Problem, *schedules: RouteSchedule) -> PatrolPlan:
    return plan_from_schedules(problem, schedules, STATS)


# --- the model ------------------------------------------------------------------------


def test_default_dwell_is_fifteen_minutes() -> None:
    assert DEFAULT_DWELL_S == 900.0
    assert Stop(node=0, value=1.0).dwell_s == 900.0


def test_single_matrix_means_car_and_is_read_only() -> None:
    problem = line_problem()
    assert list(problem.travel_time_s) == ["car"]
    with pytest.raises(ValueError):
        problem.travel_time_s["car"][0, 1] = 5.0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"travel_time_s": np.zeros((2, 3))}, "square"),
        ({"travel_time_s": np.array([[0.0, -1.0], [1.0, 0.0]])}, ">= 0"),
        ({"travel_time_s": np.array([[0.0, np.nan], [1.0, 0.0]])}, ">= 0"),
        ({"travel_time_s": {"car": np.zeros((2, 2)), "foot": np.zeros((3, 3))}}, "nodes"),
        ({"units": (Unit("u1", 0, 9, 0.0, 10.0),)}, "end_node"),
        ({"units": (Unit("u1", 0, 0, 10.0, 5.0),)}, "before it starts"),
        ({"units": (Unit("u1", 0, 0, 0.0, 5.0, mode="foot"),)}, "no travel_time_s matrix"),
        ({"units": (Unit("a", 0, 0, 0.0, 5.0), Unit("a", 0, 0, 0.0, 5.0))}, "unique"),
        ({"units": (Unit("u1", 0, 0, 0.0, 5.0, rest_break=RestBreak(5.0, 1.0, 1.0)),)}, "break"),
        ({"stops": (Stop(7, 1.0),)}, "node"),
        ({"stops": (Stop(1, -1.0),)}, "value must be >= 0"),
        ({"stops": (Stop(1, 1.0, max_visits=0),)}, "max_visits"),
        ({"stops": (Stop(1, 1.0, windows=(TimeWindow(0, 10), TimeWindow(5, 20))),)}, "overlap"),
        ({"stops": (Stop(1, 1.0, windows=(TimeWindow(10, 5),)),)}, "start_s <= end_s"),
        ({"repeat_decay": 0.0}, "repeat_decay"),
        ({"max_cell_share": 1.5}, "max_cell_share"),
        ({"node_lon_lat": np.zeros((3, 2))}, "node_lon_lat"),
    ],
)
def test_bad_problems_are_refused_with_the_field_named(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidProblemError, match=message):
        line_problem(**overrides)


def test_hourly_risk_becomes_weighted_windows_merging_equal_hours() -> None:
    risk = [0.0] * 6 + [1.0] * 12 + [3.0] * 4 + [0.0] * 2
    windows = windows_from_hourly_risk(risk, 16 * 3600.0, 24 * 3600.0)
    assert windows == (
        TimeWindow(16 * 3600.0, 18 * 3600.0, 1.0),
        TimeWindow(18 * 3600.0, 22 * 3600.0, 3.0),
    )
    # Past midnight the profile wraps around to hour 0, 1, ...
    night = windows_from_hourly_risk(risk, 22 * 3600.0, 31 * 3600.0)
    assert night == (TimeWindow(30 * 3600.0, 31 * 3600.0, 1.0),)
    # Never hot in the span: a weight-0 window, not "any time" (an empty tuple).
    assert windows_from_hourly_risk(risk, 0.0, 6 * 3600.0) == (TimeWindow(0.0, 6 * 3600.0, 0.0),)
    with pytest.raises(InvalidProblemError):
        windows_from_hourly_risk([1.0] * 23, 0.0, 10.0)


def test_visit_weight_is_the_window_the_visit_starts_in() -> None:
    stop = Stop(1, 2.0, windows=(TimeWindow(0, 100, 1.0), TimeWindow(100, 200, 3.0)))
    assert visit_weight(stop, 50.0) == 1.0
    assert visit_weight(stop, 100.0) == 3.0  # touching windows: the heavier one
    assert visit_weight(stop, 250.0) is None
    assert visit_weight(Stop(1, 2.0), 1e9) == 1.0


def test_reachable_stops_screens_by_shift_and_window() -> None:
    problem = line_problem(
        stops=(
            Stop(1, 1.0, dwell_s=0.0),
            Stop(3, 1.0, dwell_s=500.0),  # 300 + 500 + 300 > 1000
            Stop(2, 1.0, dwell_s=0.0, windows=(TimeWindow(900.0, 950.0),)),  # back after 1000
        )
    )
    assert reachable_stops(problem).tolist() == [True, False, False]


# --- integer scaling --------------------------------------------------------------------


def test_ticks_per_second_is_a_power_of_two_that_keeps_the_horizon_small() -> None:
    scale = ticks_per_second(line_problem())
    assert math.log2(scale) == int(math.log2(scale))
    assert 1000.0 * scale <= 2**31
    assert 1000.0 * scale * 2 > 2**31


def test_scaling_rounds_costs_up_and_deadlines_down_never_to_nearest() -> None:
    values = np.array([0.1, 0.5, 0.9, 2.0, np.inf])
    up = ceil_ticks(values, 1.0)
    down = floor_ticks(values, 1.0)
    assert up.tolist() == [1, 1, 1, 2, INF_TICKS]
    assert down.tolist() == [0, 0, 0, 2, INF_TICKS]
    # With a power-of-two scale the product is exact, so the ceiling is the true one.
    scale = 2.0**20
    tenth = ceil_ticks(0.1, scale)
    assert int(tenth) / scale >= 0.1 and (int(tenth) - 1) / scale < 0.1


# --- plans and the exact check ------------------------------------------------------------


def test_plan_from_schedules_fills_in_times_and_values() -> None:
    problem = line_problem()
    plan = plan_of(problem, RouteSchedule("u1", 0.0, (0, 2), (100.0, 300.0)))
    route = plan.routes[0]
    assert [v.node for v in route.visits] == [1, 3]
    assert [v.arrival_s for v in route.visits] == [100.0, 300.0]
    assert route.arrival_s == 600.0
    assert route.travel_s == 600.0
    assert plan.total_value == 4.0
    assert plan.feasible and plan.status == "ok"
    assert [s.stop for s in plan.skipped] == [1]
    assert plan.skipped[0].reason == "not_selected"


def test_check_catches_a_deliberately_broken_route() -> None:
    problem = line_problem(units=(Unit("u1", 0, 0, 0.0, 500.0),))
    good = plan_of(problem, RouteSchedule("u1", 0.0, (1,), (200.0,)))
    assert good.feasible
    # Visiting the far stop too needs 600 s of travel: beyond the 500 s shift.
    broken = plan_of(problem, RouteSchedule("u1", 0.0, (1, 2), (200.0, 300.0)))
    check = broken.check.routes[0]
    assert not check.feasible and not check.feasible_scaled
    assert any("after the shift ends" in v for v in check.violations)
    assert broken.status == "invalid"


def test_check_is_exact_to_the_last_bit() -> None:
    # The float sum 0.1 + 0.2 rounds up to 0.30000000000000004; the exact sum of the two
    # floats lies between that and the float 0.3.
    assert Fraction(0.1) + Fraction(0.2) < Fraction(0.1 + 0.2)
    assert Fraction(0.1) + Fraction(0.2) > Fraction(0.3)
    travel = np.array([[0.0, 0.1, 0.0], [0.0, 0.0, 0.2], [0.0, 0.0, 0.0]])
    stops = (Stop(1, 1.0, dwell_s=0.0),)
    schedule = RouteSchedule("u", 0.0, (0,), (0.1,))
    tight = plan_of(Problem(travel, (Unit("u", 0, 2, 0.0, 0.1 + 0.2),), stops), schedule)
    too_tight = plan_of(Problem(travel, (Unit("u", 0, 2, 0.0, 0.3),), stops), schedule)
    assert tight.check.routes[0].feasible
    # In ticks each leg rounds up, so the integer check is the stricter of the two here.
    assert not tight.check.routes[0].feasible_scaled
    assert not too_tight.check.routes[0].feasible


def test_check_windows_gaps_caps_and_breaks() -> None:
    problem = line_problem(
        stops=(
            Stop(
                1,
                1.0,
                dwell_s=50.0,
                windows=(TimeWindow(150.0, 400.0),),
                max_visits=2,
                min_gap_s=100.0,
                cell="a",
                area="x",
            ),
            Stop(2, 2.0, dwell_s=50.0, cell="b", area="x"),
        ),
        units=(
            Unit("u1", 0, 0, 0.0, 1000.0, rest_break=RestBreak(0.0, 600.0, 60.0)),
            Unit("u2", 0, 0, 0.0, 1000.0),
        ),
        max_area_share=0.05,  # 5 % of 2,000 s of shifts = 100 s of dwell per area
    )
    plan = plan_of(
        problem,
        RouteSchedule("u1", 0.0, (0,), (100.0,), break_after=1, break_start_s=150.0),
        RouteSchedule("u2", 0.0, (0, 1), (200.0, 400.0)),
    )
    routes = {c.unit_id: c for c in plan.check.routes}
    # u1 starts stop 0 at its arrival (100 s), before the window opens at 150 s.
    assert any("outside its windows" in v for v in routes["u1"].violations)
    # u2's visit of stop 0 starts 100 s after u1's: it needs dwell 50 + gap 100.
    assert any("needs dwell + min_gap" in v for v in routes["u2"].violations)
    assert any("area x" in v for v in plan.check.violations)
    assert plan.routes[0].rest_break == BreakTaken(1, 150.0, 210.0)

    missing_break = plan_of(problem, RouteSchedule("u1", 0.0, (), ()))
    assert any("break is not scheduled" in v for v in missing_break.check.routes[0].violations)


def test_check_refuses_routes_for_unknown_units_or_stops() -> None:
    problem = line_problem()
    with pytest.raises(InvalidProblemError):
        plan_of(problem, RouteSchedule("nobody", 0.0, (), ()))
    with pytest.raises(InvalidPlanError):
        plan_of(problem, RouteSchedule("u1", 0.0, (5,), (1.0,)))
    visit = Visit(9, 1, None, 1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    route = Route("u1", 0, 0, 0.0, 0.0, (visit,), None, 0.0, 0.0, 0.0, 0.0)
    with pytest.raises(InvalidPlanError):
        check_plan(problem, [route])


# --- JSON ---------------------------------------------------------------------------------


def test_json_round_trip_of_the_documented_schema(tmp_path: Path) -> None:
    problem = line_problem(
        travel_time_s={
            "car": line_problem().travel_time_s["car"],
            "foot": 3 * line_problem().travel_time_s["car"],
        },
        units=(
            Unit("car-1", 0, 0, 100.0, 1100.0, rest_break=RestBreak(300.0, 600.0, 30.0)),
            Unit("foot-1", 0, 3, 0.0, 5000.0, mode="foot"),
        ),
        stops=(
            Stop(1, 1.0, dwell_s=60.0, windows=(TimeWindow(0, 500, 2.0),), cell="c1"),
            Stop(2, 2.5, mandatory=True, max_visits=3, min_gap_s=120.0, area="beat 1"),
            Stop(3, 3.0, dwell_s=0.0),
        ),
        max_cell_share=0.25,
        repeat_decay=0.75,
    )
    doc = problem_to_json(problem, time_limit_s=3.0, seed=7)
    path = tmp_path / "problem.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    loaded = load_problem_json(path)
    again = loaded.problem
    assert (loaded.time_limit_s, loaded.seed) == (3.0, 7)
    assert again.units == problem.units
    assert again.stops == problem.stops
    for mode in problem.travel_time_s:
        np.testing.assert_array_equal(again.travel_time_s[mode], problem.travel_time_s[mode])
    np.testing.assert_array_equal(again.node_lon_lat, problem.node_lon_lat)
    assert (again.repeat_decay, again.max_cell_share) == (0.75, 0.25)
    assert problem_to_json(again, time_limit_s=3.0, seed=7) == doc


def test_json_impossible_trips_are_null_and_defaults_apply() -> None:
    doc = {
        "travel_time_s": [[0, 10, None], [10, 0, 5], [None, 5, 0]],
        "value": [0, 4, 2],
        "units": [{"start": 0, "end": 0, "max_duration_s": 3600}],
    }
    loaded = load_problem_json(doc)
    problem = loaded.problem
    assert math.isinf(problem.travel_time_s["car"][0, 2])
    assert [s.node for s in problem.stops] == [1, 2]
    assert problem.stops[0].dwell_s == DEFAULT_DWELL_S
    assert problem.units[0].id == "unit-1"
    assert (loaded.time_limit_s, loaded.seed, loaded.engine) == (30.0, 0, "auto")
    assert load_problem_json(json.dumps(doc)).problem.stops == problem.stops


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"value": [0]}, "travel_time_s"),
        ({"travel_time_s": [[0, 1], [1, 0]], "units": []}, "value"),
        ({"travel_time_s": [[0, 1], [1]], "value": [0, 1], "units": []}, "square"),
        ({"travel_time_s": [[0, 1], [1, 0]], "value": [0, 1, 2], "units": []}, "2 nodes"),
        (
            {"travel_time_s": [[0, 1], [1, 0]], "value": [0, 1], "units": [{"start": 0}]},
            "max_duration",
        ),
        (
            {
                "travel_time_s": [[0, 1], [1, 0]],
                "value": [0, 1],
                "windows": [None, [[5]]],
                "units": [],
            },
            "windows",
        ),
        ({"travel_time_s": [[0, "x"], [1, 0]], "value": [0, 1], "units": []}, "number"),
        ({"schema": "other", "travel_time_s": [[0]], "value": [0], "units": []}, "schema"),
        (
            {
                "travel_time_s": [[0, 1], [1, 0]],
                "value": [0, 1],
                "units": [{"start": 0, "end": 5, "max_duration_s": 1}],
            },
            "end_node",
        ),
        ({"travel_time_s": [[0]], "value": [0], "units": [], "seed": -1}, "seed"),
        (
            {"travel_time_s": [[0]], "value": [0], "units": [], "lon_lat": [[1, 2], "x"]},
            r"lon_lat must list \[lon, lat\] numbers per node",
        ),
        (
            {"travel_time_s": [[0]], "value": [0], "units": [], "time_limit_s": 1e12},
            "time_limit_s must be at most 3600 seconds",
        ),
        (
            {"travel_time_s": [[0, 1], [1, 0]], "value": [0, 1], "max_visits": 10**9, "units": []},
            r"stop 0 max_visits must be an integer in 1\.\.1000, got 1000000000",
        ),  # fmt: skip
    ],
)
def test_json_errors_name_the_field(doc: dict[str, object], message: str) -> None:
    with pytest.raises(ProblemFormatError, match=message):
        load_problem_json(doc)


def test_json_file_larger_than_read_is_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import planner.problem_json

    path = tmp_path / "big.json"
    path.write_text(json.dumps({"travel_time_s": [[0]], "value": [0], "units": []}))
    monkeypatch.setattr(planner.problem_json, "MAX_PROBLEM_BYTES", 10)
    with pytest.raises(ProblemFormatError, match=r"big\.json is 0 MB, more than the 0 MB read"):
        load_problem_json(path)


def test_json_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ProblemFormatError, match="cannot read"):
        load_problem_json(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ProblemFormatError, match="line 1"):
        load_problem_json(bad)


def test_plan_to_json_lists_nodes_arrivals_and_total_value() -> None:
    problem = line_problem()
    plan = plan_of(problem, RouteSchedule("u1", 0.0, (0, 2), (100.0, 300.0)))
    out = plan_to_json(plan)
    json.dumps(out)  # plain JSON types only
    unit = out["units"][0]
    assert unit["nodes"] == [0, 1, 3, 0]
    assert unit["arrival_s"] == [0.0, 100.0, 300.0, 600.0]
    assert out["total_value"] == 4.0
    assert out["feasible"] is True
    assert out["skipped"][0]["node"] == 2


def test_top_instance_converts_to_the_schema() -> None:
    text = (TOP / "Set_21_234" / "p2.2.a.txt").read_text()
    doc = top_to_json(text, time_limit_s=1.0, seed=3)
    problem = load_problem_json(doc).problem
    assert problem.n_nodes == 21
    assert len(problem.units) == 2
    assert problem.units[0].shift_end_s == 7.5
    assert all(s.dwell_s == 0.0 for s in problem.stops)
    travel = problem.travel_time_s["car"]
    assert travel[0, 1] == pytest.approx(math.dist((4.6, 7.1), (5.7, 11.4)))
    with pytest.raises(ProblemFormatError):
        top_to_json("n 3\nm 1\n")


def test_problem_to_json_refuses_two_stops_on_one_node() -> None:
    problem = line_problem(stops=(Stop(1, 1.0), Stop(1, 2.0)))
    with pytest.raises(ProblemFormatError, match="shares node"):
        problem_to_json(problem)


def test_replace_keeps_validation() -> None:
    problem = line_problem()
    with pytest.raises(InvalidProblemError):
        replace(problem, repeat_decay=2.0)
