"""The compiled orienteering search (planner.fastsearch): its moves keep every route exact."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from planner import fastsearch as fs


def _instance(seed: int, n_nodes: int = 14, n_routes: int = 3, symmetric: bool = False):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, size=(n_nodes, 2))
    base = np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(axis=2))
    # Asymmetric, and rounded up so the triangle inequality can fail by a tick.
    noise = 1.0 if symmetric else rng.uniform(1.0, 1.3, size=base.shape)
    travel = np.ceil(base * noise).astype(np.int64)
    np.fill_diagonal(travel, 0)
    return {
        "travel": travel[None],
        "mode": np.zeros(n_routes, dtype=np.int64),
        "start": np.zeros(n_routes, dtype=np.int64),
        "end": np.full(n_routes, n_nodes - 1, dtype=np.int64),
        "room": rng.integers(250, 450, size=n_routes).astype(np.int64),
        "node": np.arange(1, n_nodes - 1, dtype=np.int64),
        "dwell": rng.integers(0, 10, size=n_nodes - 2).astype(np.int64),
        "prize": rng.integers(1, 20, size=n_nodes - 2).astype(np.float64),
    }


class _State:
    """A solution with the work arrays the moves need."""

    def __init__(self, inst: dict) -> None:
        self.inst = inst
        n_routes, n_opt = len(inst["mode"]), len(inst["node"])
        width = n_opt + 1
        self.seq = np.zeros((n_routes, width), dtype=np.int64)
        self.length = np.zeros(n_routes, dtype=np.int64)
        self.busy = np.zeros(n_routes, dtype=np.int64)
        self.trav = np.zeros(n_routes, dtype=np.int64)
        self.where = np.full(n_opt, -1, dtype=np.int64)
        self.best_c = np.zeros((n_routes, n_opt), dtype=np.int64)
        self.best_p = np.zeros((n_routes, n_opt), dtype=np.int64)
        self.factor = np.ones((n_routes, n_opt))
        self.loc = np.zeros(width + 2, dtype=np.int64)
        self.fwd = np.zeros(width + 2, dtype=np.int64)
        self.bwd = np.zeros(width + 2, dtype=np.int64)
        self.pre = [np.zeros(width + 1, dtype=np.int64) for _ in range(4)]
        fs.load(*self.geometry(), self.seq, self.length, inst["node"], inst["dwell"], self.busy,
                self.trav, self.where)  # fmt: skip

    def geometry(self) -> tuple:
        i = self.inst
        return i["travel"], i["mode"], i["start"], i["end"]

    def value(self) -> float:
        return float(sum(self.inst["prize"][self.seq[r, : self.length[r]]].sum()
                         for r in range(len(self.length))))  # fmt: skip

    def check(self) -> None:
        inst = self.inst
        seen: list[int] = []
        for r in range(len(self.length)):
            route = self.seq[r, : self.length[r]].tolist()
            seen += route
            nodes = [inst["start"][r], *inst["node"][route], inst["end"][r]]
            travel = sum(int(inst["travel"][0, a, b]) for a, b in itertools.pairwise(nodes))
            assert self.trav[r] == travel, r
            assert self.busy[r] == travel + int(inst["dwell"][route].sum()), r
            assert self.busy[r] <= inst["room"][r], r
            assert all(self.where[o] == r for o in route)
        assert len(seen) == len(set(seen))
        assert (self.where >= 0).sum() == len(seen)

    def fill(self, alpha: float = 1.0, noise: float = 0.0) -> bool:
        i = self.inst
        done, _ = fs.fill(*self.geometry(), i["room"], self.seq, self.length, self.busy,
                          self.trav, self.where, i["node"], i["dwell"], i["prize"], 1.0, alpha,
                          noise, self.best_c, self.best_p, self.factor)  # fmt: skip
        return bool(done)


@pytest.mark.parametrize("seed", range(12))
def test_every_move_keeps_routes_exact_and_never_worse(seed: int) -> None:
    inst = _instance(seed)
    s = _State(inst)
    fs.seed_generator(seed)
    s.fill(alpha=1.5, noise=0.3)
    s.check()
    assert s.length.sum() > 3
    # Shuffle each route (where it still fits) so that the moves have work to do.
    rng = np.random.default_rng(seed)
    for r in range(len(s.length)):
        kept = s.seq[r, : s.length[r]].copy()
        for _ in range(20):
            s.seq[r, : s.length[r]] = rng.permutation(kept)
            fs.load(*s.geometry(), s.seq, s.length, inst["node"], inst["dwell"], s.busy,
                    s.trav, s.where)  # fmt: skip
            if s.busy[r] <= inst["room"][r]:
                break
            s.seq[r, : s.length[r]] = kept
            fs.load(*s.geometry(), s.seq, s.length, inst["node"], inst["dwell"], s.busy,
                    s.trav, s.where)  # fmt: skip
    s.check()
    moved = 0
    for _ in range(6):
        for r in range(len(s.length)):
            before = s.trav[r]
            done, _ = fs.two_opt(*s.geometry(), s.seq, s.length, s.busy, s.trav, inst["node"],
                                 r, s.loc, s.fwd, s.bwd)  # fmt: skip
            s.check()
            assert s.trav[r] < before if done else s.trav[r] == before
            moved += done
            before = s.trav[r]
            done, _ = fs.or_opt(*s.geometry(), s.seq, s.length, s.busy, s.trav, inst["node"], r,
                                s.loc)  # fmt: skip
            s.check()
            assert s.trav[r] < before if done else s.trav[r] == before
            moved += done
        before = s.trav.sum()
        done, _ = fs.relocate(*s.geometry(), inst["room"], s.seq, s.length, s.busy, s.trav,
                              s.where, inst["node"], inst["dwell"])  # fmt: skip
        s.check()
        assert s.trav.sum() < before if done else s.trav.sum() == before
        moved += done
        before = s.trav.sum()
        done, _ = fs.exchange(*s.geometry(), inst["room"], s.seq, s.length, s.busy, s.trav,
                              s.where, inst["node"], inst["dwell"], *s.pre)  # fmt: skip
        s.check()
        # Swaps and tail exchanges cut travel plus dwell (busy time) together.
        moved += done
        value = s.value()
        done, _ = fs.replace_visits(*s.geometry(), inst["room"], s.seq, s.length, s.busy,
                                    s.trav, s.where, inst["node"], inst["dwell"],
                                    inst["prize"], s.best_c, s.best_p)  # fmt: skip
        s.check()
        assert s.value() > value if done else s.value() == value
        moved += done
        s.fill()
        s.check()
        drop = np.zeros(s.seq.shape, dtype=bool)
        keep = np.zeros(s.seq.shape[1], dtype=np.int64)
        fs.ruin(*s.geometry(), inst["room"], s.seq, s.length, s.busy, s.trav, s.where,
                inst["node"], inst["dwell"], inst["prize"], drop, keep)  # fmt: skip
        s.check()
        s.fill(alpha=0.7, noise=0.3)
        s.check()
    assert moved > 0


def _brute_force(inst: dict) -> float:
    """Best total prize by trying every assignment of options to routes and every order."""
    n_opt, n_routes = len(inst["node"]), len(inst["mode"])
    travel = inst["travel"][0]

    def fits(r: int, options: tuple[int, ...]) -> bool:
        for order in itertools.permutations(options):
            nodes = [inst["start"][r], *inst["node"][list(order)], inst["end"][r]]
            busy = sum(travel[a, b] for a, b in itertools.pairwise(nodes))
            if busy + inst["dwell"][list(order)].sum() <= inst["room"][r]:
                return True
        return False

    best = 0.0
    for assign in itertools.product(range(-1, n_routes), repeat=n_opt):
        total = sum(inst["prize"][o] for o in range(n_opt) if assign[o] >= 0)
        if total <= best:
            continue
        groups = [tuple(o for o in range(n_opt) if assign[o] == r) for r in range(n_routes)]
        if all(fits(r, g) for r, g in enumerate(groups)):
            best = total
    return best


@pytest.mark.parametrize("seed", range(6))
def test_search_finds_the_brute_force_optimum(seed: int) -> None:
    inst = _instance(100 + seed, n_nodes=9, n_routes=2)
    inst["room"] = np.array([120, 160], dtype=np.int64)
    routes, iterations, timed_out = fs.search(
        **inst, eps=1.0, seed=seed, work_ops=3e5, deadline=math.inf, temperature=4.0,
        patience=200, descend_by_clock=0.9,
    )  # fmt: skip
    assert not timed_out and iterations > 0
    value = sum(inst["prize"][o] for route in routes for o in route)
    assert value == _brute_force(inst)


def test_same_seed_same_routes_and_the_clock_stops_it() -> None:
    inst = _instance(7, n_nodes=40, n_routes=3, symmetric=True)
    args = dict(eps=1.0, work_ops=2e6, temperature=4.0, patience=10**6, descend_by_clock=0.9)
    first = fs.search(**inst, seed=3, deadline=math.inf, **args)
    again = fs.search(**inst, seed=3, deadline=math.inf, **args)
    other = fs.search(**inst, seed=4, deadline=math.inf, **args)
    assert first == again
    assert first[0] != other[0] or first[1] != other[1]
    routes, _, timed_out = fs.search(**inst, seed=3, deadline=0.0, **args)
    assert timed_out
    for r, route in enumerate(routes):  # what the clock left is still a valid plan
        nodes = [0, *inst["node"][route], 39]
        busy = sum(inst["travel"][0, a, b] for a, b in itertools.pairwise(nodes))
        assert busy + inst["dwell"][route].sum() <= inst["room"][r]
