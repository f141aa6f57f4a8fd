"""Tests for geo/explain.py: counts, trend, Gi*, model components and hot hours of one cell,
built by hand on a flower of res-9 cells, and one check on real Chicago incidents.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import h3
import numpy as np
import pandas as pd
import pytest

from geo.emerging import EMERGING_CATEGORIES
from geo.errors import GeoError
from geo.explain import (
    COMPONENT_NOTES,
    DEFAULT_WINDOWS_DAYS,
    CellExplanation,
    ExplainContext,
    ExplainSettings,
    HotWindow,
    UnknownCellError,
    explain_cell,
    explain_cell_incidents,
    explain_cells,
    gi_bin_label,
    gi_star_summary,
    model_summary,
    window_label,
)
from geo.hotspots import hotspot_table
from geo.scoring import MODELS, score_cells
from tests.conftest import chicago_incident_frame

CHICAGO = "America/Chicago"
DAY = 86_400
WEEK = 7 * DAY

# A res-9 cell in Chicago's Loop; nothing near it is a pentagon.
LOOP = h3.latlng_to_cell(41.8781, -87.6298, 9)
CENTRE = h3.str_to_int(LOOP)
PETALS = [h3.str_to_int(c) for c in h3.grid_ring(LOOP, 1)]
FLOWER = np.array([CENTRE, *PETALS], dtype=np.int64)
# The study area reaches four rings out: with only the flower, the centre's neighbourhood
# would be the whole area and its Gi* undefined; with four rings the centre is hot at 99 %.
STUDY = np.array(sorted(h3.str_to_int(c) for c in h3.grid_disk(LOOP, 4)), dtype=np.int64)
OUTSIDE = h3.str_to_int(h3.grid_ring(LOOP, 6)[0])
# Monday 2018-07-02 00:00 in Chicago (CDT, UTC-5).
AS_OF = 1_530_507_600


def incidents(rows: Sequence[tuple[int, int, str | None]]) -> pd.DataFrame:
    """Incidents frame from ``(occurred_at, cell, category)`` rows."""
    frame = pd.DataFrame(rows, columns=["occurred_at", "cell", "category"])
    return frame.astype({"occurred_at": np.int64, "cell": np.int64})


def weekly(cell: int, per_week: list[int], category: str = "THEFT") -> list[tuple[int, int, str]]:
    """``per_week[j]`` incidents in week ``j`` of the 26 weeks before AS_OF (oldest first).

    Each lands on the Friday of its week at 22:00 local summer time (21:00 in winter).
    """
    start = AS_OF - len(per_week) * WEEK
    friday_night = 4 * DAY + 22 * 3600
    return [
        (start + j * WEEK + friday_night + i, cell, category)
        for j, n in enumerate(per_week)
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def trending() -> pd.DataFrame:
    """A centre rising 1..26 a week, a flat petal, a falling petal; nothing elsewhere.

    The falling petal ends at 0 so that the centre holds the most incidents (351 to 325).
    """
    rows = weekly(CENTRE, list(range(1, 27)))
    rows += weekly(PETALS[0], [3] * 26, category="BURGLARY")
    rows += weekly(PETALS[1], list(range(25, -1, -1)), category="ROBBERY")
    return incidents(rows)


@pytest.fixture(scope="module")
def context(trending: pd.DataFrame) -> ExplainContext:
    return ExplainContext.build(trending, STUDY, AS_OF, CHICAGO)


# --- counts ---------------------------------------------------------------------------------------


def by_hand() -> pd.DataFrame:
    """Centre incidents at known ages, a petal's, and some at or after AS_OF."""
    ages_days = {
        "THEFT": [1, 10, 50, 200, 500],
        "BURGLARY": [3, 100],
        "ROBBERY": [7],  # exactly 7 days: the window's start is inclusive
    }
    rows = [(AS_OF - a * DAY, CENTRE, c) for c, ages in ages_days.items() for a in ages]
    rows.append((AS_OF - DAY, PETALS[0], "THEFT"))
    return incidents(rows)


