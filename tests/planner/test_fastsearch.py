"""The compiled orienteering search (planner.fastsearch, fastmoves, fastcore): its moves keep
every route exact, and its files keep numba's cache honest (planner.fastcache)."""

from __future__ import annotations

import itertools
import math
import sys
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from planner import fastcache, fastcore, fastmoves, fastrules, fastrulesmoves, fastwindows
from planner import fastsearch as fs
from tests.planner.random_problems import kernel_routes


def _instance(seed: int, n_nodes: int = 14, n_routes: int = 3, symmetric: bool = False):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, size=(n_nodes, 2))
    base = np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(axis=2))
    # Asymmetric, and rounded up so the triangle inequality can fail by a tick.
    noise = 1.0 if symmetric else rng.uniform(1.0, 1.3, size=base.shape)
    travel = np.ceil(base * noise).astype(np.int64)
    np.fill_diagonal(travel, 0)
    return {
        **kernel_routes(travel, n_routes),
        "room": rng.integers(250, 450, size=n_routes).astype(np.int64),
        "dwell": rng.integers(0, 10, size=n_nodes - 2).astype(np.int64),
        "prize": rng.integers(1, 20, size=n_nodes - 2).astype(np.float64),
    }


class _State:
    """A problem tuple, a solution and the scratch arrays, with an exact re-check."""

    def __init__(self, inst: dict) -> None:
        self.inst = inst
        names = ("travel", "mode", "start", "end", "room", "node", "dwell", "prize")
        self.p = tuple(inst[name] for name in names)
        n_routes, n_opt = len(inst["mode"]), len(inst["node"])
        self.s = fastcore.solution_arrays(n_routes, n_opt)
        self.w = fastcore.scratch_arrays(n_routes, n_opt)
        fastcore.load(self.p, self.s)

    @property
    def travel(self) -> np.ndarray:
        return self.s[3]

    def value(self) -> float:
        seq, length = self.s[0], self.s[1]
        prize = self.inst["prize"]
        return float(sum(prize[seq[r, : length[r]]].sum() for r in range(len(length))))

    def check(self) -> None:
        inst = self.inst
        seq, length, busy, trav, where = self.s
        seen: list[int] = []
        for r in range(len(length)):
            route = seq[r, : length[r]].tolist()
            seen += route
            nodes = [inst["start"][r], *inst["node"][route], inst["end"][r]]
            travel = sum(int(inst["travel"][0, a, b]) for a, b in itertools.pairwise(nodes))
            assert trav[r] == travel, r
            assert busy[r] == travel + int(inst["dwell"][route].sum()), r
            assert busy[r] <= inst["room"][r], r
            assert all(where[o] == r for o in route)
        assert len(seen) == len(set(seen))
        assert (where >= 0).sum() == len(seen)

    def fill(self, alpha: float = 1.0, noise: float = 0.0) -> bool:
        done, _ = fastcore.fill(self.p, self.s, self.w, 1.0, alpha, noise)
        return bool(done)

    def shuffle(self, rng: np.random.Generator) -> None:
        """Put each route's visits in a random order where that still fits."""
        seq, length = self.s[0], self.s[1]
        for r in range(len(length)):
            kept = seq[r, : length[r]].copy()
            for _ in range(20):
                seq[r, : length[r]] = rng.permutation(kept)
                fastcore.load(self.p, self.s)
                if self.s[2][r] <= self.inst["room"][r]:
                    break
                seq[r, : length[r]] = kept
                fastcore.load(self.p, self.s)


@pytest.mark.parametrize("seed", range(12))
def test_every_move_keeps_routes_exact_and_never_worse(seed: int) -> None:
    inst = _instance(seed)
    st = _State(inst)
    p, s, w = st.p, st.s, st.w
    fastcore.seed_generator(seed)
    st.fill(alpha=1.5, noise=0.3)
    st.check()
    assert s[1].sum() > 3
    st.shuffle(np.random.default_rng(seed))  # so that the moves have work to do
    st.check()
    moved = 0
    for _ in range(6):
        for r in range(len(s[1])):
            for move in (fastmoves.two_opt, fastmoves.or_opt):
                before = st.travel[r]
                done, _ = move(p, s, w, r)
                st.check()
                assert st.travel[r] < before if done else st.travel[r] == before
                moved += done
        before = st.travel.sum()
        done, _ = fastmoves.relocate(p, s, w)
        st.check()
        assert st.travel.sum() < before if done else st.travel.sum() == before
        moved += done
        before = s[2].sum()
        done, _ = fastmoves.exchange(p, s, w)  # swaps and tail exchanges cut busy time
        st.check()
        assert s[2].sum() < before if done else s[2].sum() == before
        moved += done
        value = st.value()
        done, _ = fastmoves.replace_visits(p, s, w)
        st.check()
        assert st.value() > value if done else st.value() == value
        moved += done
        st.fill()
        st.check()
        fastcore.ruin(p, s, w, fastcore.settings())
        st.check()
        st.fill(alpha=0.7, noise=0.3)
        st.check()
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


