"""Compiled orienteering search for untimed, single-visit problems (numba).

The team orienteering core of the planner: no time windows, no breaks, every stop at most
once and no share caps, so a route fits exactly when its travel plus dwell fits its shift.
That is every ``plan-problem`` without windows and the whole TOP benchmark. The search is the
one of ``planner.search.Search`` (greedy insertion by value per extra time, ruin and
recreate, 2-opt, relocation, swaps and tail exchanges between routes, swaps of visited for
unvisited stops, simulated annealing cooling to zero at 80 % of the work, then descent from
the best plan, plus or-opt moves of short segments within a route), written as loops over
integer arrays and compiled once per machine (cached beside this file). On TOP p4.2.m with
two workers it makes 2,868 rounds in 0.45 s where the numpy version made 331 in 0.85 s.

Determinism: all randomness comes from numba's generator seeded per run, and the search
counts its work in elementary steps (``ops``), never reading the clock; the caller runs it in
slices and checks the clock between them, as a safety stop only.

Arrays: ``travel`` (modes, nodes, nodes) ticks; per route ``mode``, ``start``, ``end`` and
``room`` (shift length in ticks); per option ``node``, ``dwell`` (ticks) and ``prize``. A
solution is ``seq`` (routes, options) with ``length`` (routes,) visits per route.
"""

from __future__ import annotations

import math
import time

import numpy as np
import numpy.typing as npt
from numba import njit

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

INF = np.int64(2**50)
# Search settings, shared with the numpy search in planner.search. Cumulative probabilities
# of the ruin kinds: random visits, related (nearby) visits, a segment of every route; the
# rest empties one route and reseeds it.
RUIN_RANDOM, RUIN_RELATED, RUIN_SEGMENT = 0.3, 0.6, 0.75
# Largest share of the visits one ruin step removes.
RUIN_MAX_SHARE = 0.35
# Share of the work after which the temperature is zero; the search then goes back to the
# best plan found and spends the rest descending from it.
COOL_BY = 0.8
# Rounds without a new best before the search returns to the best solution.
RESTART_AFTER = 150

# Slots of the state vector that carries the search between slices.
S_OPS, S_ITER, S_SINCE, S_DESCEND, S_T0, S_STARTED, S_DONE, S_FORCE = range(8)
STATE_SIZE = 8


# Untyped numba kernels below: the arguments are the three tuples, documented here once.
#   p (problem): travel (modes, nodes, nodes), mode, start, end, room (per route), node,
#       dwell (per option), prize (per option, float)
#   s (solution): seq (routes, width) options in order, length, busy (travel + dwell), trav
#       (travel) per route, where (per option: its route or -1)
#   w (scratch): best_c, best_p (routes, options) cheapest insertion and its position,
#       factor (routes, options) noise, fwd, bwd (width + 2), pre_a, pre_b, dw_a, dw_b
#       (width + 1), drop (routes, width), keep (width), locs (routes, width + 2) each
#       route's nodes with its stations
# Every move returns (changed, ops): ops counts elementary steps, the work budget's unit.


@njit(cache=True)
def seed_generator(seed):  # noqa: ANN001, ANN201
    """Seed numba's random generator (one per process) for the next run."""
    np.random.seed(seed)


@njit(cache=True)
def solution_arrays(n_routes, n_opt):  # noqa: ANN001, ANN201
    """An empty solution tuple for ``n_routes`` routes over ``n_opt`` options."""
    width = n_opt + 1
    return (
        np.zeros((n_routes, width), dtype=np.int64),
        np.zeros(n_routes, dtype=np.int64),
        np.zeros(n_routes, dtype=np.int64),
        np.zeros(n_routes, dtype=np.int64),
        np.full(n_opt, -1, dtype=np.int64),
    )


