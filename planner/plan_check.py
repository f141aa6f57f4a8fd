"""The exact check of patrol routes: every constraint of the problem, exactly and in ticks.

:func:`check_plan` checks any set of routes twice: once in exact rational arithmetic on the
problem's float seconds, once in the solver's integer ticks with costs rounded up and
deadlines rounded down (what the solver saw). Routes are read, never built, here:
``planner.plan`` builds them and re-exports this module's names.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from planner.errors import InvalidPlanError
from planner.problem import Problem, Stop, TimeWindow, Unit, ticks_per_second, visit_weight

if TYPE_CHECKING:
    from planner.plan import Route

__all__ = ["PlanCheck", "RouteCheck", "check_plan", "visit_value"]


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


def visit_value(problem: Problem, stop: Stop, start_s: float, rank: int) -> float:
    """Value of the ``rank``-th visit of ``stop`` starting at ``start_s`` (0 outside windows)."""
    weight = visit_weight(stop, start_s)
    return 0.0 if weight is None else stop.value * weight * problem.repeat_decay ** (rank - 1)


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
            value += visit_value(problem, stop, float(start), rank)
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
        if stop.unit is not None and stop.unit != unit.id:
            violations.append(f"stop {visit.stop} is locked to unit {stop.unit}")
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
