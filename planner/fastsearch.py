"""Compiled orienteering search for untimed, single-visit problems (numba).

The team orienteering core of the planner: no time windows, no breaks, every stop at most
once and no share caps, so a route fits exactly when its travel plus dwell fits its shift.
That is every ``plan-problem`` without windows and the whole TOP benchmark. The search is the
one of ``planner.solver._Search`` (greedy insertion by value per extra time, ruin and
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
# Search settings, shared with the numpy search in planner.solver. Cumulative probabilities
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


@njit(cache=True)
def seed_generator(seed: int) -> None:
    """Seed numba's random generator (one per process) for the next run."""
    np.random.seed(seed)


@njit(cache=True)
def route_cost(travel, mode, start, end, seq, length, node, dwell, r):  # noqa: ANN001, ANN201
    """(travel, travel + dwell) of route ``r``."""
    m = mode[r]
    prev = start[r]
    trav = 0
    busy = 0
    for k in range(length[r]):
        o = seq[r, k]
        v = node[o]
        trav += travel[m, prev, v]
        busy += dwell[o]
        prev = v
    trav += travel[m, prev, end[r]]
    return trav, trav + busy


@njit(cache=True)
def _insert_costs(travel, mode, start, end, seq, length, node, dwell, where, r, best_c, best_p):  # noqa: ANN001, ANN202
    """Cheapest extra time (travel + dwell) and position of every unvisited option in ``r``."""
    m = mode[r]
    n_opt = node.shape[0]
    n = length[r]
    for o in range(n_opt):
        best_c[r, o] = INF
    prev = start[r]
    for p in range(n + 1):
        nxt = end[r] if p == n else node[seq[r, p]]
        base = travel[m, prev, nxt]
        for o in range(n_opt):
            if where[o] >= 0:
                continue
            v = node[o]
            c = travel[m, prev, v] + travel[m, v, nxt] - base
            if c < best_c[r, o]:
                best_c[r, o] = c
                best_p[r, o] = p
        prev = nxt
    for o in range(n_opt):
        if where[o] < 0:
            best_c[r, o] += dwell[o]
    return (n + 1) * n_opt


@njit(cache=True)
def _insert_at(seq, length, r, p, o):  # noqa: ANN001, ANN202
    for k in range(length[r], p, -1):
        seq[r, k] = seq[r, k - 1]
    seq[r, p] = o
    length[r] += 1


@njit(cache=True)
def _remove_at(seq, length, r, p):  # noqa: ANN001, ANN202
    for k in range(p, length[r] - 1):
        seq[r, k] = seq[r, k + 1]
    length[r] -= 1


@njit(cache=True)
def fill(
    travel,
    mode,
    start,
    end,
    room,
    seq,
    length,
    busy,
    trav,
    where,
    node,
    dwell,
    prize,
    eps,
    alpha,
    noise,
    best_c,
    best_p,
    factor,
):  # noqa: ANN001, ANN201, E501
    """Insert options by (prize ** alpha) per extra time until none fits; (inserted, ops)."""
    n_routes = length.shape[0]
    n_opt = node.shape[0]
    ops = 0
    for r in range(n_routes):
        ops += _insert_costs(
            travel, mode, start, end, seq, length, node, dwell, where, r, best_c, best_p
        )
    for r in range(n_routes):
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
                if where[o] >= 0:
                    continue
                c = best_c[r, o]
                if c > slack:
                    continue
                score = weight[o] * factor[r, o] / max(float(c), eps)
                if score > best:
                    best = score
                    br = r
                    bo = o
        ops += n_routes * n_opt
        if br < 0:
            return inserted, ops
        c = best_c[br, bo]
        _insert_at(seq, length, br, best_p[br, bo], bo)
        busy[br] += c
        trav[br] += c - dwell[bo]
        where[bo] = br
        inserted = True
        ops += _insert_costs(
            travel, mode, start, end, seq, length, node, dwell, where, br, best_c, best_p
        )