@njit(cache=True)
def scratch_arrays(n_routes, n_opt):  # noqa: ANN001, ANN201
    """The scratch tuple the moves work in."""
    width = n_opt + 1
    return (
        np.zeros((n_routes, n_opt), dtype=np.int64),
        np.zeros((n_routes, n_opt), dtype=np.int64),
        np.ones((n_routes, n_opt)),
        np.zeros(width + 2, dtype=np.int64),
        np.zeros(width + 2, dtype=np.int64),
        np.zeros(width + 1, dtype=np.int64),
        np.zeros(width + 1, dtype=np.int64),
        np.zeros(width + 1, dtype=np.int64),
        np.zeros(width + 1, dtype=np.int64),
        np.zeros((n_routes, width), dtype=np.bool_),
        np.zeros(width, dtype=np.int64),
        np.zeros((n_routes, width + 2), dtype=np.int64),
    )


@njit(cache=True)
def route_cost(p, s, r):  # noqa: ANN001, ANN201
    """(travel, travel + dwell) of route ``r``."""
    travel, mode, start, end, _, node, dwell, _ = p
    seq, length = s[0], s[1]
    m = mode[r]
    prev = start[r]
    trav = 0
    busy = 0
    for k in range(length[r]):
        o = seq[r, k]
        trav += travel[m, prev, node[o]]
        busy += dwell[o]
        prev = node[o]
    trav += travel[m, prev, end[r]]
    return trav, trav + busy


@njit(cache=True)
def load(p, s):  # noqa: ANN001, ANN201
    """Set ``busy``, ``trav`` and ``where`` from the sequences."""
    seq, length, busy, trav, where = s
    where[:] = -1
    for r in range(length.shape[0]):
        trav[r], busy[r] = route_cost(p, s, r)
        for k in range(length[r]):
            where[seq[r, k]] = r


@njit(cache=True)
def _rebuild(p, s, r):  # noqa: ANN001, ANN202
    """Re-measure route ``r`` after its sequence changed and claim its options."""
    seq, length, busy, trav, where = s
    trav[r], busy[r] = route_cost(p, s, r)
    for k in range(length[r]):
        where[seq[r, k]] = r


@njit(cache=True)
def _locate(p, s, locs, r):  # noqa: ANN001, ANN202
    """Write route ``r``'s nodes, stations included, into row ``r`` of ``locs``.

    The moves read nodes from this table in their loops: reading them through the tuples
    there costs a reference count per access, fifty times the read itself.
    """
    start, end, node = p[2], p[3], p[5]
    seq, length = s[0], s[1]
    n = length[r]
    locs[r, 0] = start[r]
    for k in range(n):
        locs[r, k + 1] = node[seq[r, k]]
    locs[r, n + 1] = end[r]


@njit(cache=True)
def _insert_at(s, r, k, o):  # noqa: ANN001, ANN202
    seq, length = s[0], s[1]
    for q in range(length[r], k, -1):
        seq[r, q] = seq[r, q - 1]
    seq[r, k] = o
    length[r] += 1


@njit(cache=True)
def _remove_at(s, r, k):  # noqa: ANN001, ANN202
    seq, length = s[0], s[1]
    for q in range(k, length[r] - 1):
        seq[r, q] = seq[r, q + 1]
    length[r] -= 1


@njit(cache=True)
def _insert_costs(p, s, w, r):  # noqa: ANN001, ANN202
    """Cheapest extra time (travel + dwell) and position of every unvisited option in ``r``."""
    travel, mode, _, _, _, node, dwell, _ = p
    where = s[4]
    best_c, best_p = w[0], w[1]
    m = mode[r]
    n_opt = node.shape[0]
    n = s[1][r]
    best_c[r, :] = INF
    locs = w[11]
    _locate(p, s, locs, r)
    prev = locs[r, 0]
    for k in range(n + 1):
        nxt = locs[r, k + 1]
        base = travel[m, prev, nxt]
        for o in range(n_opt):
            if where[o] < 0:
                c = travel[m, prev, node[o]] + travel[m, node[o], nxt] - base
                if c < best_c[r, o]:
                    best_c[r, o] = c
                    best_p[r, o] = k
        prev = nxt
    for o in range(n_opt):
        if where[o] < 0:
            best_c[r, o] += dwell[o]
    return (n + 1) * n_opt


