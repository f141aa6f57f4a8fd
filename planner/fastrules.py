"""Compiled orienteering search for every rule of the patrol problem (numba kernels).

The search of ``planner.fastwindows`` (greedy insertion by value per extra time, ruin and
recreate, local search, simulated annealing cooling to zero at 80 % of the work, then descent
from the best plan) with the rules the site's problems add: repeat visits of a stop (at most
``max_visits``, starts at least its dwell plus its minimum gap apart on any routes, value
decayed by rank in time order), cell and area caps on the dwell, stops locked to one unit and
rest breaks. This file holds the arrays, the schedule, the insertion test and the greedy
insertion; ``planner.fastrulesmoves`` the ruin, the local search and the annealing loop;
``planner.fastrulesrun`` the Python driver.

The schedule is ``planner.model.schedule_route``'s: leave at the shift start, wait for a
window, a repeat visit on the same route waits out its gap, the break after a given visit
starts at the later of that departure and its earliest start. A break is a pseudo-option of
its route (node -1: it stays where the previous visit was, no travel; its window is the
break's start interval, its dwell the break), locked to its route, placed in the route from
the start and never removed, so moves that reorder a route also move its break. Repeat
visits on other routes are hard constraints: a route whose schedule puts a visit within the
gap of another route's visit of the same stop is rejected.

Feasibility of an insertion is O(1) (plus the few other visits of a repeated stop) with the
forward slack of Vansteenwegen et al. (2009): per position its service start ``b``, arrival
``arr`` and ``ms``, how much later it may start without breaking its window, a later one,
the shift end, the gap to a later visit of its stop on another route or the same one. Moves
that reorder visits re-schedule the routes they touch in O(n). Caps are counters per cell
and area; per stop the visited options are a short list (``vis``, ``count`` of them).

Arrays (ticks) of the problem tuple ``p``: 0 travel (modes, nodes, nodes); per route 1 mode,
2 start, 3 end, 4 ready, 5 due; per option 6 node (-1: a break), 7 dwell, 8 open, 9 close
(the start's interval), 10 base (value times window weight, float), 11 stop; per stop 12
max visits, 13 need (dwell plus minimum gap), 14 bonus (float: a mandatory stop's, counted
once), 15 cell and 16 area (-1: none); 17 per option the route it is locked to (-1: any);
18 caps (cell, area; -1: none), 19 decay (float, one value); 20-21 each stop's options
(``sopt[sopt_at[s]:sopt_at[s + 1]]``).

This file calls into ``planner.fastcore`` for what the three forms share (its stamp in
``CALLS_INTO``, see ``planner.fastcache``); the search settings come in as arguments. A
numba call that passes these tuples of arrays costs some 30 times a simple insertion test,
so the hot loops (insertion costs, replacements) have the test written out rather than
called. Inlining it instead (numba's ``inline="always"``) costs as much: the inlined code
takes a reference to every array of the tuples it is given, per option (measured
2026-12-05, 80 stops and 5 units: the insertion costs of every route 32 -> 119 us, a greedy
insertion 21 -> 107 us, the whole search 15 % slower).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from planner.fastcache import cache_ok
from planner.fastcore import INF, copy_solution, draw_noise, insertion_tables

CALLS_INTO = {"fastcore.py": "e38851e535642141"}
_CACHE = cache_ok(__name__, CALLS_INTO)

# Solution tuple s: 0 seq (routes, width) options in order, 1 length, 2 where (per option
# its route or -1), 3 count (per stop: visits), 4-9 loc, dwl, arr, b, ms, brk (routes,
# width + 2) per position (0 the start station, length + 1 the end): node, dwell, arrival,
# start, max shift and the break option + 1 (0: a visit), 10 trav (per route), 11 pos (per
# visited option its position), 12 vis (stops, most visits) visited options, 13 cell_used,
# 14 area_used, 15 lastlock (per route: last position of a locked option, 0 none).
# Scratch w: 0 best_c, 1 best_p (routes, options) cheapest insertion, 2 factor (noise),
# 3 buf_a, 4 buf_b (width), 5 rows_a, 6 rows_b (6, width + 2), 7 stamp, 8 own_t, 9 own_ms,
# 10 ext_t (stops, most visits), 11 ext_n (per stop), 12 ctr (one counter), 13 dirty (per
# route: changed since the local search last looked at it), 14 look (the routes it looks at).


@njit(cache=_CACHE)
def solution_arrays(p, n_routes):  # noqa: ANN001, ANN201
    """An empty solution tuple."""
    n_opt, n_stops = p[6].shape[0], p[12].shape[0]
    width = n_opt + 1
    most = max(1, p[12].max()) if n_stops else 1
    n_cells = max(1, p[15].max() + 1) if n_stops else 1
    n_areas = max(1, p[16].max() + 1) if n_stops else 1
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
        np.zeros((n_routes, width + 2), dtype=np.int64),
        np.zeros(n_routes, dtype=np.int64),
        np.zeros(n_opt, dtype=np.int64),
        np.zeros((n_stops, most), dtype=np.int64),
        np.zeros(n_cells, dtype=np.int64),
        np.zeros(n_areas, dtype=np.int64),
        np.zeros(n_routes, dtype=np.int64),
    )


@njit(cache=_CACHE)
def scratch_arrays(p, n_routes):  # noqa: ANN001, ANN201
    """The scratch tuple the moves work in."""
    n_opt, n_stops = p[6].shape[0], p[12].shape[0]
    width = n_opt + 1
    most = max(1, p[12].max()) if n_stops else 1
    return insertion_tables(n_routes, n_opt) + (
        np.zeros(width, dtype=np.int64),
        np.zeros(width, dtype=np.int64),
        np.zeros((6, width + 2), dtype=np.int64),
        np.zeros((6, width + 2), dtype=np.int64),
        np.zeros(n_stops, dtype=np.int64),
        np.zeros(n_stops, dtype=np.int64),
        np.zeros(n_stops, dtype=np.int64),
        np.zeros((n_stops, most), dtype=np.int64),
        np.zeros(n_stops, dtype=np.int64),
        np.zeros(1, dtype=np.int64),
        np.ones(n_routes, dtype=np.int64),
        np.ones(n_routes, dtype=np.int64),
    )


@njit(cache=_CACHE, inline="always")
def _rows(s, r):  # noqa: ANN001, ANN202
    return (s[4][r], s[5][r], s[6][r], s[7][r], s[8][r], s[9][r])


@njit(cache=_CACHE, inline="always")
def _rows_of(m):  # noqa: ANN001, ANN202
    return (m[0], m[1], m[2], m[3], m[4], m[5])


@njit(cache=_CACHE)
def measure(p, s, w, r, seq, n, rows, skip2):  # noqa: ANN001, ANN201, PLR0912, PLR0915
    """Schedule ``seq[:n]`` on route ``r`` into ``rows``; its travel, or -1 when it breaks a
    window, the shift end, a break's latest start or a repeat gap to another route's visit
    (the visits of routes ``r`` and ``skip2`` not counted; ``skip2`` -2: no gap check)."""
    travel, mode, start, end, ready, due = p[0], p[1], p[2], p[3], p[4], p[5]
    node, dwell, opn, cls, stop, maxv, need = p[6], p[7], p[8], p[9], p[11], p[12], p[13]
    where, vis, count, pos, bb = s[2], s[12], s[3], s[11], s[7]
    stamp, own_t, own_ms, ctr = w[7], w[8], w[9], w[12]
    loc, dwl, arr, b, ms, brk = rows[0], rows[1], rows[2], rows[3], rows[4], rows[5]
    ctr[0] += 1
    c = ctr[0]
    m = mode[r]
    t = ready[r]
    loc[0] = start[r]
    dwl[0] = 0
    arr[0] = t
    b[0] = t
    brk[0] = 0
    trav = 0
    for k in range(n):
        o = seq[k]
        v = node[o]
        if v < 0:
            v = loc[k]
            leg = 0
            brk[k + 1] = o + 1
        else:
            leg = travel[m, loc[k], v]
            brk[k + 1] = 0
        trav += leg
        a = t + leg
        st = a if a >= opn[o] else opn[o]
        sp = stop[o]
        if maxv[sp] > 1:
            if stamp[sp] == c and own_t[sp] + need[sp] > st:
                st = own_t[sp] + need[sp]
            if st > cls[o]:
                return -1
            if skip2 != -2:
                for i in range(count[sp]):
                    q = vis[sp, i]
                    rq = where[q]
                    if rq != r and rq != skip2 and abs(st - bb[rq, pos[q]]) < need[sp]:
                        return -1
            stamp[sp] = c
            own_t[sp] = st
        elif st > cls[o]:
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
    brk[n + 1] = 0
    ms[n + 1] = due[r] - t
    ctr[0] += 1
    c = ctr[0]
    for k in range(n, 0, -1):
        o = seq[k - 1]
        lim = min(cls[o] - b[k], b[k + 1] - arr[k + 1] + ms[k + 1])
        sp = stop[o]
        if maxv[sp] > 1:
            if stamp[sp] == c:
                lim = min(lim, own_t[sp] - b[k] - need[sp] + own_ms[sp])
            if skip2 != -2:
                for i in range(count[sp]):
                    q = vis[sp, i]
                    rq = where[q]
                    if rq != r and rq != skip2:
                        x = bb[rq, pos[q]]
                        if x >= b[k]:
                            lim = min(lim, x - need[sp] - b[k])
            stamp[sp] = c
            own_t[sp] = b[k]
            own_ms[sp] = lim
        ms[k] = lim
    ms[0] = b[1] - arr[1] + ms[1]
    return trav


@njit(cache=_CACHE)
def _install(p, s, r, seq, n, rows, trav):  # noqa: ANN001, ANN202
    """Make ``seq[:n]``, scheduled in ``rows``, route ``r``'s (positions and locks too)."""
    lock = p[17]
    s[0][r, :n] = seq[:n]
    s[1][r] = n
    s[4][r, : n + 2] = rows[0][: n + 2]
    s[5][r, : n + 2] = rows[1][: n + 2]
    s[6][r, : n + 2] = rows[2][: n + 2]
    s[7][r, : n + 2] = rows[3][: n + 2]
    s[8][r, : n + 2] = rows[4][: n + 2]
    s[9][r, : n + 2] = rows[5][: n + 2]
    s[10][r] = trav
    last = 0
    for k in range(n):
        o = seq[k]
        s[11][o] = k + 1
        s[2][o] = r
        if lock[o] >= 0:
            last = k + 1
    s[15][r] = last


