"""The windowed compiled search's data, schedules, insertion and ruin (numba).

The bottom layer of ``planner.fastrules`` (which documents the search; its moves are in
``planner.fastwinmoves``): the problem, solution and scratch tuples, the schedule of a route
with its forward slack, the O(1) insertion test, greedy insertion (:func:`fill`) and the
ruin step (:func:`ruin`), for the rules the model has apart from breaks:

- visit windows, waiting and dwell: a visit starts at its arrival or, if earlier, when its
  window opens; it must start by the window's close; the route must be back by the shift's
  end (``planner.model.schedule_route``);
- repeat visits: a stop may be visited up to its ``max_visits`` times; visits of one stop
  start at least ``need`` (dwell plus minimum gap) apart: on one route the later visit waits
  for it, as the model's schedule does; across routes a visit too close is refused; the
  ``k``-th visit in time is worth its window's value times ``decay ** (k - 1)``, the first
  carries the mandatory bonus;
- caps: the dwell of all visits of a cell (an area) stays within the cell's (area's) cap.

Visits of the stops each route holds are kept in a table (per stop: route, start and option
of each visit), rebuilt from the difference between a route's old and new sequence, so a
route's schedule checks the gaps against the other routes exactly. The insertion test is
exact for single-visit stops (the forward slack of Vansteenwegen et al. 2009, with the
other routes' visits as latest starts); a route it accepts is re-scheduled exactly before
it is kept (a same-route repeat that waits may push later visits further than the test
assumed), and any change that fails is undone.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from planner.fastcache import cache_ok
from planner.fastcore import insert_at, remove_at

# The kernel files this one calls into, with their stamps (planner.fastcache).
CALLS_INTO = {"fastcore.py": "c5beae06d13ca23a"}
_CACHE = cache_ok(__name__, CALLS_INTO)

INF = np.int64(2**50)

# Slots of the problem tuple p, after travel, mode, start, end, ready, due (per route),
# node, dwell, open, close, prize, stop (per option; prize is the first-visit value):
# per stop most visits, need (dwell + gap), bonus (mandatory), cell and area numbers (area
# -1: none); per option base value (value x weight, no bonus); sizes; decay (1 float).
P_SMAX, P_NEED, P_BASE, P_BONUS, P_CELL, P_AREA, P_SIZES, P_DECAY = range(12, 20)
# Slots of p[P_SIZES]: cell cap, area cap (ticks of dwell, -1: none), route width, most
# visits of one stop, number of cells, number of areas.
Z_CELL_CAP, Z_AREA_CAP, Z_WIDTH, Z_MAXV, Z_CELLS, Z_AREAS = range(6)
# Slots of the settings vector: the search settings shared with planner.fastsearch and
# planner.fastcore, passed in so that this file's cache never holds stale copies of them.
C_COOL_BY, C_RESTART, C_RANDOM, C_RELATED, C_SEGMENT, C_MAX_SHARE = range(6)

# Solution tuple s: seq (routes, width) options in order, length, where (per option: a
# route visiting it or -1), taken (per stop: its visits), loc, dwl, arr, b, ms (routes,
# width + 2) per position (0 the start station, length + 1 the end) its node, dwell,
# arrival, service start and max shift, trav (per route) travel; the visit table vr, vb, vo
# (stops, twice the most visits) route, start and option of each visit of a stop; cell_used,
# area_used (dwell); oseq, olen: each route's sequence when it was last scheduled; last
# (per stop) scratch of ``measure``: when the route's next visit of the stop may start.
# Scratch tuple w: best_c, best_p, best_g (routes, options) cheapest insertion shift, its
# position and the value the visit adds there, factor (routes, options) noise, buf_a, buf_b
# (width) candidate sequences, rows a and b (5, width + 2) of candidate routes.
# Every move returns (changed, ops): ops counts elementary steps, the work budget's unit.


@njit(cache=_CACHE)
def solution_arrays(p, n_routes):  # noqa: ANN001, ANN201
    """An empty solution tuple (measure it with ``load``)."""
    sizes = p[P_SIZES]
    width, maxv = sizes[Z_WIDTH], sizes[Z_MAXV]
    n_opt, n_stops = p[6].shape[0], p[P_SMAX].shape[0]
    rows = (n_routes, width + 2)
    table = (n_stops, 2 * maxv)  # while two routes are re-scheduled, a moved visit is twice
    return (
        np.zeros((n_routes, width), dtype=np.int64),
        np.zeros(n_routes, dtype=np.int64),
        np.full(n_opt, -1, dtype=np.int64),
        np.zeros(n_stops, dtype=np.int64),
        np.zeros(rows, dtype=np.int64),
        np.zeros(rows, dtype=np.int64),
        np.zeros(rows, dtype=np.int64),
        np.zeros(rows, dtype=np.int64),
        np.zeros(rows, dtype=np.int64),
        np.zeros(n_routes, dtype=np.int64),
        np.full(table, -1, dtype=np.int64),
        np.zeros(table, dtype=np.int64),
        np.zeros(table, dtype=np.int64),
        np.zeros(sizes[Z_CELLS], dtype=np.int64),
        np.zeros(sizes[Z_AREAS], dtype=np.int64),
        np.zeros((n_routes, width), dtype=np.int64),
        np.zeros(n_routes, dtype=np.int64),
        np.full(n_stops, -INF, dtype=np.int64),
    )


@njit(cache=_CACHE)
def scratch_arrays(p, n_routes):  # noqa: ANN001, ANN201
    """The scratch tuple the moves work in."""
    width, n_opt = p[P_SIZES][Z_WIDTH], p[6].shape[0]
    return (
        np.zeros((n_routes, n_opt), dtype=np.int64),
        np.zeros((n_routes, n_opt), dtype=np.int64),
        np.ones((n_routes, n_opt)),
        np.zeros(width, dtype=np.int64),
        np.zeros(width, dtype=np.int64),
        np.zeros((5, width + 2), dtype=np.int64),
        np.zeros((5, width + 2), dtype=np.int64),
        np.zeros((n_routes, n_opt)),
    )


@njit(cache=_CACHE)
def _forget(stop, seq, n, last):  # noqa: ANN001, ANN202
    """Reset the gap bounds ``schedule`` set for the stops of ``seq[:n]``; returns -1."""
    for k in range(n):
        last[stop[seq[k]]] = -INF
    return -1


@njit(cache=_CACHE)
def kit(p, s):  # noqa: ANN001, ANN201
    """The arrays :func:`schedule` reads, in its order: a move takes them out of the tuples
    once (read through the tuples on every call, they cost more than the schedule)."""
    return (p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[11], p[P_SMAX],
            p[P_NEED], s[3], s[10], s[11], s[17])  # fmt: skip


@njit(cache=_CACHE)
def measure(p, s, r, seq, n, rows):  # noqa: ANN001, ANN201
    """:func:`schedule` with the arrays taken from the tuples."""
    tv, md, sa, ea, rd, du, nd, dw, op, cl, sp, sm, ne, tk, vr, vb, ls = kit(p, s)
    return schedule(tv, md, sa, ea, rd, du, nd, dw, op, cl, sp, sm, ne, tk, vr, vb, ls,
                    r, seq, n, rows)  # fmt: skip


@njit(cache=_CACHE, inline="always")  # a call passes every array: inlined, none
def schedule(travel, mode, start, end, ready, due, node, dwell, opn, cls, stop, smax, need,  # noqa: ANN001, ANN201, PLR0913
             taken, vr, vb, last, r, seq, n, rows):  # fmt: skip
    """Schedule ``seq[:n]`` on route ``r`` into ``rows`` (loc, dwl, arr, b, ms); its travel.

    Returns -1 when a visit cannot start by its window's close, clashes with a visit of its
    stop on another route, or the route ends too late.
    """
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
        u = stop[o]
        if smax[u] > 1:
            st = max(st, last[u])  # a repeat on this route waits out the gap
            last[u] = st + need[u]
            for j in range(min(taken[u], vr.shape[1])):
                if st <= cls[o] and vr[u, j] != r and abs(st - vb[u, j]) < need[u]:
                    return _forget(stop, seq, k + 1, last)
        if st > cls[o]:
            return _forget(stop, seq, k + 1, last)
        loc[k + 1] = v
        dwl[k + 1] = dwell[o]
        arr[k + 1] = a
        b[k + 1] = st
        t = st + dwell[o]
    leg = travel[m, loc[n], end[r]]
    trav += leg
    t += leg
    _forget(stop, seq, n, last)
    if t > due[r]:
        return -1
    loc[n + 1] = end[r]
    dwl[n + 1] = 0
    arr[n + 1] = t
    b[n + 1] = t
    ms[n + 1] = due[r] - t
    for k in range(n, 0, -1):
        o = seq[k - 1]
        lim = cls[o]
        u = stop[o]
        if smax[u] > 1:  # later visits of the stop on other routes stay where they are
            for j in range(min(taken[u], vr.shape[1])):
                if vr[u, j] != r and vb[u, j] > b[k]:
                    lim = min(lim, vb[u, j] - need[u])
        ms[k] = min(lim - b[k], b[k + 1] - arr[k + 1] + ms[k + 1])
    ms[0] = b[1] - arr[1] + ms[1]
    return trav


@njit(cache=_CACHE)
def rows_of(s, r):  # noqa: ANN001, ANN201
    """Route ``r``'s schedule rows (loc, dwl, arr, b, ms)."""
    return (s[4][r], s[5][r], s[6][r], s[7][r], s[8][r])


