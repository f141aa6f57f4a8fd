"""Tests for geo/backtest.py: origins, the harness, summaries, the chart and the guardrail.

Most cases run on a small seeded synthetic city (37 res-9 cells around Chicago's Loop, three
categories, a few hot cells) where the expected values can be worked out by hand; one test
runs naive against constant on real Chicago incidents.
"""

from __future__ import annotations

import calendar

import h3
import numpy as np
import pandas as pd
import pytest

from geo.backtest import (
    AREA_FRACTION_GRID,
    IN_GROUP_COLUMN,
    BacktestResult,
    Forecaster,
    Origin,
    area_share_of_top,
    constant_forecaster,
    format_table,
    model_forecaster,
    monthly_origins,
    naive_count_forecaster,
    plot_coverage,
    run_backtest,
    summarise,
    summarise_concentration,
    weekly_origins,
)
from geo.errors import GeoError
from geo.evaluation import cell_areas_km2

# Imported under another name: pytest would otherwise collect it as a test.
from geo.evaluation import test_counts_from_incidents as counts_from_incidents
from geo.scoring import WeightedCountParams, score_cells
from tests.conftest import chicago_incident_frame

CHICAGO = "America/Chicago"
HOUR_S = 3600
DAY_S = 86_400
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# A res-9 cell in Chicago's Loop; nothing near it is a pentagon.
LOOP = h3.latlng_to_cell(41.8781, -87.6298, 9)
CATEGORIES = ("BURGLARY", "THEFT", "BATTERY")


def utc_s(year: int, month: int, day: int, hour: int = 0) -> int:
    """UTC seconds of a UTC date and hour written out by hand."""
    return calendar.timegm((year, month, day, hour, 0, 0))


def disk(radius: int, centre: str = LOOP) -> np.ndarray:
    return np.array(sorted(h3.str_to_int(c) for c in h3.grid_disk(centre, radius)), np.int64)


@pytest.fixture(scope="module")
def city() -> tuple[pd.DataFrame, np.ndarray]:
    """Seeded incidents over 2017-01 .. 2018-07 in 37 cells, five of them hot."""
    rng = np.random.default_rng(seed=20180731)
    cells = disk(3)
    weight = np.ones(cells.size)
    weight[[3, 11, 20, 28, 33]] = [30, 20, 12, 8, 5]
    n = 6_000
    start, end = utc_s(2017, 1, 1), utc_s(2018, 8, 1, 5)
    frame = pd.DataFrame(
        {
            "occurred_at": np.sort(rng.integers(start, end, size=n)).astype(np.int64),
            "cell": rng.choice(cells, size=n, p=weight / weight.sum()),
            "category": rng.choice(np.array(CATEGORIES), size=n, p=[0.2, 0.5, 0.3]),
            "note": "synthetic",
        }
    )
    return frame, cells


@pytest.fixture(scope="module")
def origins() -> list[Origin]:
    return monthly_origins("2018-03", "2018-06", CHICAGO) + weekly_origins(
        "2018-07-31", n=2, timezone=CHICAGO
    )


GROUPS = {"all": None, "burglary": ("BURGLARY",), "violent": ("BATTERY", "ROBBERY")}


# --- origins ----------------------------------------------------------------------------------


def test_monthly_origins_are_local_calendar_months():
    origins = monthly_origins("2017-07", "2018-06", CHICAGO)
    assert len(origins) == 12
    # Chicago is UTC-5 in summer (CDT): July 2017 starts at 05:00 UTC, July 2018 likewise.
    assert origins[0] == Origin(utc_s(2017, 7, 1, 5), utc_s(2017, 8, 1, 5))
    assert origins[-1].end_s == utc_s(2018, 7, 1, 5)
    # Consecutive: each test window starts where the previous one ended.
    assert all(a.end_s == b.origin_s for a, b in zip(origins, origins[1:], strict=False))
    # Winter months start at 06:00 UTC (CST, UTC-6), across the year boundary too.
    january = monthly_origins("2017-12", "2018-01", CHICAGO)[1]
    assert january == Origin(utc_s(2018, 1, 1, 6), utc_s(2018, 2, 1, 6))


