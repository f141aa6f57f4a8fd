"""Compiled orienteering search with repeat visits and caps, for problems without breaks (numba).

The search of ``planner.fastsearch`` (greedy insertion by value per extra time, ruin and
recreate, local search, simulated annealing cooling to zero at 80 % of the work, then descent
from the best plan) for problems with the rules plain team orienteering lacks: visit windows
(a visit waits for its window to open and must start by its close, each of a stop's windows
with its own weight: one *option* per window, as in ``planner.model``), dwell, repeat visits
of a stop with a minimum gap between them and decayed value after the first, and cell and
area caps on the dwell. The rules, the schedule and its O(1) insertion test (the forward
slack of Vansteenwegen et al. 2009) are in ``planner.fastwincore``; the moves in
``planner.fastwinmoves``; this file holds the annealing loop, run in slices, and the Python
driver, :func:`search`. Breaks stay on the Python search, and problems with windows alone
on ``planner.fastwindows``, whose single-visit kernel is faster (``planner.solver`` chooses;
it keeps repeat and cap problems on the Python search until this one is faster there).

Every route this search keeps is one ``planner.model.make_route`` schedules the same way
(leave at the shift start, wait at the stop, repeats on one route wait out their gap) and
whose repeat visits keep their gaps to the other routes; ``planner.plan_check`` re-checks the
plan exactly afterwards. Determinism as in ``planner.fastsearch``: numba's seeded generator
and work counted in elementary steps, the clock read only between slices.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numba import njit

from planner.fastcache import cache_ok
from planner.fastcore import seed_generator
from planner.fastsearch import _better, _copy
from planner.fastwincore import (
    C_COOL_BY,
    C_RESTART,
    fill,
    load,
    objective,
    ruin,
    scratch_arrays,
    solution_arrays,
)
from planner.fastwinmoves import improve

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

# The kernel files this one calls into, with their stamps (planner.fastcache).
CALLS_INTO = {
    "fastcore.py": "c5beae06d13ca23a",
    "fastmoves.py": "c332702c32951535",
    "fastsearch.py": "e22a79efdaf423bf",
    "fastwincore.py": "aab4adf197e7e31f",
    "fastwinmoves.py": "2f9b98b8b6f758b0",
}
_CACHE = cache_ok(__name__, CALLS_INTO)

# Slots of the state vector that carries the search between slices (as in fastsearch).
S_OPS, S_ITER, S_SINCE, S_DESCEND, S_T0, S_STARTED, S_DONE, S_FORCE = range(8)
STATE_SIZE = 8


@dataclass(frozen=True)
class Rules:
    """The rules beyond windows, per stop unless said otherwise (ticks of dwell for caps).

    ``max_visits`` (default 1 each), ``need`` (dwell plus minimum gap between two visits),
    ``bonus`` (a mandatory stop's bonus, in the first visit's prize), ``cell`` and ``area``
    numbers (area -1: none), per option ``base`` (value times window weight, no bonus),
    ``decay`` of each later visit, ``cell_cap`` and ``area_cap`` (None: no cap).
    """

    max_visits: IntArray
    need: IntArray
    bonus: FloatArray
    cell: IntArray
    area: IntArray
    base: FloatArray
    decay: float = 1.0
    cell_cap: int | None = None
    area_cap: int | None = None

    @classmethod
    def single_visits(cls, prize: FloatArray, stop: IntArray) -> Rules:
        """Every stop once, no caps: the base value of an option is its prize."""
        n_stops = int(stop.max()) + 1 if len(stop) else 0
        zeros = np.zeros(n_stops, dtype=np.int64)
        no_area = np.full(n_stops, -1, dtype=np.int64)
        base = np.asarray(prize, dtype=np.float64)
        return cls(np.ones(n_stops, dtype=np.int64), zeros, np.zeros(n_stops), zeros, no_area, base)


def problem_tuple(arrays: list[npt.ArrayLike], stop: IntArray, rules: Rules) -> tuple:
    """The kernels' problem tuple from the 11 arrays of :func:`search` before ``stop``."""
    ints = [np.ascontiguousarray(a, dtype=np.int64) for a in arrays[1:10]]
    smax = np.ascontiguousarray(rules.max_visits, dtype=np.int64)
    stop = np.ascontiguousarray(stop, dtype=np.int64)
    maxv = int(smax[stop].max()) if len(stop) else 1
    n_opt = len(stop)
    width = n_opt if maxv <= 1 else min(n_opt * maxv, int(smax[np.unique(stop)].sum()))
    area = np.ascontiguousarray(rules.area, dtype=np.int64)
    sizes = np.array(
        [
            -1 if rules.cell_cap is None else rules.cell_cap,
            -1 if rules.area_cap is None else rules.area_cap,
            width + 1,
            max(maxv, 1),
            int(np.max(rules.cell, initial=0)) + 1,
            max(int(np.max(area, initial=-1)) + 1, 1),
        ],
        dtype=np.int64,
    )
    return (
        np.ascontiguousarray(arrays[0], dtype=np.int64),
        *ints,
        np.asarray(arrays[10], dtype=np.float64),
        stop,
        smax,
        np.ascontiguousarray(rules.need, dtype=np.int64),
        np.asarray(rules.base, dtype=np.float64),
        np.asarray(rules.bonus, dtype=np.float64),
        np.ascontiguousarray(rules.cell, dtype=np.int64),
        area,
        sizes,
        np.array([rules.decay], dtype=np.float64),
    )


