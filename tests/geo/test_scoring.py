"""Tests for geo/scoring.py: the count models by hand, the leak test, SEPP recovery on a
simulated grid Hawkes process, the default blend, the guardrail helper, and one check of
the default against the long-run count on real Chicago incidents (July 2018).
"""

from __future__ import annotations

import math
from pathlib import Path

import h3
import numpy as np
import pandas as pd
import pytest

from geo.categories import load_categories
from geo.errors import GeoError
from geo.evaluation import cell_areas_km2, evaluate_forecast
from geo.evaluation import test_counts_from_incidents as counts_from_incidents
from geo.scoring import (
    BLEND_FEATURES,
    DEFAULT_POLICE_INITIATED_WEIGHT,
    MODELS,
    DefaultParams,
    NaiveParams,
    RingSmoothedParams,
    SeppParams,
    WeightedCountParams,
    category_weights_from_table,
    fit_blend,
    fit_sepp,
    score_cells,
)
from geo.scoring_sepp import _RankLayout
from tests.conftest import chicago_incident_frame

REPO = Path(__file__).resolve().parents[2]
DAY = 86_400

# A res-9 cell in Chicago's Loop; its neighbourhood holds no pentagon.
LOOP = h3.latlng_to_cell(41.8781, -87.6298, 9)
CENTRE = h3.str_to_int(LOOP)
# Petals in H3's ring order, so consecutive petals (and the last and first) are adjacent.
PETALS = [h3.str_to_int(c) for c in h3.grid_ring(LOOP, 1)]
FLOWER = np.array([CENTRE, *PETALS], dtype=np.int64)


def incidents(rows: list[tuple[int, int, str | None]]) -> pd.DataFrame:
    """Incidents frame from ``(occurred_at, cell, category)`` rows."""
    frame = pd.DataFrame(rows, columns=["occurred_at", "cell", "category"])
    return frame.astype({"occurred_at": np.int64, "cell": np.int64})


def scores(frame: pd.DataFrame, cells: np.ndarray, as_of_s: int, model: str, **kw) -> np.ndarray:
    return score_cells(frame, cells, as_of_s, model=model, **kw)["score"].to_numpy()


@pytest.fixture(scope="module")
def synthetic() -> tuple[pd.DataFrame, np.ndarray]:
    """A year of seeded incidents on 19 cells (two rings around the Loop), three categories."""
    rng = np.random.default_rng(7)
    cells = np.array(sorted(h3.str_to_int(c) for c in h3.grid_disk(LOOP, 2)), dtype=np.int64)
    rate = rng.gamma(shape=1.0, scale=1.0, size=cells.size)
    n = 3_000
    which = rng.choice(cells.size, size=n, p=rate / rate.sum())
    frame = incidents(
        list(
            zip(
                rng.integers(0, 400 * DAY, size=n).tolist(),
                cells[which].tolist(),
                rng.choice(["BURGLARY", "THEFT", "NARCOTICS"], size=n).tolist(),
                strict=True,
            )
        )
    )
    return frame, cells


# --- naive, weighted count and ring smoothing by hand -----------------------------------------


def test_naive_counts_keep_the_order_of_cells() -> None:
    a, b, c = PETALS[:3]
    frame = incidents([(10, a, "X"), (20, a, "X"), (30, a, "Y"), (40, b, "X")])
    cells = np.array([c, b, a], dtype=np.int64)  # not sorted: the result follows this order
    result = score_cells(frame, cells, as_of_s=100, model="naive")
    assert result.columns.tolist() == ["cell", "score", "long_run"]
    assert result["cell"].tolist() == cells.tolist()
    assert result["cell"].dtype == np.int64
    assert result["score"].tolist() == [0.0, 1.0, 3.0]
    assert result["long_run"].tolist() == result["score"].tolist()


def test_incidents_outside_the_study_cells_are_ignored() -> None:
    frame = incidents([(10, CENTRE, "X"), (10, PETALS[0], "X"), (10, PETALS[0], "X")])
    assert scores(frame, np.array([CENTRE]), 100, "naive").tolist() == [1.0]


