"""The integer model both solver engines share: the problem in ticks, routes and solutions.

:func:`build_instance` turns a :class:`planner.problem.Problem` into an :class:`Instance`:
seconds become integer ticks once (costs rounded up, deadlines down), each stop becomes one
*option* per window, values get the seeded jitter, and options no unit can serve on its own
are dropped. A :class:`Route` is one unit's visits with their earliest-start schedule, a
:class:`Solution` all routes with visit counts and cap usage, and :func:`solution_value` the
objective. The search (``planner.search``), OR-Tools (``planner.ortools_engine``) and the
orchestration in ``planner.solver`` speak these; nothing outside the planner does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from planner._arrays import FloatArray, IntArray
from planner.plan import IdleUnit, RouteSchedule
from planner.problem import (
    INF_TICKS,
    Problem,
    Unit,
    ceil_ticks,
    floor_ticks,
    ticks_per_second,
)


@dataclass
class Instance:
    """The problem in ticks, with stops expanded into options (one per stop and window)."""

    problem: Problem
    scale: float
    units: list[int]  # problem unit numbers that get a route
    travel: list[IntArray]  # per route: ticks between nodes (the unit's mode)
    to_option: list[IntArray]  # per route: (nodes, options) ticks from each node to each option
    from_option: list[IntArray]  # per route: (nodes, options) ticks from each option to each node
    start: IntArray
    end: IntArray
    ready: IntArray
    due: IntArray
    pause: list[tuple[int, int, int] | None]  # (earliest, latest, duration) per route
    stop_value: FloatArray  # jittered values
    stop_dwell: IntArray
    stop_gap: IntArray
    stop_max: IntArray
    stop_mandatory: npt.NDArray[np.bool_]
    stop_cell: IntArray
    stop_area: IntArray  # -1: no area
    cell_cap: int | None
    area_cap: int | None
    opt_stop: IntArray
    opt_node: IntArray
    opt_open: IntArray
    opt_close: IntArray
    opt_dwell: IntArray
    opt_weight: FloatArray
    opt_prize: FloatArray  # first-visit prize, mandatory bonus included
    stop_options: list[list[int]]
    mandatory_bonus: float
    decay: float
    simple: bool  # no breaks, repeats or caps: the insertion test is exact
    timed: bool  # some option has a real window: reordering a route needs a full check
    untimed: bool  # no windows and no breaks: a route is feasible iff it ends in time
    eps: float  # smallest "extra time" in the value-per-time ratio
    # Per option, the one route that may take it (a stop locked to a unit), -1 for any;
    # None when no stop is locked.
    opt_route: IntArray | None = None

    @property
    def n_routes(self) -> int:
        return len(self.units)


def why_idle(problem: Problem, unit_number: int, scale: float) -> str | None:
    """Why the unit cannot even go from its start to its end station in its shift, or None."""
    unit = problem.units[unit_number]
    matrix = problem.travel_time_s[unit.mode]
    trip = int(ceil_ticks(matrix[unit.start_node, unit.end_node], scale))
    ready = int(ceil_ticks(unit.shift_start_s, scale))
    due = int(floor_ticks(unit.shift_end_s, scale))
    pause = unit.rest_break
    if trip >= INF_TICKS:
        return "its end station cannot be reached from its start station"
    extra = 0
    if pause is not None:
        earliest = int(ceil_ticks(pause.earliest_start_s, scale))
        latest = int(floor_ticks(pause.latest_start_s, scale))
        if max(ready, earliest) > latest or latest < ready:
            return "its break cannot start inside its shift"
        extra = max(ready, earliest) - ready + int(ceil_ticks(pause.duration_s, scale))
    if ready + trip + extra > due:
        return "its shift is too short to go from its start to its end station"
    return None


# An option before it becomes arrays: (stop number, node, open, close, window weight).
_OptionRow = tuple[int, int, int, int, float]


class _Shifts(NamedTuple):
    """Per route (unit that works): its matrix, stations and shift in ticks."""

    travel: list[IntArray]
    start: IntArray
    end: IntArray
    ready: IntArray
    due: IntArray
    pause: list[tuple[int, int, int] | None]


class _Options(NamedTuple):
    """Per option (stop and window): its stop, node, start interval in ticks and weight."""

    stop: IntArray
    node: IntArray
    open: IntArray
    close: IntArray
    weight: FloatArray


def mode_matrices(inst: Instance) -> tuple[IntArray, IntArray]:
    """The instance's distinct travel matrices, stacked, and each route's number among them
    (the compiled searches take one matrix per travel mode)."""
    matrices: list[IntArray] = []
    mode = np.zeros(inst.n_routes, dtype=np.int64)
    for r, t_mat in enumerate(inst.travel):
        known = [k for k, m in enumerate(matrices) if m is t_mat]
        if not known:
            matrices.append(t_mat)
        mode[r] = known[0] if known else len(matrices) - 1
    return np.stack(matrices), mode


def build_instance(
    problem: Problem, value_jitter: float, seed: int
) -> tuple[Instance, list[IdleUnit]]:
    """The problem in ticks, and the units that cannot work their shift with the reason."""
    scale = ticks_per_second(problem)
    units, idle = _working_units(problem, scale)
    chosen = [problem.units[u] for u in units]
    modes = sorted(problem.travel_time_s)
    by_mode = {m: ceil_ticks(problem.travel_time_s[m], scale) for m in modes}
    shifts = _shifts(chosen, by_mode, scale)
    travel, start, end, ready, due, pause = shifts
    stops = problem.stops
    values = _jittered_values(problem, value_jitter, seed)
    stop_cell, stop_area = _cell_and_area_numbers(problem)
    cell_cap, area_cap = _caps(problem, scale, has_areas=bool((stop_area >= 0).any()))
    stop_dwell = ceil_ticks([s.dwell_s for s in stops], scale).reshape(-1)
    horizon = (int(ready.min()), int(due.max())) if len(units) else (0, 0)
    route_of_unit = {problem.units[u].id: r for r, u in enumerate(units)}
    # -1: any route; else the route of the stop's unit (-2 when that unit cannot work).
    stop_route = [-1 if s.unit is None else route_of_unit.get(s.unit, -2) for s in stops]
    opts = _options(problem, scale, horizon, shifts, stop_dwell, stop_route)
    locked = any(r != -1 for r in stop_route)
    opt_route = np.array([stop_route[s] for s in opts.stop.tolist()], dtype=np.int64)
    mandatory = np.array([s.mandatory for s in stops], dtype=bool)
    prize, bonus = _first_visit_prizes(values, mandatory, opts)
    stop_options: list[list[int]] = [[] for _ in stops]
    for o, number in enumerate(opts.stop.tolist()):
        stop_options[number].append(o)
    stop_max = np.array([s.max_visits for s in stops], dtype=np.int64)
    any_options = bool(len(opts.stop))
    timed = any_options and bool((opts.open > horizon[0]).any() or (opts.close < horizon[1]).any())
    no_breaks = all(p is None for p in pause)
    single_visits = bool((stop_max[opts.stop] <= 1).all() if any_options else True)
    # Row gathers of these are much faster than 2-d fancy indexing in the search's hot loop.
    to_option = {m: np.ascontiguousarray(by_mode[m][:, opts.node]) for m in modes}
    from_option = {m: np.ascontiguousarray(by_mode[m][opts.node, :].T) for m in modes}
    route_to_option = [to_option[u.mode] for u in chosen]
    if locked:  # a route cannot reach the options locked to another route
        for r in range(len(chosen)):
            other = (opt_route >= 0) & (opt_route != r)
            if other.any():
                route_to_option[r] = route_to_option[r].copy()
                route_to_option[r][:, other] = INF_TICKS
    instance = Instance(
        problem=problem,
        scale=scale,
        units=units,
        travel=travel,
        to_option=route_to_option,
        from_option=[from_option[u.mode] for u in chosen],
        start=start,
        end=end,
        ready=ready,
        due=due,
        pause=pause,
        stop_value=values,
        stop_dwell=stop_dwell,
        stop_gap=ceil_ticks([s.min_gap_s for s in stops], scale).reshape(-1),
        stop_max=stop_max,
        stop_mandatory=mandatory,
        stop_cell=stop_cell,
        stop_area=stop_area,
        cell_cap=cell_cap,
        area_cap=area_cap,
        opt_stop=opts.stop,
        opt_node=opts.node,
        opt_open=opts.open,
        opt_close=opts.close,
        opt_dwell=stop_dwell[opts.stop] if any_options else np.zeros(0, dtype=np.int64),
        opt_weight=opts.weight,
        opt_prize=prize,
        stop_options=stop_options,
        mandatory_bonus=bonus,
        decay=problem.repeat_decay,
        simple=no_breaks and single_visits and cell_cap is None and area_cap is None and not locked,
        timed=timed,
        untimed=not timed and no_breaks and single_visits,
        eps=_smallest_extra_time(travel, opts.node),
        opt_route=opt_route if locked else None,
    )
    return instance, idle


def _working_units(problem: Problem, scale: float) -> tuple[list[int], list[IdleUnit]]:
    """Numbers of the units that can work their shift, and the others with the reason."""
    idle: list[IdleUnit] = []
    units: list[int] = []
    for number, unit in enumerate(problem.units):
        reason = why_idle(problem, number, scale)
        if reason is None:
            units.append(number)
        else:
            idle.append(IdleUnit(unit.id, reason))
    return units, idle


def _shifts(chosen: Sequence[Unit], by_mode: dict[str, IntArray], scale: float) -> _Shifts:
    """The chosen units' matrices, stations, shifts and breaks in ticks."""
    pause: list[tuple[int, int, int] | None] = []
    for unit in chosen:
        b = unit.rest_break
        pause.append(
            None
            if b is None
            else (
                int(ceil_ticks(b.earliest_start_s, scale)),
                int(floor_ticks(b.latest_start_s, scale)),
                int(ceil_ticks(b.duration_s, scale)),
            )
        )
    return _Shifts(
        travel=[by_mode[u.mode] for u in chosen],
        start=np.array([u.start_node for u in chosen], dtype=np.int64),
        end=np.array([u.end_node for u in chosen], dtype=np.int64),
        ready=ceil_ticks([u.shift_start_s for u in chosen], scale).reshape(-1),
        due=floor_ticks([u.shift_end_s for u in chosen], scale).reshape(-1),
        pause=pause,
    )


