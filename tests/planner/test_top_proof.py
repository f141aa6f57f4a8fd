"""The benchmark's exact TOP proofs (bench/top_proofs.py): the visit-set enumeration behind
``top_bench.EXACT_OPTIMA``."""

from __future__ import annotations

import importlib.util
import itertools
import math
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def _bench(name: str = "top_proofs"):
    spec = importlib.util.spec_from_file_location(name, REPO / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_visit_sets_match_brute_force_on_random_points() -> None:
    bench = _bench()
    rng = np.random.default_rng(7)
    xy = rng.uniform(0, 10, size=(9, 2))
    exact = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2))
    customers = list(range(1, 8))
    tmax = 22.0
    lengths = bench.fitting_visit_sets(exact, customers, tmax, max_states=10**6)
    assert lengths is not None
    expected: dict[int, float] = {}
    for size in range(1, len(customers) + 1):
        for order in itertools.permutations(range(len(customers)), size):
            path = [0, *(customers[i] for i in order), 8]
            length = sum(exact[a, b] for a, b in itertools.pairwise(path))
            if length <= tmax:
                mask = sum(1 << i for i in order)
                expected[mask] = min(expected.get(mask, math.inf), length)
    assert 0 < len(expected) < 2 ** len(customers) - 1  # the budget cuts some sets
    assert set(lengths) == set(expected)
    for mask, length in expected.items():
        assert lengths[mask] == pytest.approx(length, abs=1e-9)


def test_too_many_states_gives_up() -> None:
    bench = _bench()
    exact = np.zeros((12, 12))  # every one of the 1,023 sets fits
    assert bench.fitting_visit_sets(exact, list(range(1, 11)), 1.0, max_states=100) is None
    assert len(bench.fitting_visit_sets(exact, list(range(1, 11)), 1.0, 10**5)) == 1023


@pytest.mark.parametrize(("name", "optimum"), [("p2.3.h", 165), ("p1.3.h", 70)])
def test_enumeration_proves_the_unreachable_table_values(
    name: str, optimum: int, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _bench()
    assert _bench("top_bench").EXACT_OPTIMA[name][0] == optimum
    assert bench.prove_by_enumeration(name, time_limit_s=60.0, workers=1)
    out = capsys.readouterr().out
    assert f"exact optimum = {optimum}\n" in out