def future() -> pd.DataFrame:
    return incidents(
        [(AS_OF, CENTRE, "THEFT"), (AS_OF + DAY, CENTRE, "ARSON"), (AS_OF + 9, PETALS[2], "X")]
    )


def test_counts_by_category_and_window_match_hand_counts() -> None:
    got = explain_cell(by_hand(), STUDY, CENTRE, AS_OF, CHICAGO, model="naive").counts
    expected = pd.DataFrame(
        [[1, 2, 3, 4, 5], [1, 1, 1, 2, 2], [1, 1, 1, 1, 1], [3, 4, 5, 7, 8]],
        index=pd.Index(["THEFT", "BURGLARY", "ROBBERY", "ALL"], name="category"),
        columns=["7d", "28d", "91d", "365d", "all"],
        dtype=np.int64,
    )
    pd.testing.assert_frame_equal(got, expected)


def test_future_incidents_are_ignored() -> None:
    past = by_hand()
    leaked = pd.concat([past, future()], ignore_index=True)
    for model in ("naive", "default"):
        before = explain_cell(past, STUDY, CENTRE, AS_OF, CHICAGO, model=model)
        after = explain_cell(leaked, STUDY, CENTRE, AS_OF, CHICAGO, model=model)
        assert after.to_dict() == before.to_dict()
    assert "ARSON" not in after.counts.index


def test_custom_windows_and_an_empty_cell() -> None:
    settings = ExplainSettings(windows_days=(0.5, 30))
    got = explain_cell(by_hand(), STUDY, PETALS[3], AS_OF, CHICAGO, settings=settings)
    assert got.counts.columns.tolist() == ["0.5d", "30d", "all"]
    assert got.counts.index.tolist() == ["ALL"]
    assert got.counts.to_numpy().tolist() == [[0, 0, 0]]


def test_categories_and_zero_weights_select_the_counted_incidents() -> None:
    frame = pd.concat([by_hand(), incidents([(AS_OF - DAY, CENTRE, None)])], ignore_index=True)
    every = explain_cell(frame, STUDY, CENTRE, AS_OF, CHICAGO, model="naive").counts
    assert every.loc["(missing)", "all"] == 1
    assert every.loc["ALL", "all"] == 9

    theft = explain_cell(frame, STUDY, CENTRE, AS_OF, CHICAGO, model="naive", categories=("THEFT",))
    assert theft.counts.index.tolist() == ["THEFT", "ALL"]
    assert theft.counts.to_numpy()[-1].tolist() == [1, 2, 3, 4, 5]

    weights = {"THEFT": 0.0, "BURGLARY": 3.0}
    guarded = explain_cell(
        frame, STUDY, CENTRE, AS_OF, CHICAGO, model="naive", category_weights=weights
    )
    # Weight 0 excludes; other weights scale the score but not the counts.
    assert guarded.counts.index.tolist() == ["BURGLARY", "(missing)", "ROBBERY", "ALL"]
    assert guarded.counts.loc["BURGLARY", "all"] == 2
    assert guarded.model.score == 3.0 * 2 + 1 + 1


# --- trend, Gi*, emerging -------------------------------------------------------------------------


def test_trend_up_for_a_rising_series(context: ExplainContext) -> None:
    trend = context.explain(CENTRE).trend
    assert trend.counts == tuple(range(1, 27))
    assert trend.direction == "up"
    assert trend.p < 0.05 and trend.z > 0
    assert trend.s == 26 * 25 // 2  # every pair in order
    assert len(trend.bin_starts_s) == 26
    assert trend.bin_starts_s[-1] == AS_OF - WEEK
    assert trend.bin_starts_s[0] == AS_OF - 26 * WEEK


def test_trend_none_for_a_flat_series_and_down_for_a_falling_one(
    context: ExplainContext,
) -> None:
    flat = context.explain(PETALS[0]).trend
    assert flat.counts == (3,) * 26
    assert flat.direction == "none" and flat.p == 1.0
    falling = context.explain(PETALS[1]).trend
    assert falling.direction == "down" and falling.p < 0.05
    assert context.explain(PETALS[3]).trend.direction == "none"  # no incidents at all