@njit(cache=True)
def two_opt(travel, mode, start, end, seq, length, busy, trav, node, r, loc, fwd, bwd):  # noqa: ANN001, ANN201
    """Reverse the segment that shortens route ``r`` most, while one does; (improved, ops)."""
    m = mode[r]
    n = length[r]
    improved = False
    ops = 0
    if n < 2:
        return improved, ops
    while True:
        loc[0] = start[r]
        for k in range(n):
            loc[k + 1] = node[seq[r, k]]
        loc[n + 1] = end[r]
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
                delta = (
                    travel[m, loc[i - 1], loc[j]]
                    + (bwd[j] - bwd[i])
                    + travel[m, loc[i], loc[j + 1]]
                    - (fwd[j + 1] - fwd[i - 1])
                )
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
def or_opt(travel, mode, start, end, seq, length, busy, trav, node, r, loc):  # noqa: ANN001, ANN201
    """Move a segment of 1-3 visits elsewhere in route ``r`` while that shortens it."""
    m = mode[r]
    n = length[r]
    improved = False
    ops = 0
    if n < 2:
        return improved, ops
    while True:
        loc[0] = start[r]
        for k in range(n):
            loc[k + 1] = node[seq[r, k]]
        loc[n + 1] = end[r]
        best = 0
        bi = -1
        bk = 0
        bt = -1
        for k in range(1, 4):
            for i in range(1, n - k + 2):  # segment loc[i .. i+k-1]
                first = loc[i]
                last = loc[i + k - 1]
                gain = (
                    travel[m, loc[i - 1], first]
                    + travel[m, last, loc[i + k]]
                    - travel[m, loc[i - 1], loc[i + k]]
                )
                for t in range(n + 1):  # arc loc[t] -> loc[t+1] of the route
                    if t >= i - 1 and t <= i + k - 1:
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
        # Rebuild the sequence: the segment seq[bi-1 .. bi+bk-2] goes after loc[bt].
        segment = seq[r, bi - 1 : bi - 1 + bk].copy()
        rest = np.empty(n - bk, dtype=np.int64)
        q = 0
        for k in range(n):
            if k < bi - 1 or k >= bi - 1 + bk:
                rest[q] = seq[r, k]
                q += 1
        # Arc t joins route positions t and t+1 (0 = start); in ``rest`` the arc after
        # visit t keeps its place when it lies before the segment, else moves back by bk.
        cut = bt if bt < bi - 1 else bt - bk
        q = 0
        for k in range(cut):
            seq[r, q] = rest[k]
            q += 1
        for k in range(bk):
            seq[r, q] = segment[k]
            q += 1
        for k in range(cut, n - bk):
            seq[r, q] = rest[k]
            q += 1
        trav[r] += best
        busy[r] += best
        improved = True


@njit(cache=True)
def relocate(travel, mode, start, end, room, seq, length, busy, trav, where, node, dwell):  # noqa: ANN001, ANN201
    """Move one visit to another route where that cuts total travel; (improved, ops)."""
    n_routes = length.shape[0]
    improved = False
    ops = 0
    for _ in range(4 * n_routes):
        best = 0
        ba = -1
        bi = -1
        bb = -1
        bp = -1
        new_a = 0
        new_b = 0
        for a in range(n_routes):
            ma = mode[a]
            na = length[a]
            for i in range(na):
                o = seq[a, i]
                v = node[o]
                p = start[a] if i == 0 else node[seq[a, i - 1]]
                q = end[a] if i == na - 1 else node[seq[a, i + 1]]
                saving = travel[ma, p, v] + travel[ma, v, q] - travel[ma, p, q]
                if busy[a] - saving - dwell[o] > room[a]:
                    continue
                for b in range(n_routes):
                    if b == a:
                        continue
                    mb = mode[b]
                    nb = length[b]
                    prev = start[b]
                    for t in range(nb + 1):
                        nxt = end[b] if t == nb else node[seq[b, t]]
                        c = travel[mb, prev, v] + travel[mb, v, nxt] - travel[mb, prev, nxt]
                        if c - saving < best and busy[b] + c + dwell[o] <= room[b]:
                            best = c - saving
                            ba = a
                            bi = i
                            bb = b
                            bp = t
                            new_a = saving
                            new_b = c
                        prev = nxt
                    ops += nb + 1
        if ba < 0:
            return improved, ops
        o = seq[ba, bi]
        _remove_at(seq, length, ba, bi)
        _insert_at(seq, length, bb, bp, o)
        where[o] = bb
        trav[ba] -= new_a
        busy[ba] -= new_a + dwell[o]
        trav[bb] += new_b
        busy[bb] += new_b + dwell[o]
        improved = True
    return improved, ops