@njit(cache=_CACHE)
def commit(p, s, w, r, seq, n):  # noqa: ANN001, ANN201
    """Make ``seq[:n]`` route ``r`` when it schedules (visits claimed already): success."""
    rows = _rows_of(w[5])
    trav = measure(p, s, w, r, seq, n, rows, -1)
    if trav < 0:
        return False
    _install(p, s, r, seq, n, rows, trav)
    w[13][r] = 1
    return True


@njit(cache=_CACHE)
def _cross_ok(p, w, seq_a, na, rows_a, seq_b, nb, rows_b):  # noqa: ANN001, ANN202
    """Whether the repeat visits of two new routes keep their gaps to each other."""
    stop, maxv, need = p[11], p[12], p[13]
    stamp, ext_t, ext_n, ctr = w[7], w[10], w[11], w[12]
    ctr[0] += 1
    c = ctr[0]
    for k in range(na):
        sp = stop[seq_a[k]]
        if maxv[sp] > 1:
            if stamp[sp] != c:
                stamp[sp] = c
                ext_n[sp] = 0
            if ext_n[sp] < ext_t.shape[1]:
                ext_t[sp, ext_n[sp]] = rows_a[3][k + 1]
                ext_n[sp] += 1
    for k in range(nb):
        sp = stop[seq_b[k]]
        if maxv[sp] > 1 and stamp[sp] == c:
            for i in range(ext_n[sp]):
                if abs(rows_b[3][k + 1] - ext_t[sp, i]) < need[sp]:
                    return False
    return True


