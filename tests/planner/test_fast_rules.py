"""The compiled search for every rule (planner.fastrules, driven by planner.fastrulesrun):
repeat visits with minimum gaps and decayed value, rest breaks, cell and area caps and stops
locked to a unit, on random problems with windows, unreachable pairs and asymmetric
matrices. Every plan passes the exact checker (planner.plan_check), the same seed gives the
same plan, and its value is within a few per cent of the Python search (the oracle)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from planner import solver
from planner.model import build_instance, solution_value
from planner.problem import Problem, RestBreak, Stop, TimeWindow, Unit
from planner.search import Search
from planner.search_base import Budget
from planner.solver import SolverOptions, plan_patrols
from tests.planner.random_problems import seeded_travel


def _rules_problem(
    seed: int,
    n: int = 24,
    units: int = 3,
    *,
    repeats: bool = True,
    cell_share: float | None = None,
    area_share: float | None = None,
    mandatory: bool = False,
    breaks: bool = False,
    locks: bool = False,
) -> Problem:
    """Asymmetric seconds, unreachable pairs, weighted windows and the rules asked for."""
    rng, travel = seeded_travel(seed, n)
    shift = 3600.0
    stops = []
    for i in range(1, n + 1):
        lo = float(rng.uniform(0, shift * 0.5))
        windows = (TimeWindow(lo, lo + 600.0, 1.0), TimeWindow(lo + 601.0, lo + 1800.0, 2.0))
        if i % 3 == 0:
            windows = ()
        stops.append(
            Stop(
                i,
                float(rng.integers(1, 10)),
                dwell_s=float(rng.uniform(60, 240)),
                windows=windows,
                max_visits=int(rng.integers(1, 4)) if repeats else 1,
                min_gap_s=float(rng.uniform(0, 600)),
                cell=f"c{i % (n // 2)}",  # two stops per cell: they share its cap
                area=f"a{i % 4}" if i % 5 else None,
                mandatory=mandatory and i == 1,
                unit=f"u{i % units}" if locks and i % 4 == 0 else None,
            )
        )
    rest = RestBreak(1200.0, 2400.0, 300.0) if breaks else None
    return Problem(
        travel_time_s=travel,
        units=tuple(
            Unit(f"u{k}", 0, 0, 0.0, shift, rest_break=rest if k != 1 else None)
            for k in range(units)
        ),
        stops=tuple(stops),
        repeat_decay=0.6,
        max_cell_share=cell_share,
        max_area_share=area_share,
    )


CASES = [
    ("repeats", {}),
    ("cell caps", {"repeats": False, "cell_share": 0.04}),
    ("repeats and caps", {"cell_share": 0.05, "area_share": 0.12}),
    ("mandatory", {"mandatory": True, "cell_share": 0.08}),
    ("breaks", {"repeats": False, "breaks": True}),
    ("locks", {"repeats": False, "locks": True}),
    ("every rule", {"cell_share": 0.06, "area_share": 0.15, "breaks": True, "locks": True}),
]


def _options(seed: int, work_s: float = 0.2) -> SolverOptions:
    return SolverOptions(
        time_limit_s=60.0, work_s=work_s, seed=seed, engine="search", value_jitter=0.0
    )


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("seed", range(3))
def test_plans_with_every_rule_pass_the_exact_check(name: str, kwargs: dict, seed: int) -> None:
    problem = _rules_problem(seed, **kwargs)
    inst, _ = build_instance(problem, 0.0, seed)
    assert not inst.simple and not solver._windowed_search_fits(inst)
    plan = plan_patrols(problem, _options(seed))
    assert plan.feasible, plan.check.violations
    assert plan.stats.engine == "search"
    assert plan.total_value > 0
    if kwargs.get("locks"):
        for route in plan.routes:
            for visit in route.visits:
                owner = problem.stops[visit.stop].unit
                assert owner in (None, route.unit_id)
    if kwargs.get("breaks"):
        with_break = {u.id for u in problem.units if u.rest_break is not None}
        for route in plan.routes:
            if route.unit_id in with_break and route.visits:
                assert route.rest_break is not None


def test_the_solver_never_runs_the_python_search(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rule problems go to the compiled search: the Python search is only the tests' oracle."""

    def refuse(self: Search) -> None:
        raise AssertionError("the Python search ran")

    monkeypatch.setattr(Search, "run", refuse)
    monkeypatch.setattr(Search, "fill", refuse)
    problem = _rules_problem(5, cell_share=0.06, breaks=True, locks=True)
    assert plan_patrols(problem, _options(5)).feasible
    # Split by station (two stations, decompose_above 10): parts, then the whole-plan pass.
    stations = _rules_problem(6, n=24, units=4, cell_share=0.06)
    units = tuple(
        Unit(u.id, k % 2 * 5, k % 2 * 5, 0.0, 3600.0) for k, u in enumerate(stations.units)
    )
    split = Problem(
        travel_time_s=stations.travel_time_s,
        units=units,
        stops=stations.stops,
        repeat_decay=0.6,
        max_cell_share=0.06,
    )
    options = SolverOptions(time_limit_s=60.0, work_s=0.3, seed=6, engine="search",
                            decompose_above=10)  # fmt: skip
    plan = plan_patrols(split, options)
    assert plan.feasible, plan.check.violations
    assert plan.stats.subproblems == 2


