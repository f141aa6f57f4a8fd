"""Compiled orienteering search for untimed, single-visit problems (numba).

The team orienteering core of the planner: no time windows, no breaks, every stop at most
once and no share caps, so a route fits exactly when its travel plus dwell fits its shift.
That is every ``plan-problem`` without windows and the whole TOP benchmark (problems with
windows but no breaks, repeats or caps run its windowed twin, ``planner.fastwindows``). The
search is the one of ``planner.search.Search`` (greedy insertion by value per extra time, ruin and
recreate, 2-opt, relocation, swaps and tail exchanges between routes, swaps of visited for
unvisited stops, simulated annealing cooling to zero at 80 % of the work, then descent from
the best plan, plus or-opt moves of short segments within a route), written as loops over
integer arrays and compiled once per machine (cached beside its files). On TOP p4.2.m with
two workers it makes 2,868 rounds in 0.45 s where the numpy version made 331 in 0.85 s.

Determinism: all randomness comes from numba's generator seeded per run, and the search
counts its work in elementary steps (``ops``), never reading the clock; the caller runs it in
slices and checks the clock between them, as a safety stop only.

Arrays: ``travel`` (modes, nodes, nodes) ticks; per route ``mode``, ``start``, ``end`` and
``room`` (shift length in ticks); per option ``node``, ``dwell`` (ticks) and ``prize``. A
solution is ``seq`` (routes, options) with ``length`` (routes,) visits per route.

The kernel is in three files: ``planner.fastcore`` (the arrays, route costs, greedy
insertion and ruin), ``planner.fastmoves`` (the local-search moves) and this one (the
annealing loop, run in slices, and the Python driver, :func:`search`).
"""

from __future__ import annotations

import math
import time

import numpy as np
import numpy.typing as npt
from numba import njit

from planner.fastcache import cache_ok
from planner.fastcore import fill, load, ruin, scratch_arrays, seed_generator, solution_arrays
from planner.fastmoves import improve, two_opt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

# Annealing settings, shared with the numpy search in planner.search.
# Share of the work after which the temperature is zero; the search then goes back to the
# best plan found and spends the rest descending from it.
COOL_BY = 0.8
# Rounds without a new best before the search returns to the best solution.
RESTART_AFTER = 150

# Slots of the state vector that carries the search between slices.
S_OPS, S_ITER, S_SINCE, S_DESCEND, S_T0, S_STARTED, S_DONE, S_FORCE = range(8)
STATE_SIZE = 8

# Stamps of the kernel files this one calls into (planner.fastcache explains why).
CALLS_INTO = {"fastcore.py": "c5beae06d13ca23a", "fastmoves.py": "c332702c32951535"}
_CACHE = cache_ok(__name__, CALLS_INTO)


@njit(cache=_CACHE)
def _copy(src, dst):  # noqa: ANN001, ANN202
    """Copy solution ``src``'s sequences into ``dst`` (re-measure it with ``load``)."""
    seq_from, len_from, seq_to, len_to = src[0], src[1], dst[0], dst[1]
    len_to[:] = len_from
    for r in range(len_from.shape[0]):
        seq_to[r, : len_from[r]] = seq_from[r, : len_from[r]]


@njit(cache=_CACHE)
def _value(p, s):  # noqa: ANN001, ANN202
    prize, seq, length = p[7], s[0], s[1]
    total = 0.0
    for r in range(length.shape[0]):
        for k in range(length[r]):
            total += prize[seq[r, k]]
    return total


@njit(cache=_CACHE)
def _better(value_a, travel_a, value_b, travel_b):  # noqa: ANN001, ANN202
    """Whether (value, -travel) a beats b (values compared to 1e-9)."""
    if value_a > value_b + 1e-9:
        return True
    return abs(value_a - value_b) <= 1e-9 and travel_a < travel_b