def test_a_route_put_back_by_the_ruin_is_not_reseeded() -> None:
    # One route from node 0 to node 1: going straight (11 ticks) is longer than the room
    # (10), going through either option node is not. Emptying the route must be undone,
    # and no option may be added on top of the restored visit.
    travel = np.array([[0, 11, 5, 5], [11, 0, 5, 5], [5, 5, 0, 5], [5, 5, 5, 0]])[None]
    one = lambda v: np.array([v], dtype=np.int64)  # noqa: E731
    p = (travel, one(0), one(0), one(1), one(10), np.array([2, 3]), np.array([0, 0]),
         np.array([1.0, 1.0]))  # fmt: skip
    whole_route_ruins = 0
    for seed in range(60):
        s, w = fastcore.solution_arrays(1, 2), fastcore.scratch_arrays(1, 2)
        s[0][0, 0], s[1][0] = 0, 1
        fastcore.load(p, s)
        fastcore.seed_generator(seed)
        fastcore.ruin(p, s, w, fastcore.settings())
        assert s[2][0] <= 10 and s[1][0] == 1
        whole_route_ruins += s[0][0, 0] == 0
    assert whole_route_ruins == 60  # every ruin of this one-visit plan is undone
    routes, _, _ = fs.search(*p, eps=1.0, seed=0, work_ops=1e4, deadline=math.inf,
                             temperature=1.0, patience=100, descend_by_clock=0.9)  # fmt: skip
    assert len(routes[0]) == 1


def test_work_finished_in_a_late_slice_is_not_the_clocks_plan() -> None:
    inst = _instance(3, n_nodes=20, n_routes=2, symmetric=True)
    args = dict(eps=1.0, seed=1, work_ops=5e4, temperature=4.0, patience=10**6,
                descend_by_clock=0.9)  # fmt: skip
    free = fs.search(**inst, deadline=math.inf, **args)
    # One slice does all the work, and the deadline has passed when it returns.
    late = fs.search(**inst, deadline=time.perf_counter(), slices=1, **args)
    assert late == free and late[2] is False


def _kernel_files_called(module: ModuleType) -> set[str]:
    """The other kernel files whose compiled functions ``module``'s code holds, at any depth.

    Kernel functions call one another through names imported from their modules, so the
    numba dispatchers among a module's names are the functions its code can call.
    """
    found: set[str] = set()
    todo = [module]
    while todo:
        current = todo.pop()
        for value in vars(current).values():
            py_func = getattr(value, "py_func", None)  # a numba dispatcher
            if py_func is None or py_func.__module__ == current.__name__:
                continue
            callee = sys.modules[py_func.__module__]
            name = Path(str(callee.__file__)).name
            if name not in found:
                found.add(name)
                todo.append(callee)
    found.discard(Path(str(module.__file__)).name)
    return found


@pytest.mark.parametrize(
    "module",
    [fastcore, fastmoves, fs, fastwindows, fastrules, fastrulesmoves],
    ids=lambda m: m.__name__,
)
def test_kernel_files_record_the_stamps_of_the_files_they_call(module: ModuleType) -> None:
    """numba caches a function under its own file's text only: see planner.fastcache."""
    names = sorted(_kernel_files_called(module))
    expected = {name: fastcache.source_stamp(name) for name in names}
    recorded = getattr(module, "CALLS_INTO", {})
    assert recorded == expected, (
        f"stale compiled code: set {module.__name__}.CALLS_INTO = {expected}"
    )


def test_a_stale_stamp_turns_the_cache_off() -> None:
    with pytest.warns(UserWarning, match="out-of-date stamps of fastcore.py"):
        assert not fastcache.cache_ok("planner.x", {"fastcore.py": "0" * 16})
    assert fastcache.cache_ok("planner.x", {"fastcore.py": fastcache.source_stamp("fastcore.py")})
