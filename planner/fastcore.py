"""The compiled search's data and route edits (numba): arrays, costs, insertion and ruin.

The bottom layer of the compiled orienteering search (``planner.fastsearch`` runs it;
``planner.fastmoves`` holds its local-search moves): the problem, solution and scratch
tuples every kernel function takes (documented below), a route's cost, the bookkeeping of
inserting and removing visits, greedy insertion by value per extra time (:func:`fill`) and
the ruin step (:func:`ruin`). It calls no kernel function of another file, so numba's own
cache check (the text of this file) covers it; see ``planner.fastcache`` for the others.
"""

from __future__ import annotations

import numpy as np
from numba import njit

INF = np.int64(2**50)
# Ruin settings, shared with the numpy search in planner.search. Cumulative probabilities
# of the ruin kinds: random visits, related (nearby) visits, a segment of every route; the
# rest empties one route and reseeds it.
RUIN_RANDOM, RUIN_RELATED, RUIN_SEGMENT = 0.3, 0.6, 0.75
# Largest share of the visits one ruin step removes.
RUIN_MAX_SHARE = 0.35


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
def rebuild(p, s, r):  # noqa: ANN001, ANN202
    """Re-measure route ``r`` after its sequence changed and claim its options."""
    seq, length, busy, trav, where = s
    trav[r], busy[r] = route_cost(p, s, r)
    for k in range(length[r]):
        where[seq[r, k]] = r


@njit(cache=True)
def locate(p, s, locs, r):  # noqa: ANN001, ANN202
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
def insert_at(s, r, k, o):  # noqa: ANN001, ANN202
    seq, length = s[0], s[1]
    for q in range(length[r], k, -1):
        seq[r, q] = seq[r, q - 1]
    seq[r, k] = o
    length[r] += 1


@njit(cache=True)
def remove_at(s, r, k):  # noqa: ANN001, ANN202
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
    locate(p, s, locs, r)
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
        insert_at(s, br, best_p[br, bo], bo)
        busy[br] += c
        trav[br] += c - dwell[bo]
        where[bo] = br
        inserted = True
        ops += _insert_costs(p, s, w, br)


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
    insert_at(s, r, 0, pick)
    rebuild(p, s, r)
