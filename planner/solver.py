"""Solve patrol problems: the planner's entry points and the choice of engine.

A patrol problem is a team orienteering problem with time windows: choose, for every unit,
a route from its start station to its end station that visits the most valuable stops
within its shift. Two engines share one integer model (``planner.model``):

``"search"``
    The planner's own orienteering search (``planner.search``): greedy insertion by value
    per extra minute, then ruin-and-recreate with local search (2-opt, relocation between
    routes, insertion of unvisited stops, swaps of visited for unvisited stops) and
    simulated-annealing acceptance cooling to zero at 80 % of the work budget, then descent
    from the best plan found, all seeded. Orienteering needs moves that insert, remove and
    exchange stops under the shift limit, which OR-Tools' default operators do not make
    well. It runs compiled (numba, counting its work in elementary steps) in three forms:
    ``planner.fastsearch`` for problems without windows, breaks, repeat visits, caps or
    locked stops (plain team orienteering), ``planner.fastwindows`` for those with visit
    windows (weighted windows, waiting, dwell) and nothing else, and ``planner.fastrules``
    (driven by ``planner.fastrulesrun``) for every other problem: breaks, repeat visits
    with minimum gaps and decayed value, cell and area caps, stops locked to a unit. The
    Python search (``planner.search``) is no longer run by the solver: the tests keep it as
    an oracle for the compiled ones.
``"ortools"``
    OR-Tools routing (``planner.ortools_engine``, the only module that imports OR-Tools):
    prize-collecting disjunctions, a time dimension with windows, breaks and repeat-visit
    gaps as constraints, guided local search under a time limit.
``"auto"`` (default)
    The search, then OR-Tools started from its routes for the time left, at least the last
    part (the best of both is kept; OR-Tools ends early once it stops finding better plans).
    Problems above ``decompose_above`` stops are split by the units' home stations (where
    they end their shift) and solved part by part.

Seconds become integer ticks once, at the boundary (``planner.problem.ticks_per_second``),
costs rounded up; every plan is then checked exactly by ``planner.plan_check.check_plan``.
*Node* is a row of the problem's travel-time matrix; *index* is OR-Tools' own numbering and
never leaves ``planner.ortools_engine``. This module keeps the orchestration: the options,
splitting large problems by station, parallel workers, and which search runs.

Reproducibility: the search runs on a work budget derived from the time limit (estimated
microseconds of the reference machine, not the clock) and stops early once it has gone many
rounds without a better plan, so a seed gives the same plan on any machine that finishes that
budget within the limit; ``SolverStats.stopped_by`` says ``"time_limit"`` when the clock cut
it short. With ``workers > 1`` independent searches run in forked processes, each on its own
stream of the seed, and the best plan wins (same seed and workers, same plan).
"""

from __future__ import annotations

import math
import multiprocessing
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from planner import fastrulesrun, fastsearch, fastwindows
from planner.errors import InvalidSolverOptionError
from planner.model import (
    Instance,
    Solution,
    build_instance,
    empty_solution,
    mode_matrices,
    route_schedules,
    solution_from_schedules,
    solution_of,
    solution_value,
)
from planner.ortools_engine import solve_ortools
from planner.plan import (
    IdleUnit,
    PatrolPlan,
    RouteSchedule,
    SolverStats,
    plan_from_schedules,
)
from planner.problem import Problem
from planner.search import DESCEND_BY_CLOCK, TEMPERATURE, patience_rounds
from planner.search_base import WORK_PER_SECOND

__all__ = [
    "ENGINES",
    "SolverOptions",
    "plan_patrols",
    "warm_kernels",
]

