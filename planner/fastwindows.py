"""Compiled orienteering search with time windows (numba): windows, waiting and dwell.

The search of ``planner.fastsearch`` (greedy insertion by value per extra time, ruin and
recreate, local search, simulated annealing cooling to zero at 80 % of the work, then descent
from the best plan) for problems whose stops have visit windows: a visit starts at its
arrival or, if earlier, waits for its window to open; it must start by the window's close;
it lasts its dwell; the route must be back at its end station by the shift's end. Each stop
may have several windows with different weights (one *option* per window, as in
``planner.model``): at most one option of a stop is visited. Breaks, repeat visits and caps
are not handled here; ``planner.solver`` keeps those problems on the Python search.

Feasibility is kept in O(1) per insertion with the forward slack of Vansteenwegen et al.
(2009, ILS for the TOPTW): per route position its service start ``b``, arrival ``arr`` and
``ms`` ("max shift"), how much later that visit may start without breaking its own window,
a later one or the shift end. Inserting an option between positions k and k+1 delays the
arrival at k+1 by ``shift``; it fits when ``shift <= wait(k+1) + ms(k+1)``. Moves that
reorder visits (2-opt, or-opt, swaps and tail exchanges between routes) re-schedule the
routes they touch in O(n). The schedule is the one of ``planner.model.schedule_route``
(leave the station at the shift start, wait at the stop), so every route this search keeps
is one the model accepts; ``planner.plan_check`` re-checks it exactly afterwards.

Arrays (ticks): ``travel`` (modes, nodes, nodes); per route ``mode``, ``start``, ``end``,
``ready`` and ``due`` (shift start and end); per option ``node``, ``dwell``, ``open`` and
``close`` (the window for the start of the visit), ``prize`` (float) and ``stop`` (options
of one stop exclude each other). Determinism as in ``planner.fastsearch``: numba's seeded
generator and work counted in elementary steps, the clock read only between slices.

This file calls no kernel function of another file, so numba's own cache check (its text)
covers it (see ``planner.fastcache``); the shared search settings come in as arguments.
"""

from __future__ import annotations

import math
import time

import numpy as np
import numpy.typing as npt
from numba import njit

from planner.fastcache import cache_ok
from planner.fastcore import insert_at, remove_at
from planner.fastsearch import _better, _copy

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

# The kernel files this one calls into, with their stamps (planner.fastcache).
CALLS_INTO = {
    "fastcore.py": "c5beae06d13ca23a",
    "fastmoves.py": "c332702c32951535",
    "fastsearch.py": "e22a79efdaf423bf",
}
_CACHE = cache_ok(__name__, CALLS_INTO)

INF = np.int64(2**50)

# Slots of the state vector that carries the search between slices (as in fastsearch).
S_OPS, S_ITER, S_SINCE, S_DESCEND, S_T0, S_STARTED, S_DONE, S_FORCE = range(8)
STATE_SIZE = 8
# Slots of the settings vector: the search settings shared with planner.fastsearch and
# planner.fastcore, passed in so that this file's cache never holds stale copies of them.
C_COOL_BY, C_RESTART, C_RANDOM, C_RELATED, C_SEGMENT, C_MAX_SHARE = range(6)
# Passes of the intra-route moves per call: each pass re-schedules O(n^2) candidates.
_INTRA_PASSES = 8

# Kernel arguments, documented here once:
#   p (problem): travel, mode, start, end, ready, due, node, dwell, open, close, prize, stop
#   s (solution): seq (routes, width) options in order, length, where (per option: its
#       route or -1), taken (per stop: 1 when one of its options is visited), loc, dwl, arr,
#       b, ms (routes, width + 2) per position (0 the start station, length + 1 the end)
#       its node, dwell, arrival, service start and max shift, trav (per route) travel
#   w (scratch): best_c, best_p (routes, options) cheapest insertion shift and position,
#       factor (routes, options) noise, buf_a, buf_b (width) candidate sequences, then
#       loc, dwl, arr, b, ms rows (width + 2) of a candidate route, twice (a and b)
# Every move returns (changed, ops): ops counts elementary steps, the work budget's unit.