@njit(cache=True)
def exchange(
    travel,
    mode,
    start,
    end,
    room,
    seq,
    length,
    busy,
    trav,
    where,
    node,
    dwell,
    pre_a,
    pre_b,
    dw_a,
    dw_b,
):  # noqa: ANN001, ANN201, E501
    """Swap two visits between routes, or their tails (2-opt*), to cut travel; (improved, ops)."""
    n_routes = length.shape[0]
    improved = False
    ops = 0
    for _ in range(2 * n_routes):
        best = 0
        kind = -1
        ba = bb = bi = bj = 0
        for a in range(n_routes):
            for b in range(a + 1, n_routes):
                if mode[a] != mode[b]:
                    continue
                m = mode[a]
                na = length[a]
                nb = length[b]
                if na == 0 and nb == 0:
                    continue
                slack_a = room[a] - busy[a]
                slack_b = room[b] - busy[b]
                for i in range(na):
                    oa = seq[a, i]
                    va = node[oa]
                    pa = start[a] if i == 0 else node[seq[a, i - 1]]
                    sa = end[a] if i == na - 1 else node[seq[a, i + 1]]
                    old_a = travel[m, pa, va] + travel[m, va, sa]
                    for j in range(nb):
                        ob = seq[b, j]
                        vb = node[ob]
                        pb = start[b] if j == 0 else node[seq[b, j - 1]]
                        sb = end[b] if j == nb - 1 else node[seq[b, j + 1]]
                        da = travel[m, pa, vb] + travel[m, vb, sa] - old_a + dwell[ob] - dwell[oa]
                        db = (
                            travel[m, pb, va]
                            + travel[m, va, sb]
                            - travel[m, pb, vb]
                            - travel[m, vb, sb]
                            + dwell[oa]
                            - dwell[ob]
                        )
                        saving = -(da + db)
                        if saving > best and da <= slack_a and db <= slack_b:
                            best = saving
                            kind = 0
                            ba, bb, bi, bj = a, b, i, j
                ops += na * nb
                if end[a] != end[b]:
                    continue
                # 2-opt*: a keeps its first ka visits and takes b's from kb on; b vice versa.
                prev = start[a]
                pre_a[0] = 0
                dw_a[0] = 0
                for k in range(na):
                    v = node[seq[a, k]]
                    pre_a[k + 1] = pre_a[k] + travel[m, prev, v]
                    dw_a[k + 1] = dw_a[k] + dwell[seq[a, k]]
                    prev = v
                prev = start[b]
                pre_b[0] = 0
                dw_b[0] = 0
                for k in range(nb):
                    v = node[seq[b, k]]
                    pre_b[k + 1] = pre_b[k] + travel[m, prev, v]
                    dw_b[k + 1] = dw_b[k] + dwell[seq[b, k]]
                    prev = v
                used_a = busy[a]
                used_b = busy[b]
                for ka in range(na + 1):
                    la = start[a] if ka == 0 else node[seq[a, ka - 1]]
                    na_next = end[a] if ka == na else node[seq[a, ka]]
                    # travel of a's tail from its visit ka on (position ka+1 in loc terms)
                    tail_a = trav[a] - pre_a[ka] - travel[m, la, na_next]
                    for kb in range(nb + 1):
                        if (ka == na and kb == nb) or (ka == 0 and kb == 0):
                            continue
                        lb = start[b] if kb == 0 else node[seq[b, kb - 1]]
                        nb_next = end[b] if kb == nb else node[seq[b, kb]]
                        tail_b = trav[b] - pre_b[kb] - travel[m, lb, nb_next]
                        len_a = (
                            pre_a[ka]
                            + dw_a[ka]
                            + travel[m, la, nb_next]
                            + tail_b
                            + (dw_b[nb] - dw_b[kb])
                        )
                        len_b = (
                            pre_b[kb]
                            + dw_b[kb]
                            + travel[m, lb, na_next]
                            + tail_a
                            + (dw_a[na] - dw_a[ka])
                        )
                        saving = used_a + used_b - len_a - len_b
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
            tail_a = seq[a, i:na].copy()
            tail_b = seq[b, j:nb].copy()
            for k in range(nb - j):
                seq[a, i + k] = tail_b[k]
            for k in range(na - i):
                seq[b, j + k] = tail_a[k]
            length[a] = i + nb - j
            length[b] = j + na - i
        for r in (a, b):
            t, u = route_cost(travel, mode, start, end, seq, length, node, dwell, r)
            trav[r] = t
            busy[r] = u
            for k in range(length[r]):
                where[seq[r, k]] = r
        improved = True
    return improved, ops