@njit(cache=_CACHE)
def run_slice(p, cur, best, state, eps, temperature, patience, ops_total, ops_stop):  # noqa: ANN001, ANN201
    """Advance the search until ``state[S_OPS]`` reaches ``ops_stop`` or it converges.

    ``cur`` and ``best`` (solution tuples) carry the current and best solutions between
    slices; ``state[S_FORCE]`` set by the caller starts the final descent now.
    """
    n_routes, n_opt = cur[1].shape[0], p[5].shape[0]
    cand = solution_arrays(n_routes, n_opt)
    w = scratch_arrays(n_routes, n_opt)
    if state[S_STARTED] == 0:
        load(p, cur)
        _, k = fill(p, cur, w, eps, 1.0, 0.0)
        state[S_OPS] += k + improve(p, cur, w, eps)
        _copy(cur, best)
        visits = max(1, cur[1].sum())
        state[S_T0] = temperature * max(_value(p, cur), 1.0) / visits
        state[S_STARTED] = 1
    load(p, cur)
    load(p, best)
    cur_value, cur_travel = _value(p, cur), cur[3].sum()
    best_value, best_travel = _value(p, best), best[3].sum()
    t0 = state[S_T0]
    if state[S_FORCE] == 1 and state[S_DESCEND] == 0:
        state[S_DESCEND] = 1
        _copy(best, cur)
        cur_value, cur_travel = best_value, best_travel
    while state[S_OPS] < ops_stop and state[S_DONE] == 0:
        state[S_ITER] += 1
        _copy(cur, cand)
        load(p, cand)
        state[S_OPS] += ruin(p, cand, w)
        _, k = fill(p, cand, w, eps, np.random.uniform(0.5, 2.5), 0.3)
        state[S_OPS] += k
        for r in range(n_routes):
            _, k = two_opt(p, cand, w, r)
            state[S_OPS] += k
        _, k = fill(p, cand, w, eps, 1.0, 0.0)
        state[S_OPS] += k
        # The full local search only for candidates that could be accepted.
        if _value(p, cand) >= cur_value - t0:
            state[S_OPS] += improve(p, cand, w, eps)
        value, travel = _value(p, cand), cand[3].sum()
        progress = min(1.0, state[S_OPS] / max(ops_total, 1.0))
        if progress >= COOL_BY and state[S_DESCEND] == 0:
            state[S_DESCEND] = 1  # the last part descends from the best plan found
            _copy(best, cur)
            cur_value, cur_travel = best_value, best_travel
        temp = 1e-9 if state[S_DESCEND] == 1 else t0 * (1.0 - progress / COOL_BY) + 1e-9
        chance = np.exp(min(0.0, value - cur_value) / temp)
        if _better(value, travel, cur_value, cur_travel) or np.random.random() < chance:
            _copy(cand, cur)
            cur_value, cur_travel = value, travel
        if _better(value, travel, best_value, best_travel):
            _copy(cand, best)
            best_value, best_travel = value, travel
            state[S_SINCE] = 0
        else:
            state[S_SINCE] += 1
        if state[S_SINCE] >= patience:
            state[S_DONE] = 1  # converged: more rounds are unlikely to pay
        elif state[S_SINCE] > 0 and state[S_SINCE] % RESTART_AFTER == 0:
            _copy(best, cur)
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
    problem = (travel, one, one, one, np.array([10]), np.array([1, 2]), np.array([1, 1]))
    search(*problem, np.array([1.0, 2.0]), eps=1.0, seed=0, work_ops=1000.0,
           deadline=math.inf, temperature=1.0, patience=5, descend_by_clock=0.9)  # fmt: skip
    _WARM = True
    return time.perf_counter() - began


def search(
    travel: IntArray,
    mode: IntArray,
    start: IntArray,
    end: IntArray,
    room: IntArray,
    node: IntArray,
    dwell: IntArray,
    prize: FloatArray,
    *,
    eps: float,
    seed: int,
    work_ops: float,
    deadline: float,
    temperature: float,
    patience: int,
    descend_by_clock: float,
    slices: int = 40,
) -> tuple[list[list[int]], int, bool]:
    """Run the search; (each route's options in order, rounds, stopped by the clock).

    The work is split into ``slices``; between them the clock is read: past
    ``descend_by_clock`` of the time to ``deadline`` the final descent starts early, past
    ``deadline`` the search stops (either makes the plan depend on the machine, and says so).
    """
    as_int = [
        np.ascontiguousarray(a, dtype=np.int64) for a in (mode, start, end, room, node, dwell)
    ]
    p = (np.ascontiguousarray(travel, dtype=np.int64), *as_int, np.asarray(prize, dtype=np.float64))
    seed_generator(seed % 2**32)
    cur = solution_arrays(len(mode), len(node))
    best = solution_arrays(len(mode), len(node))
    state = np.zeros(STATE_SIZE)
    started = time.perf_counter()
    step = work_ops / slices
    timed_out = False
    while state[S_DONE] == 0 and state[S_OPS] < work_ops:
        ops_stop = min(work_ops, state[S_OPS] + step)
        run_slice(p, cur, best, state, eps, temperature, patience, work_ops, ops_stop)
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
