"""The planner's own orienteering search: ruin and recreate with local search, seeded.

:class:`Search` improves a :class:`planner.model.Solution` of an :class:`planner.model.Instance`:
greedy insertion by value per extra time, then rounds of ruin (random, related, segment or
whole-route removals) and recreate, each followed by local search (2-opt, relocation and
exchanges between routes, insertion of unvisited stops, swaps of visited for unvisited
ones), accepted by simulated annealing that cools to zero at 80 % of the work and then
descends from the best plan. It handles windows, breaks, repeat visits, caps and locked
stops. The solver runs the compiled forms of this search (``planner.fastsearch``,
``planner.fastwindows``, ``planner.fastrules``); this one is kept as the tests' oracle:
an independent implementation of the same rules whose plans the compiled ones are compared
with (``tests/planner/test_fast_rules.py``, ``tests/planner/test_fastsearch_windows.py``).

The class is built in layers: ``planner.search_base`` (the work budget, route operations
and greedy insertion), ``planner.search_moves`` (the local-search moves) and this module
(ruin, recreate and the annealing loop).

:class:`planner.search_base.Budget` counts the work in estimated microseconds of the
reference machine, never the clock, so a seed gives the same plan on any machine that
finishes the budget in time.
"""

from __future__ import annotations

import math

import numpy as np

from planner import fastcore, fastsearch
from planner.model import (
    Instance,
    Solution,
    empty_solution,
    gap_conflicts,
    make_route,
    solution_value,
    tally,
)
from planner.problem import INF_TICKS
from planner.search_base import Budget
from planner.search_moves import LocalSearch

# Simulated-annealing start temperature, as a share of the value of an average visit: hot
# enough to leave the basin of the first plan (0.5 left 100-stop TOP instances 4-5 % short).
TEMPERATURE = 4.0
# Shared with the compiled search (planner.fastsearch and planner.fastcore, where they are
# documented): when the annealing reaches zero, the ruin kinds and sizes, rounds before going
# back to the best.
_COOL_BY = fastsearch.COOL_BY
# Share of the time limit at which the descent starts anyway when the work is still short of
# _COOL_BY (the budget can then no longer finish in time; stopped_by says "time_limit").
DESCEND_BY_CLOCK = 0.9
_RUIN_MAX_SHARE = fastcore.RUIN_MAX_SHARE
_RUIN_RANDOM = fastcore.RUIN_RANDOM
_RUIN_RELATED = fastcore.RUIN_RELATED
_RUIN_SEGMENT = fastcore.RUIN_SEGMENT
_RESTART_AFTER = fastsearch.RESTART_AFTER
# Rounds without a new best after which the search stops early: at least this many, and
# this many per option (stop and window).
_PATIENCE_MIN, _PATIENCE_PER_OPTION = 500, 10


def patience_rounds(inst: Instance) -> int:
    """Rounds without a new best after which a search of ``inst`` calls itself converged."""
    return max(_PATIENCE_MIN, _PATIENCE_PER_OPTION * len(inst.opt_node))


class Search(LocalSearch):
    """Ruin-and-recreate with local search for the team orienteering problem with windows."""

    def __init__(self, inst: Instance, rng: np.random.Generator, budget: Budget) -> None:
        super().__init__(inst, rng, budget)
        self.iterations = 0

    # ---- perturbation and the annealing loop ---------------------------------------------

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