@njit(cache=_CACHE)
def _count(p, s, o, sign):  # noqa: ANN001, ANN202
    """Count a visit of option ``o`` out of (sign -1) or into its cell's and area's usage."""
    u = p[11][o]
    s[13][p[P_CELL][u]] += sign * p[7][o]
    if p[P_AREA][u] >= 0:
        s[14][p[P_AREA][u]] += sign * p[7][o]


@njit(cache=_CACHE)
def rebuild(p, s, r):  # noqa: ANN001, ANN201
    """Re-schedule route ``r`` after its sequence changed and account for its visits.

    Returns False when the new sequence does not fit (the caller puts the old one back).
    """
    seq, length, where, taken, stop = s[0], s[1], s[2], s[3], p[11]
    vr, vb, vo, oseq, olen = s[10], s[11], s[12], s[15], s[16]
    for k in range(olen[r]):
        o = oseq[r, k]
        u = stop[o]
        where[o] = -1
        q = 0
        for j in range(min(taken[u], vr.shape[1])):
            if vr[u, j] != r:
                vr[u, q], vb[u, q], vo[u, q] = vr[u, j], vb[u, j], vo[u, j]
                q += 1
        taken[u] = q
        _count(p, s, o, -1)
    trav = measure(p, s, r, seq[r], length[r], rows_of(s, r))
    s[9][r] = trav
    b = s[7][r]
    for k in range(length[r]):
        o = seq[r, k]
        u = stop[o]
        where[o] = r
        j = taken[u]
        if j < vr.shape[1]:
            vr[u, j], vb[u, j], vo[u, j] = r, b[k + 1], o
        taken[u] = j + 1
        _count(p, s, o, 1)
        oseq[r, k] = o
    olen[r] = length[r]
    return trav >= 0