def _jittered_values(problem: Problem, value_jitter: float, seed: int) -> FloatArray:
    """Stop values with the seeded relative noise of ``SolverOptions.value_jitter``."""
    stops = problem.stops
    rng = np.random.default_rng([seed, 0x5EED])
    values = np.array([s.value for s in stops], dtype=np.float64)
    if value_jitter > 0 and len(stops):
        values = values * (1.0 + value_jitter * rng.uniform(-1.0, 1.0, len(stops)))
    return values


def _cell_and_area_numbers(problem: Problem) -> tuple[IntArray, IntArray]:
    """Each stop's cell and area as numbers in order of first use (area -1: none)."""
    cells: dict[str, int] = {}
    areas: dict[str, int] = {}
    stops = problem.stops
    stop_cell = np.array(
        [cells.setdefault(problem.cell_key(i), len(cells)) for i in range(len(stops))],
        dtype=np.int64,
    )
    stop_area = np.array(
        [-1 if s.area is None else areas.setdefault(s.area, len(areas)) for s in stops],
        dtype=np.int64,
    )
    return stop_cell, stop_area


def _caps(problem: Problem, scale: float, has_areas: bool) -> tuple[int | None, int | None]:
    """Most dwell in ticks per cell and per area, None where there is no cap."""
    total_shift = problem.total_shift_s
    cell_cap = (
        None
        if problem.max_cell_share is None
        else int(floor_ticks(problem.max_cell_share * total_shift, scale))
    )
    area_cap = (
        None
        if problem.max_area_share is None or not has_areas
        else int(floor_ticks(problem.max_area_share * total_shift, scale))
    )
    return cell_cap, area_cap