@njit(cache=_CACHE)
def try_two(p, s, w, a, seq_a, na, b, seq_b, nb):  # noqa: ANN001, ANN201
    """Schedule new routes ``a`` and ``b`` (the gaps between them checked against each other);
    their ends (a, b), or (-1, -1) when they do not fit. Leaves them in rows_a and rows_b."""
    rows_a, rows_b = _rows_of(w[5]), _rows_of(w[6])
    ta = measure(p, s, w, a, seq_a, na, rows_a, b)
    if ta < 0:
        return -1, -1, -1, -1
    tb = measure(p, s, w, b, seq_b, nb, rows_b, a)
    if tb < 0 or not _cross_ok(p, w, seq_a, na, rows_a, seq_b, nb, rows_b):
        return -1, -1, -1, -1
    return rows_a[3][na + 1], rows_b[3][nb + 1], ta, tb


@njit(cache=_CACHE)
def commit_two(p, s, w, a, seq_a, na, b, seq_b, nb):  # noqa: ANN001, ANN201
    """Make the two sequences routes ``a`` and ``b`` when they schedule: success."""
    end_a, _, ta, tb = try_two(p, s, w, a, seq_a, na, b, seq_b, nb)
    if end_a < 0:
        return False
    _install(p, s, a, seq_a, na, _rows_of(w[5]), ta)
    _install(p, s, b, seq_b, nb, _rows_of(w[6]), tb)
    w[13][a] = 1
    w[13][b] = 1
    return True


