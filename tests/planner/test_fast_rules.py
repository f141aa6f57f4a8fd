"""The compiled search's rules beyond windows (planner.fastrules on planner.fastwincore):
repeat visits with minimum gaps and decayed value, cell and area caps, on random problems with
windows, unreachable pairs and asymmetric matrices. Every plan passes the exact checker
(planner.plan_check), its objective is the model's, and it is no worse than the Python search
(the oracle) on average."""

from __future__ import annotations

import math

import numpy as np
import pytest

from planner import solver
from planner.model import build_instance, solution_value
from planner.problem import Problem, Stop, TimeWindow, Unit
from planner.search import Search
from planner.search_base import Budget
from planner.solver import SolverOptions, plan_patrols


@pytest.fixture(autouse=True)
def _rules_on_the_compiled_search(monkeypatch: pytest.MonkeyPatch) -> None:
    """The solver keeps these problems on the Python search for now (see
    ``planner.solver._COMPILED_RULES_MAX_OPTIONS``): send them to the compiled one."""
    monkeypatch.setattr(solver, "_COMPILED_RULES_MAX_OPTIONS", 10**6)


def _rules_problem(
    seed: int,
    n: int = 24,
    units: int = 3,
    *,
    repeats: bool = True,
    cell_share: float | None = None,
    area_share: float | None = None,
    mandatory: bool = False,
) -> Problem:
    """Asymmetric seconds, unreachable pairs, weighted windows, repeats, shared cells, areas."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-600, 600, size=(n + 1, 2))
    base = np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(axis=2)) / 5.0
    travel = base * rng.uniform(1.0, 1.25, size=base.shape)
    cut = rng.random(travel.shape) < 0.05
    cut[0, :] = cut[:, 0] = False
    travel[cut] = np.inf
    np.fill_diagonal(travel, 0.0)
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
            )
        )
    return Problem(
        travel_time_s=travel,
        units=tuple(Unit(f"u{k}", 0, 0, 0.0, shift) for k in range(units)),
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
]


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("seed", range(4))
def test_plans_with_repeats_and_caps_pass_the_exact_check(
    name: str, kwargs: dict, seed: int
) -> None:
    problem = _rules_problem(seed, **kwargs)
    inst, _ = build_instance(problem, 0.0, seed)
    assert not inst.simple and solver._windowed_search_fits(inst)
    options = SolverOptions(time_limit_s=60.0, work_s=0.2, seed=seed, engine="search")
    plan = plan_patrols(problem, options)
    assert plan.feasible, plan.check.violations
    assert plan.stats.engine == "search"
    assert plan.total_value > 0


def test_repeats_are_used_and_keep_their_gaps() -> None:
    """One unit, one valuable stop that may be visited three times with a gap: the plan
    visits it more than once, each visit at least dwell + gap after the one before."""
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
    plan = plan_patrols(
        problem, SolverOptions(time_limit_s=60.0, work_s=0.1, seed=1, engine="search")
    )
    assert plan.feasible
    starts = sorted(v.start_s for r in plan.routes for v in r.visits if v.stop == 0)
    assert len(starts) == 3
    assert all(b - a >= 300.0 + 900.0 for a, b in zip(starts, starts[1:], strict=False))
    assert plan.total_value == pytest.approx(100.0 * (1 + 0.5 + 0.25) + 1.0)


def test_the_solver_keeps_rule_problems_on_the_python_search_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(solver, "_COMPILED_RULES_MAX_OPTIONS", 0)
    inst, _ = build_instance(_rules_problem(1), 0.0, 1)
    assert not solver._windowed_search_fits(inst)
    windowed, _ = build_instance(_rules_problem(1, repeats=False), 0.0, 1)
    assert windowed.simple and solver._windowed_search_fits(windowed)


def test_no_worse_than_the_python_search_on_average() -> None:
    compiled, python = [], []
    for seed in range(6):
        problem = _rules_problem(70 + seed, n=30, cell_share=0.06, area_share=0.15)
        options = SolverOptions(time_limit_s=60.0, work_s=0.3, seed=seed, engine="search")
        plan = plan_patrols(problem, options)
        assert plan.feasible
        compiled.append(plan.total_value)
        inst, _ = build_instance(problem, 0.0, seed)
        budget = Budget(0.3 * 800_000.0, math.inf)
        best = Search(inst, np.random.default_rng(seed), budget).run()
        python.append(solution_value(inst, best))
    assert np.mean(compiled) >= np.mean(python) - 1e-9