# Elementary steps of the compiled search (planner.fastsearch) per unit of work: measured
# on the reference machine, the 100-stop TOP instances (the slowest per step) then spend
# about 1.2-1.4 s of a 1.8 s limit with two workers.
_OPS_PER_WORK = 200.0
# The same for the windowed search (planner.fastwindows), whose steps re-schedule routes:
# the Solomon OPTW instances (bench/top_bench.py) then take 0.3-0.5 s of a 1.8 s limit and
# reach their proven optima with one worker or two; at 50 they often ran into the clock on
# a loaded machine, at no better value.
_WINDOWED_OPS_PER_WORK = 25.0
# The same for the search with every rule (planner.fastrulesrun).
_RULES_OPS_PER_WORK = 40.0
# The compiled search's rounds are 10-30 times cheaper, so it waits this many times longer
# before calling a search converged.
_COMPILED_PATIENCE = 10
# Share of the time limit that "auto" leaves to OR-Tools after the search.
_ORTOOLS_SHARE = 0.15
# Below this many stops, OR-Tools polishing is worth its model-building cost.
_ORTOOLS_MAX_SLOTS = 400
# Most work per second of time limit: the compiled searches read the clock only between
# their 40 slices of the work, so a work budget far above the limit (--work 1e12) ran on for
# hours past it. No machine does more than this in the limit, so capping the work there
# changes no plan the clock would not have stopped anyway.
_MAX_WORK_PER_LIMIT = 4.0
# Values of SolverOptions.engine (see the module docstring).
ENGINES = ("auto", "search", "ortools")