@njit(cache=_CACHE, inline="always")
def claim(p, s, o, r):  # noqa: ANN001, ANN201
    """Count a visit of option ``o`` on route ``r`` (place it in the sequence separately)."""
    sp, dwell, cell, area = p[11][o], p[7], p[15], p[16]
    s[2][o] = r
    s[12][sp, s[3][sp]] = o
    s[3][sp] += 1
    if cell[sp] >= 0:
        s[13][cell[sp]] += dwell[o]
    if area[sp] >= 0:
        s[14][area[sp]] += dwell[o]


@njit(cache=_CACHE, inline="always")
def unclaim(p, s, o):  # noqa: ANN001, ANN201
    """Take a visit of ``o`` out of the counts (remove it from its sequence separately)."""
    sp, dwell, cell, area = p[11][o], p[7], p[15], p[16]
    s[2][o] = -1
    vis, count = s[12], s[3]
    for i in range(count[sp]):
        if vis[sp, i] == o:
            vis[sp, i] = vis[sp, count[sp] - 1]
            break
    count[sp] -= 1
    if cell[sp] >= 0:
        s[13][cell[sp]] -= dwell[o]
    if area[sp] >= 0:
        s[14][area[sp]] -= dwell[o]


@njit(cache=_CACHE)
def load(p, s, w):  # noqa: ANN001, ANN201
    """Set every derived array from the sequences (which the rules accept)."""
    s[2][:] = -1
    s[3][:] = 0
    s[13][:] = 0
    s[14][:] = 0
    for r in range(s[1].shape[0]):
        for k in range(s[1][r]):
            claim(p, s, s[0][r, k], r)
    for r in range(s[1].shape[0]):
        rows = _rows(s, r)
        trav = measure(p, s, w, r, s[0][r], s[1][r], rows, -2)
        _install(p, s, r, s[0][r], s[1][r], rows, trav)
    # The max shifts with the gaps to the other routes, now that every route has its times.
    for r in range(s[1].shape[0]):
        rows = _rows(s, r)
        measure(p, s, w, r, s[0][r], s[1][r], rows, -1)


@njit(cache=_CACHE)
def copy_into(p, src, dst, w):  # noqa: ANN001, ANN201
    """Copy solution ``src`` into ``dst``."""
    copy_solution(src, dst)
    load(p, dst, w)


@njit(cache=_CACHE, inline="always")
def available(p, s, o):  # noqa: ANN001, ANN201
    """Whether option ``o`` may be added: unvisited, its stop's visits and the caps allow."""
    sp = p[11][o]
    if s[2][o] >= 0 or s[3][sp] >= p[12][sp] or p[6][o] < 0:
        return False
    cell, area, caps, dwell = p[15][sp], p[16][sp], p[18], p[7][o]
    if caps[0] >= 0 and cell >= 0 and s[13][cell] + dwell > caps[0]:
        return False
    return not (caps[1] >= 0 and area >= 0 and s[14][area] + dwell > caps[1])


@njit(cache=_CACHE, inline="always")
def prize_now(p, s, o):  # noqa: ANN001, ANN201
    """What a visit of ``o`` adds if it comes after the stop's other visits (bonus on the first)."""
    sp = p[11][o]
    n = s[3][sp]
    value = p[10][o] * p[23][n]
    return value + p[14][sp] if n == 0 else value


# The insertion test is written out in the two loops that use it: a numba call passing the
# arrays costs some 30 times the test itself.