def test_monthly_origins_across_daylight_saving_changes():
    (march,) = monthly_origins("2018-03", "2018-03", CHICAGO)
    # Clocks go forward on 11 March 2018: the month is 31 days less one hour.
    assert march.end_s - march.origin_s == 31 * DAY_S - HOUR_S
    assert march == Origin(utc_s(2018, 3, 1, 6), utc_s(2018, 4, 1, 5))
    (november,) = monthly_origins("2018-11", "2018-11", CHICAGO)
    # Clocks go back on 4 November 2018: 30 days and one hour.
    assert november.end_s - november.origin_s == 30 * DAY_S + HOUR_S
    # A zone without daylight saving keeps whole days.
    (utc_march,) = monthly_origins("2018-03", "2018-03", "UTC")
    assert utc_march == Origin(utc_s(2018, 3, 1), utc_s(2018, 4, 1))


def test_weekly_origins_end_at_midnight_after_the_last_day():
    origins = weekly_origins("2018-07-31", n=8, timezone=CHICAGO)
    assert len(origins) == 8
    assert origins[-1].end_s == utc_s(2018, 8, 1, 5)  # 2018-08-01 00:00 CDT
    assert origins[0].origin_s == utc_s(2018, 6, 6, 5)  # 8 weeks = 56 days earlier
    assert all(o.end_s - o.origin_s == 7 * DAY_S for o in origins)
    assert all(a.end_s == b.origin_s for a, b in zip(origins, origins[1:], strict=False))
    # The week 7..13 March 2018 holds the spring-forward change: one hour short.
    (week,) = weekly_origins("2018-03-13", n=1, timezone=CHICAGO)
    assert week == Origin(utc_s(2018, 3, 7, 6), utc_s(2018, 3, 14, 5))
    assert week.end_s - week.origin_s == 7 * DAY_S - HOUR_S


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: monthly_origins("2018-13", "2018-12", CHICAGO), "first must be a month"),
        (lambda: monthly_origins("2018-06", "2018/07", CHICAGO), "last must be a month"),
        (lambda: monthly_origins("2018-06", "2018-05", CHICAGO), "must not precede"),
        (lambda: monthly_origins("2018-06", "2018-07", "Mars/Olympus"), "IANA name"),
        (lambda: weekly_origins("2018-07-32", n=8, timezone=CHICAGO), "end must be a date"),
        (lambda: weekly_origins("2018-07-31", n=0, timezone=CHICAGO), "positive whole"),
    ],
)
def test_origin_arguments_are_checked(call, message):
    with pytest.raises(GeoError, match=message):
        call()


# --- the harness ----------------------------------------------------------------------------------


def test_forecasters_never_see_the_future(city, origins):
    incidents, cells = city
    calls: list[dict] = []

    def spy(all_categories: bool) -> Forecaster:
        def forecast(train: pd.DataFrame, study: np.ndarray, as_of_s: int) -> np.ndarray:
            calls.append(
                {
                    "all": all_categories,
                    "as_of_s": as_of_s,
                    "latest": int(train["occurred_at"].max()),
                    "n": len(train),
                    "categories": set(train["category"]),
                    "group_categories": set(train.loc[train[IN_GROUP_COLUMN], "category"])
                    if all_categories
                    else None,
                    "columns": list(train.columns),
                    "writeable": study.flags.writeable,
                }
            )
            return np.zeros(study.size)

        return Forecaster(f"spy_{all_categories}", forecast, uses_all_categories=all_categories)

    result = run_backtest(incidents, cells, [spy(False), spy(True)], origins, GROUPS)
    assert len(calls) == 2 * len(origins) * len(GROUPS)
    assert all(call["latest"] < call["as_of_s"] for call in calls)
    assert {call["as_of_s"] for call in calls} == {o.origin_s for o in origins}
    columns = ["occurred_at", "cell", "category", "note"]
    assert all(c["columns"] == columns for c in calls if not c["all"])
    assert all(c["columns"] == [*columns, IN_GROUP_COLUMN] for c in calls if c["all"])
    assert not any(call["writeable"] for call in calls)
    # A group-only forecaster sees only the group's categories; the pooling one sees all.
    burglary_only = [c for c in calls if not c["all"] and c["categories"] <= {"BURGLARY"}]
    assert len(burglary_only) == len(origins)
    assert all(c["categories"] == set(CATEGORIES) for c in calls if c["all"])
    # ... with the tested group's incidents marked.
    marked = [c["group_categories"] for c in calls if c["all"]]
    assert marked.count(set(CATEGORIES)) == marked.count({"BURGLARY"}) == len(origins)
    assert marked.count({"BATTERY"}) == len(origins)
    # It saw every earlier incident, not just some: n_train counts them by hand.
    table = result.table
    for origin_s, _ in origins:
        before = incidents[incidents["occurred_at"] < origin_s]
        rows = table[table["origin_s"] == origin_s].set_index(["group", "model"])["n_train"]
        assert rows[("all", "spy_False")] == len(before)
        assert rows[("burglary", "spy_False")] == (before["category"] == "BURGLARY").sum()
        assert rows[("burglary", "spy_True")] == len(before)


