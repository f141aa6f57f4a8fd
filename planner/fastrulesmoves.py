"""Compiled search for every rule, part 2 (numba): ruin, local search and the annealing loop.

The moves and the loop of ``planner.fastwindows`` on the schedule, insertion test and greedy
insertion of ``planner.fastrules`` (where the rules and the arrays are described): ruin
(random, related, segment or whole route; breaks stay), 2-opt and or-opt within a route,
relocation and exchanges (swaps, tails) between routes, swaps of visited options for more
valuable ones, and the annealing loop run in slices by ``planner.fastrulesrun``. The local
search looks at the routes changed since it last ran (and their pairs with the others), and
applies the best move of each pair of routes in one pass.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from planner.fastcache import cache_ok
from planner.fastcore import (
    INF,
    S_DONE,
    S_ITER,
    S_OPS,
    S_T0,
    V_CUR,
    accept,
    begin,
    better_route,
    draw,
    force_descent,
    or_opt_into,
    ruin_marks,
    settle,
    tally,
    without,
)
from planner.fastrules import (
    _rows,
    _rows_of,
    available,
    best_insertion,
    best_replacement,
    claim,
    commit,
    commit_two,
    copy_into,
    fill,
    insert_one,
    load,
    measure,
    prize_now,
    scan_one,
    scratch_arrays,
    solution_arrays,
    try_two,
    unclaim,
)

# The kernel files this one calls into, with their stamps (planner.fastcache).
CALLS_INTO = {"fastcore.py": "e38851e535642141", "fastrules.py": "3627c6f9fc856b79"}
_CACHE = cache_ok(__name__, CALLS_INTO)

# Passes of the intra-route moves per call: each pass re-schedules O(n^2) candidates.
_INTRA_PASSES = 8


# --------------------------------------------------------------------------------------
# Ruin


@njit(cache=_CACHE)
def _drop_route_visits(p, s, w, r, drop):  # noqa: ANN001, ANN202
    """Remove the visits of ``r`` marked in ``drop`` (never its break); keep them all when the
    rest does not schedule."""
    seq, length = s[0], s[1]
    buf = w[3]
    n = length[r]
    q = 0
    for k in range(n):
        if not drop[k] or p[6][seq[r, k]] < 0:
            buf[q] = seq[r, k]
            q += 1
    if q == n:
        return
    for k in range(n):
        if drop[k] and p[6][seq[r, k]] >= 0:
            unclaim(p, s, seq[r, k])
    if not commit(p, s, w, r, buf, q):
        for k in range(n):
            if drop[k] and p[6][seq[r, k]] >= 0:
                claim(p, s, seq[r, k], r)


@njit(cache=_CACHE)
def ruin(p, s, w, cfg):  # noqa: ANN001, ANN201
    """Remove a random part of the solution (random, related, segment or whole route)."""
    seq, length = s[0], s[1]
    drop = np.zeros((length.shape[0], seq.shape[1]), dtype=np.bool_)
    total, reseed = ruin_marks(p[0], p[1], p[6], seq, length, drop, cfg)
    for r in range(length.shape[0]):
        _drop_route_visits(p, s, w, r, drop[r])
    if reseed >= 0:
        _seed_route(p, s, w, reseed)
    return total


@njit(cache=_CACHE)
def _seed_route(p, s, w, r):  # noqa: ANN001, ANN202
    """Start a route without visits with a random option that fits, chance ~ prize."""
    for k in range(s[1][r]):
        if p[6][s[0][r, k]] >= 0:
            return
    n_opt = p[6].shape[0]
    weights = np.zeros(n_opt)
    at = np.zeros(n_opt, dtype=np.int64)
    for o in range(n_opt):
        if available(p, s, o):
            c, k = best_insertion(p, s, r, o)
            if c < INF:
                weights[o] = max(prize_now(p, s, o), 0.0)
                at[o] = k
    pick = draw(weights)
    if pick < 0:
        return
    insert_one(p, s, w, r, at[pick], pick)


# --------------------------------------------------------------------------------------
# Local search


@njit(cache=_CACHE, inline="always")
def _end(s, r):  # noqa: ANN001, ANN202
    return s[7][r, s[1][r] + 1]


@njit(cache=_CACHE)
def intra(p, s, w, r):  # noqa: ANN001, ANN201
    """2-opt and or-opt (segments of 1-3) within route ``r`` while one ends it earlier."""
    seq = s[0]
    buf = w[3]
    rows = _rows_of(w[6])
    improved = False
    ops = 0
    for _ in range(_INTRA_PASSES):
        n = s[1][r]
        if n < 2:
            return improved, ops
        best_end, best_trav = _end(s, r), s[10][r]
        kind = bi = bj = bt = -1
        # 2-opt: reverse seq[i .. j].
        for i in range(n - 1):
            for j in range(i + 1, n):
                for k in range(n):
                    buf[k] = seq[r, k]
                for k in range(i, j + 1):
                    buf[k] = seq[r, i + j - k]
                trav = measure(p, s, w, r, buf, n, rows, -1)
                ops += n
                if trav >= 0 and better_route(rows[3][n + 1], trav, best_end, best_trav):
                    best_end, best_trav = rows[3][n + 1], trav
                    kind, bi, bj = 0, i, j
        # or-opt: move seq[i .. i+size-1] to before position t of the rest.
        for size in range(1, 4):
            for i in range(n - size + 1):
                for t in range(n - size + 1):
                    if t == i:
                        continue
                    or_opt_into(seq[r], n, i, size, t, buf)
                    trav = measure(p, s, w, r, buf, n, rows, -1)
                    ops += n
                    if trav >= 0 and better_route(rows[3][n + 1], trav, best_end, best_trav):
                        best_end, best_trav = rows[3][n + 1], trav
                        kind, bi, bj, bt = 1, i, size, t
        if kind < 0:
            return improved, ops
        if kind == 0:
            for k in range(n):
                buf[k] = seq[r, k]
            for k in range(bi, bj + 1):
                buf[k] = seq[r, bi + bj - k]
        else:
            or_opt_into(seq[r], n, bi, bj, bt, buf)
        if not commit(p, s, w, r, buf, n):
            return improved, ops
        improved = True
    return improved, ops


@njit(cache=_CACHE)
def relocate(p, s, w):  # noqa: ANN001, ANN201
    """Move one visit to another route where that ends the two routes earlier in total
    (between pairs of routes of which one is looked at)."""
    look = w[14]
    seq, length = s[0], s[1]
    buf, buf_b = w[3], w[4]
    rows = _rows_of(w[5])
    lock = p[17]
    n_routes = length.shape[0]
    improved = False
    ops = 0
    if n_routes < 2:
        return improved, ops
    for _ in range(4 * n_routes):
        best = 0
        ba = bi = bb = bk = -1
        for a in range(n_routes):
            na = length[a]
            for i in range(na):
                o = seq[a, i]
                if lock[o] >= 0:
                    continue
                without(seq[a], na, i, buf)
                if measure(p, s, w, a, buf, na - 1, rows, -1) < 0:
                    continue
                gain = _end(s, a) - rows[3][na]
                ops += na
                for b in range(n_routes):
                    if b == a or (look[a] == 0 and look[b] == 0):
                        continue
                    rows_b = _rows(s, b)
                    c, k = scan_one(p, s, b, rows_b, length[b], o, True, -1)
                    # The end moves by at most the shift: a safe estimate.
                    if c < INF and gain - max(c, 0) > best:
                        best = gain - max(c, 0)
                        ba, bi, bb, bk = a, i, b, k
                    ops += length[b] + 1
        if ba < 0:
            return improved, ops
        o = seq[ba, bi]
        na, nb = length[ba], length[bb]
        without(seq[ba], na, bi, buf)
        buf_b[:bk] = seq[bb, :bk]
        buf_b[bk] = o
        buf_b[bk + 1 : nb + 1] = seq[bb, bk:nb]
        ops += na + nb
        if not commit_two(p, s, w, ba, buf, na - 1, bb, buf_b, nb + 1):
            return improved, ops
        improved = True
    return improved, ops


@njit(cache=_CACHE, inline="always")
def _movable(lock, o, r):  # noqa: ANN001, ANN202
    return lock[o] < 0 or lock[o] == r


@njit(cache=_CACHE)
def exchange(p, s, w):  # noqa: ANN001, ANN201
    """Swap two visits between routes, or their tails (2-opt*), where both end earlier
    (between pairs of routes of which one is looked at; the best move of each pair)."""
    look = w[14]
    seq, length = s[0], s[1]
    buf_a, buf_b = w[3], w[4]
    cls, lock = p[9], p[17]
    n_routes = length.shape[0]
    improved = False
    ops = 0
    if n_routes < 2:
        return improved, ops
    for a in range(n_routes):
        for b in range(a + 1, n_routes):
            if look[a] == 0 and look[b] == 0:
                continue
            best = 0
            kind = -1
            ba = bb = bi = bj = 0
            na = length[a]
            nb = length[b]
            if na == 0 and nb == 0:
                continue
            before = _end(s, a) + _end(s, b)
            b_a, b_b = s[7][a], s[7][b]
            l_a, l_b = s[4][a], s[4][b]
            # Units of different modes are not paired: the filters below compare legs in one
            # matrix. Measured with each leg in its unit's mode and the moved tails' legs in
            # both (2026-12-05, the demo day with every other unit on foot, 20 seeds at the
            # same work): mean value 4,404 against 4,432 without, 40 % more time per search.
            if p[1][a] != p[1][b]:
                continue
            t_m = p[0][p[1][a]]
            for i in range(na):
                oa = seq[a, i]
                if not _movable(lock, oa, b):
                    continue
                for j in range(nb):
                    ob = seq[b, j]
                    # Quick test: neither visit can start after its close in its new place.
                    if b_a[i] > cls[ob] or b_b[j] > cls[oa] or not _movable(lock, ob, a):
                        continue
                    # Only swaps that shorten the four legs (a cheap filter).
                    pa_, na_, pb_, nb_ = l_a[i], l_a[i + 2], l_b[j], l_b[j + 2]
                    va, vb = l_a[i + 1], l_b[j + 1]
                    if (
                        t_m[pa_, vb] + t_m[vb, na_] + t_m[pb_, va] + t_m[va, nb_]
                        >= t_m[pa_, va] + t_m[va, na_] + t_m[pb_, vb] + t_m[vb, nb_]
                    ):
                        continue  # fmt: skip
                    buf_a[:na] = seq[a, :na]
                    buf_b[:nb] = seq[b, :nb]
                    buf_a[i], buf_b[j] = ob, oa
                    ops += na + nb
                    end_a, end_b, _, _ = try_two(p, s, w, a, buf_a, na, b, buf_b, nb)
                    if end_a < 0:
                        continue
                    saving = before - end_a - end_b
                    if saving > best:
                        best, kind, ba, bb, bi, bj = saving, 0, a, b, i, j
            # 2-opt*: a keeps its first ka visits and takes b's from kb on; b vice versa.
            for ka in range(s[15][a], na + 1):
                for kb in range(s[15][b], nb + 1):
                    if (ka == na and kb == nb) or (ka == 0 and kb == 0):
                        continue
                    # Only tail swaps that shorten the two joining legs (a cheap filter).
                    if (
                        t_m[l_a[ka], l_b[kb + 1]] + t_m[l_b[kb], l_a[ka + 1]]
                        >= t_m[l_a[ka], l_a[ka + 1]] + t_m[l_b[kb], l_b[kb + 1]]
                    ):
                        continue  # fmt: skip
                    la = ka + nb - kb
                    lb = kb + na - ka
                    buf_a[:ka] = seq[a, :ka]
                    buf_a[ka:la] = seq[b, kb:nb]
                    buf_b[:kb] = seq[b, :kb]
                    buf_b[kb:lb] = seq[a, ka:na]
                    ops += na + nb
                    end_a, end_b, _, _ = try_two(p, s, w, a, buf_a, la, b, buf_b, lb)
                    if end_a < 0:
                        continue
                    saving = before - end_a - end_b
                    if saving > best:
                        best, kind, ba, bb, bi, bj = saving, 1, a, b, ka, kb
            if kind >= 0 and _apply_exchange(p, s, w, kind, ba, bb, bi, bj):
                improved = True
    return improved, ops


@njit(cache=_CACHE)
def _apply_exchange(p, s, w, kind, a, b, i, j):  # noqa: ANN001, ANN202
    """Swap visit i of a with visit j of b (kind 0), or their tails from i and j (kind 1)."""
    seq, length = s[0], s[1]
    buf_a, buf_b = w[3], w[4]
    na, nb = length[a], length[b]
    if kind == 0:
        buf_a[:na] = seq[a, :na]
        buf_b[:nb] = seq[b, :nb]
        buf_a[i], buf_b[j] = seq[b, j], seq[a, i]
        la, lb = na, nb
    else:
        la = i + nb - j
        lb = j + na - i
        buf_a[:i] = seq[a, :i]
        buf_a[i:la] = seq[b, j:nb]
        buf_b[:j] = seq[b, :j]
        buf_b[j:lb] = seq[a, i:na]
    return commit_two(p, s, w, a, buf_a, la, b, buf_b, lb)


@njit(cache=_CACHE)
def replace_visits(p, s, w):  # noqa: ANN001, ANN201
    """Swap a visited option for a more valuable one (another window of it, or an unvisited
    stop) where it fits in the route without the old visit."""
    stop, dpow, bonus, base = p[11], p[23], p[14], p[10]
    seq, length, count = s[0], s[1], s[3]
    buf = w[3]
    rows = _rows_of(w[6])
    improved = False
    ops = 0
    for r in range(length.shape[0]):
        if w[14][r] == 0:
            continue
        for _ in range(4 * length[r] + 4):
            n = length[r]
            if n == 0:
                break
            best_gain = 1e-9
            bp = bo = b_target = -1
            for k in range(n):
                old = seq[r, k]
                if p[6][old] < 0:
                    continue
                so = stop[old]
                # What the old visit is worth, counted as the stop's last one.
                worth = base[old] * dpow[count[so] - 1] + (bonus[so] if count[so] == 1 else 0)
                without(seq[r], n, k, buf)
                if measure(p, s, w, r, buf, n - 1, rows, -1) < 0:
                    continue
                ops += n
                gain, o, at = best_replacement(p, s, r, rows, n - 1, old, worth, best_gain)
                ops += n
                if o >= 0:
                    best_gain = gain
                    bp, bo, b_target = k, o, at
            if bo < 0:
                break
            old = seq[r, bp]
            without(seq[r], n, bp, buf)
            buf[b_target + 1 : n] = buf[b_target : n - 1].copy()
            buf[b_target] = bo
            unclaim(p, s, old)
            claim(p, s, bo, r)
            if not commit(p, s, w, r, buf, n):
                unclaim(p, s, bo)
                claim(p, s, old, r)
                break
            improved = True
    return improved, ops


@njit(cache=_CACHE)
def improve(p, s, w, eps):  # noqa: ANN001, ANN201
    """Local search to a local optimum (earlier route ends, then more value) around the
    routes changed since it last ran (``w[13]``); returns ops."""
    ops = 0
    dirty, look = w[13], w[14]
    for _ in range(20):
        look[:] = dirty
        dirty[:] = 0
        if look.sum() == 0:
            break
        changed = False
        for r in range(s[1].shape[0]):
            if look[r] > 0:
                changed, ops = tally(intra(p, s, w, r), changed, ops)
        changed, ops = tally(relocate(p, s, w), changed, ops)
        changed, ops = tally(exchange(p, s, w), changed, ops)
        changed, ops = tally(fill(p, s, w, eps, 1.0, 0.0), changed, ops)
        changed, ops = tally(replace_visits(p, s, w), changed, ops)
        if not changed:
            break
    return ops


# --------------------------------------------------------------------------------------
# The objective and the annealing loop


@njit(cache=_CACHE)
def objective(p, s):  # noqa: ANN001, ANN201
    """Value of the solution: per stop its visits in time order, each later one decayed."""
    base, bonus, decay = p[10], p[14], p[19][0]
    vis, count, where, pos, bb = s[12], s[3], s[2], s[11], s[7]
    total = 0.0
    times = np.empty(vis.shape[1], dtype=np.int64)
    order = np.empty(vis.shape[1], dtype=np.int64)
    for sp in range(count.shape[0]):
        n = count[sp]
        if n == 0:
            continue
        total += bonus[sp]
        if n == 1:
            total += base[vis[sp, 0]]
            continue
        for i in range(n):
            q = vis[sp, i]
            times[i] = bb[where[q], pos[q]]
            order[i] = q
        for i in range(1, n):  # insertion sort of a few visits by start
            j = i
            while j > 0 and times[j - 1] > times[j]:
                times[j - 1], times[j] = times[j], times[j - 1]
                order[j - 1], order[j] = order[j], order[j - 1]
                j -= 1
        f = 1.0
        for i in range(n):
            total += base[order[i]] * f
            f *= decay
    return total


@njit(cache=_CACHE)
def _visits(p, s):  # noqa: ANN001, ANN202
    return s[3].sum()


@njit(cache=_CACHE)
def start(p, cur, best, state, temperature, eps, polish):  # noqa: ANN001, ANN201
    """The first plan (greedy, then local search; ``polish``: fill and swaps only)."""
    w = scratch_arrays(p, cur[1].shape[0])
    load(p, cur, w)
    w[13][:] = 1
    _, k = fill(p, cur, w, eps, 1.0, 0.0)
    state[S_OPS] += k
    if polish:
        _, k = replace_visits(p, cur, w)
        state[S_OPS] += k
        _, k = fill(p, cur, w, eps, 1.0, 0.0)
        state[S_OPS] += k
    else:
        state[S_OPS] += improve(p, cur, w, eps)
    copy_into(p, cur, best, w)
    begin(state, temperature, objective(p, cur), _visits(p, cur))


@njit(cache=_CACHE)
def run_slice(p, cur, best, state, cfg, eps, patience, ops_total, ops_stop):  # noqa: ANN001, ANN201, PLR0913
    """Advance the search until ``state[S_OPS]`` reaches ``ops_stop`` or it converges.

    The loop of ``planner.fastwindows.run_slice``: ruin, noisy recreate, local search for
    candidates that could be accepted, annealing acceptance, return to the best plan.
    """
    n_routes = cur[1].shape[0]
    cand = solution_arrays(p, n_routes)
    w = scratch_arrays(p, n_routes)
    load(p, cur, w)
    load(p, best, w)
    vals = np.array([objective(p, cur), cur[10].sum(), objective(p, best), best[10].sum()])
    if force_descent(state, vals):
        copy_into(p, best, cur, w)
    while state[S_OPS] < ops_stop and state[S_DONE] == 0:
        state[S_ITER] += 1
        copy_into(p, cur, cand, w)
        w[13][:] = 0
        state[S_OPS] += ruin(p, cand, w, cfg)
        _, k = fill(p, cand, w, eps, np.random.uniform(0.5, 2.5), 0.3)
        state[S_OPS] += k
        if objective(p, cand) >= vals[V_CUR] - state[S_T0]:
            state[S_OPS] += improve(p, cand, w, eps)
        current, record = accept(
            state, vals, objective(p, cand), cand[10].sum(), cfg, patience, ops_total
        )
        settle(cand, cur, best, current, record)
        if current > 0:
            load(p, cur, w)
        if record:
            load(p, best, w)
