"""Driver of the compiled search for every rule (``planner.fastrules`` and
``planner.fastrulesmoves``): arrays in, routes out.

:func:`search` turns an :class:`planner.model.Instance` into the kernels' arrays, runs the
annealing loop in slices between which it reads the clock (as ``planner.fastsearch``), and
returns each route's options with the position of its break. Two changes to the options on
the way: an option whose window is long enough for two visits of its stop (the minimum gap
included) gets one copy per possible visit, since the kernels visit an option at most once;
every unit with a break gets a pseudo-option for it (see ``planner.fastrules``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np

from planner import fastrules as fr
from planner import fastrulesmoves as frm
from planner.fastcore import S_ITER, STATE_SIZE, seed_generator, settings
from planner.fastsearch import routes_of, run_in_slices, warm_once
from planner.model import Instance, IntArray, mode_matrices

__all__ = ["search", "warm"]


def problem_arrays(inst: Instance) -> tuple[tuple, IntArray, dict[int, int]]:
    """The kernels' problem tuple, each kernel option's instance option (-1: a break) and
    each route's break option."""
    travel, mode = mode_matrices(inst)
    n_stops = len(inst.stop_value)
    need = inst.stop_dwell + inst.stop_gap
    origin: list[int] = []
    for o in range(len(inst.opt_stop)):
        s = int(inst.opt_stop[o])
        copies = 1
        if inst.stop_max[s] > 1:
            span = int(inst.opt_close[o] - inst.opt_open[o])
            fit = inst.stop_max[s] if need[s] <= 0 else span // int(need[s]) + 1
            copies = int(min(inst.stop_max[s], fit))
        origin.extend([o] * copies)
    real = np.array(origin, dtype=np.int64)
    lock_of = (
        np.full(len(inst.opt_stop), -1, dtype=np.int64)
        if inst.opt_route is None
        else np.where(inst.opt_route < -1, inst.n_routes, inst.opt_route)
    )
    breaks = {r: pause for r, pause in enumerate(inst.pause) if pause is not None}
    n_b = len(breaks)
    brk_option = {r: len(real) + i for i, r in enumerate(breaks)}
    stop = np.concatenate([inst.opt_stop[real], n_stops + np.arange(n_b)]).astype(np.int64)
    pauses = list(breaks.values())
    node = np.concatenate([inst.opt_node[real], np.full(n_b, -1)])
    dwell = np.concatenate([inst.opt_dwell[real], [q[2] for q in pauses]])
    open_ = np.concatenate([inst.opt_open[real], [q[0] for q in pauses]])
    close = np.concatenate([inst.opt_close[real], [q[1] for q in pauses]])
    base = np.concatenate([inst.stop_value[inst.opt_stop[real]] * inst.opt_weight[real],
                           np.zeros(n_b)])  # fmt: skip
    lock = np.concatenate([lock_of[real], list(breaks)])
    no_stop = np.full(n_b, -1, dtype=np.int64)
    maxv = np.concatenate([inst.stop_max, np.ones(n_b, dtype=np.int64)])
    bonus = np.where(inst.stop_mandatory, inst.mandatory_bonus, 0.0)
    cell = inst.stop_cell if inst.cell_cap is not None else np.full(n_stops, -1)
    area = inst.stop_area if inst.area_cap is not None else np.full(n_stops, -1)
    caps = [-1 if inst.cell_cap is None else inst.cell_cap,
            -1 if inst.area_cap is None else inst.area_cap]  # fmt: skip
    all_stops = n_stops + n_b
    order = np.argsort(stop, kind="stable")
    sopt_at = np.searchsorted(stop[order], np.arange(all_stops + 1))

    def ints(a: object) -> IntArray:
        return np.ascontiguousarray(np.asarray(a, dtype=np.int64))

    p = (
        ints(travel),
        ints(mode),
        ints(inst.start),
        ints(inst.end),
        ints(inst.ready),
        ints(inst.due),
        ints(node),
        ints(dwell),
        ints(open_),
        ints(close),
        np.ascontiguousarray(base, dtype=np.float64),
        ints(stop),
        ints(maxv),
        ints(np.concatenate([need, np.zeros(n_b)])),
        np.ascontiguousarray(np.concatenate([bonus, np.zeros(n_b)]), dtype=np.float64),
        ints(np.concatenate([cell, no_stop])),
        ints(np.concatenate([area, no_stop])),
        ints(lock),
        ints(caps),
        np.array([inst.decay], dtype=np.float64),
        ints(order),
        ints(sopt_at),
        ints(np.argsort(-(base + np.concatenate([bonus, np.zeros(n_b)])[stop]), kind="stable")),
        inst.decay ** np.arange(int(maxv.max(initial=1)) + 1, dtype=np.float64),
    )
    kernel_origin = np.concatenate([real, np.full(n_b, -1)]).astype(np.int64)
    return p, kernel_origin, brk_option