@njit(cache=True)
def fill(p, s, w, eps, alpha, noise):  # noqa: ANN001, ANN201
    """Insert options by (prize ** alpha) per extra time until none fits.

    ``noise`` multiplies each (route, option) score by a random factor in [1, 1 + noise].
    """
    room, node, dwell, prize = p[4], p[5], p[6], p[7]
    length, busy, trav, where = s[1], s[2], s[3], s[4]
    best_c, best_p, factor = w[0], w[1], w[2]
    n_routes = length.shape[0]
    n_opt = node.shape[0]
    ops = 0
    for r in range(n_routes):
        ops += _insert_costs(p, s, w, r)
        for o in range(n_opt):
            factor[r, o] = 1.0 + noise * np.random.random() if noise > 0 else 1.0
    weight = np.empty(n_opt)
    for o in range(n_opt):
        weight[o] = max(prize[o], 1e-12) ** alpha
    inserted = False
    while True:
        best = -1.0
        br = -1
        bo = -1
        for r in range(n_routes):
            slack = room[r] - busy[r]
            for o in range(n_opt):
                if where[o] < 0 and best_c[r, o] <= slack:
                    score = weight[o] * factor[r, o] / max(float(best_c[r, o]), eps)
                    if score > best:
                        best = score
                        br = r
                        bo = o
        ops += n_routes * n_opt
        if br < 0:
            return inserted, ops
        c = best_c[br, bo]
        _insert_at(s, br, best_p[br, bo], bo)
        busy[br] += c
        trav[br] += c - dwell[bo]
        where[bo] = br
        inserted = True
        ops += _insert_costs(p, s, w, br)


@njit(cache=True)
def two_opt(p, s, w, r):  # noqa: ANN001, ANN201
    """Reverse the segment that shortens route ``r`` most, while one does."""
    travel = p[0]
    m = p[1][r]
    seq, busy, trav = s[0], s[2], s[3]
    fwd, bwd, locs = w[3], w[4], w[11]
    improved = False
    ops = 0
    while True:
        _locate(p, s, locs, r)
        loc = locs[r]
        n = s[1][r]
        if n < 2:
            return improved, ops
        fwd[0] = 0
        bwd[0] = 0
        for k in range(n + 1):
            fwd[k + 1] = fwd[k] + travel[m, loc[k], loc[k + 1]]
            bwd[k + 1] = bwd[k] + travel[m, loc[k + 1], loc[k]]
        best = 0
        bi = -1
        bj = -1
        for i in range(1, n + 1):
            for j in range(i + 1, n + 1):
                new = (
                    travel[m, loc[i - 1], loc[j]]
                    + (bwd[j] - bwd[i])
                    + travel[m, loc[i], loc[j + 1]]
                )
                delta = new - (fwd[j + 1] - fwd[i - 1])
                if delta < best:
                    best = delta
                    bi = i
                    bj = j
        ops += n * n // 2 + n
        if bi < 0:
            return improved, ops
        a = bi - 1
        b = bj - 1
        while a < b:
            seq[r, a], seq[r, b] = seq[r, b], seq[r, a]
            a += 1
            b -= 1
        trav[r] += best
        busy[r] += best
        improved = True