@njit(cache=_CACHE)
def scan_one(p, s, r, rows, n, o, own, skip):  # noqa: ANN001, ANN201, PLR0912
    """Cheapest delay of the next arrival and position when option ``o`` goes into the
    ``n`` visits scheduled in ``rows`` on route ``r`` (INF, -1: no fit). ``own``: the rows
    are route r's (else r's visits of o's stop other than option ``skip`` refuse it)."""
    travel, mode, node, dwell, opn, cls = p[0], p[1], p[6], p[7], p[8], p[9]
    stop, maxv, need, lock = p[11], p[12], p[13], p[17]
    where, vis, count, pos, bb = s[2], s[12], s[3], s[11], s[7]
    loc, dwl, arr, b, ms, brk = rows[0], rows[1], rows[2], rows[3], rows[4], rows[5]
    m = mode[r]
    if lock[o] >= 0 and lock[o] != r:
        return INF, -1
    for _ in range(1):
        lo, hi = 0, n
        first = opn[o] + dwell[o]
        while lo < hi:  # latest starts b + ms rise along the route: skip those too early
            mid = (lo + hi) // 2
            if b[mid + 1] + ms[mid + 1] < first:
                lo = mid + 1
            else:
                hi = mid
        best = INF
        at = -1
        v = node[o]
        sp = stop[o]
        for k in range(lo, n + 1):
            if b[k] + dwl[k] > cls[o]:
                break  # later positions leave later still
            a = b[k] + dwl[k] + travel[m, loc[k], v]
            st = a if a >= opn[o] else opn[o]
            if st > cls[o]:
                break
            if maxv[sp] > 1 and count[sp] > 0:
                ok = True
                for i in range(count[sp]):  # the stop's visits on this route
                    q = vis[sp, i]
                    if q != o and q != skip and where[q] == r:
                        if not own:
                            ok = False
                        elif pos[q] <= k:
                            st = max(st, bb[r, pos[q]] + need[sp])
                        elif st + need[sp] > bb[r, pos[q]]:
                            ok = False
                for i in range(count[sp]):  # and on the others
                    q = vis[sp, i]
                    rq = where[q]
                    if q != o and rq != r and rq >= 0 and abs(st - bb[rq, pos[q]]) < need[sp]:
                        ok = False
                if not ok or st > cls[o]:
                    continue
            done = st + dwell[o]
            if brk[k + 1] > 0:  # a break next: it starts where o ends
                ob = brk[k + 1] - 1
                bs = done if done >= opn[ob] else opn[ob]
                if bs > cls[ob]:
                    continue
                shift = bs + dwell[ob] + travel[m, v, loc[k + 2]] - arr[k + 2]
                if shift > b[k + 2] - arr[k + 2] + ms[k + 2]:
                    continue
            else:
                shift = done + travel[m, v, loc[k + 1]] - arr[k + 1]
                if shift > b[k + 1] - arr[k + 1] + ms[k + 1]:
                    continue
            if shift < best:
                best = shift
                at = k
    return best, at