@njit(cache=_CACHE)
def seed_generator(seed):  # noqa: ANN001, ANN201
    """Seed numba's random generator (one per process) for the next run."""
    np.random.seed(seed)


@njit(cache=_CACHE)
def solution_arrays(n_routes, n_opt, n_stops):  # noqa: ANN001, ANN201
    """An empty solution tuple (measure it with ``load``)."""
    width = n_opt + 1
    return (
        np.zeros((n_routes, width), dtype=np.int64),
        np.zeros(n_routes, dtype=np.int64),
        np.full(n_opt, -1, dtype=np.int64),
        np.zeros(n_stops, dtype=np.int64),
        np.zeros((n_routes, width + 2), dtype=np.int64),
        np.zeros((n_routes, width + 2), dtype=np.int64),
        np.zeros((n_routes, width + 2), dtype=np.int64),
        np.zeros((n_routes, width + 2), dtype=np.int64),
        np.zeros((n_routes, width + 2), dtype=np.int64),
        np.zeros(n_routes, dtype=np.int64),
    )


@njit(cache=_CACHE)
def scratch_arrays(n_routes, n_opt):  # noqa: ANN001, ANN201
    """The scratch tuple the moves work in."""
    width = n_opt + 1
    return (
        np.zeros((n_routes, n_opt), dtype=np.int64),
        np.zeros((n_routes, n_opt), dtype=np.int64),
        np.ones((n_routes, n_opt)),
        np.zeros(width, dtype=np.int64),
        np.zeros(width, dtype=np.int64),
        np.zeros((5, width + 2), dtype=np.int64),
        np.zeros((5, width + 2), dtype=np.int64),
    )


@njit(cache=_CACHE)
def measure(p, r, seq, n, rows):  # noqa: ANN001, ANN201
    """Schedule ``seq[:n]`` on route ``r`` into ``rows`` (loc, dwl, arr, b, ms); its travel.

    Returns -1 when a visit cannot start by its window's close or the route ends too late.
    """
    travel, mode, start, end, ready, due = p[0], p[1], p[2], p[3], p[4], p[5]
    node, dwell, opn, cls = p[6], p[7], p[8], p[9]
    loc, dwl, arr, b, ms = rows[0], rows[1], rows[2], rows[3], rows[4]
    m = mode[r]
    t = ready[r]
    loc[0] = start[r]
    dwl[0] = 0
    arr[0] = t
    b[0] = t
    trav = 0
    for k in range(n):
        o = seq[k]
        v = node[o]
        leg = travel[m, loc[k], v]
        trav += leg
        a = t + leg
        st = a if a >= opn[o] else opn[o]
        if st > cls[o]:
            return -1
        loc[k + 1] = v
        dwl[k + 1] = dwell[o]
        arr[k + 1] = a
        b[k + 1] = st
        t = st + dwell[o]
    leg = travel[m, loc[n], end[r]]
    trav += leg
    t += leg
    if t > due[r]:
        return -1
    loc[n + 1] = end[r]
    dwl[n + 1] = 0
    arr[n + 1] = t
    b[n + 1] = t
    ms[n + 1] = due[r] - t
    for k in range(n, 0, -1):
        ms[k] = min(cls[seq[k - 1]] - b[k], b[k + 1] - arr[k + 1] + ms[k + 1])
    ms[0] = b[1] - arr[1] + ms[1]
    return trav


@njit(cache=_CACHE)
def _rows(s, r):  # noqa: ANN001, ANN202
    return (s[4][r], s[5][r], s[6][r], s[7][r], s[8][r])


@njit(cache=_CACHE)
def rebuild(p, s, r):  # noqa: ANN001, ANN201
    """Re-schedule route ``r`` after its sequence changed (to a feasible one) and claim it."""
    seq, length, where, taken = s[0], s[1], s[2], s[3]
    trav = measure(p, r, seq[r], length[r], _rows(s, r))
    s[9][r] = trav
    stop = p[11]
    for k in range(length[r]):
        where[seq[r, k]] = r
        taken[stop[seq[r, k]]] = 1
    return trav >= 0


