"""What every part of the planner's own search builds on: the work budget and route operations.

:class:`Budget` counts the search's work in estimated microseconds of the reference machine,
never the clock, so a seed gives the same plan on any machine that finishes the budget in
time; the clock is only a safety stop.

:class:`SearchBase` holds a search's instance, random generator and budget, and the
operations on one route that the moves (``planner.search_moves``) and the ruin-and-recreate
loop (``planner.search``) share: scheduling a changed route, the options that may still be
inserted and their prizes, the cost of inserting each option at each arc (cached on the
immutable route), and greedy insertion by value per extra time (:meth:`SearchBase.fill`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from planner.model import (
    FloatArray,
    Instance,
    IntArray,
    Route,
    Solution,
    gaps_ok,
    make_route,
    tally,
)
from planner.problem import INF_TICKS

__all__ = ["WORK_PER_SECOND", "Budget", "SearchBase"]

# Work the search gets per second of time limit, in microseconds of the reference 2-core
# machine: the weights below were fitted to measured run times of TOP and TOPTW problems, and
# the 0.8 leaves the clock as a safety stop rather than the usual end.
WORK_PER_SECOND = 800_000.0
# Estimated microseconds per call and per unit of size of each search primitive. "replace"
# is charged per (visit, candidate) pair since the hotter annealing runs the full local
# search on most candidates. All were then scaled by 1.17, the measured rise in seconds per
# unit of work on TOP p1-p6 instances from the hotter annealing.
_WORK_WEIGHTS: dict[str, tuple[float, float]] = {
    "route": (167.0, 0.0),
    "route_break": (167.0, 1.4),
    "lookup": (111.0, 0.0),
    "table": (0.0, 0.0),
    "fill_step": (0.0, 0.0),
    "two_opt": (0.0, 0.0),
    "exchange": (67.0, 0.0),
    "replace": (0.0, 0.6),
    "iteration": (61.0, 0.0),
}


class Budget:
    """Deterministic work counter with the wall clock as a safety stop."""

    def __init__(self, work: float, deadline: float) -> None:
        self.work = work
        self.used = 0.0
        self.started = time.perf_counter()
        self.deadline = deadline
        self.timed_out = False

    def spend(self, kind: str, size: float = 0.0) -> None:
        per_call, per_size = _WORK_WEIGHTS[kind]
        self.used += per_call + per_size * size

    def clock_share(self) -> float:
        """Share of the wall-clock allowance gone (the safety stop, not the budget)."""
        span = self.deadline - self.started
        return 1.0 if span <= 0 else (time.perf_counter() - self.started) / span

    def exhausted(self) -> bool:
        if self.used >= self.work:
            return True
        return self.past_deadline()

    def past_deadline(self) -> bool:
        """The wall-clock safety stop alone: checked inside long loops (one fill of a large
        problem can outlast the time limit), so a search never runs past its deadline by
        more than one step, whatever the problem's size."""
        if time.perf_counter() >= self.deadline:
            self.timed_out = True
            return True
        return False