@njit(cache=True)
def or_opt(p, s, w, r):  # noqa: ANN001, ANN201
    """Move a segment of 1-3 visits elsewhere in route ``r`` while that shortens it."""
    travel = p[0]
    m = p[1][r]
    seq, busy, trav = s[0], s[2], s[3]
    keep, locs = w[10], w[11]
    improved = False
    ops = 0
    while True:
        _locate(p, s, locs, r)
        loc = locs[r]
        n = s[1][r]
        if n < 2:
            return improved, ops
        best = 0
        bi = -1
        bk = 0
        bt = -1
        for k in range(1, 4):
            for i in range(1, n - k + 2):  # the segment loc[i .. i+k-1]
                first = loc[i]
                last = loc[i + k - 1]
                gain = (
                    travel[m, loc[i - 1], first]
                    + travel[m, last, loc[i + k]]
                    - travel[m, loc[i - 1], loc[i + k]]
                )
                for t in range(n + 1):  # arc loc[t] -> loc[t + 1]
                    if i - 1 <= t <= i + k - 1:
                        continue
                    cost = (
                        travel[m, loc[t], first]
                        + travel[m, last, loc[t + 1]]
                        - travel[m, loc[t], loc[t + 1]]
                    )
                    if cost - gain < best:
                        best = cost - gain
                        bi = i
                        bk = k
                        bt = t
            ops += n * n
        if bi < 0:
            return improved, ops
        # The segment seq[bi-1 .. bi+bk-2] goes after route position bt; in the rest of the
        # sequence that arc keeps its place when it lies before the segment.
        q = 0
        for k in range(n):
            if k < bi - 1 or k >= bi - 1 + bk:
                keep[q] = seq[r, k]
                q += 1
        for k in range(bk):
            keep[n - bk + k] = seq[r, bi - 1 + k]
        cut = bt if bt < bi - 1 else bt - bk
        q = 0
        for k in range(cut):
            seq[r, q] = keep[k]
            q += 1
        for k in range(bk):
            seq[r, q] = keep[n - bk + k]
            q += 1
        for k in range(cut, n - bk):
            seq[r, q] = keep[k]
            q += 1
        trav[r] += best
        busy[r] += best
        improved = True


@njit(cache=True)
def relocate(p, s, w):  # noqa: ANN001, ANN201
    """Move one visit to another route where that cuts total travel."""
    travel, mode, _, _, room, node, dwell, _ = p
    seq, length, busy, trav, where = s
    n_routes = length.shape[0]
    improved = False
    ops = 0
    locs = w[11]
    for _ in range(4 * n_routes):
        for r in range(n_routes):
            _locate(p, s, locs, r)
        best = 0
        ba = bi = bb = bk = -1
        save_a = cost_b = 0
        for a in range(n_routes):
            ma = mode[a]
            for i in range(length[a]):
                o = seq[a, i]
                v = node[o]
                before = locs[a, i]
                after = locs[a, i + 2]
                saving = travel[ma, before, v] + travel[ma, v, after] - travel[ma, before, after]
                if busy[a] - saving - dwell[o] > room[a]:
                    continue
                for b in range(n_routes):
                    if b == a:
                        continue
                    mb = mode[b]
                    prev = locs[b, 0]
                    for k in range(length[b] + 1):
                        nxt = locs[b, k + 1]
                        c = travel[mb, prev, v] + travel[mb, v, nxt] - travel[mb, prev, nxt]
                        if c - saving < best and busy[b] + c + dwell[o] <= room[b]:
                            best = c - saving
                            ba, bi, bb, bk = a, i, b, k
                            save_a, cost_b = saving, c
                        prev = nxt
                    ops += length[b] + 1
        if ba < 0:
            return improved, ops
        o = seq[ba, bi]
        _remove_at(s, ba, bi)
        _insert_at(s, bb, bk, o)
        where[o] = bb
        trav[ba] -= save_a
        busy[ba] -= save_a + dwell[o]
        trav[bb] += cost_b
        busy[bb] += cost_b + dwell[o]
        improved = True
    return improved, ops


@njit(cache=True)
def _prefix(p, s, r, pre, dw):  # noqa: ANN001, ANN202
    """Travel from the start to each visit of ``r``, and dwell before it, into pre and dw."""
    travel, node, dwell = p[0], p[5], p[6]
    m = p[1][r]
    seq = s[0]
    prev = p[2][r]
    pre[0] = 0
    dw[0] = 0
    for k in range(s[1][r]):
        v = node[seq[r, k]]
        pre[k + 1] = pre[k] + travel[m, prev, v]
        dw[k + 1] = dw[k] + dwell[seq[r, k]]
        prev = v