@njit(cache=True)
def replace_visits(
    travel,
    mode,
    start,
    end,
    room,
    seq,
    length,
    busy,
    trav,
    where,
    node,
    dwell,
    prize,
    best_c,
    best_p,
):  # noqa: ANN001, ANN201, E501
    """Swap a visited option for a more valuable unvisited one where it fits; (improved, ops)."""
    n_routes = length.shape[0]
    n_opt = node.shape[0]
    improved = False
    ops = 0
    for r in range(n_routes):
        m = mode[r]
        while True:
            n = length[r]
            if n == 0:
                break
            # Cheapest arcs for every unvisited option: the best three, to find one that does
            # not touch the visit being replaced.
            best_gain = 1e-9
            bp = -1
            bo = -1
            b_target = -1
            for o in range(n_opt):
                if where[o] >= 0:
                    continue
                v = node[o]
                c1 = c2 = c3 = INF
                t1 = t2 = t3 = -1
                prev = start[r]
                for t in range(n + 1):
                    nxt = end[r] if t == n else node[seq[r, t]]
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
                ops += n + 1
                for p in range(n):
                    old = seq[r, p]
                    gain = prize[o] - prize[old]
                    if gain <= best_gain:
                        continue
                    pv = start[r] if p == 0 else node[seq[r, p - 1]]
                    nv = end[r] if p == n - 1 else node[seq[r, p + 1]]
                    bridge = travel[m, pv, nv]
                    removed = travel[m, pv, node[old]] + travel[m, node[old], nv] - bridge
                    # In place of the old visit, or at the cheapest arc not touching it.
                    delta = travel[m, pv, v] + travel[m, v, nv] - bridge
                    target = p
                    for c, t in ((c1, t1), (c2, t2), (c3, t3)):
                        if t >= 0 and t != p and t != p + 1 and c < delta:
                            delta = c
                            target = t
                            break
                    delta = delta - removed + dwell[o] - dwell[old]
                    if busy[r] + delta <= room[r]:
                        best_gain = gain
                        bp = p
                        bo = o
                        b_target = target
                ops += n
            if bo < 0:
                break
            old = seq[r, bp]
            if b_target == bp:
                seq[r, bp] = bo
            else:
                _remove_at(seq, length, r, bp)
                _insert_at(seq, length, r, b_target if b_target < bp else b_target - 1, bo)
            where[old] = -1
            where[bo] = r
            t, u = route_cost(travel, mode, start, end, seq, length, node, dwell, r)
            trav[r] = t
            busy[r] = u
            improved = True
    return improved, ops