def test_window_edges_origin_inclusive_end_exclusive(city):
    _, cells = city
    origin = Origin(utc_s(2018, 5, 1), utc_s(2018, 5, 8))
    incidents = pd.DataFrame(
        {
            "occurred_at": np.array(
                [origin.origin_s - 1, origin.origin_s, origin.end_s - 1, origin.end_s], np.int64
            ),
            "cell": cells[[0, 1, 2, 3]],
            "category": ["THEFT"] * 4,
        }
    )
    result = run_backtest(
        incidents, cells, [naive_count_forecaster()], [origin], {"all": None}, fractions=[0.5]
    )
    row = result.table.iloc[0]
    assert (row["n_train"], row["n_test"], row["n_inside"]) == (1, 2, 2)


def test_constant_forecaster_scores_exactly_a_tenth(city, origins):
    incidents, cells = city
    result = run_backtest(incidents, cells, [constant_forecaster()], origins, GROUPS)
    table = result.table
    evaluated = table[table["n_test"] > 0]
    # The synthetic city has no ROBBERY, but BATTERY gives "violent" incidents everywhere.
    assert len(evaluated) == len(table) == len(origins) * len(GROUPS)
    assert (evaluated["n_inside"] == evaluated["n_test"]).all()
    # One straight segment from (0, 0) to (1, 1): mean over [0, 0.2] is 0.1 to the last bit.
    assert (evaluated["auc20"] == 0.1).all()
    for p in result.fractions:
        assert evaluated[f"hit_rate_{p:g}"].to_numpy() == pytest.approx(p, rel=1e-12)
        assert evaluated[f"pai_{p:g}"].to_numpy() == pytest.approx(1.0, rel=1e-12)


def test_test_incidents_outside_the_study_area_are_misses(city):
    incidents, cells = city
    origin = Origin(utc_s(2018, 6, 1), utc_s(2018, 7, 1))
    far = disk(6)[~np.isin(disk(6), cells)][0]
    # Three incidents in a cell outside the study area, inside the test window.
    extra = pd.DataFrame(
        {
            "occurred_at": np.array([origin.origin_s + 10] * 3, np.int64),
            "cell": np.array([far] * 3, np.int64),
            "category": ["THEFT"] * 3,
        }
    )
    with_extra = pd.concat([incidents[list(extra.columns)], extra], ignore_index=True)
    result = run_backtest(with_extra, cells, [constant_forecaster()], [origin], {"all": None})
    row = result.table.iloc[0]
    assert row["n_test"] == row["n_inside"] + 3
    assert row["auc20"] == pytest.approx(0.1 * row["n_inside"] / row["n_test"], rel=1e-12)
    assert result.inside_shares["all"][0] == pytest.approx(row["n_inside"] / row["n_test"])