@njit(cache=_CACHE)
def best_replacement(p, s, r, rows, n, old, worth, floor):  # noqa: ANN001, ANN201, PLR0912, PLR0915
    """The option most worth visiting instead of ``old`` (gain above ``floor``) that fits in
    the ``n`` visits of route ``r`` without it (in ``rows``): (gain, option, position)."""
    travel, mode, node, dwell, opn, cls = p[0], p[1], p[6], p[7], p[8], p[9]
    stop, maxv, need, lock = p[11], p[12], p[13], p[17]
    where, vis, count, pos, bb = s[2], s[12], s[3], s[11], s[7]
    loc, dwl, arr, b, ms, brk = rows[0], rows[1], rows[2], rows[3], rows[4], rows[5]
    base, bonus, dpow, by_value = p[10], p[14], p[23], p[22]
    cell, area, caps = p[15], p[16], p[18]
    m = mode[r]
    own = False
    skip = old
    so = stop[old]
    rank = dpow[count[so] - 1]
    first_bonus = bonus[so] if count[so] == 1 else 0.0
    best_gain = floor
    bo = b_at = -1
    for j in range(node.shape[0]):  # options by value, down to the old visit's worth
        o = by_value[j]
        sn = stop[o]
        if base[o] + bonus[sn] - worth <= best_gain:
            break
        if node[o] < 0 or where[o] >= 0 or (lock[o] >= 0 and lock[o] != r):
            continue
        if sn == so:
            gain = base[o] * rank + first_bonus - worth
        else:
            if count[sn] >= maxv[sn]:
                continue
            gain = base[o] * dpow[count[sn]] + (bonus[sn] if count[sn] == 0 else 0.0) - worth
        if gain <= best_gain:
            continue
        c = cell[sn]
        if caps[0] >= 0 and c >= 0:
            freed = dwell[old] if cell[so] == c else 0
            if s[13][c] - freed + dwell[o] > caps[0]:
                continue
        c = area[sn]
        if caps[1] >= 0 and c >= 0:
            freed = dwell[old] if area[so] == c else 0
            if s[14][c] - freed + dwell[o] > caps[1]:
                continue
        lo, hi = 0, n
        first = opn[o] + dwell[o]
        while lo < hi:  # latest starts b + ms rise along the route: skip those too early
            mid = (lo + hi) // 2
            if b[mid + 1] + ms[mid + 1] < first:
                lo = mid + 1
            else:
                hi = mid
        best = INF
        at = -1
        v = node[o]
        sp = stop[o]
        for k in range(lo, n + 1):
            if b[k] + dwl[k] > cls[o]:
                break  # later positions leave later still
            a = b[k] + dwl[k] + travel[m, loc[k], v]
            st = a if a >= opn[o] else opn[o]
            if st > cls[o]:
                break
            if maxv[sp] > 1 and count[sp] > 0:
                ok = True
                for i in range(count[sp]):  # the stop's visits on this route
                    q = vis[sp, i]
                    if q != o and q != skip and where[q] == r:
                        if not own:
                            ok = False
                        elif pos[q] <= k:
                            st = max(st, bb[r, pos[q]] + need[sp])
                        elif st + need[sp] > bb[r, pos[q]]:
                            ok = False
                for i in range(count[sp]):  # and on the others
                    q = vis[sp, i]
                    rq = where[q]
                    if q != o and rq != r and rq >= 0 and abs(st - bb[rq, pos[q]]) < need[sp]:
                        ok = False
                if not ok or st > cls[o]:
                    continue
            done = st + dwell[o]
            if brk[k + 1] > 0:  # a break next: it starts where o ends
                ob = brk[k + 1] - 1
                bs = done if done >= opn[ob] else opn[ob]
                if bs > cls[ob]:
                    continue
                shift = bs + dwell[ob] + travel[m, v, loc[k + 2]] - arr[k + 2]
                if shift > b[k + 2] - arr[k + 2] + ms[k + 2]:
                    continue
            else:
                shift = done + travel[m, v, loc[k + 1]] - arr[k + 1]
                if shift > b[k + 1] - arr[k + 1] + ms[k + 1]:
                    continue
            if shift < best:
                best = shift
                at = k
        if at >= 0:
            best_gain = gain
            bo = o
            b_at = at
    return best_gain, bo, b_at


@njit(cache=_CACHE)
def best_insertion(p, s, r, o):  # noqa: ANN001, ANN201
    """Cheapest shift and position of option ``o`` in route ``r`` (INF: none)."""
    return scan_one(p, s, r, _rows(s, r), s[1][r], o, True, -1)


