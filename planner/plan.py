"""Patrol plans: the plan dataclasses, and a checked plan built from a solver's schedules.

A plan is plain data: per unit an ordered route of visits with arrival, start, dwell,
departure and travel; the stops left out and why; totals; solver statistics; and the result
of checking every route against the problem twice, once in exact rational arithmetic on the
real (float) travel times and once in the solver's integer ticks.

:func:`plan_from_schedules` turns a solver's schedules into a checked plan. The rest of a
plan's life has its own modules, whose names this one re-exports: ``planner.plan_check``
(:func:`check_plan`, the exact check of any set of routes), ``planner.replan``
(:func:`problem_after`, the problem left at a given time) and ``planner.plan_export``
(:func:`plan_to_geojson`, :func:`plan_to_gpx`, :func:`plan_to_frame`, :func:`plan_to_csv`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from planner.errors import InvalidPlanError
from planner.plan_check import PlanCheck, RouteCheck, check_plan, visit_value
from planner.plan_export import plan_to_csv, plan_to_frame, plan_to_geojson, plan_to_gpx
from planner.problem import Problem, reachable_stops
from planner.replan import problem_after

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
        equally fast, equally loaded machine), ``"converged"`` (OR-Tools, after the search,
        went as long without a better plan as it took to find its last one: reproducible
        like ``"time_limit"``) or ``"nothing_to_do"``.
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

    @classmethod
    def of_routes(
        cls,
        routes: Iterable[Route],
        *,
        skipped: tuple[SkippedStop, ...],
        idle_units: tuple[IdleUnit, ...],
        status: str,
        message: str,
        check: PlanCheck,
        stats: SolverStats,
    ) -> PatrolPlan:
        """The plan of ``routes``, its totals summed over them."""
        routes = tuple(routes)
        return cls(
            routes,
            skipped,
            idle_units,
            total_value=float(sum(r.value for r in routes)),
            total_travel_s=float(sum(r.travel_s for r in routes)),
            total_dwell_s=float(sum(r.dwell_s for r in routes)),
            status=status,
            message=message,
            check=check,
            stats=stats,
        )

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
    return PatrolPlan.of_routes(
        routes,
        skipped=skipped,
        idle_units=tuple(idle_units),
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
                value=visit_value(problem, stop, start, rank),
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