def test_gi_star_of_the_centre_is_hot_and_matches_hotspot_table(
    trending: pd.DataFrame, context: ExplainContext
) -> None:
    last_year = trending[trending["occurred_at"] >= AS_OF - 365 * DAY]
    counts = [int((last_year["cell"] == c).sum()) for c in STUDY]
    table = hotspot_table(STUDY, counts, k=1).set_index("cell")
    for cell in (CENTRE, PETALS[0], int(STUDY[0])):
        gi = context.explain(cell).gi_star
        assert gi.z == table.loc[cell, "z"]
        assert gi.gi_bin == table.loc[cell, "gi_bin"]
        assert gi.count == table.loc[cell, "count"]
    centre = context.explain(CENTRE).gi_star
    assert centre.gi_bin == 3
    assert centre.label == "hot spot, 99 % confidence"
    assert (centre.window_days, centre.k) == (365.0, 1)


def test_gi_bin_labels() -> None:
    assert gi_bin_label(0) == "not significant"
    assert gi_bin_label(-2) == "cold spot, 95 % confidence"
    assert gi_bin_label(1) == "hot spot, 90 % confidence"
    with pytest.raises(GeoError, match="gi_bin"):
        gi_bin_label(4)


def test_emerging_class_is_named_or_skipped(trending: pd.DataFrame) -> None:
    got = explain_cell(trending, STUDY, CENTRE, AS_OF, CHICAGO, model="naive")
    assert got.emerging in EMERGING_CATEGORIES
    assert got.emerging.endswith("hot spot")
    quick = explain_cell(
        trending,
        STUDY,
        CENTRE,
        AS_OF,
        CHICAGO,
        model="naive",
        settings=ExplainSettings(include_emerging=False),
    )
    assert quick.emerging is None
    assert quick.to_dict()["emerging"] is None


# --- model ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", sorted(MODELS))
def test_model_components_equal_score_cells_columns(trending: pd.DataFrame, model: str) -> None:
    scores = score_cells(trending, STUDY, AS_OF, model=model).set_index("cell")
    hottest = int(scores.index.to_numpy()[scores["score"].to_numpy().argmax()])
    got = explain_cell(trending, STUDY, hottest, AS_OF, CHICAGO, model=model).model
    expected = scores.drop(columns="score").loc[hottest]
    assert list(got.components) == expected.index.tolist()
    assert dict(got.components) == expected.to_dict()
    assert got.score == scores.loc[hottest, "score"]
    assert (got.name, got.rank, got.n_cells, got.percentile) == (model, 1, STUDY.size, 100.0)
    assert set(got.notes) == set(got.components)
    assert all(note == COMPONENT_NOTES[model][c] for c, note in got.notes.items())


def test_rank_and_percentile_with_ties(context: ExplainContext) -> None:
    # Default model on the trending data: the centre is hottest; cells far from the flower
    # share the lowest score.
    centre = context.explain(CENTRE).model
    assert centre.rank == 1 and centre.percentile == 100.0
    far = context.explain(int(STUDY[0])).model
    scores = context.scores["score"].to_numpy()
    assert far.rank == int((scores > far.score).sum()) + 1
    assert far.percentile == 100.0 * (scores < far.score).sum() / (STUDY.size - 1)


# --- hot hours ------------------------------------------------------------------------------------


def test_hot_hours_cover_friday_night(context: ExplainContext) -> None:
    hours = context.explain(CENTRE).hot_hours
    assert hours.timezone == CHICAGO and hours.threshold == 1.5
    assert 1 <= len(hours.windows) <= 5
    top = hours.windows[0]
    start = top.weekday * 24 + top.start_hour
    assert (4 * 24 + 22 - start) % 168 < top.hours  # Friday 22:00 lies inside
    peaks = [w.peak_risk for w in hours.windows]
    assert peaks == sorted(peaks, reverse=True)


def test_hot_window_label_runs_past_midnight_and_the_week() -> None:
    window = HotWindow(weekday=6, start_hour=22, hours=4, mean_risk=2.0, peak_risk=2.5)
    assert window.label == "Sun 22:00 - Mon 02:00"