def test_repeats_are_used_and_keep_their_gaps() -> None:
    """One valuable stop that may be visited three times with a gap: the plan visits it three
    times, each start at least dwell + gap after the one before, value decayed by rank."""
    travel = np.array([[0.0, 60.0, 60.0], [60.0, 0.0, 60.0], [60.0, 60.0, 0.0]])
    stops = (
        Stop(1, 100.0, dwell_s=300.0, max_visits=3, min_gap_s=900.0),
        Stop(2, 1.0, dwell_s=300.0),
    )
    problem = Problem(
        travel_time_s=travel,
        units=(Unit("u", 0, 0, 0.0, 3600.0), Unit("v", 0, 0, 0.0, 3600.0)),
        stops=stops,
        repeat_decay=0.5,
    )
    plan = plan_patrols(problem, _options(1, 0.1))
    assert plan.feasible
    starts = sorted(v.start_s for r in plan.routes for v in r.visits if v.stop == 0)
    assert len(starts) == 3
    assert all(b - a >= 300.0 + 900.0 for a, b in zip(starts, starts[1:], strict=False))
    assert plan.total_value == pytest.approx(100.0 * (1 + 0.5 + 0.25) + 1.0)


def test_a_break_waits_for_its_earliest_start_and_the_visits_fit_around_it() -> None:
    """A unit whose break must start between 20 and 25 minutes: the plan takes it there and
    still visits both stops (one window before the break, one after)."""
    travel = np.array([[0.0, 60.0, 60.0], [60.0, 0.0, 60.0], [60.0, 60.0, 0.0]])
    stops = (
        Stop(1, 5.0, dwell_s=300.0, windows=(TimeWindow(0.0, 600.0),)),
        Stop(2, 5.0, dwell_s=300.0, windows=(TimeWindow(2400.0, 3000.0),)),
    )
    problem = Problem(
        travel_time_s=travel,
        units=(Unit("u", 0, 0, 0.0, 4200.0, rest_break=RestBreak(1200.0, 1500.0, 900.0)),),
        stops=stops,
    )
    plan = plan_patrols(problem, _options(2, 0.1))
    assert plan.feasible, plan.check.violations
    (route,) = plan.routes
    assert [v.stop for v in route.visits] == [0, 1]
    assert route.rest_break is not None
    assert 1200.0 <= route.rest_break.start_s <= 1500.0


def test_same_seed_same_plan() -> None:
    problem = _rules_problem(9, cell_share=0.06, breaks=True, locks=True)
    first = plan_patrols(problem, _options(3))
    again = plan_patrols(problem, _options(3))
    assert [[(v.stop, v.start_s) for v in r.visits] for r in first.routes] == [
        [(v.stop, v.start_s) for v in r.visits] for r in again.routes
    ]


def test_within_a_few_per_cent_of_the_python_search() -> None:
    compiled, python = [], []
    for seed in range(5):
        problem = _rules_problem(70 + seed, n=30, cell_share=0.06, area_share=0.15,
                                 breaks=seed % 2 == 1, locks=seed % 2 == 0)  # fmt: skip
        plan = plan_patrols(problem, _options(seed, 0.3))
        assert plan.feasible, plan.check.violations
        compiled.append(plan.total_value)
        inst, _ = build_instance(problem, 0.0, seed)
        budget = Budget(0.3 * 800_000.0, math.inf)
        best = Search(inst, np.random.default_rng(seed), budget).run()
        python.append(solution_value(inst, best))
    assert np.mean(compiled) >= 0.97 * np.mean(python)


def test_two_workers_keep_the_breaks_where_their_search_put_them() -> None:
    """The forked worker's plan comes back with its break positions: the plan is feasible
    (repeat gaps included) and the same seed gives the same plan."""
    problem = _rules_problem(11, cell_share=0.06, breaks=True)
    options = SolverOptions(time_limit_s=60.0, work_s=0.2, seed=4, engine="search",
                            value_jitter=0.0, workers=2)  # fmt: skip
    first = plan_patrols(problem, options)
    again = plan_patrols(problem, options)
    assert first.feasible, first.check.violations
    assert [[(v.stop, v.start_s) for v in r.visits] for r in first.routes] == [
        [(v.stop, v.start_s) for v in r.visits] for r in again.routes
    ]
