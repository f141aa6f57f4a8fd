"""The local-search moves of the planner's own search, and the descent that runs them.

:class:`LocalSearch` adds to :class:`planner.search_base.SearchBase` the moves that shorten
routes (2-opt within a route, relocation of single visits, swaps of visits and exchanges of
route tails between routes) and the one that raises the value (swapping a visited option for
a more valuable unvisited one), and :meth:`LocalSearch.improve`, which applies them with
greedy insertion until none helps. ``planner.search`` builds ruin-and-recreate on it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from planner._arrays import FloatArray, IntArray
from planner.model import Instance, Route, Solution, make_route
from planner.problem import INF_TICKS
from planner.search_base import Budget, SearchBase

__all__ = ["LocalSearch"]

# A move between two routes: (saving, route a, route b, i, j, "swap" or "tails").
_Exchange = tuple[int, int, int, int, int, str]
# Travel and dwell accumulated up to each position of a route.
_Elapsed = tuple[IntArray, IntArray]


class LocalSearch(SearchBase):
    """The local-search moves over a search's state (see the module docstring)."""

    def __init__(self, inst: Instance, rng: np.random.Generator, budget: Budget) -> None:
        super().__init__(inst, rng, budget)
        # Pairs of (immutable) routes known to have no improving exchange.
        self._no_exchange: set[tuple[Route, Route]] = set()

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

    # ---- descent -------------------------------------------------------------------------

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