@njit(cache=True)
def exchange(p, s, w):  # noqa: ANN001, ANN201
    """Swap two visits between routes, or their tails (2-opt*), where that cuts busy time."""
    travel, mode, _, end, room, node, dwell, _ = p
    seq, length, busy, trav, _ = s
    pre_a, pre_b, dw_a, dw_b, keep, locs = w[5], w[6], w[7], w[8], w[10], w[11]
    n_routes = length.shape[0]
    improved = False
    ops = 0
    for _ in range(2 * n_routes):
        for r in range(n_routes):
            _locate(p, s, locs, r)
        best = 0
        kind = -1
        ba = bb = bi = bj = 0
        for a in range(n_routes):
            for b in range(a + 1, n_routes):
                m = mode[a]
                na = length[a]
                nb = length[b]
                if mode[b] != m or (na == 0 and nb == 0):
                    continue
                # Swap visit i of a with visit j of b, each taking the other's place.
                for i in range(na):
                    oa = seq[a, i]
                    va = node[oa]
                    pa = locs[a, i]
                    sa = locs[a, i + 2]
                    old_a = travel[m, pa, va] + travel[m, va, sa]
                    for j in range(nb):
                        ob = seq[b, j]
                        vb = node[ob]
                        pb = locs[b, j]
                        sb = locs[b, j + 2]
                        dwell_shift = dwell[ob] - dwell[oa]
                        da = travel[m, pa, vb] + travel[m, vb, sa] - old_a + dwell_shift
                        db = (
                            travel[m, pb, va]
                            + travel[m, va, sb]
                            - (travel[m, pb, vb] + travel[m, vb, sb])
                            - dwell_shift
                        )
                        if (
                            -(da + db) > best
                            and busy[a] + da <= room[a]
                            and busy[b] + db <= room[b]
                        ):
                            best = -(da + db)
                            kind = 0
                            ba, bb, bi, bj = a, b, i, j
                ops += na * nb
                if end[a] != end[b]:
                    continue
                # 2-opt*: a keeps its first ka visits and takes b's from kb on; b vice versa.
                _prefix(p, s, a, pre_a, dw_a)
                _prefix(p, s, b, pre_b, dw_b)
                for ka in range(na + 1):
                    la = locs[a, ka]
                    next_a = locs[a, ka + 1]
                    tail_a = trav[a] - pre_a[ka] - travel[m, la, next_a] + dw_a[na] - dw_a[ka]
                    for kb in range(nb + 1):
                        if (ka == na and kb == nb) or (ka == 0 and kb == 0):
                            continue
                        lb = locs[b, kb]
                        next_b = locs[b, kb + 1]
                        tail_b = trav[b] - pre_b[kb] - travel[m, lb, next_b] + dw_b[nb] - dw_b[kb]
                        len_a = pre_a[ka] + dw_a[ka] + travel[m, la, next_b] + tail_b
                        len_b = pre_b[kb] + dw_b[kb] + travel[m, lb, next_a] + tail_a
                        saving = busy[a] + busy[b] - len_a - len_b
                        if saving > best and len_a <= room[a] and len_b <= room[b]:
                            best = saving
                            kind = 1
                            ba, bb, bi, bj = a, b, ka, kb
                ops += (na + 1) * (nb + 1)
        if kind < 0:
            return improved, ops
        a, b, i, j = ba, bb, bi, bj
        if kind == 0:
            seq[a, i], seq[b, j] = seq[b, j], seq[a, i]
        else:
            na = length[a]
            nb = length[b]
            for k in range(na - i):
                keep[k] = seq[a, i + k]
            for k in range(nb - j):
                seq[a, i + k] = seq[b, j + k]
            for k in range(na - i):
                seq[b, j + k] = keep[k]
            length[a] = i + nb - j
            length[b] = j + na - i
        _rebuild(p, s, a)
        _rebuild(p, s, b)
        improved = True
    return improved, ops