@njit(cache=_CACHE)
def run_slice(p, cur, best, state, cfg, eps, temperature, patience, ops_total, ops_stop):  # noqa: ANN001, ANN201, PLR0913
    """Advance the search until ``state[S_OPS]`` reaches ``ops_stop`` or it converges.

    The loop of ``planner.fastsearch.run_slice``: ruin, noisy recreate, local search for
    candidates that could be accepted, annealing acceptance, return to the best plan.
    """
    n_routes = cur[1].shape[0]
    cand = solution_arrays(p, n_routes)
    w = scratch_arrays(p, n_routes)
    if state[S_STARTED] == 0:
        load(p, cur)
        _, k = fill(p, cur, w, eps, 1.0, 0.0)
        state[S_OPS] += k + improve(p, cur, w, eps)
        _copy(cur, best)
        visits = max(1, cur[1].sum())
        state[S_T0] = temperature * max(objective(p, cur), 1.0) / visits
        state[S_STARTED] = 1
    load(p, cur)
    load(p, best)
    cur_value, cur_travel = objective(p, cur), cur[9].sum()
    best_value, best_travel = objective(p, best), best[9].sum()
    t0 = state[S_T0]
    if state[S_FORCE] == 1 and state[S_DESCEND] == 0:
        state[S_DESCEND] = 1
        _copy(best, cur)
        load(p, cur)
        cur_value, cur_travel = best_value, best_travel
    while state[S_OPS] < ops_stop and state[S_DONE] == 0:
        state[S_ITER] += 1
        _copy(cur, cand)
        load(p, cand)
        state[S_OPS] += ruin(p, cand, w, cfg)
        _, k = fill(p, cand, w, eps, np.random.uniform(0.5, 2.5), 0.3)
        state[S_OPS] += k
        if objective(p, cand) >= cur_value - t0:
            state[S_OPS] += improve(p, cand, w, eps)
        value, travel = objective(p, cand), cand[9].sum()
        progress = min(1.0, state[S_OPS] / max(ops_total, 1.0))
        if progress >= cfg[C_COOL_BY] and state[S_DESCEND] == 0:
            state[S_DESCEND] = 1  # the last part descends from the best plan found
            _copy(best, cur)
            load(p, cur)
            cur_value, cur_travel = best_value, best_travel
        cool = 1.0 - progress / cfg[C_COOL_BY]
        temp = 1e-9 if state[S_DESCEND] == 1 else t0 * cool + 1e-9
        chance = np.exp(min(0.0, value - cur_value) / temp)
        if _better(value, travel, cur_value, cur_travel) or np.random.random() < chance:
            _copy(cand, cur)
            load(p, cur)
            cur_value, cur_travel = value, travel
        if _better(value, travel, best_value, best_travel):
            _copy(cand, best)
            load(p, best)
            best_value, best_travel = value, travel
            state[S_SINCE] = 0
        else:
            state[S_SINCE] += 1
        if state[S_SINCE] >= patience:
            state[S_DONE] = 1  # converged: more rounds are unlikely to pay
        elif state[S_SINCE] > 0 and state[S_SINCE] % cfg[C_RESTART] == 0:
            _copy(best, cur)
            load(p, cur)
            cur_value, cur_travel = best_value, best_travel