@njit(cache=_CACHE)
def load(p, s):  # noqa: ANN001, ANN201
    """Set every derived array from the sequences."""
    s[2][:] = -1
    s[3][:] = 0
    for r in range(s[1].shape[0]):
        rebuild(p, s, r)


@njit(cache=_CACHE)
def _end(s, r):  # noqa: ANN001, ANN202
    return s[7][r, s[1][r] + 1]


@njit(cache=_CACHE)
def insert_shift(p, r, o, n, rows, k):  # noqa: ANN001, ANN201
    """Delay of the arrival after position ``k`` when option ``o`` goes there; INF: no fit."""
    travel, node, dwell, opn, cls = p[0], p[6], p[7], p[8], p[9]
    loc, dwl, arr, b, ms = rows[0], rows[1], rows[2], rows[3], rows[4]
    m = p[1][r]
    v = node[o]
    a = b[k] + dwl[k] + travel[m, loc[k], v]
    st = a if a >= opn[o] else opn[o]
    if st > cls[o]:
        return INF
    shift = st + dwell[o] + travel[m, v, loc[k + 1]] - arr[k + 1]
    if shift > b[k + 1] - arr[k + 1] + ms[k + 1]:
        return INF
    return shift


@njit(cache=_CACHE)
def _insert_costs(p, s, w, r):  # noqa: ANN001, ANN202
    """Cheapest feasible shift and position of every available option in route ``r``."""
    cls, stop = p[9], p[11]
    where, taken = s[2], s[3]
    best_c, best_p = w[0], w[1]
    n = s[1][r]
    rows = _rows(s, r)
    b, dwl = rows[3], rows[1]
    n_opt = stop.shape[0]
    for o in range(n_opt):
        best_c[r, o] = INF
        if where[o] >= 0 or taken[stop[o]] > 0:
            continue
        for k in range(n + 1):
            if b[k] + dwl[k] > cls[o]:
                break  # later positions leave later still
            c = insert_shift(p, r, o, n, rows, k)
            if c < best_c[r, o]:
                best_c[r, o] = c
                best_p[r, o] = k
    return (n + 1) * n_opt


@njit(cache=_CACHE)
def fill(p, s, w, eps, alpha, noise):  # noqa: ANN001, ANN201
    """Insert options by (prize ** alpha) per extra time until none fits.

    ``noise`` multiplies each (route, option) score by a random factor in [1, 1 + noise].
    """
    prize, stop = p[10], p[11]
    length, where, taken = s[1], s[2], s[3]
    best_c, best_p, factor = w[0], w[1], w[2]
    n_routes = length.shape[0]
    n_opt = stop.shape[0]
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
            for o in range(n_opt):
                if best_c[r, o] < INF and where[o] < 0 and taken[stop[o]] == 0:
                    score = weight[o] * factor[r, o] / max(float(best_c[r, o]), eps)
                    if score > best:
                        best = score
                        br = r
                        bo = o
        ops += n_routes * n_opt
        if br < 0:
            return inserted, ops
        insert_at(s, br, best_p[br, bo], bo)
        rebuild(p, s, br)
        inserted = True
        ops += length[br] + _insert_costs(p, s, w, br)


@njit(cache=_CACHE)
def _drop_route_visits(p, s, w, r, drop):  # noqa: ANN001, ANN202
    """Remove the visits of ``r`` marked in ``drop``; keep them all when that breaks ``r``."""
    seq, length, where, taken = s[0], s[1], s[2], s[3]
    stop = p[11]
    buf = w[3]
    n = length[r]
    q = 0
    for k in range(n):
        if not drop[k]:
            buf[q] = seq[r, k]
            q += 1
    if q == n or measure(p, r, buf, q, w[5]) < 0:
        return  # only with travel times that break the triangle inequality
    for k in range(n):
        if drop[k]:
            where[seq[r, k]] = -1
            taken[stop[seq[r, k]]] = 0
    seq[r, :q] = buf[:q]
    length[r] = q
    rebuild(p, s, r)


