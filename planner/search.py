"""The planner's own orienteering search: ruin and recreate with local search, seeded.

:class:`Search` improves a :class:`planner.model.Solution` of an :class:`planner.model.Instance`:
greedy insertion by value per extra time, then rounds of ruin (random, related, segment or
whole-route removals) and recreate, each followed by local search (2-opt, relocation and
exchanges between routes, insertion of unvisited stops, swaps of visited for unvisited
ones), accepted by simulated annealing that cools to zero at 80 % of the work and then
descends from the best plan. It handles windows, breaks, repeat visits and caps;
``planner.fastsearch`` is the same search compiled for problems without them.

:class:`Budget` counts the work in estimated microseconds of the reference machine, never
the clock, so a seed gives the same plan on any machine that finishes the budget in time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np

from planner import fastsearch
from planner.model import (
    FloatArray,
    Instance,
    IntArray,
    Route,
    Solution,
    empty_solution,
    gap_conflicts,
    gaps_ok,
    make_route,
    solution_value,
    tally,
)
from planner.problem import INF_TICKS

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
# Simulated-annealing start temperature, as a share of the value of an average visit: hot
# enough to leave the basin of the first plan (0.5 left 100-stop TOP instances 4-5 % short).
TEMPERATURE = 4.0
# Shared with the compiled search (planner.fastsearch, where they are documented): when
# the annealing reaches zero, the ruin kinds and sizes, rounds before going back to the best.
_COOL_BY = fastsearch.COOL_BY
# Share of the time limit at which the descent starts anyway when the work is still short of
# _COOL_BY (the budget can then no longer finish in time; stopped_by says "time_limit").
DESCEND_BY_CLOCK = 0.9
_RUIN_MAX_SHARE = fastsearch.RUIN_MAX_SHARE
_RUIN_RANDOM = fastsearch.RUIN_RANDOM
_RUIN_RELATED = fastsearch.RUIN_RELATED
_RUIN_SEGMENT = fastsearch.RUIN_SEGMENT
_RESTART_AFTER = fastsearch.RESTART_AFTER
# Rounds without a new best after which the search stops early: at least this many, and
# this many per option (stop and window).
_PATIENCE_MIN, _PATIENCE_PER_OPTION = 500, 10


def patience_rounds(inst: Instance) -> int:
    """Rounds without a new best after which a search of ``inst`` calls itself converged."""
    return max(_PATIENCE_MIN, _PATIENCE_PER_OPTION * len(inst.opt_node))


# A move between two routes: (saving, route a, route b, i, j, "swap" or "tails").
_Exchange = tuple[int, int, int, int, int, str]
# Travel and dwell accumulated up to each position of a route.
_Elapsed = tuple[IntArray, IntArray]


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


class Search:
    """Ruin-and-recreate with local search for the team orienteering problem with windows."""

    def __init__(self, inst: Instance, rng: np.random.Generator, budget: Budget) -> None:
        self.inst = inst
        self.rng = rng
        self.budget = budget
        self.iterations = 0
        # Pairs of (immutable) routes known to have no improving exchange.
        self._no_exchange: set[tuple[Route, Route]] = set()

    # ---- feasibility of a changed route -------------------------------------------------

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

    # ---- moves that shorten routes -------------------------------------------------------

    def two_opt(self, sol: Solution, r: int) -> bool:
        """Reverse segments of route ``r`` while that shortens it; True if any did."""
        improved = False
        while True:
            route = sol.routes[r]
            n = len(route.seq)
            if n < 2 or route.tight:
                return improved
            t_mat = self.inst.travel[r]
            loc = route.loc
            fwd = np.concatenate(([0], np.cumsum(t_mat[loc[:-1], loc[1:]])))
            bwd = np.concatenate(([0], np.cumsum(t_mat[loc[1:], loc[:-1]])))
            i = np.arange(1, n + 1)[:, None]
            j = np.arange(1, n + 1)[None, :]
            self.budget.spend("two_opt", n * n)
            delta = (
                t_mat[loc[i - 1], loc[j]]
                + t_mat[loc[i], loc[np.minimum(j + 1, n + 1)]]
                + (bwd[j] - bwd[i])
                - (fwd[np.minimum(j + 1, n + 1)] - fwd[i - 1])
            )
            delta = np.where(j > i, delta, 0)
            order = np.argsort(delta, axis=None)
            applied = False
            for flat in order[:8]:
                a, b = divmod(int(flat), n)
                if delta[a, b] >= 0:
                    break
                seq = list(route.seq)
                seq[a : b + 1] = seq[a : b + 1][::-1]
                new = (
                    self._try(sol, r, seq)
                    if self.inst.timed or not self.inst.simple
                    else (make_route(self.inst, r, seq))
                )
                if new is not None and new.travel < route.travel:
                    sol.routes[r] = new
                    applied = improved = True
                    break
            if not applied:
                route.tight = True
                return improved

    def relocate(self, sol: Solution) -> bool:
        """Move single visits within or between routes while that cuts total travel."""
        inst = self.inst
        improved = False
        for _ in range(4 * inst.n_routes):
            owners, positions, options, gains = [], [], [], []
            for a, route in enumerate(sol.routes):
                n = len(route.seq)
                if not n:
                    continue
                loc = route.loc
                t_a = inst.travel[a]
                owners.append(np.full(n, a, dtype=np.int64))
                positions.append(np.arange(n, dtype=np.int64))
                options.append(np.array(route.seq, dtype=np.int64))
                gains.append(
                    t_a[loc[:-2], loc[1:-1]] + t_a[loc[1:-1], loc[2:]] - t_a[loc[:-2], loc[2:]]
                )
            if not options:
                return improved
            owner = np.concatenate(owners)
            position = np.concatenate(positions)
            opts = np.concatenate(options)
            gain = np.concatenate(gains)
            best: tuple[int, int, int] | None = None  # (visit, target route, arc)
            best_saving = 0
            for b in range(inst.n_routes):
                shift, arc = self._insertion(sol.routes[b], b, opts)
                extra = self._extra_travel(sol.routes[b], b, opts, arc)
                own = owner == b
                # Within its own route a move that shortens it always fits when untimed.
                valid = (shift < INF_TICKS) | (own & inst.untimed)
                valid &= ~(own & ((arc == position) | (arc == position + 1)))
                saving = np.where(valid, gain - extra, 0)
                k = int(np.argmax(saving))
                if saving[k] > best_saving:
                    best_saving = int(saving[k])
                    best = (k, b, int(arc[k]))
            if best is None:
                return improved
            k, b, arc_b = best
            a, p, o = int(owner[k]), int(position[k]), int(opts[k])
            seq_a = list(sol.routes[a].seq)
            del seq_a[p]
            if b == a:
                seq_a.insert(arc_b if arc_b < p else arc_b - 1, o)
                new = self._try(sol, a, seq_a)
                if new is None or new.travel >= sol.routes[a].travel:
                    return improved
                sol.routes[a] = new
                improved = True
                continue
            seq_b = list(sol.routes[b].seq)
            seq_b.insert(arc_b, o)
            if not self._replace_pair(sol, a, seq_a, b, seq_b):
                return improved
            improved = True
        return improved

    def exchange(self, sol: Solution) -> bool:
        """Swap two visits between routes, or exchange route tails (2-opt*), to cut travel."""
        inst = self.inst
        improved = False
        for _ in range(2 * inst.n_routes):
            best: _Exchange | None = None
            for a in range(inst.n_routes):
                for b in range(a + 1, inst.n_routes):
                    pair = (sol.routes[a], sol.routes[b])
                    if pair in self._no_exchange:
                        continue
                    found = self._best_exchange(sol, a, b)
                    if found is None:
                        if len(self._no_exchange) > 20000:
                            self._no_exchange.clear()
                        self._no_exchange.add(pair)
                    elif best is None or found[0] > best[0]:
                        best = found
            if best is None:
                return improved
            _, a, b, i, j, kind = best
            seq_a, seq_b = list(sol.routes[a].seq), list(sol.routes[b].seq)
            if kind == "swap":
                seq_a[i], seq_b[j] = seq_b[j], seq_a[i]
            else:
                seq_a, seq_b = seq_a[:i] + seq_b[j:], seq_b[:j] + seq_a[i:]
            if not self._replace_pair(sol, a, seq_a, b, seq_b):
                return improved
            improved = True
        return improved

    def _replace_pair(
        self, sol: Solution, a: int, seq_a: Sequence[int], b: int, seq_b: Sequence[int]
    ) -> bool:
        """Give routes ``a`` and ``b`` these sequences if both fit and travel gets shorter.

        Route ``a`` is scheduled first and ``b`` against it (repeat gaps span routes); on any
        failure both keep their old routes. True when the pair was replaced.
        """
        old_a, old_b = sol.routes[a], sol.routes[b]
        new_a = self._try(sol, a, seq_a)
        if new_a is None:
            return False
        sol.routes[a] = new_a
        new_b = self._try(sol, b, seq_b)
        if new_b is None or new_a.travel + new_b.travel >= old_a.travel + old_b.travel:
            sol.routes[a] = old_a
            return False
        sol.routes[b] = new_b
        return True

    def _best_exchange(self, sol: Solution, a: int, b: int) -> _Exchange | None:
        """The best swap or tail exchange between routes ``a`` and ``b`` that cuts time."""
        inst = self.inst
        route_a, route_b = sol.routes[a], sol.routes[b]
        na, nb = len(route_a.seq), len(route_b.seq)
        if inst.travel[a] is not inst.travel[b] or (na == 0 and nb == 0):
            return None
        t_mat = inst.travel[a]
        self.budget.spend("exchange", na * nb)
        best: _Exchange | None = None
        if na and nb:
            swap = self._best_swap(route_a, route_b, t_mat)
            if swap is not None:
                best = (swap[0], a, b, swap[1], swap[2], "swap")
        if route_a.loc[-1] == route_b.loc[-1]:
            tails = self._best_tails(route_a, route_b, t_mat)
            if tails is not None and (best is None or tails[0] > best[0]):
                best = (tails[0], a, b, tails[1], tails[2], "tails")
        return best

    def _best_swap(
        self, route_a: Route, route_b: Route, t_mat: IntArray
    ) -> tuple[int, int, int] | None:
        """Swap visit i of a with visit j of b, each taking the other's place: (saving, i, j)."""
        inst = self.inst
        la, lb = route_a.loc, route_b.loc
        slack_a, slack_b = int(route_a.maxshift[-1]), int(route_b.maxshift[-1])
        pa, va, sa = la[:-2, None], la[1:-1, None], la[2:, None]
        pb, vb, sb = lb[None, :-2], lb[None, 1:-1], lb[None, 2:]
        old_a = t_mat[pa, va] + t_mat[va, sa]
        old_b = t_mat[pb, vb] + t_mat[vb, sb]
        new_a = t_mat[pa, vb] + t_mat[vb, sa]
        new_b = t_mat[pb, va] + t_mat[va, sb]
        dwell_a = inst.opt_dwell[list(route_a.seq)][:, None]
        dwell_b = inst.opt_dwell[list(route_b.seq)][None, :]
        delta_a = new_a - old_a + dwell_b - dwell_a
        delta_b = new_b - old_b + dwell_a - dwell_b
        saving = -(delta_a + delta_b)
        ok = (saving > 0) & (delta_a <= slack_a) & (delta_b <= slack_b)
        if not ok.any():
            return None
        i, j = divmod(int(np.argmax(np.where(ok, saving, 0))), len(route_b.seq))
        return int(saving[i, j]), i, j

    def _best_tails(
        self, route_a: Route, route_b: Route, t_mat: IntArray
    ) -> tuple[int, int, int] | None:
        """2-opt*: a keeps its first i visits then takes b's from j on, and vice versa.

        Both routes end at the same station. Returns (saving, i, j) or None.
        """
        na, nb = len(route_a.seq), len(route_b.seq)
        la, lb = route_a.loc, route_b.loc
        elapsed_a, elapsed_b = self._elapsed(route_a, t_mat), self._elapsed(route_b, t_mat)
        keep_a = np.arange(na + 1)[:, None]  # a keeps positions 0..keep_a
        keep_b = np.arange(nb + 1)[None, :]  # b keeps positions 0..keep_b
        cross_a, cross_b = t_mat[la[keep_a], lb[keep_b + 1]], t_mat[lb[keep_b], la[keep_a + 1]]
        len_a = _joined_length(elapsed_a, keep_a, cross_a, elapsed_b, keep_b)
        len_b = _joined_length(elapsed_b, keep_b, cross_b, elapsed_a, keep_a)
        used_a = int(route_a.b[-1] - route_a.b[0])
        used_b = int(route_b.b[-1] - route_b.b[0])
        slack_a, slack_b = int(route_a.maxshift[-1]), int(route_b.maxshift[-1])
        saving = (used_a + used_b) - (len_a + len_b)
        ok = (saving > 0) & (len_a <= used_a + slack_a) & (len_b <= used_b + slack_b)
        ok &= ~((keep_a == na) & (keep_b == nb)) & ~((keep_a == 0) & (keep_b == 0))
        if not ok.any():
            return None
        i, j = divmod(int(np.argmax(np.where(ok, saving, 0))), nb + 1)
        return int(saving[i, j]), i, j

    def _elapsed(self, route: Route, t_mat: IntArray) -> _Elapsed:
        """Travel and dwell accumulated up to each position of ``route`` (the end has none)."""
        travel = np.concatenate(([0], np.cumsum(t_mat[route.loc[:-1], route.loc[1:]])))
        dwell = np.concatenate(([0], np.cumsum(self.inst.opt_dwell[list(route.seq)]), [0]))
        dwell[-1] = dwell[-2]
        return travel, dwell

    # ---- moves that raise the value ------------------------------------------------------

    def replace_visits(self, sol: Solution) -> bool:
        """Swap a visited option for a more valuable unvisited one where it fits."""
        inst = self.inst
        pool = self._pool(sol)
        if not len(pool):
            return False
        improved = False
        prizes_pool = self._prizes(sol, pool)
        for r in self.rng.permutation(inst.n_routes):
            route = sol.routes[r]
            if not route.seq:
                continue
            for p, c, target in self._replacements(sol, r, route, pool, prizes_pool):
                o_new = int(pool[c])
                trial_seq = list(route.seq)
                o_old = trial_seq.pop(p)
                trial_seq.insert(target if target <= p else target - 1, o_new)
                trial = self._try(sol, r, trial_seq)
                if trial is None:
                    continue
                self._apply_remove(sol, o_old)
                self._apply_insert(sol, r, trial, o_new)
                improved = True
                pool = self._pool(sol)
                if not len(pool):
                    return True
                prizes_pool = self._prizes(sol, pool)
                break
        return improved

    def _replacements(
        self, sol: Solution, r: int, route: Route, pool: IntArray, prizes_pool: FloatArray
    ) -> list[tuple[int, int, int]]:
        """The six most promising (position, pool column, arc) swaps for ``route``.

        A visit at a position gives way to a pool option with a higher prize, which goes in
        its place or at the cheapest arc elsewhere; the time estimate must fit the slack.
        Best gain first, then least time.
        """
        inst = self.inst
        n = len(route.seq)
        seq = np.array(route.seq, dtype=np.int64)
        gain = prizes_pool[None, :] - self._held_prizes(sol, seq)[:, None]  # (n, pool)
        if not (gain > 1e-9).any():
            return []
        table = self._insertion_table(route, r)[0][:, pool].T  # (pool, arcs)
        t_mat = inst.travel[r]
        loc = route.loc
        nodes = inst.opt_node[pool]
        self.budget.spend("replace", n * len(pool))
        bridge = t_mat[loc[:-2], loc[2:]]
        removed = (
            t_mat[loc[:-2], loc[1:-1]] + t_mat[loc[1:-1], loc[2:]] + inst.opt_dwell[seq] - bridge
        )
        in_place = (
            t_mat[loc[:-2, None], nodes]
            + t_mat[nodes, loc[2:, None]]
            + (inst.opt_dwell[pool][None, :] - bridge[:, None])
        )
        elsewhere, where_arc = _cheapest_arc_away(table, n)
        here = in_place <= elsewhere
        estimate = np.minimum(in_place, elsewhere) - removed[:, None]
        candidates = np.argwhere((gain > 1e-9) & (estimate <= route.maxshift[-1]))
        if not len(candidates):
            return []
        cand_gain = gain[candidates[:, 0], candidates[:, 1]]
        cand_time = estimate[candidates[:, 0], candidates[:, 1]]
        moves = []
        for idx in np.lexsort((cand_time, -cand_gain))[:6]:
            p, c = (int(x) for x in candidates[idx])
            moves.append((p, c, p if here[p, c] else int(where_arc[p, c])))
        return moves

    def _held_prizes(self, sol: Solution, seq: IntArray) -> FloatArray:
        """What removing each visited option would lose (the last repeat's value, if any)."""
        inst = self.inst
        if inst.simple:
            return inst.opt_prize[seq]
        stop = inst.opt_stop[seq]
        count = np.maximum(sol.count[stop] - 1, 0)
        prize = inst.stop_value[stop] * inst.opt_weight[seq] * inst.decay**count
        return prize + np.where(inst.stop_mandatory[stop] & (count == 0), inst.mandatory_bonus, 0.0)

    # ---- local search and perturbation ---------------------------------------------------

    def improve(self, sol: Solution) -> None:
        """Local search to a local optimum (value first, then travel)."""
        for _ in range(20):
            changed = False
            for r in range(self.inst.n_routes):
                changed |= self.two_opt(sol, r)
            changed |= self.relocate(sol)
            changed |= self.exchange(sol)
            changed |= self.fill(sol)
            changed |= self.replace_visits(sol)
            if not changed or self.budget.exhausted():
                return

    def ruin(self, sol: Solution) -> None:
        """Remove a random part of the solution (random, related, segment or whole route)."""
        visits = [(r, k) for r, route in enumerate(sol.routes) for k in range(len(route.seq))]
        if not visits:
            return
        chosen, reseed = self._ruined(sol, visits)
        self._remove(sol, chosen)
        if not self.inst.simple:
            self._repair_gaps(sol)
        if reseed is not None:
            self._seed_route(sol, reseed)

    def _ruined(
        self, sol: Solution, visits: list[tuple[int, int]]
    ) -> tuple[set[tuple[int, int]], int | None]:
        """Draw the visits (route, position) to remove, and the route to reseed if emptied."""
        inst = self.inst
        kind = self.rng.random()
        n_remove = int(self.rng.integers(1, max(2, int(_RUIN_MAX_SHARE * len(visits))) + 1))
        chosen: set[tuple[int, int]] = set()
        if kind < _RUIN_RANDOM:
            picks = self.rng.choice(len(visits), size=min(n_remove, len(visits)), replace=False)
            return {visits[int(i)] for i in picks}, None
        if kind < _RUIN_RELATED:
            r0, k0 = visits[int(self.rng.integers(len(visits)))]
            seed_node = inst.opt_node[sol.routes[r0].seq[k0]]
            t_mat = inst.travel[r0]
            nodes = np.array([inst.opt_node[sol.routes[r].seq[k]] for r, k in visits])
            near = np.argsort(t_mat[seed_node, nodes] + t_mat[nodes, seed_node], kind="stable")
            return {visits[int(i)] for i in near[:n_remove]}, None
        if kind < _RUIN_SEGMENT:
            for r, route in enumerate(sol.routes):
                n = len(route.seq)
                if n == 0:
                    continue
                length = int(self.rng.integers(1, max(1, n // 2) + 1))
                first = int(self.rng.integers(0, n - length + 1))
                chosen.update((r, k) for k in range(first, first + length))
            return chosen, None
        r0 = int(self.rng.integers(inst.n_routes))
        return {(r0, k) for k in range(len(sol.routes[r0].seq))}, r0

    def _remove(self, sol: Solution, chosen: set[tuple[int, int]]) -> None:
        """Remove the chosen visits, route by route (a route that no longer fits keeps them)."""
        inst = self.inst
        for r in range(inst.n_routes):
            drop = [k for k in range(len(sol.routes[r].seq)) if (r, k) in chosen]
            if not drop:
                continue
            seq = list(sol.routes[r].seq)
            for k in drop:
                self._apply_remove(sol, seq[k])
            kept = [o for k, o in enumerate(seq) if k not in set(drop)]
            shorter = make_route(inst, r, kept)
            if shorter is None:  # only with travel times that break the triangle inequality
                for k in drop:
                    self._apply_insert(sol, r, sol.routes[r], seq[k])
                continue
            sol.routes[r] = shorter

    def _repair_gaps(self, sol: Solution) -> None:
        """Drop repeat visits whose gap a removal broke.

        Removing visits lets a route's later visits start earlier, which can bring one
        closer than dwell + gap to another route's visit of the same stop. The route that
        moved gives up its visits of such stops, until every gap holds again.
        """
        inst = self.inst
        changed = True
        while changed:
            changed = False
            for r in range(inst.n_routes):
                route = sol.routes[r]
                bad = gap_conflicts(inst, sol, r, route)
                if not bad:
                    continue
                seq = list(route.seq)
                kept = [o for o in seq if int(inst.opt_stop[o]) not in bad]
                shorter = make_route(inst, r, kept)
                if shorter is None:  # only with travel times that break the triangle inequality
                    kept = []
                    shorter = make_route(inst, r, ())
                    assert shorter is not None  # why_idle screened the units
                for o in seq:
                    self._apply_remove(sol, o)
                for o in kept:
                    tally(inst, sol, o, 1)
                sol.routes[r] = shorter
                changed = True

    def _seed_route(self, sol: Solution, r: int) -> None:
        """Start an empty route with a random unvisited stop it can reach, valued by prize."""
        pool = self._pool(sol)
        if self.inst.simple and len(pool):
            visited = [o for route in sol.routes for o in route.seq]
            pool = pool[~np.isin(pool, visited)]
        if not len(pool):
            return
        shift, arc = self._insertion(sol.routes[r], r, pool)
        ok = np.flatnonzero(shift < INF_TICKS)
        if not len(ok):
            return
        weights = self._prizes(sol, pool[ok])
        chances = weights / weights.sum() if weights.sum() > 0 else None
        pick = int(ok[self.rng.choice(len(ok), p=chances)])
        seq = list(sol.routes[r].seq)
        seq.insert(int(arc[pick]), int(pool[pick]))
        route = self._try(sol, r, seq)
        if route is not None:
            self._apply_insert(sol, r, route, int(pool[pick]))

    def run(self, start: Solution | None = None) -> Solution:
        """Construct, then ruin-and-recreate until the budget runs out; return the best."""
        inst = self.inst
        if start is None:
            start = empty_solution(inst)
            self.fill(start, alpha=1.0)
        self.improve(start)
        best = start
        best_key = self._key(best)
        current, current_key = best, best_key
        visits = max(1, sum(len(r.seq) for r in best.routes))
        temperature0 = TEMPERATURE * max(best_key[0], 1.0) / visits
        since_best = 0
        descending = False
        patience = patience_rounds(inst)
        while not self.budget.exhausted():
            self.iterations += 1
            self.budget.spend("iteration", sum(len(r.seq) for r in current.routes))
            candidate = current.copy()
            self.ruin(candidate)
            self.fill(candidate, alpha=float(self.rng.uniform(0.5, 2.5)), noise=0.3)
            # Full local search only for candidates that could be accepted: cheap repairs
            # first, the rest when the value is within one start temperature of the current one.
            for r in range(inst.n_routes):
                self.two_opt(candidate, r)
            self.fill(candidate)
            if solution_value(inst, candidate) >= current_key[0] - temperature0:
                self.improve(candidate)
            key = self._key(candidate)
            progress = min(1.0, self.budget.used / max(self.budget.work, 1.0))
            if (
                not descending
                and progress < _COOL_BY
                and self.budget.clock_share() >= DESCEND_BY_CLOCK
            ):
                # A slow or busy machine that cannot finish the budget in time: the clock
                # would stop the search before its descent, so descend now; the plan then
                # depends on the clock, and says so.
                self.budget.timed_out = True
                descending = True
                current, current_key = best, best_key
            elif progress >= _COOL_BY and not descending:
                descending = True  # the last part descends from the best plan found
                current, current_key = best, best_key
            temperature = 1e-9 if descending else temperature0 * (1.0 - progress / _COOL_BY) + 1e-9
            delta = key[0] - current_key[0]
            if key > current_key or self.rng.random() < math.exp(min(0.0, delta) / temperature):
                current, current_key = candidate, key
            if key > best_key:
                best, best_key = candidate, key
                since_best = 0
            else:
                since_best += 1
            if since_best >= patience:
                break  # converged: more rounds are unlikely to pay (and the plan is the same)
            if since_best > 0 and since_best % _RESTART_AFTER == 0:
                current, current_key = best, best_key
        return best

    def _key(self, sol: Solution) -> tuple[float, int]:
        return (round(solution_value(self.inst, sol), 9), -sol.travel)


def _joined_length(
    head: _Elapsed, keep_head: IntArray, cross: IntArray, tail: _Elapsed, keep_tail: IntArray
) -> IntArray:
    """Duration of one route's head up to ``keep_head``, a crossing, and another's tail.

    ``head`` and ``tail`` are the routes' accumulated travel and dwell (``Search._elapsed``);
    the tail starts after position ``keep_tail``.
    """
    (t_head, d_head), (t_tail, d_tail) = head, tail
    return (
        t_head[keep_head]
        + d_head[keep_head]
        + cross
        + (t_tail[-1] - t_tail[keep_tail + 1])
        + (d_tail[-1] - d_tail[keep_tail])
    )


def _cheapest_arc_away(table: IntArray, n: int) -> tuple[IntArray, IntArray]:
    """For each position and option, the cheapest insertion arc that does not touch it.

    ``table`` is (options, arcs); arcs p and p + 1 touch position p, so the best of each
    option's three cheapest arcs that touches neither is taken (``INF_TICKS`` if none).
    """
    order = np.argsort(table, axis=1)[:, :3]
    position = np.arange(n)[:, None]
    elsewhere = np.full((n, table.shape[0]), INF_TICKS, dtype=np.int64)
    where_arc = np.zeros((n, table.shape[0]), dtype=np.int64)
    for k in range(order.shape[1] - 1, -1, -1):
        arc = order[:, k][None, :]
        usable = (arc != position) & (arc != position + 1)
        cost = table[np.arange(table.shape[0]), order[:, k]][None, :]
        elsewhere = np.where(usable, cost, elsewhere)
        where_arc = np.where(usable, arc, where_arc)
    return elsewhere, where_arc
