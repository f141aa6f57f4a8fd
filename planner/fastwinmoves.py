"""The windowed compiled search's local-search moves (numba), and the descent that runs them.

Moves within a route (2-opt and or-opt of segments of 1-3 visits, each route re-scheduled in
full), between routes (relocation of a visit, swaps of visits and exchanges of route tails)
and of the value (a visited option for a more valuable one), on the tuples of
``planner.fastwincore`` (documented there), each returning (changed, ops); :func:`improve`
runs them with greedy insertion until none helps. A move between two routes is checked
against the repeat gaps once both routes are re-scheduled, and undone when it breaks one.
``planner.fastrules`` drives the search.
"""

from __future__ import annotations

from numba import njit

from planner.fastcache import cache_ok
from planner.fastcore import insert_at, remove_at
from planner.fastwincore import (
    INF,
    P_NEED,
    P_SIZES,
    P_SMAX,
    Z_MAXV,
    caps_fit,
    end_of,
    fill,
    kit,
    rebuild,
    rebuild_pair,
    schedule,
    shift_at,
)

# The kernel files this one calls into, with their stamps (planner.fastcache).
CALLS_INTO = {"fastcore.py": "c5beae06d13ca23a", "fastwincore.py": "aab4adf197e7e31f"}
_CACHE = cache_ok(__name__, CALLS_INTO)
# Passes of the intra-route moves per call: each pass re-schedules O(n^2) candidates.
_INTRA_PASSES = 8


@njit(cache=_CACHE)
def _better_route(end_a, trav_a, end_b, trav_b):  # noqa: ANN001, ANN202
    """Whether a route ending at end_a after trav_a of travel beats one at (end_b, trav_b)."""
    return end_a < end_b or (end_a == end_b and trav_a < trav_b)


@njit(cache=_CACHE)
def intra(p, s, w, r):  # noqa: ANN001, ANN201
    """2-opt and or-opt (segments of 1-3) within route ``r`` while one ends it earlier."""
    tv, md, sa, ea, rd, du, nd, dw, op, cl, sp, sm, ne, tk, vr_, vb_, ls = kit(p, s)
    seq = s[0]
    buf, rows = w[3], w[5]
    improved = False
    ops = 0
    for _ in range(_INTRA_PASSES):
        n = s[1][r]
        if n < 2:
            return improved, ops
        best_end, best_trav = end_of(s, r), s[9][r]
        kind = bi = bj = bt = -1
        # 2-opt: reverse seq[i .. j].
        for i in range(n - 1):
            for j in range(i + 1, n):
                for k in range(n):
                    buf[k] = seq[r, k]
                for k in range(i, j + 1):
                    buf[k] = seq[r, i + j - k]
                trav = schedule(tv, md, sa, ea, rd, du, nd, dw, op, cl, sp, sm, ne,
                                tk, vr_, vb_, ls, r, buf, n, rows)  # fmt: skip
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
                    trav = schedule(tv, md, sa, ea, rd, du, nd, dw, op, cl, sp, sm, ne,
                                    tk, vr_, vb_, ls, r, buf, n, rows)  # fmt: skip
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
    tv, md, sa, ea, rd, du, nd, dw, op, cl, sp, sm, ne, tk, vr_, vb_, ls = kit(p, s)
    seq, length = s[0], s[1]
    buf, rows = w[3], w[5]
    travel, mode, node, dwell, opn, cls, stop = p[0], p[1], p[6], p[7], p[8], p[9], p[11]
    smax, need, taken, vr, vb = p[P_SMAX], p[P_NEED], s[3], s[10], s[11]
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
                if schedule(tv, md, sa, ea, rd, du, nd, dw, op, cl, sp, sm, ne,
                            tk, vr_, vb_, ls, a, buf, na - 1, rows) < 0:  # fmt: skip
                    continue
                gain = end_of(s, a) - rows[3][na]
                ops += na
                o = seq[a, i]
                for b in range(n_routes):
                    if b == a:
                        continue
                    rows_b = (s[4][b], s[5][b], s[6][b], s[7][b], s[8][b])
                    for k in range(length[b] + 1):
                        c, _ = shift_at(travel, mode[b], node, dwell, opn, cls, stop, smax,
                                        need, taken, vr, vb, b, o, rows_b, k)  # fmt: skip
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
        if not rebuild_pair(p, s, ba, bb):  # a repeat clashes on its new route: undo
            remove_at(s, bb, bk)
            insert_at(s, ba, bi, o)
            rebuild_pair(p, s, ba, bb)
            return improved, ops
        improved = True
    return improved, ops