@njit(cache=_CACHE)
def insert_costs(p, s, w, r):  # noqa: ANN001, ANN201, PLR0912, PLR0915
    """Cheapest feasible shift and position of every available option in route ``r``."""
    best_c, best_p = w[0], w[1]
    rows = _rows(s, r)
    travel, mode, node, dwell, opn, cls = p[0], p[1], p[6], p[7], p[8], p[9]
    stop, maxv, need, lock = p[11], p[12], p[13], p[17]
    where, vis, count, pos, bb = s[2], s[12], s[3], s[11], s[7]
    loc, dwl, arr, b, ms, brk = rows[0], rows[1], rows[2], rows[3], rows[4], rows[5]
    m = mode[r]
    cell, area, caps = p[15], p[16], p[18]
    cell_used, area_used = s[13], s[14]
    n_opt = node.shape[0]
    n = s[1][r]
    own = True
    skip = -1
    for o in range(n_opt):
        best_c[r, o] = INF
        sp = stop[o]
        if where[o] >= 0 or count[sp] >= maxv[sp] or node[o] < 0:
            continue
        if lock[o] >= 0 and lock[o] != r:
            continue
        if caps[0] >= 0 and cell[sp] >= 0 and cell_used[cell[sp]] + dwell[o] > caps[0]:
            continue
        if caps[1] >= 0 and area[sp] >= 0 and area_used[area[sp]] + dwell[o] > caps[1]:
            continue
        lo, hi = 0, n
        first = opn[o] + dwell[o]
        while lo < hi:  # latest starts b + ms rise along the route: skip those too early
            mid = (lo + hi) // 2
            if b[mid + 1] + ms[mid + 1] < first:
                lo = mid + 1
            else:
                hi = mid
        best = INF
        at = -1
        v = node[o]
        sp = stop[o]
        for k in range(lo, n + 1):
            if b[k] + dwl[k] > cls[o]:
                break  # later positions leave later still
            a = b[k] + dwl[k] + travel[m, loc[k], v]
            st = a if a >= opn[o] else opn[o]
            if st > cls[o]:
                break
            if maxv[sp] > 1 and count[sp] > 0:
                ok = True
                for i in range(count[sp]):  # the stop's visits on this route
                    q = vis[sp, i]
                    if q != o and q != skip and where[q] == r:
                        if not own:
                            ok = False
                        elif pos[q] <= k:
                            st = max(st, bb[r, pos[q]] + need[sp])
                        elif st + need[sp] > bb[r, pos[q]]:
                            ok = False
                for i in range(count[sp]):  # and on the others
                    q = vis[sp, i]
                    rq = where[q]
                    if q != o and rq != r and rq >= 0 and abs(st - bb[rq, pos[q]]) < need[sp]:
                        ok = False
                if not ok or st > cls[o]:
                    continue
            done = st + dwell[o]
            if brk[k + 1] > 0:  # a break next: it starts where o ends
                ob = brk[k + 1] - 1
                bs = done if done >= opn[ob] else opn[ob]
                if bs > cls[ob]:
                    continue
                shift = bs + dwell[ob] + travel[m, v, loc[k + 2]] - arr[k + 2]
                if shift > b[k + 2] - arr[k + 2] + ms[k + 2]:
                    continue
            else:
                shift = done + travel[m, v, loc[k + 1]] - arr[k + 1]
                if shift > b[k + 1] - arr[k + 1] + ms[k + 1]:
                    continue
            if shift < best:
                best = shift
                at = k
        best_c[r, o] = best
        best_p[r, o] = at
    return n_opt


@njit(cache=_CACHE)
def insert_one(p, s, w, r, k, o):  # noqa: ANN001, ANN201
    """Insert ``o`` after position ``k`` of route ``r`` if the route still schedules."""
    buf = w[3]
    n = s[1][r]
    buf[:k] = s[0][r, :k]
    buf[k] = o
    buf[k + 1 : n + 1] = s[0][r, k:n]
    claim(p, s, o, r)
    if commit(p, s, w, r, buf, n + 1):
        return True
    unclaim(p, s, o)
    return False


@njit(cache=_CACHE)
def fill(p, s, w, eps, alpha, noise):  # noqa: ANN001, ANN201
    """Insert options by (prize ** alpha) per extra time until none fits.

    ``noise`` multiplies each (route, option) score by a random factor in [1, 1 + noise].
    Costs of other routes are checked again when picked (a new visit can close them).
    """
    best_c, best_p, factor = w[0], w[1], w[2]
    n_routes = s[1].shape[0]
    n_opt = p[6].shape[0]
    ops = 0
    for r in range(n_routes):
        ops += insert_costs(p, s, w, r)
    draw_noise(factor, noise)
    weight = np.empty(n_opt)
    for o in range(n_opt):
        weight[o] = max(prize_now(p, s, o), 1e-12) ** alpha
    inserted = False
    while True:
        best = -1.0
        br = bo = -1
        for r in range(n_routes):
            for o in range(n_opt):
                if best_c[r, o] < INF:
                    score = weight[o] * factor[r, o] / max(float(best_c[r, o]), eps)
                    if score > best and available(p, s, o):
                        best, br, bo = score, r, o
        ops += n_routes * n_opt
        if br < 0:
            return inserted, ops
        c, k = best_insertion(p, s, br, bo)
        ops += s[1][br]
        if c != best_c[br, bo] or k != best_p[br, bo]:
            best_c[br, bo] = c  # stale: another visit changed it; pick again
            best_p[br, bo] = k
            continue
        if not insert_one(p, s, w, br, k, bo):
            best_c[br, bo] = INF
            continue
        inserted = True
        sp = p[11][bo]
        for j in range(p[21][sp], p[21][sp + 1]):
            q = p[20][j]
            weight[q] = max(prize_now(p, s, q), 1e-12) ** alpha
        ops += s[1][br] + insert_costs(p, s, w, br)