def test_weighted_count_half_life() -> None:
    as_of = 1000 * DAY
    cell = np.array([CENTRE])
    params = WeightedCountParams(lookback_days=None, half_life_days=30.0)
    # One half-life ago counts 0.5, two half-lives 0.25, a second ago almost 1.
    for age_days, expected in ((30, 0.5), (60, 0.25), (1 / DAY, 0.5 ** (1 / DAY / 30))):
        frame = incidents([(as_of - round(age_days * DAY), CENTRE, "X")])
        got = scores(frame, cell, as_of, "weighted_count", params=params)
        assert got[0] == pytest.approx(expected, rel=1e-12)


def test_weighted_count_lookback_and_no_decay() -> None:
    as_of = 1000 * DAY
    frame = incidents([(as_of - 10 * DAY, CENTRE, "X"), (as_of - 100 * DAY, CENTRE, "X")])
    params = WeightedCountParams(lookback_days=50.0, half_life_days=None)
    result = score_cells(frame, np.array([CENTRE]), as_of, model="weighted_count", params=params)
    assert result["score"].tolist() == [1.0]
    assert result["weighted_count"].tolist() == [1.0]


def test_category_filter_and_weights() -> None:
    a, b = PETALS[:2]
    frame = incidents(
        [
            (1, a, "BURGLARY"),
            (2, a, "THEFT"),
            (3, b, "THEFT"),
            (4, b, "NARCOTICS"),
            (5, b, "OTHER"),  # not in the weights: weighs 1.0
        ]
    )
    cells = np.array([a, b])
    weights = {"THEFT": 2.0, "NARCOTICS": 0.0, "BURGLARY": 4.0}
    assert scores(frame, cells, 10, "naive", category_weights=weights).tolist() == [6.0, 3.0]
    assert scores(frame, cells, 10, "naive", categories=["BURGLARY"]).tolist() == [1.0, 0.0]
    both = scores(frame, cells, 10, "naive", categories={"THEFT"}, category_weights=weights)
    assert both.tolist() == [2.0, 2.0]


def test_missing_category_weighs_one_and_is_never_selected() -> None:
    frame = incidents([(1, CENTRE, "THEFT"), (2, CENTRE, None)])
    cell = np.array([CENTRE])
    assert scores(frame, cell, 10, "naive").tolist() == [2.0]
    assert scores(frame, cell, 10, "naive", categories=["THEFT"]).tolist() == [1.0]


def test_ring_smoothing_on_a_flower_by_hand() -> None:
    params = RingSmoothedParams(kernel=(1.0, 0.5))
    centre_only = incidents([(1, CENTRE, "X")])
    result = score_cells(centre_only, FLOWER, 10, model="ring_smoothed", params=params)
    # The centre keeps its incident; each petal borrows half of it.
    assert result["score"].tolist() == [1.0] + [0.5] * 6
    assert result["own"].tolist() == [1.0] + [0.0] * 6
    assert result["neighbours"].tolist() == [0.0] + [0.5] * 6

    petal = incidents([(1, PETALS[0], "X"), (2, PETALS[0], "X")])
    got = scores(petal, FLOWER, 10, "ring_smoothed", params=params)
    # Petal 0 touches the centre and petals 1 and 5; petals 2, 3 and 4 are two rings away.
    assert got.tolist() == [1.0, 2.0, 1.0, 0.0, 0.0, 0.0, 1.0]


def test_ring_smoothing_at_the_edge_of_the_study_area() -> None:
    # Petal 0 is outside the study area: its incidents are ignored, not smoothed in.
    study = np.delete(FLOWER, 1)
    frame = incidents([(1, PETALS[0], "X"), (1, PETALS[1], "X")])
    params = RingSmoothedParams(kernel=(1.0, 0.5))
    result = score_cells(frame, study, 10, model="ring_smoothed", params=params)
    by_cell = dict(zip(result["cell"].tolist(), result["score"].tolist(), strict=True))
    assert by_cell[PETALS[1]] == 1.0
    assert by_cell[CENTRE] == 0.5
    assert by_cell[PETALS[5]] == 0.0  # touches only petal 0 and the centre among the flower