# --- output and errors ----------------------------------------------------------------------------


def test_to_dict_is_json_with_the_hex_id(context: ExplainContext) -> None:
    explanation = context.explain(CENTRE)
    assert isinstance(explanation, CellExplanation)
    data = explanation.to_dict()
    text = json.dumps(data, allow_nan=False)
    assert json.loads(text) == data
    assert data["cell"] == LOOP
    assert data["counts"]["ALL"]["all"] == sum(range(1, 27))
    assert data["trend"]["direction"] == "up"
    assert data["gi_star"]["gi_bin"] == 3
    assert data["model"]["rank"] == 1
    assert set(data["model"]["components"]["long_run"]) == {"value", "note"}
    assert data["hot_hours"]["windows"][0]["label"].startswith(("Fri", "Thu"))


def test_a_hex_id_explains_the_same_cell(context: ExplainContext) -> None:
    assert context.explain(LOOP).to_dict() == context.explain(CENTRE).to_dict()


def test_explain_cells_shares_one_context(trending: pd.DataFrame, context: ExplainContext) -> None:
    targets = [CENTRE, h3.int_to_str(PETALS[1]), np.int64(PETALS[0])]
    got = explain_cells(trending, STUDY, targets, AS_OF, CHICAGO)
    assert [e.to_dict()["cell"] for e in got] == [
        LOOP,
        h3.int_to_str(PETALS[1]),
        h3.int_to_str(PETALS[0]),
    ]
    assert [e.to_dict() for e in got] == [context.explain(t).to_dict() for t in targets]


def test_an_unknown_cell_raises_naming_its_hex_id(
    trending: pd.DataFrame, context: ExplainContext
) -> None:
    hex_id = h3.int_to_str(OUTSIDE)
    with pytest.raises(UnknownCellError, match=hex_id):
        explain_cell(trending, STUDY, OUTSIDE, AS_OF, CHICAGO)
    with pytest.raises(UnknownCellError, match=hex_id):
        explain_cells(trending, STUDY, [CENTRE, hex_id], AS_OF, CHICAGO)
    with pytest.raises(GeoError, match=hex_id):
        context.explain(OUTSIDE)
    with pytest.raises(GeoError, match="not a valid H3 cell"):
        context.explain("not-a-cell")
    with pytest.raises(GeoError, match="cell must be"):
        context.explain(1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"windows_days": (7, 7.0)}, "distinct"),
        ({"windows_days": (7, -1)}, "windows_days"),
        ({"windows_days": "7"}, "windows_days"),
        ({"k": -1}, "k must"),
        ({"trend_bins": 1}, "trend_bins"),
        ({"trend_bin_days": 0}, "trend_bin_days"),
        ({"alpha": 1.0}, "alpha"),
        ({"gi_window_days": float("nan")}, "gi_window_days"),
        ({"max_hot_windows": -1}, "max_hot_windows"),
        ({"include_emerging": "yes"}, "include_emerging"),
        ({"hour_window_days": 0}, "hour_window_days"),
    ],
)
def test_settings_are_checked(kwargs: dict, message: str) -> None:
    with pytest.raises(GeoError, match=message):
        ExplainSettings(**kwargs)


def test_bad_inputs_raise_geo_errors(trending: pd.DataFrame) -> None:
    with pytest.raises(GeoError, match="model must be"):
        explain_cell(trending, STUDY, CENTRE, AS_OF, CHICAGO, model="magic")
    with pytest.raises(GeoError, match="timezone"):
        explain_cell(trending, STUDY, CENTRE, AS_OF, "Mars/Olympus")
    with pytest.raises(GeoError, match="as_of_s"):
        explain_cell(trending, STUDY, CENTRE, float(AS_OF), CHICAGO)  # type: ignore[arg-type]
    with pytest.raises(GeoError, match="incidents lacks"):
        explain_cell(trending.drop(columns="category"), STUDY, CENTRE, AS_OF, CHICAGO)


def test_inputs_are_not_modified(trending: pd.DataFrame) -> None:
    frame = trending.copy()
    cells = STUDY.copy()
    explain_cell(frame, cells, CENTRE, AS_OF, CHICAGO, model="naive")
    pd.testing.assert_frame_equal(frame, trending)
    np.testing.assert_array_equal(cells, STUDY)


