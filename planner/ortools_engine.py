"""OR-Tools routing for the integer model: the only module that imports OR-Tools.

:func:`solve_ortools` states an :class:`planner.model.Instance` as an OR-Tools routing
model and solves it, optionally starting from a search solution: prize-collecting
disjunctions, a time dimension with windows, breaks and repeat-visit gaps as constraints,
caps as sums of dwell, guided local search under a time limit that also ends once the search
has gone as long without a better plan as it took to find its last one (at least a second:
a small problem then ends in about a second instead of using its whole limit). Each stop
becomes one
*slot* per window and visit number. *Index* is OR-Tools' own numbering and never leaves
this module: the routes come back as option sequences and are re-scheduled and re-checked
in ticks before anything else sees them.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2, routing_parameters_pb2

from planner._arrays import IntArray
from planner.model import Instance, Solution, gaps_ok, solution_of


@dataclass(frozen=True)
class _Slots:
    """OR-Tools' nodes: the stations first, then one slot per (option, visit number).

    ``loc`` and ``dwell`` run over all of them; ``option`` and ``rank`` (0 for a first
    visit) over the slots, slot ``i`` being OR-Tools node ``n_depots + i``.
    """

    depots: list[int]  # problem nodes of the stations, sorted
    option: list[int]
    rank: list[int]
    loc: IntArray
    dwell: IntArray

    @property
    def n_depots(self) -> int:
        return len(self.depots)


@dataclass(frozen=True)
class _Model:
    """An instance's routing model and what its constraints are stated in."""

    inst: Instance
    slots: _Slots
    manager: pywrapcp.RoutingIndexManager
    routing: pywrapcp.RoutingModel
    offset: int  # the tick that is OR-Tools' time zero
    horizon: int  # ticks from time zero to the last shift end
    slot_index: list[int]  # OR-Tools' index of each slot


# OR-Tools' search ends once it has gone this many times as long without a better plan as it
# took to find the last one, and at least _STALL_MIN_S (measured 2026-12-05: the demo's
# re-plans in the last hour of the shift 9.4-9.8 s -> 4.0-6.6 s at a 10 s limit, same
# values; random 24- and 60-stop rule problems at 10 s: same values within noise, and the
# search mostly still improving near the limit).
_STALL_FACTOR = 1.0
_STALL_MIN_S = 1.0


class OrToolsRun(NamedTuple):
    """What an OR-Tools solve gave: the solution in the search's representation (None when
    OR-Tools found none or its routes failed the tick check), OR-Tools' status name (with the
    reason a solution was dropped), the number of solutions it went through, and whether it
    ended for want of a better plan rather than at its time limit."""

    solution: Solution | None
    status: str
    solutions: int
    converged: bool


def solve_ortools(inst: Instance, time_limit_s: float, initial: Solution | None) -> OrToolsRun:
    """Solve the instance with OR-Tools routing, optionally from ``initial``.

    OR-Tools' routing search has no seed: for a fixed model it is deterministic up to its
    time limit, and where it ends for want of a better plan, up to the clock.
    """
    model = _new_model(inst)
    transits, cost_scale = _add_travel(model)
    time_dim = _add_time(model, transits)
    _add_windows_and_prizes(model, time_dim, cost_scale)
    _add_repeat_gaps(model, time_dim)
    _add_caps(model)
    _add_breaks(model, time_dim)
    _add_locks(model)
    params = _search_parameters(time_limit_s)
    routing = model.routing
    routing.CloseModelWithParameters(params)
    stall = _Stall(routing)
    if initial is not None:
        assignment = routing.ReadAssignmentFromRoutes(_slots_of_solution(model, initial), True)
        solution = (
            routing.SolveFromAssignmentWithParameters(assignment, params)
            if assignment is not None
            else routing.SolveWithParameters(params)
        )
    else:
        solution = routing.SolveWithParameters(params)
    status = _status_name(routing.status())
    if solution is None:
        return OrToolsRun(None, status, 0, stall.stopped)
    sol = solution_of(inst, _sequences(model, solution))
    if sol is None:
        return OrToolsRun(None, status + " (routes failed the tick check)", 0, stall.stopped)
    if not inst.simple and not all(
        gaps_ok(inst, sol, r, sol.routes[r]) for r in range(inst.n_routes)
    ):
        reason = " (earliest-start schedule breaks a repeat gap)"
        return OrToolsRun(None, status + reason, 0, stall.stopped)
    return OrToolsRun(sol, status, int(routing.solver().Solutions()), stall.stopped)