def test_an_oracle_reaches_pei_one_and_beats_naive(city, origins):
    incidents, cells = city
    ends = dict(origins)

    def peek(train: pd.DataFrame, study: np.ndarray, as_of_s: int) -> np.ndarray:
        """Cheats: counts the test window's incidents through the closure."""
        when = incidents["occurred_at"]
        window = incidents[(when >= as_of_s) & (when < ends[as_of_s])]
        counts, _ = counts_from_incidents(study, window["cell"].to_numpy())
        return counts

    oracle = Forecaster("oracle", peek)
    result = run_backtest(
        incidents, cells, [naive_count_forecaster(), oracle], origins, {"all": None}
    )
    table = result.table.set_index(["model", "origin_s"])
    for p in result.fractions:
        assert table.loc["oracle", f"pei_{p:g}"].to_numpy() == pytest.approx(1.0, rel=1e-12)
    assert (table.loc["oracle", "auc20"] > table.loc["naive", "auc20"]).all()
    summary = summarise(result).set_index("model")
    assert summary.loc["oracle", "share_beats_ref"] == 1.0
    assert summary.loc["oracle", "auc20_vs_ref"] > 0
    assert summary.loc["naive", "auc20_vs_ref"] == 0.0
    # The mean chart curve of the oracle is the mean best curve.
    np.testing.assert_allclose(
        result.mean_curve("all", "oracle"), result.best_curves["all"].mean(axis=0), rtol=1e-12
    )


def test_naive_beats_constant_on_the_synthetic_city(city, origins):
    incidents, cells = city
    result = run_backtest(
        incidents,
        cells,
        [naive_count_forecaster(), constant_forecaster()],
        origins,
        GROUPS,
        keep_scores=True,
    )
    assert isinstance(result, BacktestResult)
    assert result.groups == tuple(GROUPS) and result.models == ("naive", "constant")
    assert list(result.table["group"].unique()) == list(GROUPS)
    naive = result.table[result.table["model"] == "naive"]
    assert (naive["auc20"] > 0.3).all()
    assert result.curves[("all", "naive")].shape == (len(origins), AREA_FRACTION_GRID.size)
    # Scores kept per origin are the training counts per cell.
    first = origins[0].origin_s
    before = incidents[incidents["occurred_at"] < first]
    expected, _ = counts_from_incidents(cells, before["cell"].to_numpy())
    np.testing.assert_array_equal(result.scores[("all", "naive")][first], expected)
    assert set(result.scores[("burglary", "constant")]) == {o.origin_s for o in origins}


# --- model_forecaster ---------------------------------------------------------------------------


def test_model_forecaster_with_the_naive_model_is_the_naive_count(city, origins):
    incidents, cells = city
    forecasters = [
        naive_count_forecaster("count"),
        model_forecaster("naive"),
        model_forecaster("naive", pool_categories=True, name="pooled"),
    ]
    result = run_backtest(incidents, cells, forecasters, origins, GROUPS, keep_scores=True)
    assert result.models == ("count", "naive", "pooled")
    for group in GROUPS:
        for origin_s, _ in origins:
            expected = result.scores[(group, "count")][origin_s]
            np.testing.assert_array_equal(result.scores[(group, "naive")][origin_s], expected)
            np.testing.assert_array_equal(result.scores[(group, "pooled")][origin_s], expected)


def test_model_forecaster_passes_weights_and_parameters(city):
    incidents, cells = city
    as_of = utc_s(2018, 6, 1)
    train = incidents[incidents["occurred_at"] < as_of]
    no_theft = model_forecaster("naive", category_weights={"THEFT": 0.0})
    kept = train.loc[train["category"] != "THEFT", "cell"].to_numpy()
    np.testing.assert_array_equal(
        no_theft.fn(train, cells, as_of), counts_from_incidents(cells, kept)[0]
    )
    last_30_days = model_forecaster(
        "weighted_count", params=WeightedCountParams(lookback_days=30, half_life_days=None)
    )
    recent = train.loc[train["occurred_at"] >= as_of - 30 * DAY_S, "cell"].to_numpy()
    np.testing.assert_allclose(
        last_30_days.fn(train, cells, as_of), counts_from_incidents(cells, recent)[0]
    )