@njit(cache=_CACHE)
def rebuild_pair(p, s, a, b):  # noqa: ANN001, ANN201
    """Re-schedule two changed routes; with repeats, ``a`` again once ``b``'s visits are new."""
    ok_a = rebuild(p, s, a)
    ok_b = rebuild(p, s, b)
    if p[P_SIZES][Z_MAXV] > 1:
        ok_a = rebuild(p, s, a)
    return ok_a and ok_b


@njit(cache=_CACHE)
def load(p, s):  # noqa: ANN001, ANN201
    """Set every derived array from the sequences."""
    s[2][:] = -1
    s[3][:] = 0
    s[13][:] = 0
    s[14][:] = 0
    s[16][:] = 0
    for r in range(s[1].shape[0]):
        rebuild(p, s, r)


@njit(cache=_CACHE)
def end_of(s, r):  # noqa: ANN001, ANN201
    """When route ``r`` is back at its end station."""
    return s[7][r, s[1][r] + 1]


@njit(cache=_CACHE, inline="always")
def caps_fit(p, s, u, add, old_u, release):  # noqa: ANN001, ANN201
    """Whether ``add`` more dwell at stop ``u`` fits its caps, ``release`` of ``old_u`` freed."""
    sizes, cell, area = p[P_SIZES], p[P_CELL], p[P_AREA]
    if sizes[Z_CELL_CAP] >= 0:
        used = s[13][cell[u]] + add - (release if old_u >= 0 and cell[old_u] == cell[u] else 0)
        if used > sizes[Z_CELL_CAP]:
            return False
    if sizes[Z_AREA_CAP] >= 0 and area[u] >= 0:
        used = s[14][area[u]] + add - (release if old_u >= 0 and area[old_u] == area[u] else 0)
        if used > sizes[Z_AREA_CAP]:
            return False
    return True


