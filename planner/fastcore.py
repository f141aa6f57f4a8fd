"""The compiled search's data and route edits (numba): arrays, costs, insertion and ruin.

The bottom layer of the compiled orienteering search (``planner.fastsearch`` runs it;
``planner.fastmoves`` holds its local-search moves): the problem, solution and scratch
tuples every kernel function takes (documented below), a route's cost, the bookkeeping of
inserting and removing visits, greedy insertion by value per extra time (:func:`fill`) and
the ruin step (:func:`ruin`). It also holds what the three forms of the search
(``planner.fastsearch``, ``planner.fastwindows``, ``planner.fastrules``) share: the search
settings and the slots of the vectors that carry them and the state between slices, the
choice of what a ruin step removes (:func:`ruin_marks`), the annealing decision
(:func:`accept`) and small sequence edits. It calls no kernel function of another file, so
numba's own cache check (the text of this file) covers it; see ``planner.fastcache`` for the
others.
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
# Annealing settings, shared with the numpy search in planner.search. Share of the work after
# which the temperature is zero; the search then goes back to the best plan found and spends
# the rest descending from it.
COOL_BY = 0.8
# Rounds without a new best before the search returns to the best solution.
RESTART_AFTER = 150

# Slots of the settings vector the kernels take (``cfg``, see :func:`settings`): numbers
# passed in rather than read as globals, so no cached kernel holds stale copies of them.
C_COOL_BY, C_RESTART, C_RANDOM, C_RELATED, C_SEGMENT, C_MAX_SHARE = range(6)
# Slots of the state vector that carries a search between slices.
S_OPS, S_ITER, S_SINCE, S_DESCEND, S_T0, S_STARTED, S_DONE, S_FORCE = range(8)
STATE_SIZE = 8
# Slots of the annealing loop's values: the current solution's value and travel, the best's.
V_CUR, V_CUR_TRAVEL, V_BEST, V_BEST_TRAVEL = range(4)


def settings() -> np.ndarray:
    """The settings vector (slots ``C_*``) of the search settings above."""
    return np.array(
        [COOL_BY, RESTART_AFTER, RUIN_RANDOM, RUIN_RELATED, RUIN_SEGMENT, RUIN_MAX_SHARE]
    )


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
    return insertion_tables(n_routes, n_opt) + (
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
def insertion_tables(n_routes, n_opt):  # noqa: ANN001, ANN201
    """The first three arrays of every form's scratch tuple, greedy insertion's: per (route,
    option) the cheapest extra time and its position, and the noise factors."""
    return (
        np.zeros((n_routes, n_opt), dtype=np.int64),
        np.zeros((n_routes, n_opt), dtype=np.int64),
        np.ones((n_routes, n_opt)),
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
    draw_noise(factor, noise)
    weight = value_weights(prize, alpha)
    slack = room - busy
    inserted = False
    while True:
        br, bo = pick(best_c, slack, weight, factor, eps)
        ops += n_routes * n_opt
        if br < 0:
            return inserted, ops
        c = best_c[br, bo]
        insert_at(s, br, best_p[br, bo], bo)
        busy[br] += c
        trav[br] += c - dwell[bo]
        where[bo] = br
        best_c[:, bo] = INF  # visited: no other route takes it
        slack[br] = room[br] - busy[br]
        inserted = True
        ops += _insert_costs(p, s, w, br)


@njit(cache=True)
def ruin(p, s, w, cfg):  # noqa: ANN001, ANN201
    """Remove a random part of the solution (random, related, segment or whole route)."""
    travel, mode, _, _, room, node, _, _ = p
    seq, length, busy, trav, where = s
    drop, keep = w[9], w[10]
    n_routes = length.shape[0]
    total, reseed = ruin_marks(travel, mode, node, seq, length, drop, cfg)
    if total == 0:
        return 0
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
    if start_route(s, r, weights):
        rebuild(p, s, r)


# --------------------------------------------------------------------------------------
# What the three forms of the search share (planner.fastwindows and planner.fastrules too)


@njit(cache=True)
def draw_noise(factor, noise):  # noqa: ANN001, ANN201
    """Fill ``factor`` (routes, options) with random factors in [1, 1 + noise] (no noise: 1)."""
    for r in range(factor.shape[0]):
        for o in range(factor.shape[1]):
            factor[r, o] = 1.0 + noise * np.random.random() if noise > 0 else 1.0


@njit(cache=True)
def value_weights(prize, alpha):  # noqa: ANN001, ANN201
    """Greedy insertion's weight of each option: its prize (at least 1e-12) ** ``alpha``."""
    weight = np.empty(prize.shape[0])
    for o in range(prize.shape[0]):
        weight[o] = max(prize[o], 1e-12) ** alpha
    return weight


