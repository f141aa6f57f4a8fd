"""Re-planning during a shift: the rest of the day re-planned, merged with what was done.

``planner.replan.problem_after`` gives the problem left at a time; ``merge_replan`` joins the
visits that could not change with the new plan into the shift's plan a revision stores. These
tests run random problems with windows, repeat visits, breaks and a unit called away, and
check the merged plan against the plans it came from and against the exact checker.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from planner.plan import PatrolPlan, check_plan, problem_after
from planner.problem import Problem, RestBreak, Stop, TimeWindow, Unit
from planner.replan import committed_visits, merge_replan
from planner.solver import SolverOptions, plan_patrols

QUICK = SolverOptions(time_limit_s=2.0, seed=3)


def random_problem(seed: int, n_stops: int = 24, units: int = 3) -> Problem:
    """Stations 0 and 1, stops scattered over 4 km, shifts of 4 h, breaks and repeats."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 4000, size=(2 + n_stops, 2))
    seconds = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2)) / 8.0
    shift = 4 * 3600.0
    team = tuple(
        Unit(f"u{k + 1}", k % 2, k % 2, 0.0, shift,
             rest_break=RestBreak(5400.0, 9000.0, 900.0) if k == 0 else None)
        for k in range(units)
    )  # fmt: skip
    stops = []
    for i in range(n_stops):
        windows: tuple[TimeWindow, ...] = ()
        if i % 3 == 0:
            start = float(rng.uniform(0, shift - 3600))
            windows = (
                TimeWindow(start, start + 3600.0, 1.0),
                TimeWindow(start + 3600.0, shift, 0.5),
            )
        stops.append(
            Stop(2 + i, float(rng.integers(1, 10)), dwell_s=600.0, windows=windows,
                 max_visits=2 if i % 4 == 0 else 1, min_gap_s=1800.0, cell=f"c{i}")
        )  # fmt: skip
    return Problem(travel_time_s=seconds, units=team, stops=tuple(stops))


def replanned(problem: Problem, plan: PatrolPlan, now_s: float, dropped=()):
    remaining = problem_after(problem, plan, now_s, dropped_units=dropped)
    after = plan_patrols(remaining, QUICK)
    return remaining, after, merge_replan(problem, plan, after, now_s, dropped_units=dropped)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_the_merged_plan_keeps_what_was_done_and_continues_with_the_new_plan(seed) -> None:
    problem = random_problem(seed)
    plan = plan_patrols(problem, QUICK)
    assert plan.feasible
    now = 5000.0 + 500.0 * seed
    remaining, after, merged = replanned(problem, plan, now, dropped=["u2"])
    assert after.feasible, [c.violations for c in after.check.routes]
    assert check_plan(remaining, after.routes).feasible  # the re-planned part, checked again
    for route in merged.routes:
        old, new = plan.route_of(route.unit_id), after.route_of(route.unit_id)
        kept = committed_visits(old, now, on_duty=route.unit_id != "u2") if old else []
        # The visits that could not change come first, unchanged but for their numbers.
        assert [(v.stop, v.start_s) for v in route.visits[: len(kept)]] == [
            (v.stop, v.start_s) for v in kept
        ]
        rest = route.visits[len(kept) :]
        if route.unit_id == "u2":
            assert not rest and all(v.start_s <= now for v in route.visits)
        else:
            assert new is not None
            assert [(v.stop, v.start_s) for v in rest] == [(v.stop, v.start_s) for v in new.visits]
            assert all(v.start_s >= now for v in rest)
            if kept and rest:  # it goes on from where it was
                assert new.start_node == kept[-1].node
        assert route.value == pytest.approx(sum(v.value for v in route.visits))
        assert route.dwell_s == pytest.approx(sum(v.dwell_s for v in route.visits))
        assert route.wait_s == pytest.approx(sum(v.wait_s for v in route.visits))
        # The whole shift's route: from the unit's station, when it first set out.
        unit = problem.units[problem.unit_index(route.unit_id)]
        assert (route.start_node, route.end_node) == (unit.start_node, unit.end_node)
        if kept and old is not None:
            assert route.departure_s == old.departure_s
            onwards = new.travel_s if new is not None else 0.0
            assert route.travel_s == pytest.approx(sum(v.travel_s for v in kept) + onwards)
    assert {r.unit_id for r in merged.routes} >= {r.unit_id for r in after.routes}
    # No stop is visited more often than it may be over the whole shift, and visits of a
    # stop are numbered 1, 2, ... in time order.
    counts = Counter(v.stop for r in merged.routes for v in r.visits)
    assert all(counts[s] <= problem.stops[s].max_visits for s in counts)
    by_stop: dict[int, list] = {}
    for route in merged.routes:
        for visit in route.visits:
            by_stop.setdefault(visit.stop, []).append(visit)
    for visits in by_stop.values():
        ordered = sorted(visits, key=lambda v: v.start_s)
        assert [v.visit_number for v in ordered] == list(range(1, len(ordered) + 1))
    assert merged.total_value == pytest.approx(sum(r.value for r in merged.routes))
    assert merged.total_travel_s == pytest.approx(sum(r.travel_s for r in merged.routes))
    assert merged.total_dwell_s == pytest.approx(sum(r.dwell_s for r in merged.routes))