def _options(
    problem: Problem,
    scale: float,
    horizon: tuple[int, int],
    shifts: _Shifts,
    stop_dwell: IntArray,
    stop_route: Sequence[int] | None = None,
) -> _Options:
    """One option per stop and window worth a visit that some unit can serve on its own
    (the stop's unit, for a stop locked to one: ``stop_route`` -1 any, -2 none)."""
    rows: list[_OptionRow] = []
    horizon_lo, horizon_hi = horizon
    for number, stop in enumerate(problem.stops):
        windows = stop.windows or ()
        spans = (
            [(horizon_lo, horizon_hi, 1.0)]
            if not windows
            else [
                (
                    max(int(ceil_ticks(w.start_s, scale)), horizon_lo),
                    min(int(floor_ticks(w.end_s, scale)), horizon_hi),
                    w.weight,
                )
                for w in windows
            ]
        )
        for lo, hi, weight in spans:
            if lo <= hi and ((weight > 0 and stop.value > 0) or stop.mandatory):
                rows.append((number, stop.node, lo, hi, weight))
    # Keep only options some unit can serve on its own: the rest can never be visited.
    routes = range(len(shifts.start))
    allowed = stop_route or [-1] * len(problem.stops)
    kept = [
        row
        for row in rows
        if any(
            _serves(shifts, r, row, int(stop_dwell[row[0]]))
            for r in routes
            if allowed[row[0]] in (-1, r)
        )
    ]
    return _Options(
        stop=np.array([r[0] for r in kept], dtype=np.int64),
        node=np.array([r[1] for r in kept], dtype=np.int64),
        open=np.array([r[2] for r in kept], dtype=np.int64),
        close=np.array([r[3] for r in kept], dtype=np.int64),
        weight=np.array([r[4] for r in kept], dtype=np.float64),
    )