@njit(cache=True)
def pick(best_c, limit, weight, factor, eps):  # noqa: ANN001, ANN201
    """Greedy insertion's choice: the (route, option) of the highest ``weight`` times
    ``factor`` per extra time (``best_c``, at least ``eps``) among those whose extra time is
    within the route's ``limit``; (-1, -1) when none is."""
    best = -1.0
    br = bo = -1
    for r in range(best_c.shape[0]):
        for o in range(best_c.shape[1]):
            if best_c[r, o] <= limit[r]:
                score = weight[o] * factor[r, o] / max(float(best_c[r, o]), eps)
                if score > best:
                    best, br, bo = score, r, o
    return br, bo


@njit(cache=True)
def draw(weights):  # noqa: ANN001, ANN201
    """An index drawn with chance ~ ``weights``; -1 (and no draw) when they are all zero."""
    total = weights.sum()
    if total <= 0:
        return -1
    point = np.random.random() * total
    acc = 0.0
    pick = -1
    for o in range(weights.shape[0]):
        if weights[o] > 0:
            acc += weights[o]
            pick = o
            if acc > point:
                break
    return pick


@njit(cache=True)
def start_route(s, r, weights):  # noqa: ANN001, ANN201
    """Put an option drawn with chance ~ ``weights`` first in route ``r``'s sequence (the
    caller re-measures the route); whether one had any weight."""
    pick = draw(weights)
    if pick < 0:
        return False
    insert_at(s, r, 0, pick)
    return True


@njit(cache=True)
def ruin_marks(travel, mode, node, seq, length, drop, cfg):  # noqa: ANN001, ANN201, PLR0913
    """Mark in ``drop`` (routes, width) what one ruin step removes: random visits, related
    (nearby) ones, a segment of every route or all of one route, by the chances in ``cfg``.

    Returns (visits, the route emptied whole or -1); no visits: (0, -1), nothing drawn. An
    option at node -1 (a break of the rules form) is the farthest from any other.
    """
    n_routes = length.shape[0]
    total = length.sum()
    if total == 0:
        return 0, -1
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
            dist[i] = INF if v < 0 or centre < 0 else travel[m, centre, v] + travel[m, v, centre]
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
    return total, reseed


@njit(cache=True, inline="always")
def without(row, n, k, out):  # noqa: ANN001, ANN201
    """Write ``row[:n]`` without its entry ``k`` into ``out``."""
    q = 0
    for j in range(n):
        if j != k:
            out[q] = row[j]
            q += 1


@njit(cache=True)
def exchange_sequences(seq, length, keep, kind, a, b, i, j):  # noqa: ANN001, ANN201, PLR0913
    """Swap visit i of route a with visit j of b (kind 0), or their tails from i and j (kind
    1), in the sequences (``keep``: scratch as wide as a route); re-measure both after."""
    if kind == 0:
        seq[a, i], seq[b, j] = seq[b, j], seq[a, i]
        return
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


@njit(cache=True)
def or_opt_into(row, n, i, size, t, out):  # noqa: ANN001, ANN201
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


@njit(cache=True, inline="always")
def better_route(end_a, trav_a, end_b, trav_b):  # noqa: ANN001, ANN201
    """Whether a route ending at end_a after trav_a of travel beats one at (end_b, trav_b)."""
    return end_a < end_b or (end_a == end_b and trav_a < trav_b)


@njit(cache=True, inline="always")
def tally(result, changed, ops):  # noqa: ANN001, ANN201
    """Add a move's (changed, ops) to the running ones."""
    return changed | result[0], ops + result[1]