class SearchBase:
    """A search's state and the route operations its moves share (see the module docstring)."""

    def __init__(self, inst: Instance, rng: np.random.Generator, budget: Budget) -> None:
        self.inst = inst
        self.rng = rng
        self.budget = budget

    # ---- feasibility of a changed route --------------------------------------------------

    def _try(self, sol: Solution, r: int, seq: Sequence[int]) -> Route | None:
        if self.inst.pause[r] is None:
            self.budget.spend("route", len(seq))
        else:
            self.budget.spend("route_break", len(seq) ** 2)
        route = make_route(self.inst, r, seq)
        if route is None:
            return None
        if not self.inst.simple and not gaps_ok(self.inst, sol, r, route):
            return None
        return route

    # ---- pool of insertable options ------------------------------------------------------

    def _pool(self, sol: Solution) -> IntArray:
        inst = self.inst
        if not len(inst.opt_stop):
            return np.zeros(0, dtype=np.int64)
        stop = inst.opt_stop
        ok = sol.count[stop] < inst.stop_max[stop]
        if inst.cell_cap is not None:
            ok &= sol.cell_used[inst.stop_cell[stop]] + inst.opt_dwell <= inst.cell_cap
        if inst.area_cap is not None:
            area = inst.stop_area[stop]
            used = np.where(area >= 0, sol.area_used[np.maximum(area, 0)], 0)
            ok &= (area < 0) | (used + inst.opt_dwell <= inst.area_cap)
        return np.flatnonzero(ok)

    def _prizes(self, sol: Solution, options: IntArray) -> FloatArray:
        inst = self.inst
        if inst.simple:
            return inst.opt_prize[options]
        stop = inst.opt_stop[options]
        count = sol.count[stop]
        prize = inst.stop_value[stop] * inst.opt_weight[options] * inst.decay**count
        return prize + np.where(inst.stop_mandatory[stop] & (count == 0), inst.mandatory_bonus, 0.0)

    def _insertion(self, route: Route, r: int, options: IntArray) -> tuple[IntArray, IntArray]:
        """Extra time and best arc of inserting each option into ``route``.

        The extra time is ``INF_TICKS`` where no arc fits.
        """
        _, best, arc = self._insertion_table(route, r)
        self.budget.spend("lookup")
        best = best[options]
        if self.inst.untimed:
            best = np.where(best <= route.maxshift[-1], best, INF_TICKS)
        return best, arc[options]

    def _insertion_table(self, route: Route, r: int) -> tuple[IntArray, IntArray, IntArray]:
        """Extra time of every option at every arc, cached on the (immutable) route.

        Returns the (arcs, options) matrix and each option's cheapest extra time and arc.
        Untimed the costs are raw (the caller compares them with the slack); timed, arcs
        that break a window or the shift cost ``INF_TICKS``.
        """
        if route.ins is not None:
            return route.ins
        inst = self.inst
        loc = route.loc
        self.budget.spend("table", len(loc) * len(inst.opt_node))
        to_v = inst.to_option[r][loc[:-1]]  # (arcs, options)
        from_v = inst.from_option[r][loc[1:]]
        base = inst.travel[r][loc[:-1], loc[1:]][:, None]
        if inst.untimed:
            shift = to_v + from_v + (inst.opt_dwell - base)
        else:
            start = np.maximum(route.dep[:-1, None] + to_v, inst.opt_open)
            arrive_next = start + inst.opt_dwell + from_v
            ok = (start <= inst.opt_close) & (
                arrive_next - route.b[1:, None] <= route.maxshift[1:, None]
            )
            shift = np.where(ok, arrive_next - route.arr[1:, None], INF_TICKS)
        arc = np.argmin(shift, axis=0)
        best = shift[arc, np.arange(shift.shape[1])]
        route.ins = (shift, best, arc)
        return route.ins

    def _extra_travel(self, route: Route, r: int, options: IntArray, arc: IntArray) -> IntArray:
        """Extra travel of inserting each option at the given arc."""
        t_mat = self.inst.travel[r]
        a, b = route.loc[arc], route.loc[arc + 1]
        nodes = self.inst.opt_node[options]
        return t_mat[a, nodes] + t_mat[nodes, b] - t_mat[a, b]

    def _apply_insert(self, sol: Solution, r: int, route: Route, o: int) -> None:
        sol.routes[r] = route
        tally(self.inst, sol, o, 1)

    def _apply_remove(self, sol: Solution, o: int) -> None:
        tally(self.inst, sol, o, -1)

    # ---- greedy insertion ----------------------------------------------------------------

    def fill(self, sol: Solution, alpha: float = 1.0, noise: float = 0.0) -> bool:
        """Insert options by best value per extra time until none fits; True if any did.

        ``alpha`` > 1 favours value over closeness; ``noise`` multiplies each score by a
        random factor in [1, 1 + noise].
        """
        inst = self.inst
        pool = self._pool(sol)
        if not len(pool) or not inst.n_routes:
            return False
        n_routes, n_pool = inst.n_routes, len(pool)
        shift = np.empty((n_routes, n_pool), dtype=np.int64)
        arcs = np.empty((n_routes, n_pool), dtype=np.int64)
        for r in range(n_routes):
            shift[r], arcs[r] = self._insertion(sol.routes[r], r, pool)
        factor = 1.0 + noise * self.rng.random((n_routes, n_pool)) if noise > 0 else None
        weight = np.power(np.maximum(self._prizes(sol, pool), 1e-12), alpha)
        alive = np.ones(n_pool, dtype=bool)

        def scores(rows: slice | int) -> FloatArray:
            out = weight / np.maximum(shift[rows], inst.eps)
            if factor is not None:
                out = out * factor[rows]
            return np.where((shift[rows] < INF_TICKS) & alive, out, -np.inf)

        score = scores(slice(None))
        inserted = False
        while not self.budget.past_deadline():
            flat = int(np.argmax(score))
            r, c = divmod(flat, n_pool)
            if score[r, c] == -np.inf:
                return inserted
            o = int(pool[c])
            seq = list(sol.routes[r].seq)
            seq.insert(int(arcs[r, c]), o)
            new = self._try(sol, r, seq)
            if new is None:
                score[r, c] = -np.inf
                continue
            self._apply_insert(sol, r, new, o)
            inserted = True
            self.budget.spend("fill_step", inst.n_routes * len(pool))
            shift[r], arcs[r] = self._insertion(new, r, pool)
            if inst.simple:
                spent = inst.opt_stop[pool] == inst.opt_stop[o]  # all windows of the stop
                alive[spent] = False
                score[:, spent] = -np.inf
                score[r] = scores(r)
            else:
                alive &= np.isin(pool, self._pool(sol))
                weight = np.power(np.maximum(self._prizes(sol, pool), 1e-12), alpha)
                score = scores(slice(None))
        return inserted