def test_pooling_model_forecaster_scores_the_group_among_every_category(city):
    incidents, cells = city
    as_of = utc_s(2018, 6, 1)
    train = incidents[incidents["occurred_at"] < as_of]
    pooled = model_forecaster("default", pool_categories=True)
    assert pooled.uses_all_categories and pooled.name == "default"
    marked = train.assign(**{IN_GROUP_COLUMN: (train["category"] == "BURGLARY").to_numpy()})
    expected = score_cells(train, cells, as_of, model="default", categories=("BURGLARY",))
    np.testing.assert_allclose(pooled.fn(marked, cells, as_of), expected["score"])
    assert IN_GROUP_COLUMN in marked.columns  # the caller's frame is left alone
    # A group of every category is all crime.
    everything = train.assign(**{IN_GROUP_COLUMN: True})
    expected = score_cells(train, cells, as_of, model="default")
    np.testing.assert_allclose(pooled.fn(everything, cells, as_of), expected["score"])
    # No incident of the group before the origin: every cell ties at 0.
    nothing = train.assign(**{IN_GROUP_COLUMN: False})
    np.testing.assert_array_equal(pooled.fn(nothing, cells, as_of), np.zeros(cells.size))


def test_model_forecaster_checks_the_model():
    with pytest.raises(GeoError, match="model must be one of"):
        model_forecaster("kde")
    plain = model_forecaster("sepp")
    assert plain.name == "sepp" and not plain.uses_all_categories


def test_groups_without_test_incidents_give_nan_rows(city):
    incidents, cells = city
    origin = Origin(utc_s(2018, 6, 1), utc_s(2018, 7, 1))
    result = run_backtest(
        incidents,
        cells,
        [naive_count_forecaster(), constant_forecaster()],
        [origin],
        {"robbery": ("ROBBERY",)},
    )
    assert (result.table["n_test"] == 0).all()
    assert result.table["auc20"].isna().all()
    assert result.curves[("robbery", "naive")].shape == (0, AREA_FRACTION_GRID.size)
    summary = summarise(result)
    assert summary["n_origins"].tolist() == [0, 0]
    assert summary["mean_auc20"].isna().all()


def test_run_backtest_leaves_its_arguments_alone(city, origins):
    incidents, cells = city
    shuffled = incidents.sample(frac=1.0, random_state=7)
    before = shuffled.copy()
    cells_before = cells.copy()
    run_backtest(shuffled, cells, [naive_count_forecaster()], origins[:1], GROUPS)
    pd.testing.assert_frame_equal(shuffled, before)
    np.testing.assert_array_equal(cells, cells_before)
    assert cells.flags.writeable


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cells": "unsorted"}, "sorted and unique"),
        ({"incidents": "microseconds"}, "look like milli"),
        ({"incidents": "no category"}, "lacks columns"),
        ({"incidents": "in_group"}, "must not have a column 'in_group'"),
        ({"forecasters": "twice"}, "names must be unique"),
        ({"forecasters": "short"}, "one number per study cell"),
        ({"forecasters": "nan"}, "NaN scores"),
        ({"origins": "backwards"}, "must precede"),
        ({"groups": "string"}, "sequence of category codes"),
        ({"fractions": "zero"}, r"in \(0, 1\]"),
    ],
)
def test_run_backtest_rejects_bad_input(city, origins, change, message):
    incidents, cells = city
    arguments = {
        "incidents": incidents,
        "cells": cells,
        "forecasters": [naive_count_forecaster()],
        "origins": origins[:1],
        "groups": {"all": None},
    }
    bad = {
        "cells": {"unsorted": cells[::-1]},
        "incidents": {
            "microseconds": incidents.assign(occurred_at=incidents["occurred_at"] * 1_000_000),
            "no category": incidents.drop(columns="category"),
            "in_group": incidents.assign(in_group=True),
        },
        "forecasters": {
            "twice": [naive_count_forecaster(), constant_forecaster(name="naive")],
            "short": [Forecaster("short", lambda train, study, as_of_s: np.zeros(3))],
            "nan": [Forecaster("nan", lambda train, study, as_of_s: np.full(study.size, np.nan))],
        },
        "origins": {"backwards": [(utc_s(2018, 6, 1), utc_s(2018, 5, 1))]},
        "groups": {"string": {"burglary": "BURGLARY"}},
    }
    ((name, key),) = change.items()
    if name == "fractions":
        arguments["fractions"] = (0.0, 0.05)
    else:
        arguments[name] = bad[name][key]
    with pytest.raises(GeoError, match=message):
        run_backtest(**arguments)