@njit(cache=True)
def load(travel, mode, start, end, seq, length, node, dwell, busy, trav, where):  # noqa: ANN001, ANN201
    """Fill ``busy``, ``trav`` and ``where`` from the sequences."""
    where[:] = -1
    for r in range(length.shape[0]):
        t, u = route_cost(travel, mode, start, end, seq, length, node, dwell, r)
        trav[r] = t
        busy[r] = u
        for k in range(length[r]):
            where[seq[r, k]] = r


@njit(cache=True)
def _value(seq, length, prize):  # noqa: ANN001, ANN202
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
def improve(
    travel,
    mode,
    start,
    end,
    room,
    seq,
    length,
    busy,
    trav,
    where,
    node,
    dwell,
    prize,
    eps,
    best_c,
    best_p,
    factor,
    loc,
    fwd,
    bwd,
    pre_a,
    pre_b,
    dw_a,
    dw_b,
):  # noqa: ANN001, ANN201, E501
    """Local search to a local optimum (shorter routes, then more value); returns ops."""
    ops = 0
    for _ in range(20):
        changed = False
        for r in range(length.shape[0]):
            done, k = two_opt(
                travel, mode, start, end, seq, length, busy, trav, node, r, loc, fwd, bwd
            )
            changed |= done
            ops += k
            done, k = or_opt(travel, mode, start, end, seq, length, busy, trav, node, r, loc)
            changed |= done
            ops += k
        done, k = relocate(
            travel, mode, start, end, room, seq, length, busy, trav, where, node, dwell
        )
        changed |= done
        ops += k
        done, k = exchange(
            travel,
            mode,
            start,
            end,
            room,
            seq,
            length,
            busy,
            trav,
            where,
            node,
            dwell,
            pre_a,
            pre_b,
            dw_a,
            dw_b,
        )
        changed |= done
        ops += k
        done, k = fill(
            travel,
            mode,
            start,
            end,
            room,
            seq,
            length,
            busy,
            trav,
            where,
            node,
            dwell,
            prize,
            eps,
            1.0,
            0.0,
            best_c,
            best_p,
            factor,
        )
        changed |= done
        ops += k
        done, k = replace_visits(
            travel,
            mode,
            start,
            end,
            room,
            seq,
            length,
            busy,
            trav,
            where,
            node,
            dwell,
            prize,
            best_c,
            best_p,
        )
        changed |= done
        ops += k
        if not changed:
            break
    return ops