def _serves(shifts: _Shifts, r: int, row: _OptionRow, dwell: int) -> bool:
    """Whether route ``r`` can make this one visit (and its break) within its shift."""
    _, node, lo, hi, _ = row
    t = shifts.travel[r]
    arrive = max(int(shifts.ready[r]) + int(t[shifts.start[r], node]), lo)
    pause = shifts.pause[r]
    extra = 0 if pause is None else pause[2]
    back = int(t[node, shifts.end[r]])
    return arrive <= hi and arrive + dwell + back + extra <= int(shifts.due[r])


def _first_visit_prizes(
    values: FloatArray, mandatory: npt.NDArray[np.bool_], opts: _Options
) -> tuple[FloatArray, float]:
    """Each option's first-visit prize and the mandatory bonus (more than all values together)."""
    total_value = float(np.abs(values).sum() * max([1.0, *opts.weight.tolist()]))
    bonus = total_value + 1.0
    prize = values[opts.stop] * opts.weight if len(opts.stop) else np.zeros(0)
    if len(opts.stop):
        prize = prize + np.where(mandatory[opts.stop], bonus, 0.0)
    return prize, bonus


def _smallest_extra_time(travel: list[IntArray], opt_node: IntArray) -> float:
    """A thousandth of a typical trip between options: the floor of "extra time" in ratios."""
    sample = opt_node[:200]
    trips = travel[0][np.ix_(sample, sample)] if travel and len(sample) else np.zeros(0)
    trips = trips[trips < INF_TICKS]
    typical = float(np.median(trips)) if trips.size else 1.0
    return max(typical * 1e-3, 1.0)


# --------------------------------------------------------------------------------------
# Routes in ticks


class Route:
    """One route's visits (option numbers) and its earliest-start schedule, immutable.

    Arrays run over positions 0..L+1: 0 is the start station (``b`` = departure time), L+1
    the end station (``b`` = arrival). ``dep`` includes the dwell and, after the break's
    position, the break. ``maxshift[p]`` is how much later position ``p`` may start without
    breaking any later window or the shift end.
    """

    __slots__ = ("seq", "loc", "b", "dep", "arr", "maxshift", "travel", "brk", "ins", "tight")

    def __init__(
        self,
        seq: tuple[int, ...],
        loc: IntArray,
        b: IntArray,
        dep: IntArray,
        arr: IntArray,
        maxshift: IntArray,
        travel: int,
        brk: tuple[int, int] | None,
    ) -> None:
        self.seq = seq
        self.loc = loc
        self.b = b
        self.dep = dep
        self.arr = arr
        self.maxshift = maxshift
        self.travel = travel
        self.brk = brk
        # Insertion of every option into this route, computed once on first use.
        self.ins: tuple[IntArray, IntArray, IntArray] | None = None
        self.tight = False  # True once 2-opt has nothing left to improve

    @property
    def end(self) -> int:
        return int(self.b[-1])