def test_a_revision_can_be_re_planned_again_later() -> None:
    problem = random_problem(7)
    plan = plan_patrols(problem, QUICK)
    _remaining, _after, first = replanned(problem, plan, 4000.0, dropped=["u3"])
    _remaining2, after2, second = replanned(problem, first, 8000.0, dropped=["u3"])
    assert after2.feasible
    # What was done before the first re-plan is still in the second revision.
    early = {(r.unit_id, v.stop, v.start_s) for r in first.routes for v in r.visits
             if v.start_s <= 4000.0}  # fmt: skip
    again = {(r.unit_id, v.stop, v.start_s) for r in second.routes for v in r.visits}
    assert early <= again
    counts = Counter(v.stop for r in second.routes for v in r.visits)
    assert all(counts[s] <= problem.stops[s].max_visits for s in counts)


def test_a_break_already_begun_is_kept_and_a_later_one_moves_with_the_new_route() -> None:
    problem = random_problem(11)
    plan = plan_patrols(problem, QUICK)
    taken = plan.route_of("u1").rest_break  # type: ignore[union-attr]
    assert taken is not None
    during = taken.start_s + 60.0
    _remaining, _after, merged = replanned(problem, plan, during)
    assert merged.route_of("u1").rest_break == taken  # type: ignore[union-attr]
    before = max(0.0, taken.start_s - 1800.0)
    _remaining, after, merged = replanned(problem, plan, before)
    route, new = merged.route_of("u1"), after.route_of("u1")
    assert route is not None and new is not None and new.rest_break is not None
    kept = len(route.visits) - len(new.visits)
    assert route.rest_break.after_visits == new.rest_break.after_visits + kept  # type: ignore[union-attr]
    assert route.rest_break.start_s == new.rest_break.start_s  # type: ignore[union-attr]


def test_or_tools_starts_from_the_search_routes_when_units_end_elsewhere(monkeypatch) -> None:
    """A re-plan's units start where they are and end at their stations: OR-Tools' variable
    indices then differ from node numbers, and the search's routes must still be read in as
    its first solution (they were once passed as node numbers and refused)."""
    from ortools.constraint_solver import pywrapcp

    read = []
    original = pywrapcp.RoutingModel.ReadAssignmentFromRoutes

    def recording(self, routes, ignore_inactive):
        assignment = original(self, routes, ignore_inactive)
        read.append((sum(len(r) for r in routes), assignment is not None))
        return assignment

    monkeypatch.setattr(pywrapcp.RoutingModel, "ReadAssignmentFromRoutes", recording)
    problem = random_problem(5)
    plan = plan_patrols(problem, QUICK)
    remaining = problem_after(problem, plan, 6000.0)
    assert any(u.start_node != u.end_node for u in remaining.units)
    after = plan_patrols(remaining, SolverOptions(time_limit_s=2.0, seed=3, engine="auto"))
    assert after.feasible
    assert read and all(ok for visits, ok in read if visits), read


def test_a_stored_plan_and_its_problem_read_back_equal() -> None:
    """The site stores a plan as plan JSON and its problem without travel matrices; both read
    back to the same routes and problem (what a re-plan starts from)."""
    from planner.problem_json import (
        load_problem_json,
        plan_from_json,
        plan_to_json,
        problem_to_json,
    )

    problem = random_problem(9)
    plan = plan_patrols(problem, QUICK)
    document = problem_to_json(problem, travel=False)
    assert "travel_time_s" not in document
    again = load_problem_json(document, travel_time_s=problem.travel_time_s).problem
    assert again.units == problem.units and again.stops == problem.stops
    read = plan_from_json(plan_to_json(plan), again)
    assert read.routes == plan.routes
    assert read.feasible and read.total_value == pytest.approx(plan.total_value)