def test_ring_smoothing_two_rings_sums_kernel_weights() -> None:
    cells = np.array(sorted(h3.str_to_int(c) for c in h3.grid_disk(LOOP, 2)), dtype=np.int64)
    frame = incidents([(1, CENTRE, "X")])
    params = RingSmoothedParams(kernel=(1.0, 0.5, 0.25))
    result = score_cells(frame, cells, 10, model="ring_smoothed", params=params)
    assert sorted(result["score"].tolist()) == [0.25] * 12 + [0.5] * 6 + [1.0]


# --- the leak test ---------------------------------------------------------------------------


@pytest.mark.parametrize("model", sorted(MODELS))
def test_incidents_at_or_after_as_of_never_change_scores(
    model: str, synthetic: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, cells = synthetic
    as_of = 300 * DAY + 123
    before = frame[frame["occurred_at"] < as_of]
    expected = score_cells(before, cells, as_of, model=model)
    # The full frame holds 100 days of later incidents; add some exactly at as_of too.
    at_as_of = incidents([(as_of, int(c), "BURGLARY") for c in cells[:5]])
    leaked = pd.concat([frame, at_as_of], ignore_index=True)
    got = score_cells(leaked, cells, as_of, model=model)
    pd.testing.assert_frame_equal(got, expected)
    for categories in (["BURGLARY"],):
        pd.testing.assert_frame_equal(
            score_cells(leaked, cells, as_of, model=model, categories=categories),
            score_cells(before, cells, as_of, model=model, categories=categories),
        )


def test_scoring_does_not_modify_its_inputs(synthetic: tuple[pd.DataFrame, np.ndarray]) -> None:
    frame, cells = synthetic
    frame_copy, cells_copy = frame.copy(), cells.copy()
    score_cells(frame, cells, 300 * DAY, categories=["BURGLARY"])
    pd.testing.assert_frame_equal(frame, frame_copy)
    np.testing.assert_array_equal(cells, cells_copy)


# --- the registry and bad input ---------------------------------------------------------------


def test_registry_names_and_default_parameters() -> None:
    assert set(MODELS) == {"naive", "weighted_count", "ring_smoothed", "sepp", "default"}
    kinds = {name: type(params) for name, (_, params) in MODELS.items()}
    assert kinds == {
        "naive": NaiveParams,
        "weighted_count": WeightedCountParams,
        "ring_smoothed": RingSmoothedParams,
        "sepp": SeppParams,
        "default": DefaultParams,
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "kde"}, "model must be one of"),
        ({"model": "naive", "params": SeppParams()}, "params must be a NaiveParams"),
        ({"categories": "BURGLARY"}, "categories must be a collection"),
        ({"categories": []}, "categories must name at least one"),
        ({"category_weights": {"THEFT": -1.0}}, r"category_weights\['THEFT'\]"),
        ({"as_of_s": 1.5}, "as_of_s must be whole UTC seconds"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict, message: str) -> None:
    frame = incidents([(1, CENTRE, "X")])
    arguments = {"incidents": frame, "cells": FLOWER, "as_of_s": 10, **kwargs}
    with pytest.raises(GeoError, match=message):
        score_cells(**arguments)