def schedule_route(
    inst: Instance, r: int, seq: Sequence[int], brk_after: int | None
) -> tuple[list[int], list[int], list[int], int, tuple[int, int] | None] | None:
    """Earliest-start schedule with the break (if any) after ``brk_after`` visits."""
    t_mat = inst.travel[r]
    node, op, cl, dw = inst.opt_node, inst.opt_open, inst.opt_close, inst.opt_dwell
    pause = inst.pause[r]
    t = int(inst.ready[r])
    loc = int(inst.start[r])
    arr: list[int] = [t]
    b: list[int] = [t]
    dep: list[int] = []
    travel = 0
    brk: tuple[int, int] | None = None
    if pause is not None and brk_after == 0:
        bs = max(t, pause[0])
        if bs > pause[1]:
            return None
        brk = (0, bs)
        t = bs + pause[2]
    dep.append(t)
    repeats: dict[int, int] = {}  # stop -> earliest next start after its last visit here
    for k, o in enumerate(seq, start=1):
        v = int(node[o])
        leg = int(t_mat[loc, v])
        travel += leg
        a = t + leg
        s = a if a >= op[o] else int(op[o])
        stop = int(inst.opt_stop[o])
        if inst.stop_max[stop] > 1:
            # A repeat visit on the same route waits out the minimum gap.
            s = max(s, repeats.get(stop, s))
            repeats[stop] = s + int(inst.stop_dwell[stop]) + int(inst.stop_gap[stop])
        if s > cl[o]:
            return None
        arr.append(a)
        b.append(s)
        t = s + int(dw[o])
        if pause is not None and brk_after == k:
            bs = max(t, pause[0])
            if bs > pause[1]:
                return None
            brk = (k, bs)
            t = bs + pause[2]
        dep.append(t)
        loc = v
    leg = int(t_mat[loc, inst.end[r]])
    travel += leg
    t += leg
    if t > inst.due[r]:
        return None
    arr.append(t)
    b.append(t)
    return arr, b, dep, travel, brk


def make_route(
    inst: Instance, r: int, seq: Sequence[int], brk_after: int | None = None
) -> Route | None:
    """Schedule ``seq`` for route ``r``; None when no break position makes it feasible (or
    it holds an option locked to another route). ``brk_after``: the break after that many
    visits (the compiled search's choice), else where it ends the route first."""
    seq = tuple(seq)
    if inst.opt_route is not None and seq:
        owners = inst.opt_route[list(seq)]
        if ((owners >= 0) & (owners != r)).any():
            return None
    if inst.untimed:
        return _make_untimed_route(inst, r, seq)
    pause = inst.pause[r]
    if pause is None:
        found = schedule_route(inst, r, seq, None)
    else:
        found = None if brk_after is None else schedule_route(inst, r, seq, brk_after)
    if found is None and pause is not None:
        for after in range(len(seq) + 1):
            trial = schedule_route(inst, r, seq, after)
            if trial is not None and (found is None or trial[1][-1] < found[1][-1]):
                found = trial
    if found is None:
        return None
    arr_l, b_l, dep_l, travel, brk = found
    b = np.array(b_l, dtype=np.int64)
    arr = np.array(arr_l, dtype=np.int64)
    dep = np.array(dep_l + [b_l[-1]], dtype=np.int64)
    n = len(b_l)
    maxshift = np.zeros(n, dtype=np.int64)
    maxshift[-1] = int(inst.due[r]) - b_l[-1]
    close = inst.opt_close
    for p in range(n - 2, 0, -1):
        wait_next = b_l[p + 1] - arr_l[p + 1]
        room = close[seq[p - 1]] - b_l[p]
        through = wait_next + int(maxshift[p + 1])
        if brk is not None and brk[0] == p and pause is not None:
            idle = brk[1] - (b_l[p] + int(inst.opt_dwell[seq[p - 1]]))
            through = min(pause[1] - brk[1] + idle, idle + through)
        maxshift[p] = min(room, through)
    loc = np.empty(n, dtype=np.int64)
    loc[0] = inst.start[r]
    loc[-1] = inst.end[r]
    if seq:
        loc[1:-1] = inst.opt_node[list(seq)]
    return Route(seq, loc, b, dep, arr, maxshift, travel, brk)


