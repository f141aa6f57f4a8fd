"""Patrol plans: routes with times, skipped cells, the exact feasibility check and exports.

A plan is plain data: per unit an ordered route of visits with arrival, start, dwell,
departure and travel; the stops left out and why; totals; solver statistics; and the result
of checking every route against the problem twice, once in exact rational arithmetic on the
real (float) travel times and once in the solver's integer ticks.

:func:`plan_from_schedules` turns a solver's schedules into a checked plan,
:func:`check_plan` checks any set of routes, :func:`problem_after` builds the problem that is
left at a given time (for re-planning), and :func:`plan_to_geojson`, :func:`plan_to_gpx`,
:func:`plan_to_frame` and :func:`plan_to_csv` export a plan.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any
from xml.etree import ElementTree

import numpy as np
import pandas as pd

from planner.errors import InvalidPlanError, InvalidProblemError
from planner.problem import (
    Problem,
    Stop,
    TimeWindow,
    Unit,
    reachable_stops,
    ticks_per_second,
    visit_weight,
)

__all__ = [
    "BreakTaken",
    "IdleUnit",
    "PatrolPlan",
    "PlanCheck",
    "Route",
    "RouteCheck",
    "RouteSchedule",
    "SkippedStop",
    "SolverStats",
    "Visit",
    "check_plan",
    "plan_from_schedules",
    "plan_to_csv",
    "plan_to_frame",
    "plan_to_geojson",
    "plan_to_gpx",
    "problem_after",
]

GPX_NAMESPACE = "http://www.topografix.com/GPX/1/1"


@dataclass(frozen=True)
class Visit:
    """One visit of a stop on a route.

    Attributes
    ----------
    stop
        Position of the stop in ``Problem.stops``.
    node, cell
        The stop's node and cell label.
    visit_number
        1 for the stop's first visit of the day (in time order over all units), 2 for the next.
    arrival_s, start_s, departure_s
        Arrival at the cell, start of the dwell (after any wait for a window), departure.
    travel_s, wait_s
        Travel from the previous place (station, stop) and the wait before the dwell.
    value
        Value earned: stop value x weight of the window the visit starts in x decay.
    """

    stop: int
    node: int
    cell: str | None
    visit_number: int
    arrival_s: float
    start_s: float
    departure_s: float
    travel_s: float
    wait_s: float
    value: float

    @property
    def dwell_s(self) -> float:
        """Time on the spot."""
        return self.departure_s - self.start_s


@dataclass(frozen=True)
class BreakTaken:
    """When a unit takes its break: after ``after_visits`` visits, from start to end."""

    after_visits: int
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Route:
    """A unit's day: station, visits in order, station.

    Attributes
    ----------
    unit_id, start_node, end_node
        The unit and its stations.
    departure_s, arrival_s
        Leaving the start station and reaching the end station.
    visits
        The visits in order.
    rest_break
        The break, if the unit has one.
    travel_s, dwell_s, wait_s, value
        Totals over the route (travel includes the legs to and from the stations).
    """

    unit_id: str
    start_node: int
    end_node: int
    departure_s: float
    arrival_s: float
    visits: tuple[Visit, ...]
    rest_break: BreakTaken | None
    travel_s: float
    dwell_s: float
    wait_s: float
    value: float


@dataclass(frozen=True)
class SkippedStop:
    """A stop no route visits, with a reason code and a sentence.

    Reason codes: ``"no_units"``, ``"no_value"`` (value 0 and not mandatory: nothing to
    gain, e.g. a stop whose visits are all spent when re-planning), ``"unreachable"`` (no
    unit can get there, start a visit in a window and get back within its shift) and
    ``"not_selected"`` (reachable, but the shift time went to more valuable stops or a cap
    was reached).
    """

    stop: int
    node: int
    cell: str | None
    mandatory: bool
    reason: str
    detail: str


@dataclass(frozen=True)
class IdleUnit:
    """A unit without a route, and why (e.g. its end station is out of reach in its shift)."""

    unit_id: str
    reason: str


@dataclass(frozen=True)
class RouteCheck:
    """Result of checking one route.

    ``feasible`` is the check in exact rational arithmetic on the problem's float times;
    ``feasible_scaled`` the same check in integer ticks with costs rounded up (what the
    solver saw). ``violations`` lists what failed, in words.
    """

    unit_id: str
    feasible: bool
    feasible_scaled: bool
    violations: tuple[str, ...]


@dataclass(frozen=True)
class PlanCheck:
    """Result of :func:`check_plan`: per route checks, plan-wide violations and the value.

    Plan-wide violations are caps exceeded, too many visits and repeat visits too close
    together. ``missed_mandatory`` lists mandatory stops no route visits (a shortfall the plan
    reports, not a broken route). ``value`` is recomputed from the exact start times.
    """

    routes: tuple[RouteCheck, ...]
    violations: tuple[str, ...]
    missed_mandatory: tuple[int, ...]
    value: float

    @property
    def feasible(self) -> bool:
        """True when every route passes both checks and no plan-wide violation remains."""
        return not self.violations and all(c.feasible and c.feasible_scaled for c in self.routes)


@dataclass(frozen=True)
class SolverStats:
    """How the plan was found.

    Attributes
    ----------
    engine
        ``"search"`` (the planner's own orienteering search), ``"ortools"``,
        ``"search+ortools"`` (search, then OR-Tools from its routes) or ``"none"``.
    seed, time_limit_s
        The arguments the solver ran with.
    wall_time_s
        Seconds spent, model building and checks included.
    iterations
        Search iterations (restarts of ruin-and-recreate, or OR-Tools solutions).
    stopped_by
        ``"budget"`` (the seeded work budget ran out: the result is reproducible),
        ``"time_limit"`` (the wall clock cut the search short: reproducible only on an
        equally fast, equally loaded machine) or ``"nothing_to_do"``.
    ticks_per_second
        Integer scale of the times the solver worked in.
    subproblems
        Number of parts the problem was split into (1 when not decomposed).
    ortools_status
        OR-Tools' routing status name, when OR-Tools ran.
    """

    engine: str
    seed: int
    time_limit_s: float
    wall_time_s: float
    iterations: int
    stopped_by: str
    ticks_per_second: float
    subproblems: int = 1
    ortools_status: str | None = None


@dataclass(frozen=True)
class PatrolPlan:
    """A day's patrol plan.

    Attributes
    ----------
    routes
        One route per unit that can work its shift, in the order of ``Problem.units``.
    skipped
        Stops no route visits, with reasons.
    idle_units
        Units without a route, with reasons.
    total_value, total_travel_s, total_dwell_s
        Totals over all routes.
    status
        ``"ok"``, ``"empty"`` (no stops or no units), ``"unreachable"`` (no stop can be
        reached within any shift), ``"partial"`` (a mandatory stop is not visited) or
        ``"invalid"`` (a route failed the check: a solver defect, never expected).
    message
        One or two sentences for people, saying why when the status is not ``"ok"``.
    check
        The exact and integer feasibility check of the routes.
    stats
        Solver statistics.
    """

    routes: tuple[Route, ...]
    skipped: tuple[SkippedStop, ...]
    idle_units: tuple[IdleUnit, ...]
    total_value: float
    total_travel_s: float
    total_dwell_s: float
    status: str
    message: str
    check: PlanCheck
    stats: SolverStats

    @property
    def feasible(self) -> bool:
        """True when every route passed the exact and the integer check."""
        return self.check.feasible

    def route_of(self, unit_id: str) -> Route | None:
        """Return the route of ``unit_id``, None when it has none."""
        for route in self.routes:
            if route.unit_id == unit_id:
                return route
        return None


@dataclass(frozen=True)
class RouteSchedule:
    """A solver's answer for one unit, before it becomes a :class:`Route`.

    ``stops`` in visiting order with the planned ``starts_s`` of their dwells (the unit
    never starts earlier); ``departure_s`` from the start station; the break, if any, after
    ``break_after`` visits starting at ``break_start_s``.
    """

    unit_id: str
    departure_s: float
    stops: tuple[int, ...]
    starts_s: tuple[float, ...]
    break_after: int | None = None
    break_start_s: float | None = None


# --------------------------------------------------------------------------------------
# Building plans


def plan_from_schedules(
    problem: Problem,
    schedules: Sequence[RouteSchedule],
    stats: SolverStats,
    idle_units: Sequence[IdleUnit] = (),
) -> PatrolPlan:
    """Turn solver schedules into a checked plan with reasons for every skipped stop.

    Parameters
    ----------
    problem
        The problem the schedules answer.
    schedules
        One per unit with a route.
    stats
        Solver statistics to attach.
    idle_units
        Units that got no route, with reasons.

    Returns
    -------
    PatrolPlan
        Routes with arrival, wait, travel and value per visit, checked exactly.

    Raises
    ------
    InvalidPlanError
        When a schedule names an unknown unit or stop, or its starts do not match its stops.
    """
    for schedule in schedules:
        problem.unit_index(schedule.unit_id)
        if len(schedule.stops) != len(schedule.starts_s):
            raise InvalidPlanError(
                f"route of {schedule.unit_id!r} has {len(schedule.stops)} stops but "
                f"{len(schedule.starts_s)} start times"
            )
        for stop in schedule.stops:
            if not 0 <= stop < len(problem.stops):
                raise InvalidPlanError(f"route of {schedule.unit_id!r} names unknown stop {stop}")
    ranks = _visit_ranks(
        (stop, start) for s in schedules for stop, start in zip(s.stops, s.starts_s, strict=True)
    )
    routes = tuple(_route_from_schedule(problem, s, ranks) for s in schedules)
    check = check_plan(problem, routes)
    skipped = _skipped_stops(problem, routes)
    status, message = _status(problem, routes, skipped, check, idle_units)
    return PatrolPlan(
        routes=routes,
        skipped=skipped,
        idle_units=tuple(idle_units),
        total_value=float(sum(r.value for r in routes)),
        total_travel_s=float(sum(r.travel_s for r in routes)),
        total_dwell_s=float(sum(r.dwell_s for r in routes)),
        status=status,
        message=message,
        check=check,
        stats=stats,
    )


def _visit_ranks(visits: Iterable[tuple[int, float]]) -> dict[tuple[int, float], int]:
    """Number each stop's visits 1, 2, ... in order of start time."""
    by_stop: dict[int, list[float]] = defaultdict(list)
    for stop, start in visits:
        by_stop[stop].append(start)
    ranks: dict[tuple[int, float], int] = {}
    for stop, starts in by_stop.items():
        for rank, start in enumerate(sorted(starts), start=1):
            ranks.setdefault((stop, start), rank)
    return ranks


def _visit_value(problem: Problem, stop: Stop, start_s: float, rank: int) -> float:
    weight = visit_weight(stop, start_s)
    return 0.0 if weight is None else stop.value * weight * problem.repeat_decay ** (rank - 1)


def _route_from_schedule(
    problem: Problem, schedule: RouteSchedule, ranks: dict[tuple[int, float], int]
) -> Route:
    unit = problem.units[problem.unit_index(schedule.unit_id)]
    matrix = problem.travel_time_s[unit.mode]
    place, clock = unit.start_node, schedule.departure_s
    visits: list[Visit] = []
    rest_break: BreakTaken | None = None
    travel_total = 0.0

    def pause(after: int, clock: float) -> float:
        nonlocal rest_break
        assert unit.rest_break is not None and schedule.break_start_s is not None
        start = max(clock, schedule.break_start_s)
        rest_break = BreakTaken(after, start, start + unit.rest_break.duration_s)
        return rest_break.end_s

    has_break = unit.rest_break is not None and schedule.break_after is not None
    if has_break and schedule.break_after == 0:
        clock = pause(0, clock)
    for position, (number, planned) in enumerate(
        zip(schedule.stops, schedule.starts_s, strict=True), start=1
    ):
        stop = problem.stops[number]
        travel = float(matrix[place, stop.node])
        arrival = clock + travel
        start = max(arrival, planned)
        rank = ranks[(number, planned)]
        visits.append(
            Visit(
                stop=number,
                node=stop.node,
                cell=stop.cell,
                visit_number=rank,
                arrival_s=arrival,
                start_s=start,
                departure_s=start + stop.dwell_s,
                travel_s=travel,
                wait_s=start - arrival,
                value=_visit_value(problem, stop, start, rank),
            )
        )
        travel_total += travel
        place, clock = stop.node, start + stop.dwell_s
        if has_break and schedule.break_after == position:
            clock = pause(position, clock)
    back = float(matrix[place, unit.end_node])
    return Route(
        unit_id=unit.id,
        start_node=unit.start_node,
        end_node=unit.end_node,
        departure_s=schedule.departure_s,
        arrival_s=clock + back,
        visits=tuple(visits),
        rest_break=rest_break,
        travel_s=travel_total + back,
        dwell_s=float(sum(v.dwell_s for v in visits)),
        wait_s=float(sum(v.wait_s for v in visits)),
        value=float(sum(v.value for v in visits)),
    )


def _skipped_stops(problem: Problem, routes: Sequence[Route]) -> tuple[SkippedStop, ...]:
    visited = {v.stop for r in routes for v in r.visits}
    reachable = reachable_stops(problem)
    skipped = []
    for number, stop in enumerate(problem.stops):
        if number in visited:
            continue
        if not problem.units:
            reason, detail = "no_units", "no unit is on shift"
        elif not stop.mandatory and (
            stop.value <= 0 or (stop.windows and all(w.weight <= 0 for w in stop.windows))
        ):
            reason, detail = "no_value", "its value (or every window's weight) is 0"
        elif not reachable[number]:
            reason, detail = (
                "unreachable",
                "no unit can reach the cell, start a visit in one of its windows and get back "
                "to its end station within its shift",
            )
        else:
            reason, detail = (
                "not_selected",
                "reachable, but the shift time went to more valuable stops or a cap was reached",
            )
        skipped.append(SkippedStop(number, stop.node, stop.cell, stop.mandatory, reason, detail))
    return tuple(skipped)


def _status(
    problem: Problem,
    routes: Sequence[Route],
    skipped: Sequence[SkippedStop],
    check: PlanCheck,
    idle_units: Sequence[IdleUnit],
) -> tuple[str, str]:
    if not problem.units:
        return "empty", "There are no units to plan for."
    if not problem.stops:
        return "empty", "There are no candidate stops to visit."
    if not check.feasible:
        broken = [c.unit_id for c in check.routes if not (c.feasible and c.feasible_scaled)]
        return "invalid", (
            f"The exact check failed for {len(broken)} route(s) ({', '.join(broken[:5])}) "
            f"or plan-wide: {'; '.join(check.violations[:3])}."
        )
    if not routes:
        reasons = "; ".join(f"{u.unit_id}: {u.reason}" for u in idle_units[:3])
        return "unreachable", f"No unit can work its shift ({reasons})."
    if (
        skipped
        and all(s.reason in ("unreachable", "no_value") for s in skipped)
        and len(skipped) == len(problem.stops)
    ):
        return "unreachable", (
            "No cell is reachable within the shift: no unit can get to any stop, start a visit "
            "in its windows and return to its end station in time."
        )
    if check.missed_mandatory:
        missed = [problem.stops[n].cell or f"stop {n}" for n in check.missed_mandatory]
        return "partial", (
            f"{len(missed)} mandatory stop(s) could not be fitted into any shift: "
            f"{', '.join(missed[:5])}."
        )
    visited = sum(len(r.visits) for r in routes)
    return (
        "ok",
        f"{visited} visits planned for {len(routes)} unit(s); {len(skipped)} stop(s) left out.",
    )


# --------------------------------------------------------------------------------------
# Exact check


@dataclass(frozen=True)
class _Arithmetic:
    """How times are compared: exactly (Fraction) or in integer ticks (costs rounded up)."""

    cost: Callable[[float], Any]
    deadline: Callable[[float], Any]

    @staticmethod
    def exact() -> _Arithmetic:
        return _Arithmetic(cost=_fraction, deadline=_fraction)

    @staticmethod
    def ticks(scale: float) -> _Arithmetic:
        return _Arithmetic(
            cost=lambda s: _scaled(s, scale, math.ceil),
            deadline=lambda s: _scaled(s, scale, math.floor),
        )


def _fraction(seconds: float) -> Fraction | float:
    return Fraction(seconds) if math.isfinite(seconds) else seconds


def _scaled(seconds: float, scale: float, rounding: Callable[[float], int]) -> int | float:
    return rounding(seconds * scale) if math.isfinite(seconds) else seconds


def check_plan(problem: Problem, routes: Sequence[Route]) -> PlanCheck:
    """Check routes against every constraint of the problem, exactly and in integer ticks.

    The exact check works in rational arithmetic on the problem's float seconds: a visit
    starts at ``max(arrival, planned start)``, which must lie in one of the stop's windows;
    the route must leave after its shift starts and be back before it ends, with the break
    inside its allowed start times. The integer check repeats this in the solver's ticks
    with travel, dwell and releases rounded up and deadlines rounded down. Plan-wide checks:
    visits per stop, gaps between repeat visits, cell and area caps; value is recomputed.

    Parameters
    ----------
    problem
        The problem the routes answer.
    routes
        The routes to check (e.g. ``plan.routes``); only their stations, departures,
        visit stops, planned starts and breaks are read.

    Returns
    -------
    PlanCheck
        Per route results and plan-wide violations.

    Raises
    ------
    InvalidPlanError
        When a route names an unknown unit or stop, or two routes share a unit.
    """
    seen: set[str] = set()
    for route in routes:
        if route.unit_id in seen:
            raise InvalidPlanError(f"two routes for unit {route.unit_id!r}")
        seen.add(route.unit_id)
        for visit in route.visits:
            if not 0 <= visit.stop < len(problem.stops):
                raise InvalidPlanError(
                    f"route of {route.unit_id!r} names unknown stop {visit.stop}"
                )
    exact = _check_with(problem, routes, _Arithmetic.exact())
    scaled = _check_with(problem, routes, _Arithmetic.ticks(ticks_per_second(problem)))
    route_checks = tuple(
        RouteCheck(
            unit_id=route.unit_id,
            feasible=not exact.route_violations[i],
            feasible_scaled=not scaled.route_violations[i],
            violations=tuple(exact.route_violations[i])
            + tuple(
                f"(in ticks) {v}"
                for v in scaled.route_violations[i]
                if exact.route_violations[i] == []
            ),
        )
        for i, route in enumerate(routes)
    )
    plan_violations = tuple(exact.plan_violations) + tuple(
        f"(in ticks) {v}" for v in scaled.plan_violations if v not in exact.plan_violations
    )
    return PlanCheck(route_checks, plan_violations, exact.missed_mandatory, exact.value)


@dataclass
class _CheckResult:
    route_violations: list[list[str]]
    plan_violations: list[str]
    missed_mandatory: tuple[int, ...]
    value: float


def _check_with(problem: Problem, routes: Sequence[Route], arith: _Arithmetic) -> _CheckResult:
    route_violations: list[list[str]] = []
    starts_by_stop: dict[int, list[tuple[Any, int]]] = defaultdict(list)
    for position, route in enumerate(routes):
        unit = problem.units[problem.unit_index(route.unit_id)]
        violations, starts = _check_route(problem, unit, route, arith)
        route_violations.append(violations)
        for number, start in starts:
            starts_by_stop[number].append((start, position))
    plan_violations: list[str] = []
    value = 0.0
    dwell_by_cell: dict[str, Any] = defaultdict(int)
    dwell_by_area: dict[str, Any] = defaultdict(int)
    for number, starts in starts_by_stop.items():
        stop = problem.stops[number]
        starts.sort(key=lambda item: item[0])
        if len(starts) > stop.max_visits:
            plan_violations.append(
                f"stop {number} is visited {len(starts)} times, at most {stop.max_visits} allowed"
            )
        dwell = arith.cost(stop.dwell_s)
        for rank, (start, position) in enumerate(starts, start=1):
            value += _visit_value(problem, stop, float(start), rank)
            dwell_by_cell[problem.cell_key(number)] += dwell
            if stop.area is not None:
                dwell_by_area[stop.area] += dwell
            if rank > 1:
                previous = starts[rank - 2][0]
                if start < previous + dwell + arith.cost(stop.min_gap_s):
                    route_violations[position].append(
                        f"visit {rank} of stop {number} starts {float(start - previous):.1f} s "
                        f"after visit {rank - 1}; needs dwell + min_gap "
                        f"({stop.dwell_s + stop.min_gap_s:.1f} s)"
                    )
    for label, share, used in (
        ("cell", problem.max_cell_share, dwell_by_cell),
        ("area", problem.max_area_share, dwell_by_area),
    ):
        if share is None:
            continue
        cap = arith.deadline(share * problem.total_shift_s)
        for key, dwell in used.items():
            if dwell > cap:
                plan_violations.append(
                    f"{label} {key} gets {float(dwell):.0f} dwell, above its cap {float(cap):.0f} "
                    f"({share:.1%} of the day's patrol time)"
                )
    missed = tuple(
        n for n, stop in enumerate(problem.stops) if stop.mandatory and n not in starts_by_stop
    )
    return _CheckResult(route_violations, plan_violations, missed, value)


def _check_route(
    problem: Problem, unit: Unit, route: Route, arith: _Arithmetic
) -> tuple[list[str], list[tuple[Any, int]]]:
    violations: list[str] = []
    starts: list[tuple[Any, int]] = []
    matrix = problem.travel_time_s[unit.mode]
    if (route.start_node, route.end_node) != (unit.start_node, unit.end_node):
        violations.append(
            f"route runs {route.start_node}->{route.end_node}, the unit's stations are "
            f"{unit.start_node}->{unit.end_node}"
        )
    clock = arith.cost(route.departure_s)
    if clock < arith.cost(unit.shift_start_s):
        violations.append(f"leaves at {route.departure_s} before the shift starts")
    place = unit.start_node
    pause = unit.rest_break
    taken = route.rest_break
    if pause is not None and taken is None:
        violations.append("the unit's break is not scheduled")
    if pause is None and taken is not None:
        violations.append("a break is scheduled for a unit without one")
    if taken is not None and not 0 <= taken.after_visits <= len(route.visits):
        violations.append(f"break after visit {taken.after_visits} of {len(route.visits)}")

    def take_break(clock: Any) -> Any:
        assert pause is not None and taken is not None
        start = max(clock, arith.cost(taken.start_s), arith.cost(pause.earliest_start_s))
        if start > arith.deadline(pause.latest_start_s):
            violations.append(
                f"break starts at {float(start):.1f}, after its latest start {pause.latest_start_s}"
            )
        return start + arith.cost(pause.duration_s)

    with_break = pause is not None and taken is not None
    if with_break and taken is not None and taken.after_visits == 0:
        clock = take_break(clock)
    for position, visit in enumerate(route.visits, start=1):
        stop = problem.stops[visit.stop]
        travel = float(matrix[place, stop.node])
        if not math.isfinite(travel):
            violations.append(f"no trip from node {place} to node {stop.node}")
        arrival = clock + arith.cost(travel)
        start = max(arrival, arith.cost(visit.start_s))
        windows = stop.windows or (TimeWindow(-math.inf, math.inf),)
        if not any(arith.cost(w.start_s) <= start <= arith.deadline(w.end_s) for w in windows):
            violations.append(
                f"visit {position} (stop {visit.stop}) starts at {float(start):.1f}, outside its "
                "windows"
            )
        starts.append((start, visit.stop))
        clock = start + arith.cost(stop.dwell_s)
        place = stop.node
        if with_break and taken is not None and taken.after_visits == position:
            clock = take_break(clock)
    back = float(matrix[place, unit.end_node])
    if not math.isfinite(back):
        violations.append(f"no trip from node {place} back to node {unit.end_node}")
    end = clock + arith.cost(back)
    if end > arith.deadline(unit.shift_end_s):
        violations.append(
            f"back at the end station at {float(end):.6g}, after the shift ends "
            f"({unit.shift_end_s:.6g})"
        )
    return violations, [(number, start) for start, number in starts]


# --------------------------------------------------------------------------------------
# Re-planning


def problem_after(
    problem: Problem,
    plan: PatrolPlan,
    now_s: float,
    *,
    visited: Iterable[int] | None = None,
    dropped_units: Iterable[str] = (),
) -> Problem:
    """Return the problem left at ``now_s``: the rest of the day for the units still on duty.

    Each unit still on duty starts where its plan puts it: a unit that has already left for
    a stop finishes that visit (it is committed and counts as done), then starts from there
    at its planned departure; a unit still at its station starts there at ``now_s``. Its
    break is kept unless it has begun. Dropped units are removed. Stops lose the visits
    already done: fewer visits allowed, the next visit valued as a repeat, a window that
    opens only after the minimum gap since the last one, and no longer mandatory.

    Parameters
    ----------
    problem, plan
        The original problem and the plan being followed.
    now_s
        The current time on the problem's clock.
    visited
        The stops visited so far, once per visit (from the field); None takes every
        planned visit that started before ``now_s`` as done. Committed visits (units on
        their way) are added either way.
    dropped_units
        Ids of units that dropped out.

    Returns
    -------
    Problem
        Same nodes, travel times and stop numbers; the remaining units; stops whose visits
        are all spent have value 0. Caps apply to the remaining shifts' time.

    Raises
    ------
    InvalidPlanError
        When a dropped unit or visited stop is unknown.
    """
    dropped = set(dropped_units)
    known = {u.id for u in problem.units}
    if dropped - known:
        raise InvalidPlanError(f"dropped_units names unknown units: {sorted(dropped - known)}")
    done: dict[int, list[float]] = defaultdict(list)  # stop -> departures of visits done
    units: list[Unit] = []
    for route in plan.routes:
        unit = problem.units[problem.unit_index(route.unit_id)]
        committed = [v for v in route.visits if v.start_s <= now_s]
        if unit.id not in dropped:
            left_at = committed[-1].departure_s if committed else route.departure_s
            if len(committed) < len(route.visits) and left_at <= now_s:
                committed.append(route.visits[len(committed)])  # on its way: it finishes it
            units.append(_unit_after(unit, route, committed, now_s))
        if visited is None or unit.id not in dropped:
            for visit in committed:
                if visited is None or visit.start_s > now_s:
                    done[visit.stop].append(visit.departure_s)
    for unit in problem.units:
        if plan.route_of(unit.id) is None and unit.id not in dropped:
            units.append(replace(unit, shift_start_s=max(unit.shift_start_s, now_s)))
    if visited is not None:
        for number in visited:
            if not 0 <= number < len(problem.stops):
                raise InvalidPlanError(f"visited names unknown stop {number}")
            departures = [
                v.departure_s
                for r in plan.routes
                for v in r.visits
                if v.stop == number and v.start_s <= now_s
            ]
            done[number].append(max(departures) if departures else now_s)
    stops = []
    for number, stop in enumerate(problem.stops):
        count = len(done.get(number, ()))
        if count >= stop.max_visits:
            stop = replace(stop, value=0.0, mandatory=False)  # spent: kept so numbers stay
        elif count:
            release = max(done[number]) + stop.min_gap_s
            windows = stop.windows or (TimeWindow(release, max(release, _day_end(problem))),)
            clipped = tuple(
                TimeWindow(max(w.start_s, release), w.end_s, w.weight)
                for w in windows
                if w.end_s >= release
            )
            stop = replace(
                stop,
                value=stop.value * problem.repeat_decay**count if clipped else 0.0,
                max_visits=stop.max_visits - count,
                windows=clipped or stop.windows,
                mandatory=False,
            )
        stops.append(stop)
    return Problem(
        travel_time_s=problem.travel_time_s,
        units=tuple(units),
        stops=tuple(stops),
        node_lon_lat=problem.node_lon_lat,
        node_names=problem.node_names,
        repeat_decay=problem.repeat_decay,
        max_cell_share=problem.max_cell_share,
        max_area_share=problem.max_area_share,
    )


def _day_end(problem: Problem) -> float:
    return max([u.shift_end_s for u in problem.units] + [0.0])


def _unit_after(unit: Unit, route: Route, committed: Sequence[Visit], now_s: float) -> Unit:
    pause = unit.rest_break
    taken = route.rest_break
    if committed:
        start_node, ready = committed[-1].node, max(committed[-1].departure_s, now_s)
    else:
        start_node, ready = unit.start_node, max(unit.shift_start_s, now_s)
    if pause is not None and taken is not None and taken.start_s <= now_s:
        ready = max(ready, taken.end_s)  # the break has begun: it is finished first
        pause = None
    if pause is not None and pause.latest_start_s < ready:
        # Too late for the break's own window: it starts as soon as the unit is free.
        pause = replace(pause, latest_start_s=ready, earliest_start_s=ready)
    return replace(
        unit,
        start_node=start_node,
        shift_start_s=min(ready, unit.shift_end_s),
        rest_break=pause,
    )


# --------------------------------------------------------------------------------------
# Exports


def _lon_lat(problem: Problem) -> np.ndarray:
    if problem.node_lon_lat is None:
        raise InvalidProblemError("exports need node_lon_lat: the problem has no coordinates")
    return problem.node_lon_lat


def plan_to_frame(plan: PatrolPlan, problem: Problem | None = None) -> pd.DataFrame:
    """One row per visit: unit, order, stop, cell, node, (lon, lat), times, travel, value.

    Columns: ``unit_id, order, stop, cell, node, visit_number, arrival_s, start_s, dwell_s,
    departure_s, travel_s, wait_s, value``, plus ``lon, lat`` when ``problem`` has
    coordinates.
    """
    rows = [
        {
            "unit_id": route.unit_id,
            "order": order,
            "stop": v.stop,
            "cell": v.cell,
            "node": v.node,
            "visit_number": v.visit_number,
            "arrival_s": v.arrival_s,
            "start_s": v.start_s,
            "dwell_s": v.dwell_s,
            "departure_s": v.departure_s,
            "travel_s": v.travel_s,
            "wait_s": v.wait_s,
            "value": v.value,
        }
        for route in plan.routes
        for order, v in enumerate(route.visits, start=1)
    ]
    columns = [
        "unit_id", "order", "stop", "cell", "node", "visit_number", "arrival_s", "start_s",
        "dwell_s", "departure_s", "travel_s", "wait_s", "value",
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns)
    if problem is not None and problem.node_lon_lat is not None:
        nodes = frame["node"].to_numpy(dtype=np.int64)
        frame["lon"] = problem.node_lon_lat[nodes, 0]
        frame["lat"] = problem.node_lon_lat[nodes, 1]
    return frame


def plan_to_csv(plan: PatrolPlan, problem: Problem | None = None) -> str:
    """Return :func:`plan_to_frame` as CSV text (header first, one row per visit)."""
    return str(plan_to_frame(plan, problem).to_csv(index=False, lineterminator="\n"))


def plan_to_geojson(plan: PatrolPlan, problem: Problem) -> dict[str, Any]:
    """Return a GeoJSON FeatureCollection: a LineString per route and a Point per visit.

    The route line runs station, visits, station (straight legs between node coordinates);
    its properties hold the unit's totals. Each visit point carries its times and value.

    Raises
    ------
    InvalidProblemError
        When the problem has no ``node_lon_lat``.
    """
    lon_lat = _lon_lat(problem)

    def point(node: int) -> list[float]:
        return [float(lon_lat[node, 0]), float(lon_lat[node, 1])]

    features: list[dict[str, Any]] = []
    for route in plan.routes:
        nodes = [route.start_node, *(v.node for v in route.visits), route.end_node]
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": [point(n) for n in nodes]},
                "properties": {
                    "kind": "route",
                    "unit_id": route.unit_id,
                    "departure_s": route.departure_s,
                    "arrival_s": route.arrival_s,
                    "visits": len(route.visits),
                    "travel_s": route.travel_s,
                    "dwell_s": route.dwell_s,
                    "value": route.value,
                },
            }
        )
        for order, v in enumerate(route.visits, start=1):
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": point(v.node)},
                    "properties": {
                        "kind": "visit",
                        "unit_id": route.unit_id,
                        "order": order,
                        "stop": v.stop,
                        "cell": v.cell,
                        "visit_number": v.visit_number,
                        "arrival_s": v.arrival_s,
                        "start_s": v.start_s,
                        "departure_s": v.departure_s,
                        "value": v.value,
                    },
                }
            )
    return {"type": "FeatureCollection", "features": features}