@dataclass(frozen=True)
class SolverOptions:
    """How to solve.

    Attributes
    ----------
    time_limit_s
        Wall-clock limit for the whole solve, model building and checks included.
    seed
        Seed of every random choice (the daily seed): same seed, same plan.
    engine
        ``"auto"``, ``"search"`` or ``"ortools"`` (see the module docstring).
    value_jitter
        Relative noise on stop values, drawn from the seed: 0.02 lets different seeds pick
        among plans within about 2 % of the best, so patrols are not predictable. Values in
        the plan are always the true ones.
    decompose_above
        Split problems with more stops than this by the units' home stations (the
        maintainers advise decomposing above about 1,000 stops).
    workers
        Independent searches run side by side (forked processes), each from its own stream
        of the seed; the best plan wins. Use the number of free cores.
    work_s
        The search's work budget, in seconds of an unloaded machine like the benchmark's
        (default: the time limit). The search stops when its work is done, so the same seed
        gives the same plan however busy the machine is, as long as the time limit (always
        a hard stop) leaves room: set a limit well above the work where that matters.
    """

    time_limit_s: float = 30.0
    seed: int = 0
    engine: str = "auto"
    value_jitter: float = 0.0
    decompose_above: int = 1000
    workers: int = 1
    work_s: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.time_limit_s) and self.time_limit_s > 0):
            raise InvalidSolverOptionError(
                f"time_limit_s must be a positive number of seconds, got {self.time_limit_s}"
            )
        if self.work_s is not None and not (math.isfinite(self.work_s) and self.work_s > 0):
            raise InvalidSolverOptionError(
                f"work_s must be a positive number of seconds, got {self.work_s}"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise InvalidSolverOptionError(f"seed must be an integer >= 0, got {self.seed!r}")
        if self.engine not in ENGINES:
            raise InvalidSolverOptionError(f"engine must be one of {ENGINES}, got {self.engine!r}")
        if not (0.0 <= self.value_jitter < 1.0):
            raise InvalidSolverOptionError(
                f"value_jitter must be in [0, 1), got {self.value_jitter}"
            )
        if (
            isinstance(self.workers, bool)
            or not isinstance(self.workers, int)
            or not (1 <= self.workers <= 64)
        ):
            raise InvalidSolverOptionError(
                f"workers must be an integer in 1..64, got {self.workers!r}"
            )
        if self.decompose_above < 1:
            raise InvalidSolverOptionError(
                f"decompose_above must be >= 1, got {self.decompose_above}"
            )


# --------------------------------------------------------------------------------------
# Public entry points


def warm_kernels() -> float:
    """Compile the three compiled searches into numba's cache (or load them from it) and
    return the seconds it took: minutes on a machine's first run, under a second after.
    ``make install`` calls it, so the first plan job of a new installation does not spend its
    time limit compiling."""
    return fastsearch.warm() + fastwindows.warm() + fastrulesrun.warm()


def plan_patrols(problem: Problem, options: SolverOptions | None = None) -> PatrolPlan:
    """Plan every unit's route for the day.

    Parameters
    ----------
    problem
        The patrol problem.
    options
        Time limit, seed, engine and jitter (``SolverOptions()`` by default).

    Returns
    -------
    PatrolPlan
        Routes with times, skipped stops with reasons, totals, statistics and the exact
        feasibility check. An empty problem, or one where no stop is reachable, gives a plan
        whose status and message say why.
    """
    options = options or SolverOptions()
    started = time.perf_counter()
    deadline = started + options.time_limit_s
    if len(problem.stops) > options.decompose_above and len(problem.units) > 1:
        parts = _decompose(problem)
        if len(parts) > 1:
            return _solve_parts(problem, parts, options, started, deadline)
    schedules, idle, stats = _solve_whole(problem, options, started, deadline)
    return plan_from_schedules(problem, schedules, stats, idle)


def _solve_whole(
    problem: Problem, options: SolverOptions, started: float, deadline: float
) -> tuple[list[RouteSchedule], list[IdleUnit], SolverStats]:
    """Solve the problem in one piece with the engine the options ask for."""
    inst, idle = build_instance(problem, options.value_jitter, options.seed)
    scale = inst.scale
    if not inst.n_routes or not len(inst.opt_stop):
        sol = empty_solution(inst)
        stats = SolverStats(
            engine="none",
            seed=options.seed,
            time_limit_s=options.time_limit_s,
            wall_time_s=time.perf_counter() - started,
            iterations=0,
            stopped_by="nothing_to_do",
            ticks_per_second=scale,
        )
        return route_schedules(inst, sol), idle, stats
    remaining = max(deadline - time.perf_counter(), 0.0)
    engine = options.engine
    use_ortools = engine == "ortools" or (
        engine == "auto" and len(inst.opt_stop) <= _ORTOOLS_MAX_SLOTS and not inst.simple
    )
    search_share = 0.0 if engine == "ortools" else (1.0 - _ORTOOLS_SHARE if use_ortools else 1.0)
    iterations = 0
    stopped_by = "budget"
    best: Solution | None = None
    status: str | None = None
    if search_share > 0:
        nominal_s = options.time_limit_s if options.work_s is None else options.work_s
        nominal_s = min(nominal_s, _MAX_WORK_PER_LIMIT * options.time_limit_s)
        work = nominal_s * search_share * WORK_PER_SECOND
        until = time.perf_counter() + remaining * search_share
        best, iterations, timed_out = _search_in_parallel(inst, options, work, until)
        if timed_out:
            stopped_by = "time_limit"
    if use_ortools:
        left = max(deadline - time.perf_counter(), 0.05)
        run = solve_ortools(inst, left * 0.9, best)
        found, status = run.solution, run.status
        iterations += run.solutions
        if not run.converged:
            stopped_by = "time_limit"
        elif stopped_by == "budget":
            stopped_by = "converged"
        if found is not None and (
            best is None
            or (solution_value(inst, found), -found.travel)
            > (solution_value(inst, best), -best.travel)
        ):
            best = found
    if best is None:
        best = empty_solution(inst)
    if search_share == 0:
        name = "ortools"
    else:
        name = "search+ortools" if use_ortools else "search"
    stats = SolverStats(
        engine=name,
        seed=options.seed,
        time_limit_s=options.time_limit_s,
        wall_time_s=time.perf_counter() - started,
        iterations=iterations,
        stopped_by=stopped_by,
        ticks_per_second=scale,
        ortools_status=status,
    )
    return route_schedules(inst, best), idle, stats


def _run_search(
    inst: Instance, seed: int, worker: int, work: float, until: float
) -> tuple[Solution, int, bool]:
    """One worker's search (compiled where it fits): best solution, rounds, timed out."""
    if _compiled_search_fits(inst):
        return _run_compiled_search(inst, seed, worker, work, until)
    if _windowed_search_fits(inst):
        return _run_windowed_search(inst, seed, worker, work, until)
    return _run_rules_search(inst, seed, worker, work, until)


def _compiled_search_fits(inst: Instance) -> bool:
    """Whether ``planner.fastsearch`` solves this instance: no windows, breaks, repeats, caps
    or locked stops (``simple`` is False with any of them)."""
    return inst.untimed and inst.simple and inst.n_routes > 0 and len(inst.opt_node) > 0


def _windowed_search_fits(inst: Instance) -> bool:
    """Whether ``planner.fastwindows`` solves it: windows, but no breaks, repeats or caps."""
    return inst.simple and not inst.untimed and inst.n_routes > 0 and len(inst.opt_node) > 0


def _option_arrays(inst: Instance) -> dict[str, Any]:
    """The instance's arrays both ``fastsearch`` and ``fastwindows`` take: one travel matrix
    per distinct mode and each unit's mode, the shift ends, each option's node, dwell and
    prize, and ``eps`` (the smallest extra time of the value-per-time ratio)."""
    travel, mode = mode_matrices(inst)
    return {
        "travel": travel,
        "mode": mode,
        "start": inst.start,
        "end": inst.end,
        "node": inst.opt_node,
        "dwell": inst.opt_dwell,
        "prize": inst.opt_prize,
        "eps": inst.eps,
    }


def _search_controls(
    inst: Instance, seed: int, worker: int, work_ops: float, until: float
) -> dict[str, Any]:
    """What every compiled search is run with: the worker's seed (its own stream of
    ``seed``), its work budget and deadline, and the annealing schedule."""
    return {
        "seed": int(np.random.SeedSequence([seed, 1, worker]).generate_state(1)[0]),
        "work_ops": work_ops,
        "deadline": until,
        "temperature": TEMPERATURE,
        "patience": _COMPILED_PATIENCE * patience_rounds(inst),
        "descend_by_clock": DESCEND_BY_CLOCK,
    }


def _run_windowed_search(
    inst: Instance, seed: int, worker: int, work: float, until: float
) -> tuple[Solution, int, bool]:
    """``planner.fastwindows`` on the instance's arrays (windows as option intervals)."""
    sequences, iterations, timed_out = fastwindows.search(
        **_option_arrays(inst),
        ready=inst.ready,
        due=inst.due,
        open_=inst.opt_open,
        close=inst.opt_close,
        stop=inst.opt_stop,
        **_search_controls(inst, seed, worker, work * _WINDOWED_OPS_PER_WORK, until),
    )
    sol = solution_of(inst, sequences)
    assert sol is not None  # the windowed search schedules routes as the model does
    return sol, iterations, timed_out


def _run_rules_search(
    inst: Instance,
    seed: int,
    worker: int,
    work: float,
    until: float,
    initial: Sequence[tuple[Sequence[int], int | None]] | None = None,
) -> tuple[Solution, int, bool]:
    """``planner.fastrulesrun`` (breaks, repeat visits, caps and locked stops); with
    ``initial`` routes, only adds what fits and swaps visits for better ones."""
    routes, iterations, timed_out = fastrulesrun.search(
        inst,
        **_search_controls(inst, seed, worker, work * _RULES_OPS_PER_WORK, until),
        initial=initial,
        polish=initial is not None,
    )
    sol = solution_of(inst, [seq for seq, _ in routes], [after for _, after in routes])
    assert sol is not None  # the rules search schedules routes as the model does
    return sol, iterations, timed_out


def _run_compiled_search(
    inst: Instance, seed: int, worker: int, work: float, until: float
) -> tuple[Solution, int, bool]:
    """``planner.fastsearch`` on the instance's arrays, one matrix per distinct mode."""
    sequences, iterations, timed_out = fastsearch.search(
        **_option_arrays(inst),
        room=inst.due - inst.ready,
        **_search_controls(inst, seed, worker, work * _OPS_PER_WORK, until),
    )
    sol = solution_of(inst, sequences)
    assert sol is not None  # the compiled search keeps every route within its shift
    return sol, iterations, timed_out


def _search_in_parallel(
    inst: Instance, options: SolverOptions, work: float, until: float
) -> tuple[Solution, int, bool]:
    """Run ``options.workers`` independent searches (other seeds streams) and keep the best.

    Extra workers are forked processes that send back their routes; the result depends only
    on the seed and the number of workers.
    """
    if _compiled_search_fits(inst):
        until += fastsearch.warm()  # compiled once per machine, loaded once per process
    elif _windowed_search_fits(inst):
        until += fastwindows.warm()
    else:
        until += fastrulesrun.warm()
    if options.workers == 1:
        return _run_search(inst, options.seed, 0, work, until)
    context = multiprocessing.get_context("fork")
    pipes = []
    for worker in range(1, options.workers):
        receive, send = context.Pipe(duplex=False)
        process = context.Process(
            target=_search_worker, args=(send, inst, options.seed, worker, work, until)
        )
        process.start()
        send.close()
        pipes.append((process, receive))
    best, iterations, timed_out = _run_search(inst, options.seed, 0, work, until)
    best_key = (solution_value(inst, best), -best.travel)
    for process, receive in pipes:
        try:
            sequences, breaks, its, late = receive.recv()
        except EOFError:  # the worker died: its share of the search is lost, not the plan
            sequences = None
        process.join()
        if sequences is None:
            continue
        iterations += its
        timed_out |= late
        candidate = solution_of(inst, sequences, breaks)
        if (
            candidate is not None
            and (solution_value(inst, candidate), -candidate.travel) > best_key
        ):
            best, best_key = candidate, (solution_value(inst, candidate), -candidate.travel)
    return best, iterations, timed_out


def _search_worker(
    send: Connection, inst: Instance, seed: int, worker: int, work: float, until: float
) -> None:
    best, iterations, timed_out = _run_search(inst, seed, worker, work, until)
    # With each break where the worker put it (the model would move it to where it ends the
    # route first, which can shift repeat visits into another route's gap).
    breaks = [None if r.brk is None else r.brk[0] for r in best.routes]
    send.send(([list(r.seq) for r in best.routes], breaks, iterations, timed_out))
    send.close()


def _decompose(problem: Problem) -> list[tuple[list[int], list[int]]]:
    """Split by home station (where units end their shift): each stop goes to the nearest
    station that has units. A re-planned shift's units start wherever they are, but they
    still belong to their station's part (one part per unit would make the parts tiny and
    their overhead exceed the time limit).

    Returns (unit numbers, stop numbers) per part.
    """
    stations: dict[int, list[int]] = {}
    for number, unit in enumerate(problem.units):
        stations.setdefault(unit.end_node, []).append(number)
    if len(stations) < 2:
        return [(list(range(len(problem.units))), list(range(len(problem.stops))))]
    station_nodes = list(stations)
    # Measure from each station with its first unit's mode; ties go to the station listed first.
    times = np.stack(
        [problem.travel_time_s[problem.units[stations[n][0]].mode][n, :] for n in station_nodes]
    )
    stop_nodes = np.array([s.node for s in problem.stops], dtype=np.int64)
    nearest = np.argmin(times[:, stop_nodes], axis=0)
    # A cell or an area stays in one part, the one most of its stops are nearest to, so
    # that each part can keep its caps on its own.
    for key in (problem.cell_key, lambda i: problem.stops[i].area):
        groups: dict[str, list[int]] = {}
        for i in range(len(problem.stops)):
            label = key(i)
            if label is not None:
                groups.setdefault(label, []).append(i)
        for members in groups.values():
            if len(members) > 1:
                nearest[members] = np.bincount(nearest[members]).argmax()
    parts = []
    for k, node in enumerate(station_nodes):
        members = np.flatnonzero(nearest == k).tolist()
        parts.append((stations[node], members))
    return parts


def _solve_parts(
    problem: Problem,
    parts: list[tuple[list[int], list[int]]],
    options: SolverOptions,
    started: float,
    deadline: float,
) -> PatrolPlan:
    """Solve each station's part, then offer the stops left over to every unit."""
    schedules: list[RouteSchedule] = []
    idle: list[IdleUnit] = []
    iterations = 0
    timed_out = converged = False
    total_stops = max(1, len(problem.stops))
    reserve = 0.2 * options.time_limit_s  # for the final pass over the whole problem
    budget_s = max(options.time_limit_s - reserve, 0.1)
    parts_until = started + budget_s
    stops_left = sum(max(len(stops), 1) for _, stops in parts)
    for units, stops in parts:
        # The time left shared among the parts left: each part's model building and checks
        # come out of the next parts' time, not out of the reserve.
        left_s = max(parts_until - time.perf_counter(), 0.05 * budget_s / len(parts))
        share = left_s * max(len(stops), 1) / stops_left
        stops_left -= max(len(stops), 1)
        sub = _subproblem(problem, units, stops)
        # The work stays the nominal share (same seed, same plan); only the clock adapts.
        sub_work = max(
            (budget_s if options.work_s is None else 0.9 * options.work_s)
            * max(len(stops), 1)
            / total_stops,
            0.05,
        )
        sub_options = replace(options, time_limit_s=max(share, 0.05), decompose_above=10**9,
                              work_s=sub_work)  # fmt: skip
        now = time.perf_counter()
        part_schedules, part_idle, stats = _solve_whole(sub, sub_options, now, now + share)
        iterations += stats.iterations
        timed_out |= stats.stopped_by == "time_limit"
        converged |= stats.stopped_by == "converged"
        idle.extend(part_idle)
        for sched in part_schedules:
            schedules.append(replace(sched, stops=tuple(stops[s] for s in sched.stops)))
    # Whole-problem pass: keep every unit's visits, add what still fits anywhere.
    inst, _ = build_instance(problem, options.value_jitter, options.seed)
    sol = solution_from_schedules(inst, schedules)
    if sol is not None and inst.n_routes and len(inst.opt_stop):
        left = max(deadline - time.perf_counter(), 0.05)
        initial = [(r.seq, None if r.brk is None else r.brk[0]) for r in sol.routes]
        polished, _, _ = _run_rules_search(
            inst, options.seed, 0, left * WORK_PER_SECOND, time.perf_counter() + left, initial
        )
        if (solution_value(inst, polished), -polished.travel) >= (
            solution_value(inst, sol),
            -sol.travel,
        ):
            sol = polished
        schedules = route_schedules(inst, sol)
    stats = SolverStats(
        engine="search",
        seed=options.seed,
        time_limit_s=options.time_limit_s,
        wall_time_s=time.perf_counter() - started,
        iterations=iterations,
        stopped_by="time_limit" if timed_out else "converged" if converged else "budget",
        ticks_per_second=inst.scale,
        subproblems=len(parts),
    )
    return plan_from_schedules(problem, schedules, stats, idle)


def _subproblem(problem: Problem, units: Sequence[int], stops: Sequence[int]) -> Problem:
    """The part of ``problem`` with only these units and stops, on their nodes only."""
    chosen_units = [problem.units[u] for u in units]
    chosen_stops = [problem.stops[s] for s in stops]
    nodes = sorted(
        {u.start_node for u in chosen_units}
        | {u.end_node for u in chosen_units}
        | {s.node for s in chosen_stops}
    )
    index = {node: i for i, node in enumerate(nodes)}
    # Caps are shares of the whole day's patrol time: rescale them to the part's units.
    part_shift = sum(u.shift_end_s - u.shift_start_s for u in chosen_units)
    scale = problem.total_shift_s / part_shift if part_shift > 0 else 1.0

    def share(value: float | None) -> float | None:
        return None if value is None else min(1.0, value * scale)

    return Problem(
        travel_time_s={
            mode: matrix[np.ix_(nodes, nodes)] for mode, matrix in problem.travel_time_s.items()
        },
        units=tuple(
            replace(u, start_node=index[u.start_node], end_node=index[u.end_node])
            for u in chosen_units
        ),
        stops=tuple(replace(s, node=index[s.node]) for s in chosen_stops),
        repeat_decay=problem.repeat_decay,
        max_cell_share=share(problem.max_cell_share),
        max_area_share=share(problem.max_area_share),
    )