def _make_untimed_route(inst: Instance, r: int, seq: tuple[int, ...]) -> Route | None:
    """``make_route`` without windows or breaks: cumulative sums, no waiting."""
    n = len(seq) + 2
    loc = np.empty(n, dtype=np.int64)
    loc[0] = inst.start[r]
    loc[-1] = inst.end[r]
    dwell = np.zeros(n, dtype=np.int64)
    if seq:
        opts = np.fromiter(seq, dtype=np.int64, count=n - 2)
        loc[1:-1] = inst.opt_node[opts]
        dwell[1:-1] = inst.opt_dwell[opts]
    legs = inst.travel[r][loc[:-1], loc[1:]]
    arr = np.empty(n, dtype=np.int64)
    arr[0] = inst.ready[r]
    np.cumsum(legs + dwell[:-1], out=arr[1:])
    arr[1:] += inst.ready[r]
    end = int(arr[-1])
    if end > inst.due[r]:
        return None
    maxshift = np.full(n, int(inst.due[r]) - end, dtype=np.int64)
    return Route(seq, loc, arr, arr + dwell, arr, maxshift, int(legs.sum()), None)


# --------------------------------------------------------------------------------------
# Solutions and their objective


class Solution:
    """Routes plus per-stop visit counts and cap usage."""

    __slots__ = ("routes", "count", "cell_used", "area_used")

    def __init__(
        self, routes: list[Route], count: IntArray, cell_used: IntArray, area_used: IntArray
    ) -> None:
        self.routes = routes
        self.count = count
        self.cell_used = cell_used
        self.area_used = area_used

    def copy(self) -> Solution:
        return Solution(
            list(self.routes), self.count.copy(), self.cell_used.copy(), self.area_used.copy()
        )

    @property
    def travel(self) -> int:
        return sum(r.travel for r in self.routes)


def empty_solution(inst: Instance) -> Solution:
    routes = []
    for r in range(inst.n_routes):
        route = make_route(inst, r, ())
        assert route is not None  # why_idle screened the units
        routes.append(route)
    n_cells = int(inst.stop_cell.max()) + 1 if len(inst.stop_cell) else 0
    n_areas = int(inst.stop_area.max()) + 1 if len(inst.stop_area) else 0
    return Solution(
        routes,
        np.zeros(len(inst.stop_value), dtype=np.int64),
        np.zeros(n_cells, dtype=np.int64),
        np.zeros(max(n_areas, 0), dtype=np.int64),
    )


def tally(inst: Instance, sol: Solution, o: int, sign: int) -> None:
    """Count a visit of option ``o`` in (sign 1) or out of (sign -1) the solution's totals."""
    s = int(inst.opt_stop[o])
    sol.count[s] += sign
    if inst.cell_cap is not None:
        sol.cell_used[inst.stop_cell[s]] += sign * inst.opt_dwell[o]
    if inst.area_cap is not None and inst.stop_area[s] >= 0:
        sol.area_used[inst.stop_area[s]] += sign * inst.opt_dwell[o]


def solution_of(
    inst: Instance,
    sequences: Sequence[Sequence[int]],
    breaks: Sequence[int | None] | None = None,
) -> Solution | None:
    """Schedule each route's options (the break after ``breaks[r]`` visits where given);
    None when a route does not fit in ticks."""
    sol = empty_solution(inst)
    for r, seq in enumerate(sequences):
        route = make_route(inst, r, seq, None if breaks is None else breaks[r])
        if route is None:
            return None
        sol.routes[r] = route
        for o in seq:
            tally(inst, sol, int(o), 1)
    return sol