@njit(cache=True)
def ruin(
    travel, mode, start, end, room, seq, length, busy, trav, where, node, dwell, prize, drop, keep
):  # noqa: ANN001, ANN201, E501
    """Remove a random part of the solution (random, related, segment or whole route)."""
    n_routes = length.shape[0]
    total = 0
    for r in range(n_routes):
        total += length[r]
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
    n_remove = np.random.randint(1, max(2, int(RUIN_MAX_SHARE * total)) + 1)
    n_remove = min(n_remove, total)
    reseed = -1
    if kind < RUIN_RANDOM:
        order = np.random.permutation(total)
        for i in range(n_remove):
            drop[owner[order[i]], position[order[i]]] = True
    elif kind < RUIN_RELATED:
        pick = np.random.randint(0, total)
        m = mode[owner[pick]]
        s = node[seq[owner[pick], position[pick]]]
        dist = np.empty(total, dtype=np.int64)
        for i in range(total):
            v = node[seq[owner[i], position[i]]]
            dist[i] = travel[m, s, v] + travel[m, v, s]
        order = np.argsort(dist, kind="mergesort")
        for i in range(n_remove):
            drop[owner[order[i]], position[order[i]]] = True
    elif kind < RUIN_SEGMENT:
        for r in range(n_routes):
            n = length[r]
            if n == 0:
                continue
            size = np.random.randint(1, max(1, n // 2) + 1)
            first = np.random.randint(0, n - size + 1)
            for k in range(first, first + size):
                drop[r, k] = True
    else:
        reseed = np.random.randint(0, n_routes)
        for k in range(length[reseed]):
            drop[reseed, k] = True
    for r in range(n_routes):
        n = length[r]
        q = 0
        for k in range(n):
            keep[k] = seq[r, k]
        for k in range(n):
            if not drop[r, k]:
                seq[r, q] = keep[k]
                q += 1
        length[r] = q
        t, u = route_cost(travel, mode, start, end, seq, length, node, dwell, r)
        if u > room[r]:  # only with travel times that break the triangle inequality
            for k in range(n):
                seq[r, k] = keep[k]
            length[r] = n
            continue
        trav[r] = t
        busy[r] = u
        for k in range(n):
            if drop[r, k]:
                where[keep[k]] = -1
    if reseed >= 0:
        _seed_route(
            travel,
            mode,
            start,
            end,
            room,
            seq,
            length,
            busy,
            trav,
            where,
            node,
            dwell,
            prize,
            reseed,
        )
    return total


@njit(cache=True)
def _seed_route(
    travel, mode, start, end, room, seq, length, busy, trav, where, node, dwell, prize, r
):  # noqa: ANN001, ANN202, E501
    """Start empty route ``r`` with a random unvisited option it can reach, chance ~ prize."""
    m = mode[r]
    n_opt = node.shape[0]
    weights = np.zeros(n_opt)
    total = 0.0
    for o in range(n_opt):
        if where[o] >= 0:
            continue
        v = node[o]
        c = travel[m, start[r], v] + travel[m, v, end[r]] + dwell[o]
        if c <= room[r]:
            weights[o] = max(prize[o], 0.0)
            total += weights[o]
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
    _insert_at(seq, length, r, 0, pick)
    where[pick] = r
    t, u = route_cost(travel, mode, start, end, seq, length, node, dwell, r)
    trav[r] = t
    busy[r] = u


@njit(cache=True)
def _copy(seq_from, len_from, seq_to, len_to):  # noqa: ANN001, ANN202
    for r in range(len_from.shape[0]):
        len_to[r] = len_from[r]
        for k in range(len_from[r]):
            seq_to[r, k] = seq_from[r, k]


@njit(cache=True)
def run_slice(
    travel,
    mode,
    start,
    end,
    room,
    node,
    dwell,
    prize,
    eps,
    temperature,
    patience,
    cur_seq,
    cur_len,
    best_seq,
    best_len,
    state,
    ops_total,
    ops_stop,
):  # noqa: ANN001, ANN201, E501
    """Advance the search until ``state[S_OPS]`` reaches ``ops_stop`` or it converges.

    ``cur_*`` and ``best_*`` hold the current and best solutions between slices;
    ``state[S_FORCE]`` set by the caller starts the final descent now (the clock is short).
    """
    n_routes = cur_len.shape[0]
    n_opt = node.shape[0]
    width = cur_seq.shape[1]
    seq = np.empty((n_routes, width), dtype=np.int64)
    length = np.zeros(n_routes, dtype=np.int64)
    busy = np.zeros(n_routes, dtype=np.int64)
    trav = np.zeros(n_routes, dtype=np.int64)
    where = np.full(n_opt, -1, dtype=np.int64)
    best_c = np.empty((n_routes, n_opt), dtype=np.int64)
    best_p = np.zeros((n_routes, n_opt), dtype=np.int64)
    factor = np.ones((n_routes, n_opt))
    loc = np.empty(width + 2, dtype=np.int64)
    fwd = np.empty(width + 2, dtype=np.int64)
    bwd = np.empty(width + 2, dtype=np.int64)
    pre_a = np.empty(width + 1, dtype=np.int64)
    pre_b = np.empty(width + 1, dtype=np.int64)
    dw_a = np.empty(width + 1, dtype=np.int64)
    dw_b = np.empty(width + 1, dtype=np.int64)
    drop = np.zeros((n_routes, width), dtype=np.bool_)
    keep = np.empty(width, dtype=np.int64)
    if state[S_STARTED] == 0:
        load(travel, mode, start, end, cur_seq, cur_len, node, dwell, busy, trav, where)
        _, k = fill(
            travel,
            mode,
            start,
            end,
            room,
            cur_seq,
            cur_len,
            busy,
            trav,
            where,
            node,
            dwell,
            prize,
            eps,
            1.0,
            0.0,
            best_c,
            best_p,
            factor,
        )
        state[S_OPS] += k
        state[S_OPS] += improve(
            travel,
            mode,
            start,
            end,
            room,
            cur_seq,
            cur_len,
            busy,
            trav,
            where,
            node,
            dwell,
            prize,
            eps,
            best_c,
            best_p,
            factor,
            loc,
            fwd,
            bwd,
            pre_a,
            pre_b,
            dw_a,
            dw_b,
        )
        _copy(cur_seq, cur_len, best_seq, best_len)
        visits = max(1, cur_len.sum())
        state[S_T0] = temperature * max(_value(cur_seq, cur_len, prize), 1.0) / visits
        state[S_STARTED] = 1
    load(travel, mode, start, end, cur_seq, cur_len, node, dwell, busy, trav, where)
    cur_value = _value(cur_seq, cur_len, prize)
    cur_travel = trav.sum()
    load(travel, mode, start, end, best_seq, best_len, node, dwell, busy, trav, where)
    best_value = _value(best_seq, best_len, prize)
    best_travel = trav.sum()
    t0 = state[S_T0]
    if state[S_FORCE] == 1 and state[S_DESCEND] == 0:
        state[S_DESCEND] = 1
        _copy(best_seq, best_len, cur_seq, cur_len)
        cur_value, cur_travel = best_value, best_travel
    while state[S_OPS] < ops_stop and state[S_DONE] == 0:
        state[S_ITER] += 1
        _copy(cur_seq, cur_len, seq, length)
        load(travel, mode, start, end, seq, length, node, dwell, busy, trav, where)
        state[S_OPS] += ruin(
            travel,
            mode,
            start,
            end,
            room,
            seq,
            length,
            busy,
            trav,
            where,
            node,
            dwell,
            prize,
            drop,
            keep,
        )
        alpha = np.random.uniform(0.5, 2.5)
        _, k = fill(
            travel,
            mode,
            start,
            end,
            room,
            seq,
            length,
            busy,
            trav,
            where,
            node,
            dwell,
            prize,
            eps,
            alpha,
            0.3,
            best_c,
            best_p,
            factor,
        )
        state[S_OPS] += k
        for r in range(n_routes):
            _, k = two_opt(
                travel, mode, start, end, seq, length, busy, trav, node, r, loc, fwd, bwd
            )
            state[S_OPS] += k
        _, k = fill(
            travel,
            mode,
            start,
            end,
            room,
            seq,
            length,
            busy,
            trav,
            where,
            node,
            dwell,
            prize,
            eps,
            1.0,
            0.0,
            best_c,
            best_p,
            factor,
        )
        state[S_OPS] += k
        if _value(seq, length, prize) >= cur_value - t0:
            state[S_OPS] += improve(
                travel,
                mode,
                start,
                end,
                room,
                seq,
                length,
                busy,
                trav,
                where,
                node,
                dwell,
                prize,
                eps,
                best_c,
                best_p,
                factor,
                loc,
                fwd,
                bwd,
                pre_a,
                pre_b,
                dw_a,
                dw_b,
            )
        value = _value(seq, length, prize)
        total_travel = trav.sum()
        progress = min(1.0, state[S_OPS] / max(ops_total, 1.0))
        if progress >= COOL_BY and state[S_DESCEND] == 0:
            state[S_DESCEND] = 1  # the last part descends from the best plan found
            _copy(best_seq, best_len, cur_seq, cur_len)
            cur_value, cur_travel = best_value, best_travel
        if state[S_DESCEND] == 1:
            temp = 1e-9
        else:
            temp = t0 * (1.0 - progress / COOL_BY) + 1e-9
        delta = value - cur_value
        if _better(value, total_travel, cur_value, cur_travel) or np.random.random() < np.exp(
            min(0.0, delta) / temp
        ):
            _copy(seq, length, cur_seq, cur_len)
            cur_value, cur_travel = value, total_travel
        if _better(value, total_travel, best_value, best_travel):
            _copy(seq, length, best_seq, best_len)
            best_value, best_travel = value, total_travel
            state[S_SINCE] = 0
        else:
            state[S_SINCE] += 1
        if state[S_SINCE] >= patience:
            state[S_DONE] = 1  # converged: more rounds are unlikely to pay
        elif state[S_SINCE] > 0 and state[S_SINCE] % RESTART_AFTER == 0:
            _copy(best_seq, best_len, cur_seq, cur_len)
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
    search(
        travel,
        mode=one,
        start=one,
        end=one,
        room=np.array([10], dtype=np.int64),
        node=np.array([1, 2], dtype=np.int64),
        dwell=np.array([1, 1], dtype=np.int64),
        prize=np.array([1.0, 2.0]),
        eps=1.0,
        seed=0,
        work_ops=1000.0,
        deadline=math.inf,
        temperature=1.0,
        patience=5,
        descend_by_clock=0.9,
    )
    _WARM = True
    return time.perf_counter() - began


def search(
    travel: IntArray,
    *,
    mode: IntArray,
    start: IntArray,
    end: IntArray,
    room: IntArray,
    node: IntArray,
    dwell: IntArray,
    prize: FloatArray,
    eps: float,
    seed: int,
    work_ops: float,
    deadline: float,
    temperature: float,
    patience: int,
    descend_by_clock: float,
    slices: int = 40,
) -> tuple[list[list[int]], int, bool]:
    """Run the search; (each route's options in order, iterations, stopped by the clock).

    The work is split into ``slices``; between them the clock is read: past
    ``descend_by_clock`` of the time left the final descent starts early, past ``deadline``
    the search stops (both make the plan depend on the machine, and say so).
    """
    seed_generator(seed % 2**32)
    n_routes, n_opt = len(mode), len(node)
    cur_seq = np.zeros((n_routes, n_opt + 1), dtype=np.int64)
    cur_len = np.zeros(n_routes, dtype=np.int64)
    best_seq = np.zeros_like(cur_seq)
    best_len = np.zeros_like(cur_len)
    state = np.zeros(STATE_SIZE)
    started = time.perf_counter()
    step = work_ops / slices
    timed_out = False
    while state[S_DONE] == 0 and state[S_OPS] < work_ops:
        run_slice(
            travel, mode, start, end, room, node, dwell, prize, float(eps),
            float(temperature), int(patience), cur_seq, cur_len, best_seq, best_len, state,
            float(work_ops), float(min(work_ops, state[S_OPS] + step)),
        )  # fmt: skip
        now = time.perf_counter()
        if now >= deadline:
            timed_out = True
            break
        share = (now - started) / max(deadline - started, 1e-9)
        if share >= descend_by_clock and state[S_DESCEND] == 0:
            state[S_FORCE] = 1
            timed_out = True
    routes = [best_seq[r, : best_len[r]].tolist() for r in range(n_routes)]
    return routes, int(state[S_ITER]), timed_out