# --- summaries ----------------------------------------------------------------------------------


def tiny_table() -> pd.DataFrame:
    """Two groups, two models, four origins; origin 4 has no test incidents."""
    rows = []
    auc20 = {
        ("g", "naive"): [0.2, 0.3, 0.4, np.nan],
        ("g", "m"): [0.3, 0.3, 0.6, np.nan],
        ("h", "naive"): [0.5, 0.5, 0.5, np.nan],
        ("h", "m"): [0.25, 0.75, 0.25, np.nan],
    }
    for (group, model), values in auc20.items():
        for origin_s, value in enumerate(values, start=1):
            rows.append(
                {
                    "group": group,
                    "model": model,
                    "origin_s": origin_s,
                    "auc20": value,
                    "pai_0.01": 10 * value,
                    "pai_0.05": 5 * value,
                    "pei_0.05": value,
                }
            )
    return pd.DataFrame(rows)


def test_summarise_by_hand():
    summary = summarise(tiny_table()).set_index(["group", "model"])
    g_m = summary.loc[("g", "m")]
    assert g_m["n_origins"] == 3  # origin 4 had no test incidents
    assert g_m["mean_auc20"] == pytest.approx(0.4)  # (0.3 + 0.3 + 0.6) / 3
    # Deviations -0.1, -0.1, 0.2: squares sum to 0.06, over n - 1 = 2 gives 0.03.
    assert g_m["std_auc20"] == pytest.approx(0.03**0.5)
    assert (g_m["min_auc20"], g_m["max_auc20"]) == (0.3, 0.6)
    assert g_m["mean_pai_0.01"] == pytest.approx(4.0)
    assert g_m["mean_pai_0.05"] == pytest.approx(2.0)
    assert g_m["mean_pei_0.05"] == pytest.approx(0.4)
    # 0.4 / 0.3 - 1 = 1/3; beats naive at origins 1 and 3, ties at 2.
    assert g_m["auc20_vs_ref"] == pytest.approx(1 / 3)
    assert g_m["share_beats_ref"] == pytest.approx(2 / 3)
    # Group h: mean 1.25 / 3 against 0.5, beaten only at origin 2.
    h_m = summary.loc[("h", "m")]
    assert h_m["auc20_vs_ref"] == pytest.approx((1.25 / 3) / 0.5 - 1)
    assert h_m["share_beats_ref"] == pytest.approx(1 / 3)
    assert summary.loc[("g", "naive"), "auc20_vs_ref"] == 0.0
    assert summary.loc[("g", "naive"), "share_beats_ref"] == 0.0
    assert (summary["reference"] == "naive").all()
    assert list(summary.index) == [("g", "naive"), ("g", "m"), ("h", "naive"), ("h", "m")]


def test_summarise_with_another_reference_or_none():
    by_m = summarise(tiny_table(), reference="m").set_index(["group", "model"])
    assert by_m.loc[("g", "naive"), "auc20_vs_ref"] == pytest.approx(0.3 / 0.4 - 1)
    plain = summarise(tiny_table(), reference=None)
    assert "auc20_vs_ref" not in plain.columns
    with pytest.raises(GeoError, match="reference model 'kde' is missing"):
        summarise(tiny_table(), reference="kde")
    with pytest.raises(GeoError, match=r"lacks columns \['pai_0.1'\]"):
        summarise(tiny_table(), pai_at=(0.1,))


def test_format_table_lines_up_the_models():
    text = format_table(summarise(tiny_table()))
    lines = text.splitlines()
    assert lines[0].split() == [
        "group",
        "model",
        "n",
        "AUC20",
        "sd",
        "min",
        "max",
        "PAI@1%",
        "PAI@5%",
        "PEI@5%",
        "vs",
        "ref",
        "beats",
        "ref",
    ]
    assert set(lines[1]) <= {"-", " "}
    assert len(lines) == 2 + 4
    g_m = lines[3].split()
    assert g_m == ["g", "m", "3", "0.400", "0.173", "0.300", "0.600", "4.00", "2.00", "0.40"] + [
        "+33.3%",
        "67%",
    ]
    assert "(ref)" in lines[2]