def test_a_start_that_waited_for_the_next_window_is_rebuilt_as_planned() -> None:
    """A schedule that waits at a cell for its next, more valuable window starts exactly at
    the boundary two windows share. Rebuilt in ticks (the decomposed search's last pass,
    OR-Tools' warm start), it must keep that start: taking the earlier window let the route
    start before it, which broke repeat gaps across routes on the Chicago benchmark."""
    from planner.model import build_instance, solution_from_schedules
    from planner.plan import RouteSchedule

    problem = Problem(
        travel_time_s=np.array([[0.0, 50.0], [50.0, 0.0]]),
        units=(Unit("u1", 0, 0, 0.0, 1000.0),),
        stops=(Stop(1, 1.0, dwell_s=10.0, windows=(TimeWindow(0.0, 100.0, 0.5),
                                                    TimeWindow(100.0, 200.0, 1.0))),),
    )  # fmt: skip
    inst, _ = build_instance(problem, 0.0, 0)
    sol = solution_from_schedules(inst, [RouteSchedule("u1", 0.0, (0,), (100.0,))])
    assert sol is not None
    assert sol.routes[0].b[1] == int(np.ceil(100.0 * inst.scale))  # not the arrival at 50 s


@pytest.mark.parametrize("engine", ["search", "ortools", "auto"])
def test_a_stop_locked_to_a_unit_is_visited_by_that_unit_only(engine) -> None:
    """Locks (``Stop.unit``): on random problems with windows, repeats and a break, every
    locked stop that is visited is visited by its unit, a locked mandatory stop is visited,
    and the exact check refuses a route that takes another unit's stop."""
    from dataclasses import replace as copy

    problem = random_problem(13)
    free = plan_patrols(problem, QUICK)
    # Lock the stops u1 visits to u2 and the other way round, the first mandatory.
    swap = {"u1": "u2", "u2": "u1"}
    locks = {v.stop: swap[r.unit_id] for r in free.routes if r.unit_id in swap for v in r.visits}
    first = min(locks)
    stops = tuple(
        copy(s, unit=locks.get(n), mandatory=s.mandatory or n == first)
        for n, s in enumerate(problem.stops)
    )
    locked = copy(problem, stops=stops)
    options = SolverOptions(time_limit_s=2.0, seed=3, engine=engine)
    plan = plan_patrols(locked, options)
    assert plan.feasible, [c.violations for c in plan.check.routes]
    for route in plan.routes:
        for visit in route.visits:
            owner = locked.stops[visit.stop].unit
            assert owner is None or owner == route.unit_id
    assert any(v.stop == first for v in plan.route_of(locks[first]).visits)  # type: ignore[union-attr]
    # The free plan breaks the locks: the checker says which stop.
    check = check_plan(locked, free.routes)
    assert not check.feasible
    assert any("is locked to unit" in v for c in check.routes for v in c.violations)


def test_a_lock_naming_an_unknown_unit_is_refused() -> None:
    from dataclasses import replace as copy

    from planner.errors import InvalidProblemError

    problem = random_problem(2)
    stops = (copy(problem.stops[0], unit="ghost"), *problem.stops[1:])
    with pytest.raises(InvalidProblemError, match="unit 'ghost'"):
        copy(problem, stops=stops)


def test_a_stop_worth_nothing_keeps_its_number_in_the_problem_document() -> None:
    """An excluded cell (value 0, not mandatory) stays a stop when the problem is written
    (``stop_nodes``), so the plans that name stop numbers still fit; bad lists are refused."""
    from dataclasses import replace as copy

    from planner.errors import ProblemFormatError
    from planner.problem_json import load_problem_json, problem_to_json

    problem = random_problem(4)
    stops = list(problem.stops)
    stops[3] = copy(stops[3], value=0.0, mandatory=False)
    stops[5] = copy(stops[5], unit="u2")
    edited = copy(problem, stops=tuple(stops))
    document = problem_to_json(edited, travel=False)
    assert document["stop_nodes"] == [s.node for s in edited.stops]
    again = load_problem_json(document, travel_time_s=edited.travel_time_s).problem
    assert again.stops == edited.stops
    for bad in ([-1], [10_000], ["2"], [True]):
        with pytest.raises(ProblemFormatError, match="stop_nodes"):
            load_problem_json(document | {"stop_nodes": bad}, travel_time_s=edited.travel_time_s)


def test_a_stop_locked_to_a_unit_called_away_is_free_for_the_others() -> None:
    from dataclasses import replace as copy

    problem = random_problem(6)
    stops = tuple(copy(s, unit="u2") if n < 3 else s for n, s in enumerate(problem.stops))
    locked = copy(problem, stops=stops)
    plan = plan_patrols(locked, QUICK)
    remaining = problem_after(locked, plan, 3000.0, dropped_units=["u2"])
    assert all(s.unit is None for s in remaining.stops[:3])
    after = plan_patrols(remaining, QUICK)
    assert after.feasible