@njit(cache=_CACHE, inline="always")  # a call passes every array: inlined, none
def shift_at(travel, m, node, dwell, opn, cls, stop, smax, need, taken, vr, vb, r, o, rows, k):  # noqa: ANN001, ANN201, PLR0913
    """(delay of the arrival after position ``k`` when option ``o`` goes there, its start);
    the delay is INF when it does not fit. ``rows`` are route ``r``'s (travel matrix ``m``).

    The arrays come one by one: read through the problem and solution tuples in the moves'
    loops, they cost ten times the test itself.
    """
    loc, dwl, arr, b, ms = rows
    v = node[o]
    a = b[k] + dwl[k] + travel[m, loc[k], v]
    st = a if a >= opn[o] else opn[o]
    u = stop[o]
    if smax[u] > 1:
        nu = min(taken[u], vr.shape[1])
        for j in range(nu):  # a repeat on this route waits out the gap
            if vr[u, j] == r and vb[u, j] <= b[k]:
                st = max(st, vb[u, j] + need[u])
        for j in range(nu):
            if vr[u, j] != r and abs(st - vb[u, j]) < need[u]:
                return INF, st
    if st > cls[o]:
        return INF, st
    shift = st + dwell[o] + travel[m, v, loc[k + 1]] - arr[k + 1]
    if shift > b[k + 1] - arr[k + 1] + ms[k + 1]:
        return INF, st
    return shift, st


@njit(cache=_CACHE)
def insert_shift(p, s, r, o, rows, k):  # noqa: ANN001, ANN201
    """Delay of the arrival after position ``k`` when option ``o`` goes there; INF: no fit."""
    return shift_at(p[0], p[1][r], p[6], p[7], p[8], p[9], p[11], p[P_SMAX], p[P_NEED], s[3],
                    s[10], s[11], r, o, rows, k)[0]  # fmt: skip


@njit(cache=_CACHE)
def _rank(vb, vo, u, j, n):  # noqa: ANN001, ANN202
    """Rank in time of visit ``j`` among the first ``n`` of stop ``u`` (ties: option, slot)."""
    rank = 0
    for i in range(n):
        if vb[u, i] < vb[u, j] or (
            vb[u, i] == vb[u, j] and (vo[u, i] < vo[u, j] or (vo[u, i] == vo[u, j] and i < j))
        ):
            rank += 1
    return rank