@njit(cache=_CACHE)
def exchange(p, s, w):  # noqa: ANN001, ANN201
    """Swap two visits between routes, or their tails (2-opt*), where both end earlier."""
    tv, md, sa, ea, rd, du, nd, dw, op, cl, sp, sm, ne, tk, vr_, vb_, ls = kit(p, s)
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
                before = end_of(s, a) + end_of(s, b)
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
                        if schedule(tv, md, sa, ea, rd, du, nd, dw, op, cl, sp, sm, ne,
                                    tk, vr_, vb_, ls, a, buf_a, na, rows_a) < 0:  # fmt: skip
                            continue
                        if schedule(tv, md, sa, ea, rd, du, nd, dw, op, cl, sp, sm, ne,
                                    tk, vr_, vb_, ls, b, buf_b, nb, rows_b) < 0:  # fmt: skip
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
                        if schedule(tv, md, sa, ea, rd, du, nd, dw, op, cl, sp, sm, ne,
                                    tk, vr_, vb_, ls, a, buf_a, la, rows_a) < 0:  # fmt: skip
                            continue
                        if schedule(tv, md, sa, ea, rd, du, nd, dw, op, cl, sp, sm, ne,
                                    tk, vr_, vb_, ls, b, buf_b, lb, rows_b) < 0:  # fmt: skip
                            continue
                        saving = before - rows_a[3][la + 1] - rows_b[3][lb + 1]
                        if saving > best:
                            best, kind, ba, bb, bi, bj = saving, 1, a, b, ka, kb
        if kind < 0:
            return improved, ops
        if not _apply_exchange(p, s, w, kind, ba, bb, bi, bj):
            _apply_exchange(p, s, w, kind, ba, bb, bi, bj)  # undone: it is its own inverse
            return improved, ops
        improved = True
    return improved, ops


@njit(cache=_CACHE)
def _apply_exchange(p, s, w, kind, a, b, i, j):  # noqa: ANN001, ANN202
    """Swap visit i of a with visit j of b (kind 0), or their tails from i and j (kind 1);
    False when a repeat visit then clashes with another of its stop."""
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
    return rebuild_pair(p, s, a, b)


@njit(cache=_CACHE)
def replace_visits(p, s, w):  # noqa: ANN001, ANN201
    """Swap a visited option for a more valuable one (another window of it, or an unvisited
    stop) where it fits in the route without the old visit."""
    tv, md, sa, ea, rd, du, nd, dw, op, cl, sp, sm, ne, tk, vr_, vb_, ls = kit(p, s)
    prize, stop, cls, travel, node, opn = p[10], p[11], p[9], p[0], p[6], p[8]
    seq, length, taken, dwell, smax, need, vr, vb = (
        s[0],
        s[1],
        s[3],
        p[7],
        p[P_SMAX],
        p[P_NEED],
        s[10],
        s[11],
    )
    repeats = p[P_SIZES][Z_MAXV] > 1
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
                if repeats and taken[stop[old]] != 1:
                    continue  # values of stops visited more than once are not swapped
                q = 0
                for j in range(n):
                    if j != k:
                        buf[q] = seq[r, j]
                        q += 1
                if schedule(tv, md, sa, ea, rd, du, nd, dw, op, cl, sp, sm, ne,
                            tk, vr_, vb_, ls, r, buf, n - 1, rows) < 0:  # fmt: skip
                    continue
                ops += n
                for o in range(n_opt):
                    if prize[o] - prize[old] <= best_gain:
                        continue
                    if taken[stop[o]] > 0 and stop[o] != stop[old]:
                        continue
                    if not caps_fit(p, s, stop[o], dwell[o], stop[old], dwell[old]):
                        continue
                    for t in range(n):
                        if rows[3][t] + rows[1][t] > cls[o]:
                            break  # later positions leave later still
                        c, _ = shift_at(travel, p[1][r], node, dwell, opn, cls, stop, smax,
                                        need, taken, vr, vb, r, o, rows, t)  # fmt: skip
                        if c < INF:
                            best_gain = prize[o] - prize[old]
                            bp, bo, b_target = k, o, t
                            break
                    ops += n
            if bo < 0:
                break
            old = seq[r, bp]
            remove_at(s, r, bp)
            insert_at(s, r, b_target, bo)
            if not rebuild(p, s, r):  # a repeat's wait pushed a later visit too far: undo
                remove_at(s, r, b_target)
                insert_at(s, r, bp, old)
                rebuild(p, s, r)
                break
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
