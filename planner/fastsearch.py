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
insertion, ruin and the annealing decision), ``planner.fastmoves`` (the local-search moves)
and this one (the annealing loop, run in slices, and the Python driver, :func:`search`). The
driver's slices and clock (:func:`run_in_slices`) and its ``warm`` (:func:`warm_once`) serve
the other two forms too.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from numba import njit

from planner.fastcache import cache_ok
from planner.fastcore import (
    COOL_BY,
    RESTART_AFTER,
    S_DESCEND,
    S_DONE,
    S_FORCE,
    S_ITER,
    S_OPS,
    S_STARTED,
    S_T0,
    STATE_SIZE,
    V_CUR,
    accept,
    begin,
    copy_solution,
    fill,
    force_descent,
    load,
    ruin,
    scratch_arrays,
    seed_generator,
    settings,
    settle,
    solution_arrays,
)
from planner.fastmoves import improve, two_opt

__all__ = ["COOL_BY", "RESTART_AFTER", "routes_of", "run_in_slices", "search", "warm", "warm_once"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

# Stamps of the kernel files this one calls into (planner.fastcache explains why).
CALLS_INTO = {"fastcore.py": "e38851e535642141", "fastmoves.py": "4e63dbf30509814d"}
_CACHE = cache_ok(__name__, CALLS_INTO)


@njit(cache=_CACHE)
def _value(p, s):  # noqa: ANN001, ANN202
    prize, seq, length = p[7], s[0], s[1]
    total = 0.0
    for r in range(length.shape[0]):
        for k in range(length[r]):
            total += prize[seq[r, k]]
    return total


@njit(cache=_CACHE)
def run_slice(p, cur, best, state, cfg, eps, temperature, patience, ops_total, ops_stop):  # noqa: ANN001, ANN201, PLR0913
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
        copy_solution(cur, best)
        begin(state, temperature, _value(p, cur), cur[1].sum())
    load(p, cur)
    load(p, best)
    vals = np.array([_value(p, cur), cur[3].sum(), _value(p, best), best[3].sum()])
    if force_descent(state, vals):
        copy_solution(best, cur)
    while state[S_OPS] < ops_stop and state[S_DONE] == 0:
        state[S_ITER] += 1
        copy_solution(cur, cand)
        load(p, cand)
        state[S_OPS] += ruin(p, cand, w, cfg)
        _, k = fill(p, cand, w, eps, np.random.uniform(0.5, 2.5), 0.3)
        state[S_OPS] += k
        for r in range(n_routes):
            _, k = two_opt(p, cand, w, r)
            state[S_OPS] += k
        _, k = fill(p, cand, w, eps, 1.0, 0.0)
        state[S_OPS] += k
        # The full local search only for candidates that could be accepted.
        if _value(p, cand) >= vals[V_CUR] - state[S_T0]:
            state[S_OPS] += improve(p, cand, w, eps)
        current, record = accept(
            state, vals, _value(p, cand), cand[3].sum(), cfg, patience, ops_total
        )
        settle(cand, cur, best, current, record)


# --------------------------------------------------------------------------------------
# Driver


def warm_once(run: Callable[[], object]) -> Callable[[], float]:
    """A form's ``warm``: its first call runs ``run`` (the search on a tiny problem, which
    compiles the kernels or loads them from the cache) and returns the seconds it took; later
    calls return 0."""
    done = False

    def warm() -> float:
        """Compile (or load from the cache) the search once per process; the seconds it took."""
        nonlocal done
        if done:
            return 0.0
        began = time.perf_counter()
        run()
        done = True
        return time.perf_counter() - began

    return warm


def _tiny() -> None:
    travel = np.array([[[0, 2, 3], [2, 0, 2], [3, 2, 0]]], dtype=np.int64)
    one = np.zeros(1, dtype=np.int64)
    problem = (travel, one, one, one, np.array([10]), np.array([1, 2]), np.array([1, 1]))
    search(*problem, np.array([1.0, 2.0]), eps=1.0, seed=0, work_ops=1000.0,
           deadline=math.inf, temperature=1.0, patience=5, descend_by_clock=0.9)  # fmt: skip


warm = warm_once(_tiny)


def run_in_slices(  # noqa: PLR0913
    run_slice_: Callable[[float], object],
    state: np.ndarray,
    work_ops: float,
    deadline: float,
    descend_by_clock: float,
    slices: int,
    started: float | None = None,
) -> bool:
    """Run a search's slices (``run_slice_(ops_stop)``) until its work is done or it
    converges; whether the clock stopped it.

    The work is split into ``slices``; between them the clock is read: past
    ``descend_by_clock`` of the time from ``started`` (default: now) to ``deadline`` the
    final descent starts early, past ``deadline`` the search stops (either makes the plan
    depend on the machine, and says so).
    """
    if started is None:
        started = time.perf_counter()
    step = work_ops / slices
    timed_out = False
    while state[S_DONE] == 0 and state[S_OPS] < work_ops:
        run_slice_(min(work_ops, state[S_OPS] + step))
        if state[S_DONE] == 1 or state[S_OPS] >= work_ops:
            break  # the work is done: a late last slice does not make it the clock's plan
        now = time.perf_counter()
        if now >= deadline:
            timed_out = True
            break
        if (now - started) >= descend_by_clock * (deadline - started) and state[S_DESCEND] == 0:
            state[S_FORCE] = 1
            timed_out = True
    return timed_out


def routes_of(best: tuple) -> list[list[int]]:
    """Each route's options in order, from a solution tuple."""
    return [best[0][r, : best[1][r]].tolist() for r in range(len(best[1]))]


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

    Slices and the clock as in :func:`run_in_slices`.
    """
    as_int = [
        np.ascontiguousarray(a, dtype=np.int64) for a in (mode, start, end, room, node, dwell)
    ]
    p = (np.ascontiguousarray(travel, dtype=np.int64), *as_int, np.asarray(prize, dtype=np.float64))
    cfg = settings()
    seed_generator(seed % 2**32)
    cur = solution_arrays(len(mode), len(node))
    best = solution_arrays(len(mode), len(node))
    state = np.zeros(STATE_SIZE)

    def run(ops_stop: float) -> None:
        run_slice(p, cur, best, state, cfg, eps, temperature, patience, work_ops, ops_stop)

    timed_out = run_in_slices(run, state, work_ops, deadline, descend_by_clock, slices)
    return routes_of(best), int(state[S_ITER]), timed_out