@njit(cache=_CACHE)
def objective(p, s):  # noqa: ANN001, ANN201
    """The objective: first-visit prizes, or with repeats the decayed values and bonuses."""
    total = 0.0
    if p[P_SIZES][Z_MAXV] <= 1:
        prize, seq, length = p[10], s[0], s[1]
        for r in range(length.shape[0]):
            for k in range(length[r]):
                total += prize[seq[r, k]]
        return total
    base, bonus, decay = p[P_BASE], p[P_BONUS], p[P_DECAY][0]
    taken, vb, vo = s[3], s[11], s[12]
    for u in range(taken.shape[0]):
        n = min(taken[u], vb.shape[1])
        if n > 0:
            total += bonus[u]
        for j in range(n):
            total += base[vo[u, j]] * decay ** _rank(vb, vo, u, j, n)
    return total


@njit(cache=_CACHE)
def _costs(p, s, w, r, only):  # noqa: ANN001, ANN202, PLR0912, PLR0915
    """Cheapest feasible shift, its first position and the value added, of every allowed
    option in route ``r`` (of stop ``only`` alone when it is >= 0); the ops.

    The arrays are taken out of the tuples once, here (see :func:`shift_at`). Positions are
    tried from the last one that leaves by the window's close backwards, until the wait for
    the window alone costs more than the best shift found (arrivals only grow along a
    route): the same answer as trying them all.
    """
    travel, node, dwell, opn, cls, prize, stop = p[0], p[6], p[7], p[8], p[9], p[10], p[11]
    smax, need, base, cell, area = p[P_SMAX], p[P_NEED], p[P_BASE], p[P_CELL], p[P_AREA]
    sizes, decay = p[P_SIZES], p[P_DECAY][0]
    taken, vr, vb, vo, cell_used, area_used = s[3], s[10], s[11], s[12], s[13], s[14]
    best_c, best_p, best_g = w[0], w[1], w[7]
    rows = (s[4][r], s[5][r], s[6][r], s[7][r], s[8][r])
    dwl, arr, b = rows[1], rows[2], rows[3]
    m, n, table = p[1][r], s[1][r], vr.shape[1]
    cell_cap, area_cap = sizes[Z_CELL_CAP], sizes[Z_AREA_CAP]
    # A visit after position k delays the next arrival by at least its dwell minus the leg it
    # replaces (no travel is negative): more than the room there, and it cannot go there.
    room = -INF
    for k in range(n + 1):
        leg = travel[m, rows[0][k], rows[0][k + 1]]
        room = max(room, b[k + 1] - arr[k + 1] + rows[4][k + 1] + leg)
    for o in range(stop.shape[0]):
        u = stop[o]
        if only >= 0 and u != only:
            continue
        best_c[r, o] = INF
        if taken[u] >= smax[u] or b[0] + dwl[0] > cls[o] or dwell[o] > room:
            continue
        if cell_cap >= 0 and cell_used[cell[u]] + dwell[o] > cell_cap:
            continue
        if area_cap >= 0 and area[u] >= 0 and area_used[area[u]] + dwell[o] > area_cap:
            continue
        lo, hi = 0, n
        while lo < hi:  # the last position that leaves by the close
            mid = (lo + hi + 1) // 2
            if b[mid] + dwl[mid] <= cls[o]:
                lo = mid
            else:
                hi = mid - 1
        nu = min(taken[u], table)
        bc, bp, bs = INF, 0, 0
        for k in range(lo, -1, -1):
            if opn[o] + dwell[o] - arr[k + 1] > bc:
                break
            shift, st = shift_at(travel, m, node, dwell, opn, cls, stop, smax, need, taken,
                                 vr, vb, r, o, rows, k)  # fmt: skip
            if shift <= bc:
                bc, bp, bs = shift, k, st
        best_c[r, o], best_p[r, o], best_g[r, o] = bc, bp, prize[o]
        if bc < INF and nu > 0:  # a repeat: its decayed value, and the later visits' decay
            before = 0
            for j in range(nu):
                before += vb[u, j] < bs
            added = base[o] * decay**before
            for j in range(nu):
                if vb[u, j] >= bs:
                    rank = _rank(vb, vo, u, j, nu)
                    added += base[vo[u, j]] * (decay ** (rank + 1) - decay**rank)
            best_g[r, o] = added
    return (n + 1) * stop.shape[0]