@njit(cache=_CACHE)
def ruin(p, s, w, cfg):  # noqa: ANN001, ANN201
    """Remove a random part of the solution (random, related, segment or whole route)."""
    travel, mode, node = p[0], p[1], p[6]
    seq, length = s[0], s[1]
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
    drop = np.zeros((n_routes, seq.shape[1]), dtype=np.bool_)
    kind = np.random.random()
    n_remove = min(np.random.randint(1, max(2, int(cfg[C_MAX_SHARE] * total)) + 1), total)
    reseed = -1
    if kind < cfg[C_RANDOM]:
        order = np.random.permutation(total)
    elif kind < cfg[C_RELATED]:
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
        if kind < cfg[C_SEGMENT]:
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
        _drop_route_visits(p, s, w, r, drop[r])
    if reseed >= 0 and length[reseed] == 0:
        _seed_route(p, s, w, reseed)
    return total


@njit(cache=_CACHE)
def _seed_route(p, s, w, r):  # noqa: ANN001, ANN202
    """Start empty route ``r`` with a random option that fits, chance ~ prize."""
    prize = p[10]
    best_c = w[0]
    _insert_costs(p, s, w, r)
    n_opt = prize.shape[0]
    weights = np.zeros(n_opt)
    for o in range(n_opt):
        if best_c[r, o] < INF:
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
    insert_at(s, r, 0, pick)
    rebuild(p, s, r)


# --------------------------------------------------------------------------------------
# Local search


@njit(cache=_CACHE)
def _better_route(end_a, trav_a, end_b, trav_b):  # noqa: ANN001, ANN202
    """Whether a route ending at end_a after trav_a of travel beats one at (end_b, trav_b)."""
    return end_a < end_b or (end_a == end_b and trav_a < trav_b)


@njit(cache=_CACHE)
def intra(p, s, w, r):  # noqa: ANN001, ANN201
    """2-opt and or-opt (segments of 1-3) within route ``r`` while one ends it earlier."""
    seq = s[0]
    buf, rows = w[3], w[5]
    improved = False
    ops = 0
    for _ in range(_INTRA_PASSES):
        n = s[1][r]
        if n < 2:
            return improved, ops
        best_end, best_trav = _end(s, r), s[9][r]
        kind = bi = bj = bt = -1
        # 2-opt: reverse seq[i .. j].
        for i in range(n - 1):
            for j in range(i + 1, n):
                for k in range(n):
                    buf[k] = seq[r, k]
                for k in range(i, j + 1):
                    buf[k] = seq[r, i + j - k]
                trav = measure(p, r, buf, n, rows)
                ops += n
                if trav >= 0 and _better_route(rows[3][n + 1], trav, best_end, best_trav):
                    best_end, best_trav = rows[3][n + 1], trav
                    kind, bi, bj = 0, i, j
        # or-opt: move seq[i .. i+size-1] to before position t of the rest.
        for size in range(1, 4):
            for i in range(n - size + 1):
                for t in range(n - size + 1):
                    if t == i:
                        continue
                    _or_opt_into(seq[r], n, i, size, t, buf)
                    trav = measure(p, r, buf, n, rows)
                    ops += n
                    if trav >= 0 and _better_route(rows[3][n + 1], trav, best_end, best_trav):
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
            _or_opt_into(seq[r], n, bi, bj, bt, buf)
        seq[r, :n] = buf[:n]
        rebuild(p, s, r)
        improved = True
    return improved, ops


@njit(cache=_CACHE)
def _or_opt_into(row, n, i, size, t, out):  # noqa: ANN001, ANN202
    """``row[:n]`` with its segment [i, i + size) moved to index ``t`` of the rest."""
    q = 0
    placed = False
    for k in range(n):
        if i <= k < i + size:
            continue
        if q == t and not placed:
            for j in range(size):
                out[q] = row[i + j]
                q += 1
            placed = True
        out[q] = row[k]
        q += 1
    if not placed:
        for j in range(size):
            out[q] = row[i + j]
            q += 1