@njit(cache=True)
def replace_visits(p, s, w):  # noqa: ANN001, ANN201
    """Swap a visited option for a more valuable unvisited one where it fits."""
    travel, mode, _, _, room, node, dwell, prize = p
    seq, length, busy, _, where = s
    n_opt = node.shape[0]
    improved = False
    ops = 0
    locs = w[11]
    for r in range(length.shape[0]):
        m = mode[r]
        while True:
            n = length[r]
            if n == 0:
                break
            _locate(p, s, locs, r)
            best_gain = 1e-9
            bp = bo = b_target = -1
            for o in range(n_opt):
                if where[o] >= 0:
                    continue
                v = node[o]
                # The three cheapest arcs for o: one of them does not touch the visit that
                # o replaces.
                c1 = c2 = c3 = INF
                t1 = t2 = t3 = -1
                prev = locs[r, 0]
                for t in range(n + 1):
                    nxt = locs[r, t + 1]
                    c = travel[m, prev, v] + travel[m, v, nxt] - travel[m, prev, nxt]
                    if c < c1:
                        c3, t3 = c2, t2
                        c2, t2 = c1, t1
                        c1, t1 = c, t
                    elif c < c2:
                        c3, t3 = c2, t2
                        c2, t2 = c, t
                    elif c < c3:
                        c3, t3 = c, t
                    prev = nxt
                ops += 2 * n + 1
                for k in range(n):
                    old = seq[r, k]
                    gain = prize[o] - prize[old]
                    if gain <= best_gain:
                        continue
                    before = locs[r, k]
                    after = locs[r, k + 2]
                    bridge = travel[m, before, after]
                    removed = travel[m, before, node[old]] + travel[m, node[old], after] - bridge
                    # In place of the old visit, or at the cheapest arc not touching it.
                    delta = travel[m, before, v] + travel[m, v, after] - bridge
                    target = k
                    for c, t in ((c1, t1), (c2, t2), (c3, t3)):
                        if t >= 0 and t != k and t != k + 1:
                            if c < delta:
                                delta = c
                                target = t
                            break
                    if busy[r] + delta - removed + dwell[o] - dwell[old] <= room[r]:
                        best_gain = gain
                        bp, bo, b_target = k, o, target
            if bo < 0:
                break
            where[seq[r, bp]] = -1
            if b_target == bp:
                seq[r, bp] = bo
            else:
                _remove_at(s, r, bp)
                _insert_at(s, r, b_target if b_target < bp else b_target - 1, bo)
            _rebuild(p, s, r)
            improved = True
    return improved, ops


@njit(cache=True)
def improve(p, s, w, eps):  # noqa: ANN001, ANN201
    """Local search to a local optimum (shorter routes, then more value); returns ops."""
    ops = 0
    for _ in range(20):
        changed = False
        for r in range(s[1].shape[0]):
            done, k = two_opt(p, s, w, r)
            changed |= done
            ops += k
            done, k = or_opt(p, s, w, r)
            changed |= done
            ops += k
        done, k = relocate(p, s, w)
        changed |= done
        ops += k
        done, k = exchange(p, s, w)
        changed |= done
        ops += k
        done, k = fill(p, s, w, eps, 1.0, 0.0)
        changed |= done
        ops += k
        done, k = replace_visits(p, s, w)
        changed |= done
        ops += k
        if not changed:
            break
    return ops