@njit(cache=_CACHE)
def _insert_costs(p, s, w, r):  # noqa: ANN001, ANN202
    """:func:`_costs` of every option in route ``r``."""
    return _costs(p, s, w, r, -1)


@njit(cache=_CACHE)
def _refresh_stop(p, s, w, u, skip):  # noqa: ANN001, ANN202
    """Re-cost the options of stop ``u`` in every route but ``skip`` (a visit of it moved in)."""
    ops = 0
    for r in range(s[1].shape[0]):
        if r != skip:
            _costs(p, s, w, r, u)
            ops += p[11].shape[0]
    return ops


@njit(cache=_CACHE)
def fill(p, s, w, eps, alpha, noise):  # noqa: ANN001, ANN201
    """Insert options by (value added ** alpha) per extra time until none fits.

    ``noise`` multiplies each (route, option) score by a random factor in [1, 1 + noise].
    """
    prize, stop, dwell, smax, cell, area = p[10], p[11], p[7], p[P_SMAX], p[P_CELL], p[P_AREA]
    length, taken, cell_used, area_used = s[1], s[3], s[13], s[14]
    cell_cap, area_cap = p[P_SIZES][Z_CELL_CAP], p[P_SIZES][Z_AREA_CAP]
    best_c, best_p, factor, best_g = w[0], w[1], w[2], w[7]
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
    allowed = np.zeros(n_opt, dtype=np.bool_)
    inserted = False
    while True:
        best = -1.0
        br = -1
        bo = -1
        for o in range(n_opt):
            u = stop[o]
            allowed[o] = (
                taken[u] < smax[u]
                and (cell_cap < 0 or cell_used[cell[u]] + dwell[o] <= cell_cap)
                and (area_cap < 0 or area[u] < 0 or area_used[area[u]] + dwell[o] <= area_cap)
            )
        for r in range(n_routes):
            for o in range(n_opt):
                if best_c[r, o] < INF and allowed[o]:
                    worth = weight[o]
                    if taken[stop[o]] > 0:  # a repeat: worth its decayed value
                        worth = max(best_g[r, o], 1e-12)
                        worth = worth if alpha == 1.0 else worth**alpha
                    score = worth * factor[r, o] / max(float(best_c[r, o]), eps)
                    if score > best:
                        best = score
                        br = r
                        bo = o
        ops += n_routes * n_opt
        if br < 0:
            return inserted, ops
        insert_at(s, br, best_p[br, bo], bo)
        if not rebuild(p, s, br):  # a repeat's wait pushed a later visit too far: undo
            remove_at(s, br, best_p[br, bo])
            rebuild(p, s, br)
            best_c[br, bo] = INF
            continue
        inserted = True
        ops += length[br] + _insert_costs(p, s, w, br)
        if p[P_SMAX][stop[bo]] > 1:  # the stop's other visits must keep their gap to this one
            ops += _refresh_stop(p, s, w, stop[bo], br)


@njit(cache=_CACHE)
def _drop_route_visits(p, s, w, r, drop):  # noqa: ANN001, ANN202
    """Remove the visits of ``r`` marked in ``drop``; keep them all when that breaks ``r``."""
    seq, length = s[0], s[1]
    buf = w[3]
    n = length[r]
    q = 0
    for k in range(n):
        if not drop[k]:
            buf[q] = seq[r, k]
            q += 1
    # Removing visits may bring a repeat too close to another route's visit of its stop, or
    # (with travel times that break the triangle inequality) end the route later.
    if q == n or measure(p, s, r, buf, q, w[5]) < 0:
        return
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
    if not rebuild(p, s, r):
        remove_at(s, r, 0)
        rebuild(p, s, r)