class _Stall:
    """Ends the routing search once it has gone ``_STALL_FACTOR`` times as long without a
    lower cost as it took to reach the last one, and at least ``_STALL_MIN_S``."""

    def __init__(self, routing: pywrapcp.RoutingModel) -> None:
        self.routing = routing
        self.started = self.improved_at = time.perf_counter()
        self.best = math.inf
        self.stopped = False
        routing.AddAtSolutionCallback(self._at_solution)
        routing.AddSearchMonitor(routing.solver().CustomLimit(self._stalled))

    def _at_solution(self) -> None:
        cost = self.routing.CostVar().Value()
        if cost < self.best:
            self.best, self.improved_at = cost, time.perf_counter()

    def _stalled(self) -> bool:
        quiet = time.perf_counter() - self.improved_at
        if quiet > max(_STALL_MIN_S, _STALL_FACTOR * (self.improved_at - self.started)):
            self.stopped = True
        return self.stopped


def _add_locks(model: _Model) -> None:
    """A stop locked to a unit may only be visited by that unit's route (or not at all:
    vehicle -1). SetAllowedVehiclesForIndex would say the same, but its Python binding
    refuses every list in this OR-Tools version."""
    owners = model.inst.opt_route
    if owners is None:
        return
    for i, o in enumerate(model.slots.option):
        if int(owners[o]) >= 0:
            model.routing.VehicleVar(model.slot_index[i]).SetValues([-1, int(owners[o])])