def test_bad_incidents_and_cells_are_named() -> None:
    frame = incidents([(1, CENTRE, "X")])
    with pytest.raises(GeoError, match="lacks columns"):
        score_cells(frame.drop(columns="category"), FLOWER, 10)
    with pytest.raises(GeoError, match="look like milli"):
        score_cells(frame.assign(occurred_at=np.int64(1_500_000_000_000)), FLOWER, 10)
    with pytest.raises(GeoError, match="must hold int64"):
        score_cells(frame.assign(cell=frame["cell"].astype(str)), FLOWER, 10)
    with pytest.raises(GeoError, match="cells must be distinct"):
        score_cells(frame, np.array([CENTRE, CENTRE]), 10)
    with pytest.raises(GeoError, match="non-empty 1-D"):
        score_cells(frame, np.array([], dtype=np.int64), 10)


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: WeightedCountParams(half_life_days=0.0), "half_life_days"),
        (lambda: RingSmoothedParams(kernel=()), "kernel"),
        (lambda: RingSmoothedParams(kernel=(1.0, -0.5)), "kernel"),
        (lambda: SeppParams(max_iter=0), "max_iter"),
        (lambda: DefaultParams(n_origins=0), "n_origins"),
        (lambda: DefaultParams(l2=math.nan), "l2"),
    ],
)
def test_bad_parameters_are_rejected(factory, message: str) -> None:
    with pytest.raises(GeoError, match=message):
        factory()


# --- guardrail ---------------------------------------------------------------------------------


def test_category_weights_from_the_shipped_table() -> None:
    table = load_categories(REPO / "data" / "categories.csv")
    weights = category_weights_from_table(table)
    assert DEFAULT_POLICE_INITIATED_WEIGHT == 0.0
    assert weights["THEFT"] == 2.0
    assert weights["HOMICIDE"] == 10.0
    police = table.loc[table["police_initiated"], "code"].tolist()
    assert "NARCOTICS" in police and "WEAPONS VIOLATION" in police
    assert all(weights[code] == 0.0 for code in police)
    kept = category_weights_from_table(table, police_initiated_weight=1.0)
    assert kept["NARCOTICS"] == 0.5
    halved = category_weights_from_table(table, police_initiated_weight=0.5)
    assert halved["NARCOTICS"] == 0.25 and halved["THEFT"] == 2.0


def test_category_weights_from_table_rejects_bad_input() -> None:
    table = pd.DataFrame({"code": ["A"], "weight": [1.0], "police_initiated": [True]})
    with pytest.raises(GeoError, match="police_initiated_weight"):
        category_weights_from_table(table, police_initiated_weight=2.0)
    with pytest.raises(GeoError, match="lacks columns"):
        category_weights_from_table(table.drop(columns="police_initiated"))
    with pytest.raises(GeoError, match="finite and >= 0"):
        category_weights_from_table(table.assign(weight=-1.0))


def test_excluded_police_initiated_incidents_do_not_score() -> None:
    table = pd.DataFrame(
        {"code": ["THEFT", "NARCOTICS"], "weight": [1.0, 1.0], "police_initiated": [False, True]}
    )
    frame = incidents(
        [(1, PETALS[0], "NARCOTICS"), (1, PETALS[0], "NARCOTICS"), (1, CENTRE, "THEFT")]
    )
    weights = category_weights_from_table(table)
    got = scores(frame, np.array([CENTRE, PETALS[0]]), 10, "naive", category_weights=weights)
    assert got.tolist() == [1.0, 0.0]


# --- SEPP --------------------------------------------------------------------------------------


def simulate_grid_hawkes(
    rng: np.random.Generator, mu: np.ndarray, theta: float, omega: float, days: float
) -> tuple[np.ndarray, np.ndarray]:
    """Times (days) and cells of a grid Hawkes process on [0, days), by its branching form."""
    counts = rng.poisson(mu * days)
    cells = np.repeat(np.arange(mu.size), counts)
    times = rng.uniform(0.0, days, size=cells.size)
    all_times, all_cells = [times], [cells]
    while times.size:
        children = rng.poisson(theta, size=times.size)
        cells = np.repeat(cells, children)
        times = np.repeat(times, children) + rng.exponential(1.0 / omega, size=cells.size)
        inside = times < days
        times, cells = times[inside], cells[inside]
        all_times.append(times)
        all_cells.append(cells)
    return np.concatenate(all_times), np.concatenate(all_cells)