def _initial(
    inst: Instance,
    origin: IntArray,
    brk_option: dict[int, int],
    routes: Sequence[tuple[Sequence[int], int | None]] | None,
) -> list[list[int]]:
    """Kernel sequences: the given routes (options and break position) or only the breaks."""
    copies: dict[int, list[int]] = {}
    for k, o in enumerate(origin.tolist()):
        if o >= 0:
            copies.setdefault(o, []).append(k)
    out: list[list[int]] = []
    for r in range(inst.n_routes):
        seq, after = routes[r] if routes is not None else ((), None)
        kernel = [copies[int(o)].pop(0) for o in seq]
        if r in brk_option:
            kernel.insert(len(kernel) if after is None else after, brk_option[r])
        out.append(kernel)
    return out


def _tiny() -> None:
    from planner.model import build_instance
    from planner.problem import Problem, RestBreak, Stop, TimeWindow, Unit

    travel = np.array([[0, 60, 90], [60, 0, 60], [90, 60, 0]], dtype=float)
    units = (
        Unit("a", 0, 0, 0.0, 3600.0, rest_break=RestBreak(600.0, 1800.0, 300.0)),
        Unit("b", 0, 0, 0.0, 3600.0),
    )
    stops = (
        Stop(1, 2.0, dwell_s=60.0, max_visits=2, min_gap_s=300.0, cell="x", unit="b"),
        Stop(2, 1.0, dwell_s=60.0, windows=(TimeWindow(0.0, 1800.0, 1.0),), cell="y"),
    )
    problem = Problem(travel_time_s={"car": travel}, units=units, stops=stops,
                      max_cell_share=0.5)  # fmt: skip
    inst, _ = build_instance(problem, 0.0, 0)
    search(inst, seed=0, work_ops=1000.0, deadline=math.inf, temperature=1.0, patience=5,
           descend_by_clock=0.9)  # fmt: skip


warm = warm_once(_tiny)


def search(
    inst: Instance,
    *,
    seed: int,
    work_ops: float,
    deadline: float,
    temperature: float,
    patience: int,
    descend_by_clock: float,
    initial: Sequence[tuple[Sequence[int], int | None]] | None = None,
    polish: bool = False,
    slices: int = 40,
) -> tuple[list[tuple[list[int], int | None]], int, bool]:
    """Run the search; (each route's options in order with its break's position (None: no
    break), rounds, stopped by the clock).

    ``initial`` starts from these routes; ``polish`` only adds what fits and swaps visits
    for better ones (no annealing). Slices and the clock as in
    :func:`planner.fastsearch.run_in_slices`.
    """
    cfg = settings()
    p, origin, brk_option = problem_arrays(inst)
    seed_generator(seed % 2**32)
    cur = fr.solution_arrays(p, inst.n_routes)
    best = fr.solution_arrays(p, inst.n_routes)
    for r, first in enumerate(_initial(inst, origin, brk_option, initial)):
        cur[0][r, : len(first)] = first
        cur[1][r] = len(first)
    state = np.zeros(STATE_SIZE)
    started = time.perf_counter()
    frm.start(p, cur, best, state, temperature, inst.eps, polish)

    def run(ops_stop: float) -> None:
        frm.run_slice(p, cur, best, state, cfg, inst.eps, patience, work_ops, ops_stop)

    timed_out = not polish and run_in_slices(
        run, state, work_ops, deadline, descend_by_clock, slices, started
    )
    routes: list[tuple[list[int], int | None]] = []
    for kernel in routes_of(best):
        seq: list[int] = []
        after: int | None = None
        for k in kernel:
            if origin[k] < 0:
                after = len(seq)
            else:
                seq.append(int(origin[k]))
        routes.append((seq, after))
    return routes, int(state[S_ITER]), timed_out