def _slots(inst: Instance) -> _Slots:
    """The stations and one slot per visit an option may get (the cell cap bounds repeats)."""
    depot_nodes = sorted({int(x) for x in np.concatenate([inst.start, inst.end])})
    slot_opt: list[int] = []
    slot_rank: list[int] = []
    for o in range(len(inst.opt_stop)):
        s = int(inst.opt_stop[o])
        visits = int(inst.stop_max[s])
        if inst.cell_cap is not None and inst.opt_dwell[o] > 0:
            visits = min(visits, int(inst.cell_cap // int(inst.opt_dwell[o])))
        for k in range(visits):
            slot_opt.append(o)
            slot_rank.append(k)
    n_depots = len(depot_nodes)
    node_loc = np.array(depot_nodes + [int(inst.opt_node[o]) for o in slot_opt], dtype=np.int64)
    node_dwell = (
        np.concatenate(
            [np.zeros(n_depots, dtype=np.int64), inst.opt_dwell[slot_opt].astype(np.int64)]
        )
        if slot_opt
        else np.zeros(n_depots, dtype=np.int64)
    )
    return _Slots(depot_nodes, slot_opt, slot_rank, node_loc, node_dwell)


def _new_model(inst: Instance) -> _Model:
    """Index manager and routing model: one vehicle per route, between its stations."""
    slots = _slots(inst)
    depot_of = {node: i for i, node in enumerate(slots.depots)}
    offset = int(min(inst.ready.min(), inst.opt_open.min() if len(inst.opt_open) else 0))
    starts = [depot_of[int(x)] for x in inst.start]
    ends = [depot_of[int(x)] for x in inst.end]
    manager = pywrapcp.RoutingIndexManager(
        slots.n_depots + len(slots.option), inst.n_routes, starts, ends
    )
    return _Model(
        inst=inst,
        slots=slots,
        manager=manager,
        routing=pywrapcp.RoutingModel(manager),
        offset=offset,
        horizon=int(inst.due.max()) - offset,
        slot_index=[manager.NodeToIndex(slots.n_depots + i) for i in range(len(slots.option))],
    )


def _add_travel(model: _Model) -> tuple[list[int], float]:
    """Transit (dwell + travel) and arc cost (travel) per distinct travel matrix.

    Returns each route's transit callback and the scale of arc costs: long shifts are
    scaled down so that costs stay small next to the prize penalties.
    """
    inst, routing, node_loc = model.inst, model.routing, model.slots.loc
    transit_of: dict[int, int] = {}
    cost_of: dict[int, int] = {}
    cost_scale = 1.0
    max_route = int((inst.due - inst.ready).max())
    if max_route > 1_000_000:
        cost_scale = 1_000_000 / max_route
    for r in range(inst.n_routes):
        key = id(inst.travel[r])
        if key not in transit_of:
            sub = inst.travel[r][np.ix_(node_loc, node_loc)]
            sub = np.minimum(sub, model.horizon + 1)
            transit = sub + model.slots.dwell[:, None]
            transit_of[key] = routing.RegisterTransitMatrix(transit.tolist())
            cost = np.ceil(sub * cost_scale).astype(np.int64)
            cost_of[key] = routing.RegisterTransitMatrix(cost.tolist())
        routing.SetArcCostEvaluatorOfVehicle(cost_of[key], r)
    return [transit_of[id(inst.travel[r])] for r in range(inst.n_routes)], cost_scale


def _add_time(model: _Model, transits: list[int]) -> pywrapcp.RoutingDimension:
    """The time dimension, waiting allowed anywhere, and each route's shift."""
    inst, routing, offset = model.inst, model.routing, model.offset
    routing.AddDimensionWithVehicleTransits(
        transits,
        model.horizon,  # slack_max: waiting allowed anywhere
        model.horizon,  # capacity
        False,  # fix_start_cumul_to_zero
        "time",
    )
    time_dim = routing.GetDimensionOrDie("time")
    for r in range(inst.n_routes):
        time_dim.CumulVar(routing.Start(r)).SetRange(
            int(inst.ready[r]) - offset, int(inst.due[r]) - offset
        )
        time_dim.CumulVar(routing.End(r)).SetRange(
            int(inst.ready[r]) - offset, int(inst.due[r]) - offset
        )
    return time_dim


def _add_windows_and_prizes(
    model: _Model, time_dim: pywrapcp.RoutingDimension, cost_scale: float
) -> None:
    """Each slot's window, and a disjunction whose penalty is its prize (decayed by rank).

    Penalties are scaled so that the smallest prize outweighs all routes' costs.
    """
    inst, routing, offset = model.inst, model.routing, model.offset
    max_route = int((inst.due - inst.ready).max())
    max_cost = int(math.ceil(max_route * cost_scale)) * inst.n_routes + 1
    positive = inst.opt_prize[inst.opt_prize > 0]
    unit_prize = float(positive.min()) if len(positive) else 1.0
    penalty_scale = max_cost / unit_prize
    for i, o in enumerate(model.slots.option):
        index = model.slot_index[i]
        time_dim.CumulVar(index).SetRange(
            max(0, int(inst.opt_open[o]) - offset), max(0, int(inst.opt_close[o]) - offset)
        )
        s = int(inst.opt_stop[o])
        rank = model.slots.rank[i]
        prize = inst.stop_value[s] * inst.opt_weight[o] * inst.decay**rank
        if inst.stop_mandatory[s] and rank == 0:
            prize += inst.mandatory_bonus
        penalty = int(min(prize * penalty_scale, 2**50))
        routing.AddDisjunction([index], max(penalty, 1))


def _add_repeat_gaps(model: _Model, time_dim: pywrapcp.RoutingDimension) -> None:
    """Repeat visits: one slot per visit number, in order, apart by dwell + gap."""
    inst, routing, slot_index = model.inst, model.routing, model.slot_index
    solver = routing.solver()
    by_stop_rank: dict[tuple[int, int], list[int]] = {}
    for i, o in enumerate(model.slots.option):
        by_stop_rank.setdefault((int(inst.opt_stop[o]), model.slots.rank[i]), []).append(i)
    for (s, k), slots in by_stop_rank.items():
        actives = [routing.ActiveVar(slot_index[i]) for i in slots]
        if len(slots) > 1:
            solver.Add(solver.Sum(actives) <= 1)
        if k == 0:
            continue
        before = by_stop_rank[(s, k - 1)]
        solver.Add(
            solver.Sum(actives) <= solver.Sum([routing.ActiveVar(slot_index[i]) for i in before])
        )
        need = int(inst.stop_dwell[s]) + int(inst.stop_gap[s])
        big = model.horizon + need
        for i in slots:
            for j in before:
                later = time_dim.CumulVar(slot_index[i])
                earlier = time_dim.CumulVar(slot_index[j])
                both = routing.ActiveVar(slot_index[i]) + routing.ActiveVar(slot_index[j])
                solver.Add(later - earlier >= need - big * (2 - both))


def _add_caps(model: _Model) -> None:
    """Caps on dwell per cell and per area: the active slots' dwell summed."""
    inst, routing, slot_opt = model.inst, model.routing, model.slots.option
    solver = routing.solver()
    for cap, groups in (
        (inst.cell_cap, inst.stop_cell),
        (inst.area_cap, inst.stop_area),
    ):
        if cap is None:
            continue
        members: dict[int, list[int]] = {}
        for i, o in enumerate(slot_opt):
            g = int(groups[inst.opt_stop[o]])
            if g >= 0:
                members.setdefault(g, []).append(i)
        for slots in members.values():
            dwell = [int(inst.opt_dwell[slot_opt[i]]) for i in slots]
            if sum(dwell) > cap:
                solver.Add(
                    solver.Sum(
                        [
                            routing.ActiveVar(model.slot_index[i]) * d
                            for i, d in zip(slots, dwell, strict=True)
                        ]
                    )
                    <= cap
                )


def _add_breaks(model: _Model, time_dim: pywrapcp.RoutingDimension) -> None:
    """Breaks: an interval the unit spends neither visiting nor travelling."""
    inst, routing, offset = model.inst, model.routing, model.offset
    solver = routing.solver()
    visit_transit = [0] * routing.Size()
    for i, o in enumerate(model.slots.option):
        visit_transit[model.slot_index[i]] = int(inst.opt_dwell[o])
    for r in range(inst.n_routes):
        pause = inst.pause[r]
        if pause is None:
            continue
        interval = solver.FixedDurationIntervalVar(
            max(0, pause[0] - offset), max(0, pause[1] - offset), pause[2], False, f"break {r}"
        )
        time_dim.SetBreakIntervalsOfVehicle([interval], r, visit_transit)


def _search_parameters(time_limit_s: float) -> routing_parameters_pb2.RoutingSearchParameters:
    """Parallel cheapest insertion, then guided local search until the time limit."""
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = (
        routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    )
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    params.time_limit.FromMilliseconds(max(1, int(time_limit_s * 1000)))
    return params


def _sequences(model: _Model, solution: pywrapcp.Assignment) -> list[list[int]]:
    """Each route's options in order, read from OR-Tools' solution (indices stay here)."""
    routing, manager = model.routing, model.manager
    sequences: list[list[int]] = []
    for r in range(model.inst.n_routes):
        seq: list[int] = []
        index = solution.Value(routing.NextVar(routing.Start(r)))
        while not routing.IsEnd(index):
            seq.append(model.slots.option[manager.IndexToNode(index) - model.slots.n_depots])
            index = solution.Value(routing.NextVar(index))
        sequences.append(seq)
    return sequences


def _slots_of_solution(model: _Model, sol: Solution) -> list[list[int]]:
    """Express a search solution as OR-Tools routes of variable indices (visit numbers by
    start time). Indices are not node numbers once a unit ends at another station than it
    starts from (a re-plan's units start where they are): each slot's index comes from the
    index manager."""
    inst, slots = model.inst, model.slots
    free: dict[tuple[int, int], int] = {}
    for i, o in enumerate(slots.option):
        free.setdefault((o, slots.rank[i]), model.slot_index[i])
    visits: list[tuple[int, int, int, int]] = []  # (stop, start, route, position)
    for r, route in enumerate(sol.routes):
        for k, o in enumerate(route.seq, start=1):
            visits.append((int(inst.opt_stop[o]), int(route.b[k]), r, k - 1))
    visits.sort()
    rank_of: dict[tuple[int, int], int] = {}
    seen: dict[int, int] = {}
    for s, _, r, p in visits:
        rank_of[(r, p)] = seen.get(s, 0)
        seen[s] = seen.get(s, 0) + 1
    routes: list[list[int]] = []
    for r, route in enumerate(sol.routes):
        nodes = []
        for p, o in enumerate(route.seq):
            node = free.get((o, rank_of[(r, p)]))
            if node is not None:
                nodes.append(node)
        routes.append(nodes)
    return routes


def _status_name(status: int) -> str:
    names = {
        0: "ROUTING_NOT_SOLVED",
        1: "ROUTING_SUCCESS",
        2: "ROUTING_PARTIAL_SUCCESS_LOCAL_OPTIMUM_NOT_REACHED",
        3: "ROUTING_FAIL",
        4: "ROUTING_FAIL_TIMEOUT",
        5: "ROUTING_INVALID",
        6: "ROUTING_INFEASIBLE",
        7: "ROUTING_OPTIMAL",
    }
    return names.get(int(status), f"STATUS_{int(status)}")