@njit(cache=True)
def ruin(p, s, w):  # noqa: ANN001, ANN201
    """Remove a random part of the solution (random, related, segment or whole route)."""
    travel, mode, _, _, room, node, _, _ = p
    seq, length, busy, trav, where = s
    drop, keep = w[9], w[10]
    n_routes = length.shape[0]
    total = length.sum()
    if total == 0:
        return 0
    owner = np.empty(total, dtype=np.int64)
    position = np.empty(total, dtype=np.int64)
    q = 0
    for r in range(n_routes):
        for k in range(length[r]):
            owner[q] = r
            position[q] = k
            q += 1
    drop[:, :] = False
    kind = np.random.random()
    n_remove = min(np.random.randint(1, max(2, int(RUIN_MAX_SHARE * total)) + 1), total)
    reseed = -1
    if kind < RUIN_RANDOM:
        order = np.random.permutation(total)
    elif kind < RUIN_RELATED:
        pick = np.random.randint(0, total)
        m = mode[owner[pick]]
        centre = node[seq[owner[pick], position[pick]]]
        dist = np.empty(total, dtype=np.int64)
        for i in range(total):
            v = node[seq[owner[i], position[i]]]
            dist[i] = travel[m, centre, v] + travel[m, v, centre]
        order = np.argsort(dist, kind="mergesort")
    else:
        order = np.arange(0)
        n_remove = 0
        if kind < RUIN_SEGMENT:
            for r in range(n_routes):
                n = length[r]
                if n > 0:
                    size = np.random.randint(1, max(1, n // 2) + 1)
                    first = np.random.randint(0, n - size + 1)
                    drop[r, first : first + size] = True
        else:
            reseed = np.random.randint(0, n_routes)
            drop[reseed, : length[reseed]] = True
    for i in range(n_remove):
        drop[owner[order[i]], position[order[i]]] = True
    for r in range(n_routes):
        n = length[r]
        keep[:n] = seq[r, :n]
        q = 0
        for k in range(n):
            if not drop[r, k]:
                seq[r, q] = keep[k]
                q += 1
        length[r] = q
        t, u = route_cost(p, s, r)
        if u > room[r]:  # only with travel times that break the triangle inequality
            seq[r, :n] = keep[:n]
            length[r] = n
            continue
        trav[r] = t
        busy[r] = u
        for k in range(n):
            if drop[r, k]:
                where[keep[k]] = -1
    if reseed >= 0 and length[reseed] == 0:  # (not when the emptied route was put back)
        _seed_route(p, s, reseed)
    return total


@njit(cache=True)
def _seed_route(p, s, r):  # noqa: ANN001, ANN202
    """Start empty route ``r`` with a random unvisited option it can reach, chance ~ prize."""
    travel, mode, start, end, room, node, dwell, prize = p
    where = s[4]
    m = mode[r]
    n_opt = node.shape[0]
    weights = np.zeros(n_opt)
    for o in range(n_opt):
        trip = travel[m, start[r], node[o]] + travel[m, node[o], end[r]] + dwell[o]
        if where[o] < 0 and trip <= room[r]:
            weights[o] = max(prize[o], 0.0)
    total = weights.sum()
    if total <= 0:
        return
    draw = np.random.random() * total
    acc = 0.0
    pick = -1
    for o in range(n_opt):
        if weights[o] > 0:
            acc += weights[o]
            pick = o
            if acc > draw:
                break
    _insert_at(s, r, 0, pick)
    _rebuild(p, s, r)


@njit(cache=True)
def _copy(src, dst):  # noqa: ANN001, ANN202
    """Copy solution ``src``'s sequences into ``dst`` (re-measure it with ``load``)."""
    seq_from, len_from, seq_to, len_to = src[0], src[1], dst[0], dst[1]
    len_to[:] = len_from
    for r in range(len_from.shape[0]):
        seq_to[r, : len_from[r]] = seq_from[r, : len_from[r]]


@njit(cache=True)
def _value(p, s):  # noqa: ANN001, ANN202
    prize, seq, length = p[7], s[0], s[1]
    total = 0.0
    for r in range(length.shape[0]):
        for k in range(length[r]):
            total += prize[seq[r, k]]
    return total


@njit(cache=True)
def _better(value_a, travel_a, value_b, travel_b):  # noqa: ANN001, ANN202
    """Whether (value, -travel) a beats b (values compared to 1e-9)."""
    if value_a > value_b + 1e-9:
        return True
    return abs(value_a - value_b) <= 1e-9 and travel_a < travel_b


@njit(cache=True)
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