# --- chart ----------------------------------------------------------------------------------


def test_plot_coverage_writes_a_png(city, origins, tmp_path):
    incidents, cells = city
    result = run_backtest(
        incidents, cells, [naive_count_forecaster(), constant_forecaster()], origins, GROUPS
    )
    path = plot_coverage(result, tmp_path / "coverage.png")
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 10_000
    full = plot_coverage(result, tmp_path / "full.png", groups=["burglary"], max_fraction=1.0)
    assert full.read_bytes()[:8] == PNG_SIGNATURE
    with pytest.raises(GeoError, match="groups must name groups"):
        plot_coverage(result, tmp_path / "x.png", groups=["robbery"])


# --- guardrail ---------------------------------------------------------------------------------


def test_area_share_of_top_by_hand():
    cells = disk(1)[:4]  # A, B, C, D
    areas = cell_areas_km2(cells)
    total = areas.sum()
    # A alone on top, B and C tied next, D last. Cut at A plus half of the B-C tie, so
    # A counts whole and B and C half each.
    top = areas[0] + 0.5 * (areas[1] + areas[2])
    scores = {100: np.array([3.0, 2.0, 2.0, 0.0]), 200: np.array([0.0, 0.0, 0.0, 1.0])}
    area_cells = pd.DataFrame(
        {"area_id": ["X", "X", "Y", "Z", "W"], "cell": np.append(cells, disk(3)[-1])}
    )
    shares = area_share_of_top(scores, cells, area_cells, top_fraction=top / total)
    assert list(shares.columns) == ["origin_s", "area_id", "share", "study_share"]
    first = shares[shares["origin_s"] == 100].set_index("area_id")
    assert first.loc["X", "share"] == pytest.approx((areas[0] + 0.5 * areas[1]) / top)
    assert first.loc["Y", "share"] == pytest.approx(0.5 * areas[2] / top)
    assert first.loc["Z", "share"] == 0.0
    assert first.loc["W", "share"] == 0.0  # W's only cell is outside the study area
    assert first.loc["X", "study_share"] == pytest.approx((areas[0] + areas[1]) / total)
    # At origin 200 the top area is all of D and, for the rest, an equal part of A, B and C.
    second = shares[shares["origin_s"] == 200].set_index("area_id")
    rest = (top - areas[3]) / (areas[0] + areas[1] + areas[2])
    assert second.loc["Z", "share"] == pytest.approx(areas[3] / top)
    assert second.loc["Y", "share"] == pytest.approx(rest * areas[2] / top)
    assert second["share"].sum() == pytest.approx(1.0)
    # Everything on top: each area's share is its share of the study area.
    whole = area_share_of_top(scores, cells, area_cells, top_fraction=1.0)
    np.testing.assert_allclose(whole["share"], whole["study_share"], rtol=1e-12)


def test_summarise_concentration_by_hand():
    shares = pd.DataFrame(
        {
            "origin_s": [2, 2, 2, 2, 1, 1, 1, 1],
            "area_id": ["a", "b", "c", "d"] * 2,
            "share": [0.5, 0.5, 0.0, 0.0, 0.25, 0.25, 0.25, 0.15],
            "study_share": [0.25, 0.125, 0.5, 0.125] * 2,
        }
    )
    report = summarise_concentration(shares).set_index("origin_s")
    assert list(report.index) == [1, 2]
    at2 = report.loc[2]
    assert (at2["n_areas"], at2["n_areas_with_top"]) == (4, 2)
    assert (at2["max_share"], at2["max_area_id"]) == (0.5, "a")
    assert at2["max_ratio"] == pytest.approx(4.0)  # b: 0.5 / 0.125
    assert at2["herfindahl"] == pytest.approx(0.5)
    # Sorted 0, 0, .5, .5: 2 * (3 * .5 + 4 * .5) / (4 * 1) - 5 / 4 = 0.5.
    assert at2["gini"] == pytest.approx(0.5)
    assert at2["unassigned_share"] == 0.0
    at1 = report.loc[1]
    assert at1["unassigned_share"] == pytest.approx(0.1)
    assert at1["herfindahl"] == pytest.approx(3 * 0.0625 + 0.0225)


