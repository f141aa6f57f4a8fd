"""The compiled windowed search (planner.fastwindows): its max-shift insertion test is exact,
its routes pass the exact checker, it finds brute-force optima of tiny problems, and it is no
worse than the Python search (the oracle) on value."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from planner import fastwindows as fw
from planner import solver
from planner.model import build_instance, solution_value
from planner.problem import Problem, Stop, TimeWindow, Unit
from planner.search import Search
from planner.search_base import Budget
from planner.solver import SolverOptions, plan_patrols
from tests.planner.random_problems import kernel_routes, seeded_travel

ARGS = dict(eps=1.0, temperature=4.0, descend_by_clock=0.9, deadline=math.inf)


def _arrays(seed: int, n_opt: int = 12, n_routes: int = 2, unreachable: bool = True) -> dict:
    """Kernel arrays: asymmetric ticks, tight windows, dwell, some pairs unreachable."""
    rng = np.random.default_rng(seed)
    n_nodes = n_opt + 2
    xy = rng.uniform(0, 100, size=(n_nodes, 2))
    base = np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(axis=2))
    travel = np.ceil(base * rng.uniform(1.0, 1.3, size=base.shape)).astype(np.int64)
    if unreachable:
        cut = rng.random(travel.shape) < 0.1
        cut[:, 0] = cut[0, :] = cut[:, -1] = cut[-1, :] = False
        travel[cut] = fw.INF // 4
    np.fill_diagonal(travel, 0)
    open_ = rng.integers(0, 250, size=n_opt)
    return {
        **kernel_routes(travel, n_routes),
        "ready": rng.integers(0, 20, size=n_routes).astype(np.int64),
        "due": rng.integers(250, 400, size=n_routes).astype(np.int64),
        "dwell": rng.integers(0, 15, size=n_opt).astype(np.int64),
        "open_": open_.astype(np.int64),
        "close": (open_ + rng.integers(0, 80, size=n_opt)).astype(np.int64),
        "prize": rng.integers(1, 20, size=n_opt).astype(np.float64),
        # Two options of some stops: one stop, two windows.
        "stop": np.array([o // 2 if o < 4 else o for o in range(n_opt)], dtype=np.int64),
    }


def _problem_tuple(a: dict) -> tuple:
    names = ("travel", "mode", "start", "end", "ready", "due", "node", "dwell", "open_")
    return (*(a[k] for k in names), a["close"], a["prize"], a["stop"])


def _end_time(a: dict, r: int, seq: list[int]) -> int | None:
    """The model's schedule, in plain Python: the route's end, or None when it does not fit."""
    t = int(a["ready"][r])
    here = int(a["start"][r])
    for o in seq:
        arrive = t + int(a["travel"][0, here, a["node"][o]])
        begin = max(arrive, int(a["open_"][o]))
        if begin > a["close"][o]:
            return None
        t = begin + int(a["dwell"][o])
        here = int(a["node"][o])
    t += int(a["travel"][0, here, a["end"][r]])
    return t if t <= a["due"][r] else None


def _search(a: dict, seed: int, work_ops: float = 3e5) -> tuple[list[list[int]], int, bool]:
    return fw.search(**a, seed=seed, work_ops=work_ops, patience=300, **ARGS)


@pytest.mark.parametrize("seed", range(8))
def test_the_max_shift_test_agrees_with_a_full_schedule(seed: int) -> None:
    a = _arrays(seed)
    p = _problem_tuple(a)
    routes, _, _ = _search(a, seed, work_ops=2e4)
    s = fw.solution_arrays(2, len(a["node"]), int(a["stop"].max()) + 1)
    for r, route in enumerate(routes):
        s[0][r, : len(route)] = route
        s[1][r] = len(route)
    fw.load(p, s)
    for r, route in enumerate(routes):
        assert _end_time(a, r, route) == s[7][r, len(route) + 1]
        rows = (s[4][r], s[5][r], s[6][r], s[7][r], s[8][r])
        for o in range(len(a["node"])):
            for k in range(len(route) + 1):
                trial = [*route[:k], o, *route[k:]]
                fits = fw.insert_shift(p, r, o, len(route), rows, k) < fw.INF
                assert fits == (_end_time(a, r, trial) is not None), (r, o, k)


def _brute_force(a: dict) -> float:
    """Best value over every pair of disjoint feasible routes (stops used at most once)."""
    n_opt = len(a["node"])
    fits: list[list[tuple[frozenset[int], float]]] = [[], []]
    for size in range(0, n_opt + 1):
        for seq in itertools.permutations(range(n_opt), size):
            stops = [int(a["stop"][o]) for o in seq]
            if len(set(stops)) < len(stops):
                continue
            for r in range(2):
                if _end_time(a, r, list(seq)) is not None:
                    fits[r].append((frozenset(stops), float(a["prize"][list(seq)].sum())))
    best = 0.0
    for stops_a, value_a in set(fits[0]):
        for stops_b, value_b in set(fits[1]):
            if not stops_a & stops_b:
                best = max(best, value_a + value_b)
    return best


@pytest.mark.parametrize("seed", range(6))
def test_search_finds_the_brute_force_optimum(seed: int) -> None:
    a = _arrays(200 + seed, n_opt=7)
    a["due"] = np.array([160, 200], dtype=np.int64)
    routes, iterations, timed_out = _search(a, seed)
    assert not timed_out and iterations > 0
    for r, route in enumerate(routes):
        assert _end_time(a, r, route) is not None
    stops = [int(a["stop"][o]) for route in routes for o in route]
    assert len(stops) == len(set(stops))
    assert sum(a["prize"][o] for route in routes for o in route) == _brute_force(a)


def test_same_seed_same_routes() -> None:
    a = _arrays(5, n_opt=30, n_routes=3)
    first = _search(a, 3)
    assert first == _search(a, 3)


def _windowed_problem(seed: int, n: int = 25, units: int = 2) -> Problem:
    """Asymmetric seconds, unreachable pairs, tight and weighted windows, dwell."""
    rng, travel = seeded_travel(seed, n)
    shift = 3000.0
    stops = []
    for i in range(1, n + 1):
        lo = float(rng.uniform(0, shift * 0.7))
        hi = lo + float(rng.uniform(0, 400))
        windows = (TimeWindow(lo, hi),)
        if i % 4 == 0:  # a second, heavier window later on
            windows = (TimeWindow(lo, hi, 1.0), TimeWindow(hi + 1.0, hi + 500.0, 2.0))
        stops.append(
            Stop(
                i, float(rng.integers(1, 10)), dwell_s=float(rng.uniform(30, 180)), windows=windows
            )
        )
    return Problem(
        travel_time_s=travel,
        units=tuple(Unit(f"u{k}", 0, 0, 0.0, shift) for k in range(units)),
        stops=tuple(stops),
    )


@pytest.mark.parametrize("seed", range(6))
def test_plans_of_windowed_problems_pass_the_exact_check(seed: int) -> None:
    problem = _windowed_problem(seed)
    inst, _ = build_instance(problem, 0.0, seed)
    assert solver._windowed_search_fits(inst)
    plan = plan_patrols(problem, SolverOptions(time_limit_s=30.0, work_s=0.2, seed=seed))
    assert plan.feasible
    assert plan.stats.engine == "search"
    assert plan.total_value > 0


def test_no_worse_than_the_python_search_on_average() -> None:
    compiled, python = [], []
    for seed in range(6):
        problem = _windowed_problem(50 + seed, n=30, units=2)
        options = SolverOptions(time_limit_s=30.0, work_s=0.3, seed=seed, engine="search")
        compiled.append(plan_patrols(problem, options).total_value)
        inst, _ = build_instance(problem, 0.0, seed)
        budget = Budget(0.3 * 800_000.0, math.inf)
        best = Search(inst, np.random.default_rng(seed), budget).run()
        python.append(solution_value(inst, best))
    assert np.mean(compiled) >= np.mean(python) - 1e-9