# --------------------------------------------------------------------------------------
# Driver


_WARM = False


def warm() -> float:
    """Compile (or load from the cache) the search once per process; the seconds it took."""
    global _WARM
    if _WARM:
        return 0.0
    began = time.perf_counter()
    travel = np.array([[[0, 2, 3], [2, 0, 2], [3, 2, 0]]], dtype=np.int64)
    one = np.zeros(1, dtype=np.int64)
    two = np.zeros(2, dtype=np.int64)
    search(travel, one, one, one, one, np.array([20]), np.array([1, 2]), np.array([1, 1]),
           two, np.array([10, 10]), np.array([1.0, 2.0]), np.array([0, 1]), eps=1.0, seed=0,
           work_ops=1000.0, deadline=math.inf, temperature=1.0, patience=5,
           descend_by_clock=0.9)  # fmt: skip
    _WARM = True
    return time.perf_counter() - began


def search(
    travel: IntArray,
    mode: IntArray,
    start: IntArray,
    end: IntArray,
    ready: IntArray,
    due: IntArray,
    node: IntArray,
    dwell: IntArray,
    open_: IntArray,
    close: IntArray,
    prize: FloatArray,
    stop: IntArray,
    *,
    eps: float,
    seed: int,
    work_ops: float,
    deadline: float,
    temperature: float,
    patience: int,
    descend_by_clock: float,
    slices: int = 40,
    rules: Rules | None = None,
) -> tuple[list[list[int]], int, bool]:
    """Run the search; (each route's options in order, rounds, stopped by the clock).

    ``rules``: repeats, gaps, decay and caps (default: each stop once, no caps). Slices and
    the clock as in :func:`planner.fastsearch.search`.
    """
    # Imported here: planner.fastsearch's settings, passed to the kernels as numbers.
    from planner.fastcore import RUIN_MAX_SHARE, RUIN_RANDOM, RUIN_RELATED, RUIN_SEGMENT
    from planner.fastsearch import COOL_BY, RESTART_AFTER

    cfg = np.array(
        [COOL_BY, RESTART_AFTER, RUIN_RANDOM, RUIN_RELATED, RUIN_SEGMENT, RUIN_MAX_SHARE]
    )
    arrays = [travel, mode, start, end, ready, due, node, dwell, open_, close, prize]
    p = problem_tuple(arrays, stop, rules or Rules.single_visits(np.asarray(prize), stop))
    seed_generator(seed % 2**32)
    cur = solution_arrays(p, len(mode))
    best = solution_arrays(p, len(mode))
    state = np.zeros(STATE_SIZE)
    started = time.perf_counter()
    step = work_ops / slices
    timed_out = False
    while state[S_DONE] == 0 and state[S_OPS] < work_ops:
        ops_stop = min(work_ops, state[S_OPS] + step)
        run_slice(p, cur, best, state, cfg, eps, temperature, patience, work_ops, ops_stop)
        if state[S_DONE] == 1 or state[S_OPS] >= work_ops:
            break  # the work is done: a late last slice does not make it the clock's plan
        now = time.perf_counter()
        if now >= deadline:
            timed_out = True
            break
        if (now - started) >= descend_by_clock * (deadline - started) and state[S_DESCEND] == 0:
            state[S_FORCE] = 1
            timed_out = True
    routes = [best[0][r, : best[1][r]].tolist() for r in range(len(mode))]
    return routes, int(state[S_ITER]), timed_out