# --- one default set of windows, hour counts -----------------------------------------------------


def test_every_explanation_counts_over_the_default_windows() -> None:
    assert DEFAULT_WINDOWS_DAYS == (7, 28, 91, 365)
    assert ExplainSettings().windows_days == DEFAULT_WINDOWS_DAYS
    labels = [window_label(d) for d in DEFAULT_WINDOWS_DAYS]
    assert labels == ["7d", "28d", "91d", "365d"] and window_label(0.5) == "0.5d"
    whole = explain_cell(by_hand(), STUDY, CENTRE, AS_OF, CHICAGO, model="naive")
    alone = explain_cell_incidents(by_hand(), CENTRE, AS_OF, CHICAGO)
    assert whole.counts.columns.tolist() == alone.counts.columns.tolist() == [*labels, "all"]


def test_hour_counts_are_local_hours_over_the_last_quarter(context: ExplainContext) -> None:
    # The centre's incidents fall on Friday nights at 22:00 CDT; 91 days hold its last 13
    # weeks (14..26 incidents a week).
    hours = context.explain(CENTRE).hour_counts
    assert (hours.timezone, hours.window_days) == (CHICAGO, 91.0)
    assert hours.counts == tuple(sum(range(14, 27)) if h == 22 else 0 for h in range(24))
    # 100 days back is 24 March 2018, 03:00 CDT: outside the quarter, inside a year.
    frame = incidents(
        [
            (AS_OF - DAY + 22 * 3600, CENTRE, "THEFT"),
            (AS_OF - 100 * DAY + 3 * 3600, CENTRE, "THEFT"),
        ]
    )
    quarter = explain_cell_incidents(frame, CENTRE, AS_OF, CHICAGO).hour_counts.counts
    year = explain_cell_incidents(
        frame, CENTRE, AS_OF, CHICAGO, ExplainSettings(hour_window_days=365)
    ).hour_counts.counts
    assert quarter[22] == 1 and sum(quarter) == 1
    assert year[3] == year[22] == 1 and sum(year) == 2


# --- explaining one cell from its own incidents ---------------------------------------------------


@pytest.mark.parametrize("cell", [CENTRE, PETALS[1], PETALS[3]])
def test_a_cell_explained_from_its_incidents_with_the_area_parts_given_is_the_same(
    trending: pd.DataFrame, context: ExplainContext, cell: int
) -> None:
    whole = context.explain(cell)
    own = trending[trending["cell"] == cell]
    alone = explain_cell_incidents(
        own,
        h3.int_to_str(cell),
        AS_OF,
        CHICAGO,
        model=whole.model,
        gi_star=whole.gi_star,
        emerging=whole.emerging,
        hot_hours=whole.hot_hours,
    )
    assert alone.to_dict() == whole.to_dict()
    # Other cells' incidents are left out, so the whole frame gives the same.
    again = explain_cell_incidents(trending, cell, AS_OF, CHICAGO, model=whole.model)
    assert again.to_dict()["counts"] == whole.to_dict()["counts"]
    assert again.trend == whole.trend and again.hour_counts == whole.hour_counts


def test_area_parts_not_given_are_none_and_the_counts_are_the_cells_own() -> None:
    leaked = pd.concat([by_hand(), future()], ignore_index=True)
    alone = explain_cell_incidents(leaked, CENTRE, AS_OF, CHICAGO)
    assert (alone.model, alone.gi_star, alone.emerging, alone.hot_hours) == (None,) * 4
    expected = explain_cell(by_hand(), STUDY, CENTRE, AS_OF, CHICAGO, model="naive").counts
    pd.testing.assert_frame_equal(alone.counts, expected)
    data = alone.to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert [data[k] for k in ("model", "gi_star", "emerging", "hot_hours")] == [None] * 4
    # Any cell, in the study area or not; no category weight applies.
    outside = explain_cell_incidents(
        incidents([(AS_OF - DAY, OUTSIDE, "NARCOTICS")]), OUTSIDE, AS_OF, CHICAGO
    )
    assert outside.counts.loc["NARCOTICS"].tolist() == [1, 1, 1, 1, 1]