def plan_to_gpx(plan: PatrolPlan, problem: Problem, *, clock_origin: datetime | None = None) -> str:
    """Return GPX 1.1 text with one ``rte`` per unit for in-car devices.

    Each route lists its start station, visits and end station as ``rtept``. With
    ``clock_origin`` (the timezone-aware moment of second 0 on the problem's clock) every
    point also gets its planned ``time`` in UTC.

    Raises
    ------
    InvalidProblemError
        When the problem has no ``node_lon_lat``.
    """
    lon_lat = _lon_lat(problem)
    if clock_origin is not None and clock_origin.utcoffset() is None:
        raise InvalidPlanError("clock_origin must be timezone-aware, e.g. 2018-07-01T00:00-05:00")
    ElementTree.register_namespace("", GPX_NAMESPACE)
    ns = f"{{{GPX_NAMESPACE}}}"
    root = ElementTree.Element(f"{ns}gpx", {"version": "1.1", "creator": "hotspot-patrol planner"})

    def add_point(rte: ElementTree.Element, node: int, name: str, desc: str, at: float) -> None:
        point = ElementTree.SubElement(
            rte,
            f"{ns}rtept",
            {"lat": f"{lon_lat[node, 1]:.7f}", "lon": f"{lon_lat[node, 0]:.7f}"},
        )
        if clock_origin is not None:
            moment = (clock_origin + timedelta(seconds=at)).astimezone(UTC)
            ElementTree.SubElement(point, f"{ns}time").text = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        ElementTree.SubElement(point, f"{ns}name").text = name
        ElementTree.SubElement(point, f"{ns}desc").text = desc

    names = problem.node_names
    for route in plan.routes:
        rte = ElementTree.SubElement(root, f"{ns}rte")
        ElementTree.SubElement(rte, f"{ns}name").text = route.unit_id
        ElementTree.SubElement(rte, f"{ns}number").text = str(problem.unit_index(route.unit_id) + 1)
        station = names[route.start_node] if names else f"node {route.start_node}"
        add_point(
            rte, route.start_node, station, f"leave {_clock(route.departure_s)}", route.departure_s
        )
        for order, v in enumerate(route.visits, start=1):
            label = v.cell or (names[v.node] if names else f"node {v.node}")
            patrol = f"{_clock(v.start_s)}-{_clock(v.departure_s)}"
            desc = f"{order}: arrive {_clock(v.arrival_s)}, patrol {patrol}"
            add_point(rte, v.node, label, desc, v.start_s)
        station = names[route.end_node] if names else f"node {route.end_node}"
        add_point(rte, route.end_node, station, f"back {_clock(route.arrival_s)}", route.arrival_s)
    ElementTree.indent(root)
    body = ElementTree.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def _clock(seconds: float) -> str:
    """Seconds on the clock as H:MM (hours may pass 24 for shifts past midnight)."""
    minutes = int(round(seconds / 60.0))
    return f"{minutes // 60}:{minutes % 60:02d}"