@njit(cache=True)
def copy_solution(src, dst):  # noqa: ANN001, ANN201
    """Copy solution ``src``'s sequences into ``dst`` (re-measure it with its form's load)."""
    seq_from, len_from, seq_to, len_to = src[0], src[1], dst[0], dst[1]
    len_to[:] = len_from
    for r in range(len_from.shape[0]):
        seq_to[r, : len_from[r]] = seq_from[r, : len_from[r]]


@njit(cache=True, inline="always")
def better(value_a, travel_a, value_b, travel_b):  # noqa: ANN001, ANN201
    """Whether (value, -travel) a beats b (values compared to 1e-9)."""
    if value_a > value_b + 1e-9:
        return True
    return abs(value_a - value_b) <= 1e-9 and travel_a < travel_b


@njit(cache=True)
def begin(state, temperature, value, visits):  # noqa: ANN001, ANN201
    """Start the annealing from the first plan (its ``value`` over ``visits``): the starting
    temperature is ``temperature`` times its value per visit."""
    state[S_T0] = temperature * max(value, 1.0) / max(1, visits)
    state[S_STARTED] = 1


@njit(cache=True)
def force_descent(state, vals):  # noqa: ANN001, ANN201
    """Whether the final descent the caller asked for (``S_FORCE``) starts now: then the best
    solution becomes the current one (``vals`` follows; the caller copies it)."""
    if state[S_FORCE] == 1 and state[S_DESCEND] == 0:
        state[S_DESCEND] = 1
        vals[V_CUR], vals[V_CUR_TRAVEL] = vals[V_BEST], vals[V_BEST_TRAVEL]
        return True
    return False


@njit(cache=True)
def accept(state, vals, value, travel, cfg, patience, ops_total):  # noqa: ANN001, ANN201
    """The annealing loop's verdict on a candidate of ``value`` and ``travel``.

    Cooling to zero at ``cfg[C_COOL_BY]`` of ``ops_total`` (then the best solution becomes
    the current one and the rest descends from it), acceptance by the temperature, a new
    best, convergence after ``patience`` rounds without one (``S_DONE``) and a return to the
    best every ``cfg[C_RESTART]`` of them. Updates ``state`` and ``vals`` (slots ``V_*``);
    returns (current, record): what becomes the current solution (0 it stays, 1 the
    candidate, 2 the best one), and whether the candidate is the new best. The caller copies
    the solutions, the current one first.
    """
    current = 0
    progress = min(1.0, state[S_OPS] / max(ops_total, 1.0))
    if progress >= cfg[C_COOL_BY] and state[S_DESCEND] == 0:
        state[S_DESCEND] = 1  # the last part descends from the best plan found
        current = 2
        vals[V_CUR], vals[V_CUR_TRAVEL] = vals[V_BEST], vals[V_BEST_TRAVEL]
    cool = 1.0 - progress / cfg[C_COOL_BY]
    temp = 1e-9 if state[S_DESCEND] == 1 else state[S_T0] * cool + 1e-9
    chance = np.exp(min(0.0, value - vals[V_CUR]) / temp)
    if better(value, travel, vals[V_CUR], vals[V_CUR_TRAVEL]) or np.random.random() < chance:
        current = 1
        vals[V_CUR], vals[V_CUR_TRAVEL] = value, travel
    record = better(value, travel, vals[V_BEST], vals[V_BEST_TRAVEL])
    if record:
        vals[V_BEST], vals[V_BEST_TRAVEL] = value, travel
        state[S_SINCE] = 0
    else:
        state[S_SINCE] += 1
    if state[S_SINCE] >= patience:
        state[S_DONE] = 1  # converged: more rounds are unlikely to pay
    elif state[S_SINCE] > 0 and state[S_SINCE] % cfg[C_RESTART] == 0:
        current = 2
        vals[V_CUR], vals[V_CUR_TRAVEL] = vals[V_BEST], vals[V_BEST_TRAVEL]
    return current, record


@njit(cache=True)
def settle(cand, cur, best, current, record):  # noqa: ANN001, ANN201
    """Copy the sequences as :func:`accept` decided (the caller re-measures what changed)."""
    if current == 1:
        copy_solution(cand, cur)
    elif current == 2:
        copy_solution(best, cur)
    if record:
        copy_solution(cand, best)