def test_area_share_of_top_from_a_backtest(city, origins):
    incidents, cells = city
    result = run_backtest(
        incidents, cells, [naive_count_forecaster()], origins, {"all": None}, keep_scores=True
    )
    # Two areas: the centre cell's ring-1 neighbourhood and the rest.
    inner = disk(1)
    area_cells = pd.DataFrame(
        {"area_id": np.where(np.isin(cells, inner), "centre", "edge"), "cell": cells}
    )
    shares = area_share_of_top(result.scores[("all", "naive")], cells, area_cells, 0.2)
    assert len(shares) == 2 * len(origins)
    sums = shares.groupby("origin_s")["share"].sum()
    np.testing.assert_allclose(sums, 1.0, rtol=1e-12)
    report = summarise_concentration(shares)
    assert len(report) == len(origins)
    assert (report["unassigned_share"] < 1e-12).all()


def test_area_share_of_top_rejects_bad_input():
    cells = disk(1)
    scores = {1: np.zeros(cells.size)}
    twice = pd.DataFrame({"area_id": ["a", "b"], "cell": cells[[0, 0]]})
    with pytest.raises(GeoError, match="each cell in one area only"):
        area_share_of_top(scores, cells, twice)
    areas = pd.DataFrame({"area_id": ["a"], "cell": cells[:1]})
    with pytest.raises(GeoError, match="top_fraction"):
        area_share_of_top(scores, cells, areas, top_fraction=0.0)
    with pytest.raises(GeoError, match=r"score_frames\[1\]"):
        area_share_of_top({1: np.zeros(2)}, cells, areas)


# --- real data ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chicago() -> tuple[pd.DataFrame, np.ndarray]:
    """Located Chicago incidents 2017-05 .. 2018-07 as a backtest frame, and the cells seen."""
    incidents = chicago_incident_frame("2017-05", "2018-07")
    return incidents, np.unique(incidents["cell"].to_numpy())


@pytest.mark.slow
def test_naive_beats_constant_on_chicago(chicago):
    incidents, cells = chicago
    assert 4_800 < cells.size <= 5_629
    models = [naive_count_forecaster(), constant_forecaster()]
    groups = {"all": None, "burglary": ("BURGLARY",)}
    monthly = run_backtest(
        incidents, cells, models, monthly_origins("2018-04", "2018-06", CHICAGO), groups
    )
    weekly = run_backtest(
        incidents, cells, models, weekly_origins("2018-07-31", n=2, timezone=CHICAGO), groups
    )
    for result in (monthly, weekly):
        table = result.table.set_index(["group", "model", "origin_s"])
        # The study area is every cell seen, so no test incident falls outside it.
        assert (table["n_inside"] == table["n_test"]).all()
        assert (table.xs("constant", level="model")["auc20"] == 0.1).all()
        naive = table.xs("naive", level="model")
        assert (naive.xs("all", level="group")["auc20"] > 0.3).all()
        assert (naive.xs("burglary", level="group")["auc20"] > 0.2).all()
        summary = summarise(result).set_index(["group", "model"])
        assert (summary.xs("constant", level="model")["share_beats_ref"] == 0.0).all()
        assert (summary.xs("constant", level="model")["auc20_vs_ref"] < -0.5).all()
    month_ahead = summarise(monthly).set_index(["group", "model"])
    # The notes give 0.377 for July 2018 on the 5,629-cell city; this study area is only
    # the cells with an incident in 15 months, so the top 20 % is smaller (0.353 measured for
    # April-June 2018; burglary 0.258).
    assert 0.30 <= month_ahead.loc[("all", "naive"), "mean_auc20"] <= 0.45
    assert 0.20 <= month_ahead.loc[("burglary", "naive"), "mean_auc20"] <= 0.35
    assert month_ahead.loc[("all", "naive"), "mean_pai_0.01"] > 5
