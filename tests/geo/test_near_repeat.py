"""Knox test and near-repeat band choice (geo/near_repeat.py)."""

from __future__ import annotations

import numpy as np
import pytest

from geo.errors import GeoError
from geo.near_repeat import (
    DAY_S,
    KnoxTable,
    choose_bands,
    knox_test,
    project_points,
)


def _three_points(permutations: int, seed: int = 0) -> KnoxTable:
    # A and B are 50 m apart, C is 1 km away: only the pair A-B is ever tabled. Its time
    # difference is 1 day observed; permuting {0, 1, 2} days over the three incidents gives
    # A-B a difference of 1 day in 4 of the 6 orders and 2 days in the other 2.
    return knox_test(
        [0.0, 50.0, 1000.0],
        [0.0, 0.0, 0.0],
        [0, DAY_S, 2 * DAY_S],
        distance_bands_m=(100.0,),
        time_bands_days=(1.0, 2.0),
        permutations=permutations,
        seed=seed,
    )


def test_knox_observed_and_expected_by_hand():
    table = _three_points(permutations=6000, seed=3)
    assert table.observed.tolist() == [[1, 0]]
    assert table.expected[0] == pytest.approx([2 / 3, 1 / 3], abs=0.02)
    assert table.ratio[0, 0] == pytest.approx(1.5, abs=0.05)
    # p = (1 + #permuted >= observed) / (N + 1): about 4/6 for the first band, 1 for the
    # second (every permutation has >= 0 pairs there).
    assert table.p_value[0, 0] == pytest.approx(2 / 3, abs=0.02)
    assert table.p_value[0, 1] == 1.0


def test_knox_is_deterministic_with_a_seed():
    first, again = _three_points(99, seed=7), _three_points(99, seed=7)
    np.testing.assert_array_equal(first.p_value, again.p_value)
    np.testing.assert_array_equal(first.expected, again.expected)
    # the p-value is a whole number of permutations over N + 1
    assert (first.p_value * 100).round(9).tolist() == (first.p_value * 100).round().tolist()


def test_band_edges_belong_to_the_lower_band():
    table = knox_test(
        [0.0, 100.0],
        [0.0, 0.0],
        [0, 7 * DAY_S],
        distance_bands_m=(100.0, 200.0),
        time_bands_days=(7.0, 14.0),
        permutations=1,
    )
    assert table.observed.tolist() == [[1, 0], [0, 0]]
    assert table.distance_labels() == ["0-100 m", "101-200 m"]
    assert table.time_labels() == ["0-7 d", "8-14 d"]


def test_pairs_beyond_the_last_bands_are_not_tabled():
    table = knox_test([0.0, 500.0], [0.0, 0.0], [0, DAY_S], permutations=1)
    assert table.observed.sum() == 0
    frame = table.to_frame()
    assert list(frame.columns) == ["distance", "time", "observed", "expected", "ratio", "p_value"]
    assert len(frame) == 16
    assert "Knox test: 2 incidents" in table.format()


def test_knox_rejects_bad_input():
    with pytest.raises(GeoError, match="equal length"):
        knox_test([0.0], [0.0, 1.0], [0, 1])
    with pytest.raises(GeoError, match="increasing"):
        knox_test([0.0], [0.0], [0], distance_bands_m=(200.0, 100.0))
    with pytest.raises(GeoError, match="permutations"):
        knox_test([0.0], [0.0], [0], permutations=0)


def test_project_points_gives_metres():
    x, y = project_points([-87.70, -87.70, -87.69], [41.90, 41.91, 41.90])
    assert np.hypot(x[1] - x[0], y[1] - y[0]) == pytest.approx(1112, rel=0.01)
    assert np.hypot(x[2] - x[0], y[2] - y[0]) == pytest.approx(829, rel=0.01)


def _poisson_process(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    return (
        rng.uniform(0, 5000, n),
        rng.uniform(0, 5000, n),
        rng.uniform(0, 365 * DAY_S, n).astype(np.int64),
    )


def _near_repeat_process(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    # Each background incident has one follow-up within 60 m and 5 days half the time.
    x, y, t = _poisson_process(rng, n)
    follow = rng.random(n) < 0.5
    m = int(follow.sum())
    return (
        np.concatenate([x, x[follow] + rng.uniform(-40, 40, m)]),
        np.concatenate([y, y[follow] + rng.uniform(-40, 40, m)]),
        np.concatenate([t, t[follow] + rng.integers(0, 5 * DAY_S, m)]),
    )


def test_choose_bands_finds_a_near_repeat_process():
    x, y, t = _near_repeat_process(np.random.default_rng(1), 800)
    table = knox_test(x, y, t, permutations=199, seed=2)
    bands = choose_bands(table, alpha=0.05, min_ratio=1.2)
    assert bands is not None
    assert bands.distance_m == 100.0
    assert bands.time_days == 7.0
    assert bands.ratio > 2
    assert bands.window_s == 7 * DAY_S


def test_choose_bands_finds_nothing_in_a_poisson_process():
    x, y, t = _poisson_process(np.random.default_rng(1), 1200)
    table = knox_test(x, y, t, permutations=199, seed=2)
    assert choose_bands(table, alpha=0.05, min_ratio=1.2) is None


def test_choose_bands_takes_the_largest_block_from_the_origin():
    shape = (3, 3)
    p = np.full(shape, 0.5)
    ratio = np.ones(shape)
    p[:2, :2] = 0.01
    ratio[:2, :2] = 2.0
    p[0, 2], ratio[0, 2] = 0.01, 2.0  # a 1 x 3 block: smaller than the 2 x 2 one
    table = KnoxTable(
        distance_edges_m=(100.0, 200.0, 300.0),
        time_edges_days=(7.0, 14.0, 21.0),
        observed=np.full(shape, 10, dtype=np.int64),
        expected=10 / ratio,
        ratio=ratio,
        p_value=p,
        n_incidents=100,
        permutations=99,
        seed=0,
    )
    bands = choose_bands(table)
    assert bands is not None
    assert (bands.distance_m, bands.time_days) == (200.0, 14.0)
    assert bands.ratio == pytest.approx(2.0)
    assert choose_bands(table, min_ratio=2.5) is None