@njit(cache=_CACHE)
def relocate(p, s, w):  # noqa: ANN001, ANN201
    """Move one visit to another route where that ends the two routes earlier in total."""
    seq, length = s[0], s[1]
    buf, rows = w[3], w[5]
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
                q = 0
                for k in range(na):
                    if k != i:
                        buf[q] = seq[a, k]
                        q += 1
                if measure(p, a, buf, na - 1, rows) < 0:
                    continue
                gain = _end(s, a) - rows[3][na]
                ops += na
                o = seq[a, i]
                for b in range(n_routes):
                    if b == a:
                        continue
                    rows_b = _rows(s, b)
                    for k in range(length[b] + 1):
                        c = insert_shift(p, b, o, length[b], rows_b, k)
                        # The end moves by at most the shift: a safe estimate.
                        if c < INF and gain - max(c, 0) > best:
                            best = gain - max(c, 0)
                            ba, bi, bb, bk = a, i, b, k
                    ops += length[b] + 1
        if ba < 0:
            return improved, ops
        o = seq[ba, bi]
        remove_at(s, ba, bi)
        insert_at(s, bb, bk, o)
        rebuild(p, s, ba)
        rebuild(p, s, bb)
        improved = True
    return improved, ops


@njit(cache=_CACHE)
def exchange(p, s, w):  # noqa: ANN001, ANN201
    """Swap two visits between routes, or their tails (2-opt*), where both end earlier."""
    seq, length = s[0], s[1]
    buf_a, buf_b, rows_a, rows_b = w[3], w[4], w[5], w[6]
    cls = p[9]
    n_routes = length.shape[0]
    improved = False
    ops = 0
    if n_routes < 2:
        return improved, ops
    for _ in range(2 * n_routes):
        best = 0
        kind = -1
        ba = bb = bi = bj = 0
        for a in range(n_routes):
            for b in range(a + 1, n_routes):
                na = length[a]
                nb = length[b]
                if na == 0 and nb == 0:
                    continue
                before = _end(s, a) + _end(s, b)
                b_a, b_b = s[7][a], s[7][b]
                for i in range(na):
                    for j in range(nb):
                        # Quick test: neither visit can start after its close in its new place.
                        if b_a[i] > cls[seq[b, j]] or b_b[j] > cls[seq[a, i]]:
                            continue
                        buf_a[:na] = seq[a, :na]
                        buf_b[:nb] = seq[b, :nb]
                        buf_a[i], buf_b[j] = seq[b, j], seq[a, i]
                        ops += na + nb
                        if measure(p, a, buf_a, na, rows_a) < 0:
                            continue
                        if measure(p, b, buf_b, nb, rows_b) < 0:
                            continue
                        saving = before - rows_a[3][na + 1] - rows_b[3][nb + 1]
                        if saving > best:
                            best, kind, ba, bb, bi, bj = saving, 0, a, b, i, j
                # 2-opt*: a keeps its first ka visits and takes b's from kb on; b vice versa.
                for ka in range(na + 1):
                    for kb in range(nb + 1):
                        if (ka == na and kb == nb) or (ka == 0 and kb == 0):
                            continue
                        la = ka + nb - kb
                        lb = kb + na - ka
                        buf_a[:ka] = seq[a, :ka]
                        buf_a[ka:la] = seq[b, kb:nb]
                        buf_b[:kb] = seq[b, :kb]
                        buf_b[kb:lb] = seq[a, ka:na]
                        ops += na + nb
                        if measure(p, a, buf_a, la, rows_a) < 0:
                            continue
                        if measure(p, b, buf_b, lb, rows_b) < 0:
                            continue
                        saving = before - rows_a[3][la + 1] - rows_b[3][lb + 1]
                        if saving > best:
                            best, kind, ba, bb, bi, bj = saving, 1, a, b, ka, kb
        if kind < 0:
            return improved, ops
        _apply_exchange(p, s, w, kind, ba, bb, bi, bj)
        improved = True
    return improved, ops


