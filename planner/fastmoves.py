"""The compiled search's local-search moves (numba), and the descent that runs them.

Moves within a route (2-opt, or-opt of segments of 1-3 visits), between routes (relocation
of a visit, swaps of visits and exchanges of route tails) and of the value (a visited option
for a more valuable unvisited one), each on the problem, solution and scratch tuples of
``planner.fastcore`` (documented there) and returning (changed, ops); :func:`improve` runs
them with greedy insertion until none helps. ``planner.fastsearch`` drives the search.
"""

from __future__ import annotations

from numba import njit

from planner.fastcache import cache_ok
from planner.fastcore import (
    INF,
    exchange_sequences,
    fill,
    insert_at,
    locate,
    rebuild,
    remove_at,
    tally,
)

# Stamps of the kernel files this one calls into (planner.fastcache explains why).
CALLS_INTO = {"fastcore.py": "e38851e535642141"}
_CACHE = cache_ok(__name__, CALLS_INTO)


@njit(cache=_CACHE)
def two_opt(p, s, w, r):  # noqa: ANN001, ANN201
    """Reverse the segment that shortens route ``r`` most, while one does."""
    travel = p[0]
    m = p[1][r]
    seq, busy, trav = s[0], s[2], s[3]
    fwd, bwd, locs = w[3], w[4], w[11]
    improved = False
    ops = 0
    while True:
        locate(p, s, locs, r)
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
                    best, bi, bj = delta, i, j
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


@njit(cache=_CACHE)
def or_opt(p, s, w, r):  # noqa: ANN001, ANN201
    """Move a segment of 1-3 visits elsewhere in route ``r`` while that shortens it."""
    travel = p[0]
    m = p[1][r]
    seq, busy, trav = s[0], s[2], s[3]
    keep, locs = w[10], w[11]
    improved = False
    ops = 0
    while True:
        locate(p, s, locs, r)
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
                        best, bi, bk, bt = cost - gain, i, k, t
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


@njit(cache=_CACHE)
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
            locate(p, s, locs, r)
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
        remove_at(s, ba, bi)
        insert_at(s, bb, bk, o)
        where[o] = bb
        trav[ba] -= save_a
        busy[ba] -= save_a + dwell[o]
        trav[bb] += cost_b
        busy[bb] += cost_b + dwell[o]
        improved = True
    return improved, ops


@njit(cache=_CACHE)
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


@njit(cache=_CACHE)
def exchange(p, s, w):  # noqa: ANN001, ANN201
    """Swap two visits between routes, or their tails (2-opt*), where that cuts busy time."""
    travel, mode, _, end, room, node, dwell, _ = p
    seq, length, busy, trav, _ = s
    pre_a, pre_b, dw_a, dw_b, locs = w[5], w[6], w[7], w[8], w[11]
    n_routes = length.shape[0]
    improved = False
    ops = 0
    for _ in range(2 * n_routes):
        for r in range(n_routes):
            locate(p, s, locs, r)
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
        exchange_sequences(seq, length, w[10], kind, ba, bb, bi, bj)
        rebuild(p, s, ba)
        rebuild(p, s, bb)
        improved = True
    return improved, ops


@njit(cache=_CACHE)
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
            locate(p, s, locs, r)
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
                remove_at(s, r, bp)
                insert_at(s, r, b_target if b_target < bp else b_target - 1, bo)
            rebuild(p, s, r)
            improved = True
    return improved, ops


@njit(cache=_CACHE)
def improve(p, s, w, eps):  # noqa: ANN001, ANN201
    """Local search to a local optimum (shorter routes, then more value); returns ops."""
    ops = 0
    for _ in range(20):
        changed = False
        for r in range(s[1].shape[0]):
            changed, ops = tally(two_opt(p, s, w, r), changed, ops)
            changed, ops = tally(or_opt(p, s, w, r), changed, ops)
        changed, ops = tally(relocate(p, s, w), changed, ops)
        changed, ops = tally(exchange(p, s, w), changed, ops)
        changed, ops = tally(fill(p, s, w, eps, 1.0, 0.0), changed, ops)
        changed, ops = tally(replace_visits(p, s, w), changed, ops)
        if not changed:
            break
    return ops