def solution_value(inst: Instance, sol: Solution) -> float:
    """Objective: prizes (jittered values, mandatory bonus) with repeats decayed in time order."""
    if inst.simple:
        return float(sum(inst.opt_prize[list(r.seq)].sum() for r in sol.routes if r.seq))
    starts: dict[int, list[tuple[int, int]]] = {}
    for route in sol.routes:
        for k, o in enumerate(route.seq, start=1):
            starts.setdefault(int(inst.opt_stop[o]), []).append((int(route.b[k]), o))
    total = 0.0
    for s, visits in starts.items():
        visits.sort()
        for rank, (_, o) in enumerate(visits):
            total += inst.stop_value[s] * inst.opt_weight[o] * inst.decay**rank
        if inst.stop_mandatory[s]:
            total += inst.mandatory_bonus
    return total


def gap_conflicts(inst: Instance, sol: Solution, r: int, route: Route) -> set[int]:
    """Stops of ``route`` whose repeat visits (on any route) break the count or the gap."""
    repeat = [
        (k, o) for k, o in enumerate(route.seq, start=1) if inst.stop_max[inst.opt_stop[o]] > 1
    ]
    if not repeat:
        return set()
    starts: dict[int, list[int]] = {}
    for k, o in repeat:
        starts.setdefault(int(inst.opt_stop[o]), []).append(int(route.b[k]))
    for q, other in enumerate(sol.routes):
        if q == r:
            continue
        for k, o in enumerate(other.seq, start=1):
            s = int(inst.opt_stop[o])
            if s in starts:
                starts[s].append(int(other.b[k]))
    bad: set[int] = set()
    for s, times in starts.items():
        times.sort()
        need = int(inst.stop_dwell[s]) + int(inst.stop_gap[s])
        if len(times) > inst.stop_max[s] or any(
            b2 - b1 < need for b1, b2 in zip(times, times[1:], strict=False)
        ):
            bad.add(s)
    return bad


def gaps_ok(inst: Instance, sol: Solution, r: int, route: Route) -> bool:
    """Check repeat-visit gaps of the stops on ``route`` against all other routes."""
    return not gap_conflicts(inst, sol, r, route)


# --------------------------------------------------------------------------------------
# Back to seconds, and from seconds


def route_schedules(inst: Instance, sol: Solution) -> list[RouteSchedule]:
    """Express the routes in seconds: starts, departure and break from the tick schedule."""
    out: list[RouteSchedule] = []
    scale = inst.scale
    for r, route in enumerate(sol.routes):
        unit = inst.problem.units[inst.units[r]]
        stops = tuple(int(inst.opt_stop[o]) for o in route.seq)
        starts = tuple(float(route.b[k]) / scale for k in range(1, len(route.seq) + 1))
        departure = int(route.b[0])
        if route.seq and (route.brk is None or route.brk[0] > 0):
            # Leave as late as the first visit allows, so the wait happens at the station.
            first_leg = int(inst.travel[r][inst.start[r], inst.opt_node[route.seq[0]]])
            departure = max(departure, int(route.b[1]) - first_leg)
        brk_after = None if route.brk is None else route.brk[0]
        brk_start = None if route.brk is None else float(route.brk[1]) / scale
        out.append(
            RouteSchedule(
                unit_id=unit.id,
                departure_s=float(departure) / scale,
                stops=stops,
                starts_s=starts,
                break_after=brk_after,
                break_start_s=brk_start,
            )
        )
    return out


def solution_from_schedules(inst: Instance, schedules: Sequence[RouteSchedule]) -> Solution | None:
    """Rebuild a tick solution from schedules (option = the window holding the start that
    opens last: at a boundary shared by two windows the start waited for the later one, and
    the earlier window would let the rebuilt route start before it)."""
    route_of = {inst.problem.units[u].id: r for r, u in enumerate(inst.units)}
    sequences: list[list[int]] = [[] for _ in range(inst.n_routes)]
    breaks: list[int | None] = [None] * inst.n_routes
    for sched in schedules:
        r = route_of.get(sched.unit_id)
        if r is None:
            continue
        if inst.pause[r] is not None:
            breaks[r] = sched.break_after
        for s, start in zip(sched.stops, sched.starts_s, strict=True):
            tick = int(math.ceil(start * inst.scale))
            options = [
                o for o in inst.stop_options[s] if inst.opt_open[o] <= tick <= inst.opt_close[o]
            ]
            if not options:
                return None
            sequences[r].append(max(options, key=lambda o: (int(inst.opt_open[o]), -o)))
    return solution_of(inst, sequences, breaks)