@njit(cache=_CACHE)
def _apply_exchange(p, s, w, kind, a, b, i, j):  # noqa: ANN001, ANN202
    """Swap visit i of a with visit j of b (kind 0), or their tails from i and j (kind 1)."""
    seq, length = s[0], s[1]
    keep = w[3]
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
    rebuild(p, s, a)
    rebuild(p, s, b)


@njit(cache=_CACHE)
def replace_visits(p, s, w):  # noqa: ANN001, ANN201
    """Swap a visited option for a more valuable one (another window of it, or an unvisited
    stop) where it fits in the route without the old visit."""
    prize, stop = p[10], p[11]
    seq, length, where, taken = s[0], s[1], s[2], s[3]
    buf, rows = w[3], w[5]
    n_opt = stop.shape[0]
    improved = False
    ops = 0
    for r in range(length.shape[0]):
        while True:
            n = length[r]
            if n == 0:
                break
            best_gain = 1e-9
            bp = bo = b_target = -1
            for k in range(n):
                old = seq[r, k]
                q = 0
                for j in range(n):
                    if j != k:
                        buf[q] = seq[r, j]
                        q += 1
                if measure(p, r, buf, n - 1, rows) < 0:
                    continue
                ops += n
                for o in range(n_opt):
                    if where[o] >= 0 or prize[o] - prize[old] <= best_gain:
                        continue
                    if taken[stop[o]] > 0 and stop[o] != stop[old]:
                        continue
                    for t in range(n):
                        if insert_shift(p, r, o, n - 1, rows, t) < INF:
                            best_gain = prize[o] - prize[old]
                            bp, bo, b_target = k, o, t
                            break
                    ops += n
            if bo < 0:
                break
            old = seq[r, bp]
            where[old] = -1
            taken[stop[old]] = 0
            remove_at(s, r, bp)
            insert_at(s, r, b_target, bo)
            rebuild(p, s, r)
            improved = True
    return improved, ops


@njit(cache=_CACHE)
def improve(p, s, w, eps):  # noqa: ANN001, ANN201
    """Local search to a local optimum (earlier route ends, then more value); returns ops."""
    ops = 0
    for _ in range(20):
        changed = False
        for r in range(s[1].shape[0]):
            done, k = intra(p, s, w, r)
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


# --------------------------------------------------------------------------------------
# The annealing loop


@njit(cache=_CACHE)
def _value(p, s):  # noqa: ANN001, ANN202
    prize, seq, length = p[10], s[0], s[1]
    total = 0.0
    for r in range(length.shape[0]):
        for k in range(length[r]):
            total += prize[seq[r, k]]
    return total


