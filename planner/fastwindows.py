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

What the three forms share comes from ``planner.fastcore`` (the ruin's choice, greedy
insertion's pick, the annealing decision, sequence edits; its stamp in ``CALLS_INTO``, see
``planner.fastcache``) and ``planner.fastsearch`` (the slices and the clock); the search
settings come in as arguments (``cfg``).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numba import njit

from planner.fastcache import cache_ok
from planner.fastcore import (
    INF,
    S_DONE,
    S_ITER,
    S_OPS,
    S_STARTED,
    S_T0,
    STATE_SIZE,
    V_CUR,
    accept,
    begin,
    better_route,
    copy_solution,
    draw_noise,
    exchange_sequences,
    force_descent,
    insert_at,
    insertion_tables,
    or_opt_into,
    pick,
    remove_at,
    ruin_marks,
    seed_generator,
    settings,
    settle,
    start_route,
    tally,
    value_weights,
    without,
)
from planner.fastsearch import routes_of, run_in_slices, warm_once

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

# The kernel files this one calls into, with their stamps (planner.fastcache).
CALLS_INTO = {"fastcore.py": "e38851e535642141"}
_CACHE = cache_ok(__name__, CALLS_INTO)

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
    return insertion_tables(n_routes, n_opt) + (
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
    length = s[1]
    best_c, best_p, factor = w[0], w[1], w[2]
    n_routes = length.shape[0]
    n_opt = stop.shape[0]
    ops = 0
    for r in range(n_routes):
        ops += _insert_costs(p, s, w, r)
    draw_noise(factor, noise)
    weight = value_weights(prize, alpha)
    fits = np.full(n_routes, INF - 1)
    inserted = False
    while True:
        br, bo = pick(best_c, fits, weight, factor, eps)
        ops += n_routes * n_opt
        if br < 0:
            return inserted, ops
        insert_at(s, br, best_p[br, bo], bo)
        rebuild(p, s, br)
        for o in range(n_opt):
            if stop[o] == stop[bo]:
                best_c[:, o] = INF  # its stop is visited: no route takes it
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
    seq, length = s[0], s[1]
    drop = np.zeros((length.shape[0], seq.shape[1]), dtype=np.bool_)
    total, reseed = ruin_marks(p[0], p[1], p[6], seq, length, drop, cfg)
    for r in range(length.shape[0]):
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
    if start_route(s, r, weights):
        rebuild(p, s, r)


# --------------------------------------------------------------------------------------
# Local search


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
                    trav = measure(p, r, buf, n, rows)
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
        seq[r, :n] = buf[:n]
        rebuild(p, s, r)
        improved = True
    return improved, ops


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
                without(seq[a], na, i, buf)
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
                        if (
                            measure(p, a, buf_a, na, rows_a) < 0
                            or measure(p, b, buf_b, nb, rows_b) < 0
                        ):
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
                        if (
                            measure(p, a, buf_a, la, rows_a) < 0
                            or measure(p, b, buf_b, lb, rows_b) < 0
                        ):
                            continue
                        saving = before - rows_a[3][la + 1] - rows_b[3][lb + 1]
                        if saving > best:
                            best, kind, ba, bb, bi, bj = saving, 1, a, b, ka, kb
        if kind < 0:
            return improved, ops
        exchange_sequences(seq, length, w[3], kind, ba, bb, bi, bj)
        rebuild(p, s, ba)
        rebuild(p, s, bb)
        improved = True
    return improved, ops


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
                without(seq[r], n, k, buf)
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
            changed, ops = tally(intra(p, s, w, r), changed, ops)
        changed, ops = tally(relocate(p, s, w), changed, ops)
        changed, ops = tally(exchange(p, s, w), changed, ops)
        changed, ops = tally(fill(p, s, w, eps, 1.0, 0.0), changed, ops)
        changed, ops = tally(replace_visits(p, s, w), changed, ops)
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
        copy_solution(cur, best)
        begin(state, temperature, _value(p, cur), cur[1].sum())
    load(p, cur)
    load(p, best)
    vals = np.array([_value(p, cur), cur[9].sum(), _value(p, best), best[9].sum()])
    if force_descent(state, vals):
        copy_solution(best, cur)
        load(p, cur)
    while state[S_OPS] < ops_stop and state[S_DONE] == 0:
        state[S_ITER] += 1
        copy_solution(cur, cand)
        load(p, cand)
        state[S_OPS] += ruin(p, cand, w, cfg)
        _, k = fill(p, cand, w, eps, np.random.uniform(0.5, 2.5), 0.3)
        state[S_OPS] += k
        if _value(p, cand) >= vals[V_CUR] - state[S_T0]:
            state[S_OPS] += improve(p, cand, w, eps)
        current, record = accept(
            state, vals, _value(p, cand), cand[9].sum(), cfg, patience, ops_total
        )
        settle(cand, cur, best, current, record)
        if current > 0:
            load(p, cur)
        if record:
            load(p, best)


# --------------------------------------------------------------------------------------
# Driver


def _tiny() -> None:
    travel = np.array([[[0, 2, 3], [2, 0, 2], [3, 2, 0]]], dtype=np.int64)
    one = np.zeros(1, dtype=np.int64)
    two = np.zeros(2, dtype=np.int64)
    search(travel, one, one, one, one, np.array([20]), np.array([1, 2]), np.array([1, 1]),
           two, np.array([10, 10]), np.array([1.0, 2.0]), np.array([0, 1]), eps=1.0, seed=0,
           work_ops=1000.0, deadline=math.inf, temperature=1.0, patience=5,
           descend_by_clock=0.9)  # fmt: skip


warm = warm_once(_tiny)


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

    Slices and the clock as in :func:`planner.fastsearch.run_in_slices`.
    """
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
    cfg = settings()
    seed_generator(seed % 2**32)
    cur = solution_arrays(len(mode), len(node), n_stops)
    best = solution_arrays(len(mode), len(node), n_stops)
    state = np.zeros(STATE_SIZE)

    def run(ops_stop: float) -> None:
        run_slice(p, cur, best, state, cfg, eps, temperature, patience, work_ops, ops_stop)

    timed_out = run_in_slices(run, state, work_ops, deadline, descend_by_clock, slices)
    return routes_of(best), int(state[S_ITER]), timed_out