def test_parts_computed_elsewhere_read_like_the_contexts_own() -> None:
    model = model_summary("sepp", score=2.5, rank=3, n_cells=10, components={"background": 1.0})
    assert model.percentile is None
    assert model.notes["background"] == COMPONENT_NOTES["sepp"]["background"]
    assert model_summary("magic", 1.0, 1, 1, {"x": 2.0}).notes["x"].startswith("An explanation")
    gi = gi_star_summary(
        count=np.int64(4), z=2.7, p=0.007, gi_bin=np.int8(3), window_days=27.96, k=1
    )
    assert gi.label == "hot spot, 99 % confidence" and gi.count == 4
    alone = explain_cell_incidents(by_hand(), CENTRE, AS_OF, CHICAGO, model=model, gi_star=gi)
    data = alone.to_dict()
    assert data["model"]["percentile"] is None and data["model"]["rank"] == 3
    assert data["gi_star"] == {
        "count": 4, "z": 2.7, "p": 0.007, "gi_bin": 3, "label": gi.label,
        "window_days": 27.96, "k": 1,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: model_summary("naive", 1.0, rank=11, n_cells=10, components={}), "rank must"),
        (lambda: model_summary("naive", 1.0, rank=1.0, n_cells=10, components={}), "rank must"),
        (lambda: gi_star_summary(1, 0.0, 1.0, gi_bin=4, window_days=7, k=1), "gi_bin"),
        (lambda: gi_star_summary(1, 0.0, 1.0, gi_bin=0, window_days=0, k=1), "window_days"),
        (
            lambda: explain_cell_incidents(by_hand(), CENTRE, AS_OF, CHICAGO, model="high"),
            "model must",
        ),
        (
            lambda: explain_cell_incidents(by_hand(), CENTRE, AS_OF, CHICAGO, emerging="hot"),
            "emerging",
        ),
        (lambda: explain_cell_incidents(by_hand(), CENTRE, AS_OF, CHICAGO, settings=7), "settings"),
        (lambda: explain_cell_incidents(by_hand(), CENTRE, float(AS_OF), CHICAGO), "as_of_s"),
        (lambda: explain_cell_incidents(by_hand(), CENTRE, AS_OF, "Mars/Olympus"), "timezone"),
        (lambda: explain_cell_incidents(by_hand(), "not-a-cell", AS_OF, CHICAGO), "H3 cell"),
        (
            lambda: explain_cell_incidents(by_hand().drop(columns="cell"), CENTRE, AS_OF, CHICAGO),
            "lacks",
        ),
    ],
)
def test_bad_parts_and_inputs_raise_geo_errors(call, message: str) -> None:
    with pytest.raises(GeoError, match=message):
        call()


# --- real data ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chicago() -> tuple[pd.DataFrame, np.ndarray]:
    """Located Chicago incidents 2017-07 .. 2018-07 as an incidents frame, and the cells seen."""
    frame = chicago_incident_frame("2017-07", "2018-07")
    return frame, np.unique(frame["cell"].to_numpy())


@pytest.mark.slow
def test_top_cell_on_chicago(chicago: tuple[pd.DataFrame, np.ndarray]) -> None:
    frame, cells = chicago
    as_of = int(pd.Timestamp("2018-07-01", tz=CHICAGO).timestamp())
    scores = score_cells(frame, cells, as_of)
    top = int(scores["cell"].to_numpy()[scores["score"].to_numpy().argmax()])
    got = explain_cell(frame, cells, top, as_of, CHICAGO)
    assert got.model.rank == 1
    assert got.gi_star.gi_bin == 3
    before = int(((frame["cell"] == top) & (frame["occurred_at"] < as_of)).sum())
    data = got.to_dict()
    everything = data["counts"]["ALL"]
    assert everything["all"] == before
    assert everything["7d"] <= everything["28d"] <= everything["365d"] <= before
    json.dumps(data, allow_nan=False)
