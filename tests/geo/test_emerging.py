"""Tests for geo/emerging.py: the cube, space-time Gi*, Mann-Kendall and the emerging classes."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pymannkendall
import pytest
from scipy import sparse

from geo.emerging import (
    EMERGING_CATEGORIES,
    EMERGING_COLUMNS,
    WEEK_S,
    classify_emerging,
    cube_gi_star,
    cube_significance,
    emerging_hotspots,
    mann_kendall,
    space_time_cube,
)
from geo.errors import GeoError
from geo.hotspots import fdr_significance, getis_ord_gi_star, p_values, ring_weights

# A res-9 cell in Chicago's Loop; nothing near it is a pentagon.
LOOP = h3.latlng_to_cell(41.8781, -87.6298, 9)
START_S = 1_451_606_400  # 2016-01-01T00:00:00Z


def disk(radius: int, centre: str = LOOP) -> np.ndarray:
    return np.array(sorted(h3.str_to_int(c) for c in h3.grid_disk(centre, radius)), np.int64)


# --- space_time_cube -----------------------------------------------------------------------


def test_cube_counts_by_hand():
    cells = disk(1)[:3]
    outside = disk(3)[-1]
    day = 86400
    incident_cells = np.array([cells[0], cells[0], cells[2], cells[2], outside, cells[1]])
    incident_times = START_S + np.array(
        [
            0,  # cell 0, first second of step 0
            7 * day - 1,  # cell 0, last second of step 0
            7 * day,  # cell 2, step 1
            21 * day - 1,  # cell 2, last second of step 2
            day,  # outside the study area: ignored
            21 * day,  # at end_s, which is exclusive: ignored
        ]
    )
    counts, edges = space_time_cube(
        cells, incident_cells, incident_times, START_S, START_S + 21 * day
    )
    assert counts.dtype == np.int64
    assert counts.tolist() == [[2, 0, 0], [0, 0, 0], [0, 1, 1]]
    assert edges.tolist() == [START_S + d * day for d in (0, 7, 14, 21)]


def test_cube_steps_align_to_the_end_and_drop_a_partial_first_step():
    cells = disk(0)
    end_s = START_S + 10 * 86400  # one full week plus three leftover days at the start
    times = np.array([START_S, START_S + 3 * 86400, end_s - 1])
    counts, edges = space_time_cube(cells, np.repeat(cells, 3), times, START_S, end_s)
    assert edges.tolist() == [START_S + 3 * 86400, end_s]
    assert counts.tolist() == [[2]]


def test_cube_accepts_no_incidents_and_custom_steps():
    counts, edges = space_time_cube(
        disk(1), np.empty(0, np.int64), np.empty(0, np.int64), 0, 10, bin_s=5
    )
    assert counts.shape == (7, 2) and not counts.any()
    assert edges.tolist() == [0, 5, 10]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"end_s": START_S + 86400}, "shorter than one step"),
        ({"bin_s": 0}, "positive"),
        ({"incident_times": np.array([START_S, START_S])}, "equal length"),
        ({"incident_times": np.array([1.5])}, "integers"),
        ({"start_s": 1.5}, "UTC seconds"),
    ],
)
def test_cube_rejects_bad_input(kwargs, message):
    arguments = {
        "cells": disk(1),
        "incident_cells": disk(1)[:1],
        "incident_times": np.array([START_S]),
        "start_s": START_S,
        "end_s": START_S + 4 * WEEK_S,
    } | kwargs
    with pytest.raises(GeoError, match=message):
        space_time_cube(**arguments)


# --- cube_gi_star and cube_significance ----------------------------------------------------


def space_time_weights(spatial: sparse.csr_matrix, n_bins: int, window: int) -> sparse.csr_matrix:
    """The explicit (cells x steps)^2 weights of the space-time neighbourhood."""
    steps = np.arange(n_bins)
    lag = steps[:, None] - steps[None, :]
    in_window = ((lag >= 0) & (lag <= window)).astype(float)
    # Row i * n_bins + t of the flattened cube is cell i in step t, as in kron(W, L).
    return sparse.kron(spatial, sparse.csr_matrix(in_window), format="csr")


@pytest.mark.parametrize("window", [0, 1, 2, 7])
@pytest.mark.parametrize("decay", [None, (1.0, 0.5)])
def test_cube_gi_star_equals_plain_gi_star_with_explicit_space_time_weights(window, decay):
    rng = np.random.default_rng(window)
    cells = disk(3)
    cube = rng.poisson(1.5, size=(cells.size, 6))
    spatial = ring_weights(cells, k=1, decay=decay)

    z = cube_gi_star(cube, spatial, time_window_bins=window)

    expected = getis_ord_gi_star(cube.ravel(), space_time_weights(spatial, 6, window))
    assert z.shape == cube.shape
    np.testing.assert_allclose(z, expected.reshape(cube.shape), atol=1e-10)


def test_cube_gi_star_is_zero_for_a_constant_cube_and_validates():
    w = ring_weights(disk(1), k=1)
    assert (cube_gi_star(np.full((7, 5), 2), w) == 0).all()
    with pytest.raises(GeoError, match="2-D"):
        cube_gi_star(np.ones(7), w)
    with pytest.raises(GeoError, match="shape"):
        cube_gi_star(np.ones((6, 5)), w)
    with pytest.raises(GeoError, match="time_window_bins"):
        cube_gi_star(np.ones((7, 5)), w, time_window_bins=-1)


def test_cube_significance_corrects_each_step_separately():
    rng = np.random.default_rng(2)
    z = rng.normal(scale=2.0, size=(200, 4))
    hot, cold = cube_significance(z, alpha=0.05)
    significant = np.column_stack(
        [fdr_significance(p_values(z[:, t]), 0.05) for t in range(z.shape[1])]
    )
    np.testing.assert_array_equal(hot, significant & (z > 0))
    np.testing.assert_array_equal(cold, significant & (z < 0))
    raw_hot, raw_cold = cube_significance(z, alpha=0.05, fdr=False)
    np.testing.assert_array_equal(raw_hot | raw_cold, p_values(z) <= 0.05)
    assert raw_hot.sum() >= hot.sum()


# --- mann_kendall --------------------------------------------------------------------------


@pytest.mark.parametrize("n_steps", [3, 10, 37])
def test_mann_kendall_matches_pymannkendall_on_series_with_ties(n_steps):
    rng = np.random.default_rng(n_steps)
    # Small integers give many ties; an added drift gives some real trends.
    series = (
        rng.integers(0, 5, size=(60, n_steps))
        + np.outer(rng.normal(scale=0.2, size=60), np.arange(n_steps)).round()
    )

    result = mann_kendall(series)

    for row, s, z, p in zip(series, result.s, result.z, result.p, strict=True):
        reference = pymannkendall.original_test(row)
        assert s == reference.s
        assert z == pytest.approx(reference.z, abs=1e-12)
        assert p == pytest.approx(reference.p, abs=1e-12)
    assert result.s.dtype == np.int64
    # Three steps cannot reach p < 0.05; longer series must include some real trends.
    assert n_steps < 10 or (result.p < 0.05).any()


def test_mann_kendall_flat_and_short_series():
    result = mann_kendall(np.array([[3.0, 3.0, 3.0], [1.0, 2.0, 3.0]]))
    assert result.s.tolist() == [0, 3]
    assert result.z[0] == 0.0 and result.p[0] == 1.0
    one_step = mann_kendall(np.ones((2, 1)))
    assert one_step.z.tolist() == [0.0, 0.0] and one_step.p.tolist() == [1.0, 1.0]
    s, z, p = mann_kendall(np.arange(10.0)[None, :])  # unpacks like a tuple
    assert s[0] == 45 and z[0] > 0 and p[0] < 0.001
    with pytest.raises(GeoError, match="finite"):
        mann_kendall(np.array([[1.0, np.nan]]))


# --- classify_emerging ---------------------------------------------------------------------

UP = (3.0, 0.001)
DOWN = (-3.0, 0.001)
FLAT = (0.3, 0.76)

# One ten-step series per case: "H" significantly hot, "C" significantly cold, "." neither.
CASES = [
    (".........H", FLAT, "new hot spot"),
    ("......HHHH", UP, "consecutive hot spot"),
    (".HHHHHHHHH", FLAT, "persistent hot spot"),  # 9 of 10 is 90 %: not consecutive
    ("HHHHHHHHHH", UP, "intensifying hot spot"),
    ("HHHHHHHHHH", FLAT, "persistent hot spot"),
    ("HHHH.HHHHH", FLAT, "persistent hot spot"),
    ("HHHHHHHHHH", DOWN, "diminishing hot spot"),
    ("..H..H...H", FLAT, "sporadic hot spot"),
    ("H.HHHHHHH.", FLAT, "sporadic hot spot"),  # 8 of 10, not hot at the end
    ("..HH......", FLAT, "sporadic hot spot"),
    ("HHH.....HH", UP, "sporadic hot spot"),  # hot before the final run
    ("CC.....HHH", UP, "oscillating hot spot"),  # cold history beats consecutive
    ("C........H", FLAT, "oscillating hot spot"),  # cold history beats new
    ("HHHHHHHHH.", FLAT, "historical hot spot"),
    ("HHHHHHHHH.", UP, "historical hot spot"),
    (".........C", FLAT, "new cold spot"),
    ("......CCCC", DOWN, "consecutive cold spot"),
    ("CCCCCCCCCC", DOWN, "intensifying cold spot"),
    ("CCCCCCCCCC", FLAT, "persistent cold spot"),
    ("CCCCCCCCCC", UP, "diminishing cold spot"),
    ("..C..C...C", FLAT, "sporadic cold spot"),
    ("HH.....CCC", DOWN, "oscillating cold spot"),
    ("CCCCCCCCC.", FLAT, "historical cold spot"),
    ("HHHHHHHHHC", DOWN, "oscillating cold spot"),  # the final step picks the side
    ("CCCCCCCCCH", UP, "oscillating hot spot"),
    ("..........", FLAT, "no pattern"),
    ("..........", UP, "no pattern"),
    ("H....C....", FLAT, "no pattern"),
]


def flags(pattern: str) -> tuple[np.ndarray, np.ndarray]:
    letters = np.array(list(pattern))
    return letters == "H", letters == "C"


def test_every_category_has_a_case():
    assert {expected for _, _, expected in CASES} == set(EMERGING_CATEGORIES)


@pytest.mark.parametrize(("pattern", "trend", "expected"), CASES)
def test_classify_emerging_single_series(pattern, trend, expected):
    hot, cold = flags(pattern)
    category = classify_emerging(hot[None, :], cold[None, :], [trend[0]], [trend[1]])
    assert category[0] == expected


def test_classify_emerging_vectorised_over_all_cases_at_once():
    hot, cold = (np.array(arrays) for arrays in zip(*(flags(c[0]) for c in CASES), strict=True))
    trend_z, trend_p = np.array([c[1] for c in CASES]).T
    category = classify_emerging(hot, cold, trend_z, trend_p)
    assert isinstance(category, pd.Categorical)
    assert list(category.categories) == list(EMERGING_CATEGORIES)
    assert list(category) == [c[2] for c in CASES]


def test_classify_emerging_trend_significance_uses_alpha():
    hot, cold = flags("HHHHHHHHHH")
    args = (hot[None, :], cold[None, :], [2.0], [0.03])
    assert classify_emerging(*args, alpha=0.05)[0] == "intensifying hot spot"
    assert classify_emerging(*args, alpha=0.01)[0] == "persistent hot spot"


def test_classify_emerging_rejects_bad_input():
    hot, cold = flags("HH.")
    with pytest.raises(GeoError, match="both|hot and cold"):
        classify_emerging(hot[None, :], hot[None, :], [0.0], [1.0])
    with pytest.raises(GeoError, match="boolean"):
        classify_emerging(hot[None, :].astype(int), cold[None, :], [0.0], [1.0])
    with pytest.raises(GeoError, match="one value per cell"):
        classify_emerging(hot[None, :], cold[None, :], [0.0, 1.0], [1.0, 1.0])
    with pytest.raises(GeoError, match="at least one time step"):
        classify_emerging(np.zeros((1, 0), bool), np.zeros((1, 0), bool), [0.0], [1.0])


# --- emerging_hotspots end to end ----------------------------------------------------------


def test_emerging_hotspots_finds_switched_on_fading_and_switched_off_clusters():
    cells = disk(10)
    n_bins = 20
    weeks = np.arange(n_bins)
    ring = h3.grid_ring(LOOP, 6)
    switched_on, fading, switched_off = ring[0], ring[9], ring[18]  # 9 to 12 rings apart
    rate = np.full((cells.size, n_bins), 0.3)
    for centre, per_week in (
        (switched_on, np.where(weeks >= n_bins // 2, 4.0, 0.0)),
        (fading, np.linspace(8.0, 1.5, n_bins)),
        (switched_off, np.where(weeks < n_bins - 2, 4.0, 0.0)),
    ):
        rate[np.isin(cells, disk(1, centre))] += per_week
    rng = np.random.default_rng(0)
    counts = rng.poisson(rate)
    cell_index, week_index = np.nonzero(counts)
    repeats = counts[cell_index, week_index]
    incident_cells = np.repeat(cells[cell_index], repeats)
    incident_times = (
        START_S
        + np.repeat(week_index, repeats) * WEEK_S
        + rng.integers(0, WEEK_S, size=repeats.sum())
    )

    table = emerging_hotspots(
        cells, incident_cells, incident_times, START_S, START_S + n_bins * WEEK_S
    )

    assert tuple(table.columns) == EMERGING_COLUMNS
    np.testing.assert_array_equal(table["cell"], cells)
    by_cell = table.set_index("cell")

    on = by_cell.loc[h3.str_to_int(switched_on)]
    assert on["category"] == "consecutive hot spot"
    assert on["n_hot_bins"] == n_bins // 2 and on["trend_z"] > 0 and on["trend_p"] < 0.05

    fade = by_cell.loc[h3.str_to_int(fading)]
    assert fade["category"] == "diminishing hot spot"
    assert fade["n_hot_bins"] == n_bins and fade["trend_z"] < 0

    off = by_cell.loc[h3.str_to_int(switched_off)]
    assert off["category"] == "historical hot spot"
    assert off["last_bin_z"] < 1.0

    # Away from the three clusters the background is pattern-free.
    near = np.isin(cells, np.concatenate([disk(2, c) for c in (switched_on, fading, switched_off)]))
    assert (table.loc[~near, "category"] == "no pattern").all()
    assert (table["n_cold_bins"] == 0).all()


def reference_class(hot: list[bool], cold: list[bool], trend_z: float, trend_p: float) -> str:
    """The rules of the module docstring, one series at a time, written out plainly."""
    n = len(hot)
    for side, other, name, rising in ((hot, cold, "hot", 1), (cold, hot, "cold", -1)):
        if other[-1]:
            continue
        count = sum(side)
        mostly = count >= 0.9 * n - 1e-9
        trend = 0 if trend_p > 0.05 else int(np.sign(trend_z)) * rising
        run = 0
        while run < n and side[n - 1 - run]:
            run += 1
        if mostly and side[-1]:
            pattern = {1: "intensifying", -1: "diminishing", 0: "persistent"}[trend]
        elif mostly:
            pattern = "historical"
        elif side[-1] and any(other):
            pattern = "oscillating"
        elif side[-1] and count == 1:
            pattern = "new"
        elif side[-1] and count >= 2 and run == count:
            pattern = "consecutive"
        elif count >= 1 and not any(other):
            pattern = "sporadic"
        else:
            continue
        return f"{pattern} {name} spot"
    return "no pattern"


def test_classify_emerging_matches_a_plain_reference_on_random_series():
    rng = np.random.default_rng(42)
    n_cells, n_bins = 3000, 10
    share_hot = rng.choice([0.0, 0.1, 0.5, 0.9, 0.97], size=(n_cells, 1))
    share_cold = rng.choice([0.0, 0.03, 0.1, 0.5], size=(n_cells, 1))
    draw = rng.random((n_cells, n_bins))
    hot = draw < share_hot
    cold = ~hot & (draw > 1 - share_cold)
    # Some series switch on for good part-way through.
    switch = rng.random(n_cells) < 0.2
    onset = rng.integers(0, n_bins, size=n_cells)
    hot[switch] = np.arange(n_bins) >= onset[switch, None]
    cold[switch] = False
    trend_z = rng.normal(scale=3.0, size=n_cells)
    trend_p = p_values(trend_z)

    category = classify_emerging(hot, cold, trend_z, trend_p)

    expected = [
        reference_class(h.tolist(), c.tolist(), z, p)
        for h, c, z, p in zip(hot, cold, trend_z, trend_p, strict=True)
    ]
    assert list(category) == expected
    assert len(set(expected)) >= 14