def test_sepp_recovers_a_simulated_grid_hawkes_process() -> None:
    rng = np.random.default_rng(20150101)
    mu = rng.gamma(shape=2.0, scale=0.02, size=200)  # events per day
    days = 1_000.0
    times, cells = simulate_grid_hawkes(rng, mu, theta=0.4, omega=0.3, days=days)
    assert times.size > 10_000
    start = 1_500_000_000
    fit = fit_sepp(
        start + np.floor(times * DAY).astype(np.int64), cells, 200, start, start + int(days * DAY)
    )
    assert fit.converged
    assert fit.theta == pytest.approx(0.4, abs=0.05)
    assert fit.omega == pytest.approx(0.3, rel=0.2)
    assert np.corrcoef(fit.mu, mu)[0, 1] > 0.9
    # Background plus triggered incidents add up to the observed count, give or take edges.
    assert fit.mu.sum() * days / (1 - fit.theta) == pytest.approx(times.size, rel=0.05)


def test_sepp_finds_little_triggering_in_a_poisson_process() -> None:
    rng = np.random.default_rng(5)
    mu = rng.gamma(shape=2.0, scale=0.02, size=200)
    times, cells = simulate_grid_hawkes(rng, mu, theta=0.0, omega=0.3, days=1_000.0)
    fit = fit_sepp(np.floor(times * DAY).astype(np.int64), cells, 200, 0, 1_000 * DAY)
    assert fit.theta < 0.03
    assert np.corrcoef(fit.mu, mu)[0, 1] > 0.9


def test_sepp_kernel_sums_by_hand() -> None:
    # One cell: times 0, 1, 1, 3 days; omega = ln 2 so exp(-omega * d) = 2 ** -d.
    layout = _RankLayout.build(np.array([0.0, 1.0, 1.0, 3.0]), np.zeros(4, dtype=np.int64))
    excitation, lag = layout.kernel_sums(math.log(2.0))
    # Strictly earlier only: the two incidents at t = 1 do not excite each other.
    np.testing.assert_allclose(excitation, [0.0, 0.5, 0.5, 0.125 + 0.25 + 0.25])
    np.testing.assert_allclose(lag, [0.0, 0.5, 0.5, 3 * 0.125 + 2 * 0.25 + 2 * 0.25])


def test_sepp_kernel_sums_across_cells_of_different_sizes() -> None:
    rng = np.random.default_rng(3)
    times = rng.uniform(0, 50, size=60).round(1)  # rounding makes ties
    cells = rng.integers(0, 7, size=60)
    layout = _RankLayout.build(times, cells)
    excitation, lag = layout.kernel_sums(0.7)
    # Brute force, in the layout's own order.
    for j in range(times.size):
        same = (layout.cell == layout.cell[j]) & (layout.time < layout.time[j])
        gaps = layout.time[j] - layout.time[same]
        assert excitation[j] == pytest.approx(np.exp(-0.7 * gaps).sum(), abs=1e-12)
        assert lag[j] == pytest.approx((gaps * np.exp(-0.7 * gaps)).sum(), abs=1e-12)


def test_sepp_rejects_times_outside_the_window() -> None:
    with pytest.raises(GeoError, match="window"):
        fit_sepp(np.array([5, 20]), np.array([0, 0]), 1, 0, 10)
    with pytest.raises(GeoError, match="cells_index"):
        fit_sepp(np.array([5]), np.array([3]), 2, 0, 10)
    empty = fit_sepp(np.array([], dtype=np.int64), np.array([], dtype=np.int64), 3, 0, 10)
    assert empty.theta == 0.0 and empty.mu.tolist() == [0.0, 0.0, 0.0]


def test_sepp_score_is_background_plus_triggered(
    synthetic: tuple[pd.DataFrame, np.ndarray],
) -> None:
    frame, cells = synthetic
    as_of = 300 * DAY
    result = score_cells(frame, cells, as_of, model="sepp")
    assert result.columns.tolist() == ["cell", "score", "background", "triggered"]
    np.testing.assert_allclose(result["score"], result["background"] + result["triggered"])
    assert (result["background"] >= 0).all() and (result["triggered"] >= 0).all()
    # Background scales with the horizon.
    longer = score_cells(frame, cells, as_of, model="sepp", params=SeppParams(horizon_days=60.0))
    np.testing.assert_allclose(longer["background"], 2 * result["background"])


