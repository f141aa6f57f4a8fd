"""A planner's edits to a plan: lock a visit, move a visit to another unit, exclude a cell, add a
cell; either checked as they stand or with the plan re-optimised around them.

Edits travel inside a :class:`web.services.replans.ReplanRequest` (``edits``, a JSON-ready
dict, so a plan job can carry them; added cells are its ``urgent`` cells):

- ``locks``: ``[[unit, seq], ...]``, visits (the unit's seq-th stop, from 1) that stay with
  their unit within :data:`LOCK_SLACK_S` of their time; the cell must be visited;
- ``moves``: ``[[unit, seq, to_unit], ...]``, visits that go to another unit;
- ``exclude``: H3 cells (int64) no visit may go to;
- ``reoptimise``: True to solve the shift again around the edits (a plan job), False to apply
  them to the routes as they are and check them exactly (:func:`check_edits`).

A lock or a move pins the visit's cell to the unit (:attr:`planner.problem.Stop.unit`): every
visit of that cell in the plan goes to that unit. The result is stored like a re-plan: a draft
revision of the plan, its ``replan`` record naming the edits.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from geo.cells import hex_from_cells
from web import storage
from web.services.patrol_plans import PlannedDay, PlanRequest
from web.services.replans import (
    ReplanError,
    ReplanRequest,
    _request_of,
    _urgent_nodes,
    _urgent_stops,
    _with_one_more_visit,
    stored_problem,
)

if TYPE_CHECKING:
    from planner.plan import PatrolPlan, RouteSchedule
    from planner.problem import Problem

__all__ = ["LOCK_SLACK_S", "MAX_EDITS", "apply_edits", "check_edits", "edits_summary"]

LOCK_SLACK_S = 30 * 60  # a locked visit may move this much either way
MAX_EDITS = 500  # locks + moves + excluded cells in one edit


def _visit(plan: PatrolPlan, unit: str, seq: int):
    route = plan.route_of(unit)
    if route is None or not 1 <= int(seq) <= len(route.visits):
        raise ReplanError(f"edits: unit {unit} has no stop {seq}")
    return route.visits[int(seq) - 1]


def apply_edits(problem: Problem, plan: PatrolPlan, edits: dict) -> Problem:
    """``problem`` with the edits' locks, moves and exclusions (stop numbers unchanged)."""
    from planner.problem import TimeWindow

    locks = edits.get("locks", [])
    moves = edits.get("moves", [])
    excluded = set(hex_from_cells(np.asarray(edits.get("exclude", []), dtype=np.int64)))
    if len(locks) + len(moves) + len(excluded) > MAX_EDITS:
        raise ReplanError(f"edits: at most {MAX_EDITS} locks, moves and excluded cells")
    units = {u.id for u in problem.units}
    stops = list(problem.stops)
    pinned: dict[int, str] = {}
    for unit, seq in locks:
        visit = _visit(plan, str(unit), int(seq))
        stop = stops[visit.stop]
        low, high = visit.start_s - LOCK_SLACK_S, visit.start_s + LOCK_SLACK_S
        windows = tuple(
            TimeWindow(max(w.start_s, low), min(w.end_s, high), w.weight)
            for w in stop.windows
            if w.end_s >= low and w.start_s <= high
        ) or (TimeWindow(low, high, 1.0),)
        stops[visit.stop] = replace(stop, unit=str(unit), mandatory=True, windows=windows)
        pinned[visit.stop] = str(unit)
    for unit, seq, to in moves:
        if str(to) not in units:
            raise ReplanError(f"edits: no unit {to} to move a stop to")
        visit = _visit(plan, str(unit), int(seq))
        if pinned.get(visit.stop, str(to)) != str(to):
            raise ReplanError(f"edits: cell {visit.cell} is both locked and moved")
        stops[visit.stop] = replace(stops[visit.stop], unit=str(to), mandatory=True)
        pinned[visit.stop] = str(to)
    for number, stop in enumerate(stops):
        if stop.cell in excluded:
            if number in pinned:
                raise ReplanError(f"edits: cell {stop.cell} is both kept and excluded")
            stops[number] = replace(stop, value=0.0, mandatory=False, unit=None)
    return replace(problem, stops=tuple(stops))


