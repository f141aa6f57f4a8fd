"""Re-planning: the problem that is left at a given time of the day.

:func:`problem_after` takes a problem and the plan being followed and returns the rest of
the day for the units still on duty: each starts where its plan puts it, stops lose the
visits already done. ``planner.solver.plan_patrols`` solves it (web/services/replans.py,
``hotspot replan``) and :func:`merge_replan` puts the result after what was done;
``planner.plan`` re-exports the function.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from planner.errors import InvalidPlanError
from planner.problem import Problem, Stop, TimeWindow, Unit

if TYPE_CHECKING:
    from planner.plan import BreakTaken, PatrolPlan, Route, Visit

__all__ = ["committed_visits", "merge_replan", "problem_after"]


def committed_visits(route: Route, now_s: float, *, on_duty: bool = True) -> list[Visit]:
    """The visits of ``route`` that ``now_s`` cannot change: those begun by then and, for a
    unit still on duty that has left for its next stop, that visit too (it finishes it)."""
    committed = [v for v in route.visits if v.start_s <= now_s]
    if on_duty:
        left_at = committed[-1].departure_s if committed else route.departure_s
        if len(committed) < len(route.visits) and left_at <= now_s:
            committed.append(route.visits[len(committed)])
    return committed


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
        committed = committed_visits(route, now_s, on_duty=unit.id not in dropped)
        if unit.id not in dropped:
            units.append(_unit_after(unit, route, committed, now_s))
        if visited is None or unit.id not in dropped:
            for visit in committed:
                if visited is None or visit.start_s > now_s:
                    done[visit.stop].append(visit.departure_s)
    for unit in problem.units:
        if plan.route_of(unit.id) is None and unit.id not in dropped:
            units.append(replace(unit, shift_start_s=max(unit.shift_start_s, now_s)))
    if visited is not None:
        _add_reported(problem, plan, visited, now_s, done)
    on_duty = {u.id for u in units}
    stops = [
        # A stop locked to a unit no longer on duty is free for the others.
        _stop_after(problem, stop if stop.unit in on_duty or stop.unit is None
                    else replace(stop, unit=None), done.get(number, ()))
        for number, stop in enumerate(problem.stops)
    ]  # fmt: skip
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


def _add_reported(
    problem: Problem,
    plan: PatrolPlan,
    visited: Iterable[int],
    now_s: float,
    done: dict[int, list[float]],
) -> None:
    """Add the visits reported from the field to ``done`` (stop -> departures of visits done).

    A reported visit departed when the stop's last planned visit started by ``now_s`` did,
    or at ``now_s`` when no planned visit had started.
    """
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


def _stop_after(problem: Problem, stop: Stop, departures: Sequence[float]) -> Stop:
    """``stop`` once the visits that departed at ``departures`` are done."""
    count = len(departures)
    if count >= stop.max_visits:
        return replace(stop, value=0.0, mandatory=False)  # spent: kept so numbers stay
    if not count:
        return stop
    release = max(departures) + stop.min_gap_s
    windows = stop.windows or (TimeWindow(release, max(release, _day_end(problem))),)
    clipped = tuple(
        TimeWindow(max(w.start_s, release), w.end_s, w.weight)
        for w in windows
        if w.end_s >= release
    )
    return replace(
        stop,
        value=stop.value * problem.repeat_decay**count if clipped else 0.0,
        max_visits=stop.max_visits - count,
        windows=clipped or stop.windows,
        mandatory=False,
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


def merge_replan(
    problem: Problem,
    before: PatrolPlan,
    after: PatrolPlan,
    now_s: float,
    *,
    dropped_units: Iterable[str] = (),
) -> PatrolPlan:
    """The whole shift once re-planned at ``now_s``: what could not change, then the new plan.

    Each unit keeps its committed visits of ``before`` (:func:`committed_visits`; a unit
    called away keeps only the visits it had begun) and continues with its route of
    ``after``, the plan of :func:`problem_after`'s problem (same stop numbers). Visit numbers
    count every visit of a stop in the shift. Totals are summed over the merged routes;
    status, message, skipped stops, idle units, plan-wide checks and the solver statistics
    are those of ``after``: the re-planned part is what was solved and checked now (a route
    that ends with its begun visits keeps its check from ``before``).

    ``problem`` is the shift's problem the merged plan's stop numbers refer to (stops may have
    been appended to the one ``before`` was made for).
    """
    from planner.plan import BreakTaken, PatrolPlan

    dropped = set(dropped_units)
    routes: list[Route] = []
    for unit in problem.units:
        old, new = before.route_of(unit.id), after.route_of(unit.id)
        kept = committed_visits(old, now_s, on_duty=unit.id not in dropped) if old else []
        if new is None:
            if kept and old is not None:  # called away (or done): its begun visits stay
                routes.append(_route_of_visits(old, kept, kept[-1].departure_s))
            continue
        if not kept or old is None:
            routes.append(new)
            continue
        rest: BreakTaken | None = None
        if old is not None and old.rest_break is not None and old.rest_break.start_s <= now_s:
            rest = old.rest_break
        elif new.rest_break is not None:
            shifted = new.rest_break.after_visits + len(kept)
            rest = BreakTaken(shifted, new.rest_break.start_s, new.rest_break.end_s)
        # The new route, but from the unit's station and departure at the start of the shift.
        whole_shift = replace(
            new,
            start_node=unit.start_node,
            end_node=unit.end_node,
            departure_s=old.departure_s,
            rest_break=rest,
        )
        travel_s = sum(v.travel_s for v in kept) + new.travel_s
        routes.append(_with_visits(whole_shift, tuple(kept) + new.visits, travel_s))
    routes = _renumbered(routes)
    # Each route's check: the new part's (solved and checked now), else the earlier plan's.
    checks = {c.unit_id: c for c in before.check.routes} | {
        c.unit_id: c for c in after.check.routes
    }
    check = replace(
        after.check,
        routes=tuple(checks[r.unit_id] for r in routes),
        value=float(sum(r.value for r in routes)),
    )
    return PatrolPlan.of_routes(
        routes,
        skipped=after.skipped,
        idle_units=after.idle_units,
        status=after.status,
        message=after.message,
        check=check,
        stats=after.stats,
    )


def _route_of_visits(old: Route, visits: Sequence[Visit], end_s: float) -> Route:
    rest = old.rest_break if old.rest_break and old.rest_break.start_s <= end_s else None
    ended = replace(old, arrival_s=end_s, rest_break=rest)
    return _with_visits(ended, visits, sum(v.travel_s for v in visits))


def _with_visits(route: Route, visits: Sequence[Visit], travel_s: float) -> Route:
    """``route`` making ``visits`` with ``travel_s`` on the road; its time on the spot,
    waiting and value summed over the visits."""
    return replace(
        route,
        visits=tuple(visits),
        travel_s=float(travel_s),
        dwell_s=float(sum(v.dwell_s for v in visits)),
        wait_s=float(sum(v.wait_s for v in visits)),
        value=float(sum(v.value for v in visits)),
    )


def _renumbered(routes: Sequence[Route]) -> list[Route]:
    """Routes whose visits are numbered 1, 2, ... per stop in order of start over the shift."""
    starts: dict[int, list[float]] = defaultdict(list)
    for route in routes:
        for visit in route.visits:
            starts[visit.stop].append(visit.start_s)
    for values in starts.values():
        values.sort()
    return [
        replace(
            route,
            visits=tuple(
                replace(v, visit_number=starts[v.stop].index(v.start_s) + 1) for v in route.visits
            ),
        )
        for route in routes
    ]