# --- the default blend -------------------------------------------------------------------------


def test_default_columns_combine_to_the_score(synthetic: tuple[pd.DataFrame, np.ndarray]) -> None:
    frame, cells = synthetic
    result = score_cells(frame, cells, 300 * DAY, categories=["BURGLARY"])
    assert result.columns.tolist() == ["cell", "score", "intercept", *BLEND_FEATURES]
    log_score = result[["intercept", *BLEND_FEATURES]].sum(axis=1)
    np.testing.assert_allclose(result["score"], np.exp(log_score), rtol=1e-12)
    # Without a category filter there is nothing to pool with.
    plain = score_cells(frame, cells, 300 * DAY)
    assert (plain["pooled"] == 0).all()


def test_fit_blend_uses_training_origins_before_as_of(
    synthetic: tuple[pd.DataFrame, np.ndarray],
) -> None:
    frame, cells = synthetic
    as_of = 300 * DAY
    fit = fit_blend(frame, cells, as_of, categories=["BURGLARY"])
    assert set(fit.coefficients) == set(BLEND_FEATURES)
    assert all(c >= 0 for c in fit.coefficients.values())
    # Six origins a month apart, the latest target window ending at as_of.
    assert fit.origins_s == tuple(as_of - 30 * DAY - j * 30 * DAY for j in range(6))
    assert 0 < fit.naive_auc20 < 1
    if fit.uses_blend:
        assert fit.blend_auc20 >= fit.naive_auc20


def test_default_falls_back_to_the_long_run_count_with_little_history() -> None:
    a, b, c = PETALS[:3]
    frame = incidents([(DAY, a, "X"), (2 * DAY, a, "X"), (3 * DAY, b, "X")])
    fit = fit_blend(frame, FLOWER, 20 * DAY)
    assert not fit.uses_blend and fit.origins_s == ()
    assert fit.coefficients["long_run"] == 1.0
    assert sum(fit.coefficients.values()) == 1.0
    got = scores(frame, FLOWER, 20 * DAY, "default")
    naive = scores(frame, FLOWER, 20 * DAY, "naive")
    # Same ranking as the long-run count.
    np.testing.assert_array_equal(
        np.argsort(-got, kind="stable"), np.argsort(-naive, kind="stable")
    )


# --- real data ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chicago() -> pd.DataFrame:
    """Located Chicago incidents of 2017-07 .. 2018-07 as an incidents frame (res 9)."""
    return chicago_incident_frame("2017-07", "2018-07")


def test_default_is_not_worse_than_naive_on_chicago_july_2018(chicago: pd.DataFrame) -> None:
    as_of = int(pd.Timestamp("2018-07-01", tz="America/Chicago").timestamp())
    end = int(pd.Timestamp("2018-08-01", tz="America/Chicago").timestamp())
    study = np.unique(chicago["cell"].to_numpy())
    areas = cell_areas_km2(study)
    measured = {}
    for group, categories in (("all", None), ("burglary", ("BURGLARY",))):
        selected = chicago if categories is None else chicago[chicago["category"].isin(categories)]
        when = selected["occurred_at"]
        test_cells = selected.loc[(when >= as_of) & (when < end), "cell"].to_numpy()
        test_counts, outside = counts_from_incidents(study, test_cells)
        for model in ("naive", "default"):
            result = score_cells(chicago, study, as_of, model=model, categories=categories)
            evaluation = evaluate_forecast(result["score"].to_numpy(), test_counts, areas, outside)
            measured[(group, model)] = evaluation.auc20
    print("AUC20 July 2018 (study = cells seen 2017-07..2018-07):", measured)
    for group in ("all", "burglary"):
        assert measured[(group, "default")] >= measured[(group, "naive")] - 0.01
        assert 0.2 < measured[(group, "naive")] < 0.5