def edits_summary(edits: dict, cells_named) -> dict:  # noqa: ANN001
    """The edits for pages: locks, moves, exclusions with cell names."""
    return {
        "locks": [tuple(x) for x in edits.get("locks", [])],
        "moves": [tuple(x) for x in edits.get("moves", [])],
        "exclude": [cells_named(int(c)) for c in edits.get("exclude", [])],
        "reoptimise": bool(edits.get("reoptimise")),
    }


def check_edits(
    engine, stored: storage.StoredPlan, change: ReplanRequest
) -> tuple[PlannedDay, PlanRequest, dict]:
    """Apply the edits to the routes as they stand, without solving: excluded cells' visits
    leave, moved visits join their new unit in time order, added cells go where they cost the
    least travel; then the exact check says what breaks. Returns what :func:`replan_day`
    returns."""
    from planner.plan import plan_from_schedules
    from planner.problem_json import plan_from_json

    document = json.loads(stored.plan_json)
    base, _travel, _road = stored_problem(stored)
    problem, travel, road_network_file = stored_problem(stored, _urgent_nodes(base, change))
    added = _urgent_stops(problem, change.urgent)
    problem = _with_one_more_visit(problem, added)
    plan = plan_from_json(document, problem)
    edits = change.edits or {}
    problem = apply_edits(problem, plan, edits)
    moved = {(str(u), int(s)): str(to) for u, s, to in edits.get("moves", [])}
    plans: dict[str, list[tuple[int, float]]] = {u.id: [] for u in problem.units}
    for route in plan.routes:
        for seq, visit in enumerate(route.visits, start=1):
            if problem.stops[visit.stop].value <= 0 and not problem.stops[visit.stop].mandatory:
                continue  # excluded
            owner = moved.get((route.unit_id, seq), route.unit_id)
            plans[owner].append((visit.stop, visit.start_s))
    for owner in plans:
        plans[owner].sort(key=lambda item: item[1])
    visited = {stop for items in plans.values() for stop, _start in items}
    for number in sorted(added - visited):
        _insert_cheapest(problem, plans, number)
    schedules = []
    for route in plan.routes:
        items = plans.pop(route.unit_id)
        schedules.append(_schedule(route.unit_id, route.departure_s, items, route.rest_break))
    for unit_id, items in plans.items():  # units that had no route get one when given stops
        if items:
            unit = problem.units[problem.unit_index(unit_id)]
            schedules.append(_schedule(unit_id, unit.shift_start_s, items, None))
    checked = plan_from_schedules(problem, schedules, plan.stats, plan.idle_units)
    origin = pd.Timestamp(document["date_start_utc"])
    planned = PlannedDay(problem, checked, origin, str(document["timezone"]), stored.seed,
                         travel, stored.request.get("road_network"))  # fmt: skip
    request = _request_of(stored, change, road_network_file)
    record = {
        "at": change.at_s,
        "called_away": [],
        "back": [],
        "off_duty": (stored.replan or {}).get("off_duty", []),
        "urgent": [problem.stops[n].cell for n in sorted(added)],
        "done_from": change.done_from,
        "done_visits": None,
        "reason": change.reason,
        "edits": edits,
    }
    return planned, request, record


def _schedule(unit_id: str, departure_s: float, items, rest) -> RouteSchedule:  # noqa: ANN001
    from planner.plan import RouteSchedule

    stops = tuple(stop for stop, _start in items)
    starts = tuple(float(start) for _stop, start in items)
    if rest is None:
        return RouteSchedule(unit_id, departure_s, stops, starts)
    after = sum(1 for start in starts if start < rest.start_s)
    return RouteSchedule(unit_id, departure_s, stops, starts, after, rest.start_s)


def _insert_cheapest(problem: Problem, plans: dict[str, list], number: int) -> None:
    """Put ``number`` where it adds the least travel (start 0: as soon as the unit arrives)."""
    node = problem.stops[number].node
    locked = problem.stops[number].unit
    best: tuple[float, str, int] | None = None
    for unit in problem.units:
        if locked is not None and unit.id != locked:
            continue
        matrix = problem.travel_time_s[unit.mode]
        places = [unit.start_node] + [problem.stops[s].node for s, _t in plans[unit.id]]
        places.append(unit.end_node)
        for k in range(len(places) - 1):
            extra = matrix[places[k], node] + matrix[node, places[k + 1]]
            extra -= matrix[places[k], places[k + 1]]
            if best is None or extra < best[0]:
                best = (float(extra), unit.id, k)
    if best is not None:
        _extra, unit_id, k = best
        plans[unit_id].insert(k, (number, 0.0))