@njit(cache=_CACHE)
def run_slice(p, cur, best, state, cfg, eps, temperature, patience, ops_total, ops_stop):  # noqa: ANN001, ANN201, PLR0913
    """Advance the search until ``state[S_OPS]`` reaches ``ops_stop`` or it converges.

    The loop of ``planner.fastsearch.run_slice``: ruin, noisy recreate, local search for
    candidates that could be accepted, annealing acceptance, return to the best plan.
    """
    n_routes, n_opt = cur[1].shape[0], p[6].shape[0]
    cand = solution_arrays(n_routes, n_opt, cur[3].shape[0])
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
    cur_value, cur_travel = _value(p, cur), cur[9].sum()
    best_value, best_travel = _value(p, best), best[9].sum()
    t0 = state[S_T0]
    if state[S_FORCE] == 1 and state[S_DESCEND] == 0:
        state[S_DESCEND] = 1
        _copy(best, cur)
        load(p, cur)
        cur_value, cur_travel = best_value, best_travel
    while state[S_OPS] < ops_stop and state[S_DONE] == 0:
        state[S_ITER] += 1
        _copy(cur, cand)
        load(p, cand)
        state[S_OPS] += ruin(p, cand, w, cfg)
        _, k = fill(p, cand, w, eps, np.random.uniform(0.5, 2.5), 0.3)
        state[S_OPS] += k
        if _value(p, cand) >= cur_value - t0:
            state[S_OPS] += improve(p, cand, w, eps)
        value, travel = _value(p, cand), cand[9].sum()
        progress = min(1.0, state[S_OPS] / max(ops_total, 1.0))
        if progress >= cfg[C_COOL_BY] and state[S_DESCEND] == 0:
            state[S_DESCEND] = 1  # the last part descends from the best plan found
            _copy(best, cur)
            load(p, cur)
            cur_value, cur_travel = best_value, best_travel
        cool = 1.0 - progress / cfg[C_COOL_BY]
        temp = 1e-9 if state[S_DESCEND] == 1 else t0 * cool + 1e-9
        chance = np.exp(min(0.0, value - cur_value) / temp)
        if _better(value, travel, cur_value, cur_travel) or np.random.random() < chance:
            _copy(cand, cur)
            load(p, cur)
            cur_value, cur_travel = value, travel
        if _better(value, travel, best_value, best_travel):
            _copy(cand, best)
            load(p, best)
            best_value, best_travel = value, travel
            state[S_SINCE] = 0
        else:
            state[S_SINCE] += 1
        if state[S_SINCE] >= patience:
            state[S_DONE] = 1  # converged: more rounds are unlikely to pay
        elif state[S_SINCE] > 0 and state[S_SINCE] % cfg[C_RESTART] == 0:
            _copy(best, cur)
            load(p, cur)
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
    two = np.zeros(2, dtype=np.int64)
    search(travel, one, one, one, one, np.array([20]), np.array([1, 2]), np.array([1, 1]),
           two, np.array([10, 10]), np.array([1.0, 2.0]), np.array([0, 1]), eps=1.0, seed=0,
           work_ops=1000.0, deadline=math.inf, temperature=1.0, patience=5,
           descend_by_clock=0.9)  # fmt: skip
    _WARM = True
    return time.perf_counter() - began


def search(
    travel: IntArray,
    mode: IntArray,
    start: IntArray,
    end: IntArray,
    ready: IntArray,
    due: IntArray,
    node: IntArray,
    dwell: IntArray,
    open_: IntArray,
    close: IntArray,
    prize: FloatArray,
    stop: IntArray,
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

    Slices and the clock as in :func:`planner.fastsearch.search`.
    """
    # Imported here: planner.fastsearch's settings, passed to the kernels as numbers.
    from planner.fastcore import RUIN_MAX_SHARE, RUIN_RANDOM, RUIN_RELATED, RUIN_SEGMENT
    from planner.fastsearch import COOL_BY, RESTART_AFTER

    cfg = np.array(
        [COOL_BY, RESTART_AFTER, RUIN_RANDOM, RUIN_RELATED, RUIN_SEGMENT, RUIN_MAX_SHARE]
    )
    ints = [
        np.ascontiguousarray(a, dtype=np.int64)
        for a in (mode, start, end, ready, due, node, dwell, open_, close)
    ]
    stop_i = np.ascontiguousarray(stop, dtype=np.int64)
    p = (
        np.ascontiguousarray(travel, dtype=np.int64),
        *ints,
        np.asarray(prize, dtype=np.float64),
        stop_i,
    )
    n_stops = int(stop_i.max()) + 1 if len(stop_i) else 0
    seed_generator(seed % 2**32)
    cur = solution_arrays(len(mode), len(node), n_stops)
    best = solution_arrays(len(mode), len(node), n_stops)
    state = np.zeros(STATE_SIZE)
    started = time.perf_counter()
    step = work_ops / slices
    timed_out = False
    while state[S_DONE] == 0 and state[S_OPS] < work_ops:
        ops_stop = min(work_ops, state[S_OPS] + step)
        run_slice(p, cur, best, state, cfg, eps, temperature, patience, work_ops, ops_stop)
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
