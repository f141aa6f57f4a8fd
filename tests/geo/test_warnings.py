"""Early warning rules (geo/warnings.py) and their backtest (geo/warnings_backtest.py)."""

from __future__ import annotations

import json

import h3
import numpy as np
import pandas as pd
import pytest

from geo.near_repeat import DAY_S, NearRepeatBands
from geo.warnings import (
    WARNING_COLUMNS,
    EmergingSettings,
    NearRepeatSettings,
    RisingAreaSettings,
    WarningSettings,
    benjamini_hochberg,
    compute_warnings,
    emerging_warnings,
    near_repeat_warnings,
    rings_for_distance,
    rising_area_warnings,
)
from geo.warnings_backtest import backtest_warnings, history_strata, summarise_warning_backtest

CENTRE = h3.latlng_to_cell(41.88, -87.63, 9)
STUDY = np.array(sorted(h3.str_to_int(c) for c in h3.grid_disk(CENTRE, 4)), dtype=np.int64)
CELL = h3.str_to_int(CENTRE)
FAR = h3.str_to_int(sorted(h3.grid_ring(CENTRE, 4))[0])
AS_OF = 400 * DAY_S
BANDS = NearRepeatBands(
    distance_m=200.0, time_days=14.0, ratio=1.8, min_ratio_cell=1.3, max_p_value=0.01
)


def _incidents(rows: list[tuple[int, int]], category: str = "BURGLARY") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "occurred_at": np.array([t for t, _ in rows], dtype=np.int64),
            "cell": np.array([c for _, c in rows], dtype=np.int64),
            "category": [category] * len(rows),
        }
    )


#: The legacy rule: the incident's cell and its ring, a repeat within 14 days.
LEGACY = dict(
    distance_m=None,
    include_origin=True,
    max_recent=None,
    rank="strength",
    min_incidents=2,
    rings=1,
    window_days=14.0,
)


def _near(**kwargs) -> NearRepeatSettings:
    return NearRepeatSettings(bands=BANDS, **{"max_share": 1.0, **LEGACY, **kwargs})


def test_near_repeat_warns_the_ring_after_a_repeat():
    incidents = _incidents([(AS_OF - 3 * DAY_S, CELL), (AS_OF - DAY_S, CELL)])
    warnings = near_repeat_warnings(
        incidents, STUDY, AS_OF, group_codes=("BURGLARY",), settings=_near()
    )
    assert list(warnings.columns) == list(WARNING_COLUMNS)
    ring = {h3.str_to_int(c) for c in h3.grid_disk(CENTRE, 1)}
    assert set(warnings["cell"]) == ring
    row = warnings[warnings["cell"] == CELL].iloc[0]
    assert row["level"] == 2
    assert row["starts_s"] == AS_OF - DAY_S  # when the second incident came
    assert row["ends_s"] == AS_OF - 3 * DAY_S + 14 * DAY_S  # when the first leaves the window
    assert row["strength"] == pytest.approx(3.6)
    assert "2 incident(s)" in row["reason"] and "1.80x" in row["reason"]
    json.dumps(row["evidence"])  # JSON-able
    assert row["evidence"]["incident_times_s"] == [AS_OF - 3 * DAY_S, AS_OF - DAY_S]


@pytest.mark.parametrize(
    "rows",
    [
        [(AS_OF - DAY_S, CELL)],  # one incident is not a repeat
        [(AS_OF - 20 * DAY_S, CELL), (AS_OF - DAY_S, CELL)],  # the first left the window
        [(AS_OF - DAY_S, CELL), (AS_OF + DAY_S, CELL)],  # the second is after as_of
    ],
)
def test_near_repeat_does_not_warn(rows):
    warnings = near_repeat_warnings(
        _incidents(rows), STUDY, AS_OF, group_codes=("BURGLARY",), settings=_near()
    )
    assert warnings.empty


def test_near_repeat_ignores_other_groups_and_is_off_without_bands():
    rows = [(AS_OF - 3 * DAY_S, CELL), (AS_OF - DAY_S, CELL)]
    theft = _incidents(rows, category="THEFT")
    assert near_repeat_warnings(
        theft, STUDY, AS_OF, group_codes=("BURGLARY",), settings=_near()
    ).empty
    off = NearRepeatSettings(bands=None)
    assert near_repeat_warnings(_incidents(rows), STUDY, AS_OF, settings=off).empty


def test_near_repeat_cap_keeps_the_strongest():
    rows = [(AS_OF - d * DAY_S, CELL) for d in (1, 2, 3)] + [
        (AS_OF - 2 * DAY_S, FAR),
        (AS_OF - DAY_S, FAR),
    ]
    settings = _near(rings=0, max_share=2 / STUDY.size)
    warnings = near_repeat_warnings(
        _incidents(rows), STUDY, AS_OF, group_codes=None, settings=settings
    )
    assert warnings["cell"].tolist() == sorted([CELL, FAR])
    tight = _near(rings=0, max_share=1 / STUDY.size)
    warnings = near_repeat_warnings(
        _incidents(rows), STUDY, AS_OF, group_codes=None, settings=tight
    )
    assert warnings["cell"].tolist() == [CELL]
    assert warnings["level"].tolist() == [3]


def _centre(cell: int) -> tuple[float, float]:
    lat, lon = h3.cell_to_latlng(h3.int_to_str(cell))
    return lon, lat


def _points(rows: list[tuple[int, int, float, float]]) -> pd.DataFrame:
    frame = _incidents([(t, c) for t, c, _, _ in rows])
    return frame.assign(lon=[r[2] for r in rows], lat=[r[3] for r in rows])


def test_default_rule_warns_quiet_neighbours_not_the_origin():
    # One burglary 3 days ago at CELL's centre: the default rule warns the six neighbours
    # (centres about 300 m away, within 400 m), not CELL itself nor the second ring.
    lon, lat = _centre(CELL)
    settings = NearRepeatSettings(bands=BANDS, max_share=1.0)
    warnings = near_repeat_warnings(
        _points([(AS_OF - 3 * DAY_S, CELL, lon, lat)]), STUDY, AS_OF, settings=settings
    )
    ring = {h3.str_to_int(c) for c in h3.grid_ring(CENTRE, 1)}
    assert set(warnings["cell"]) == ring
    row = warnings.iloc[0]
    assert row["starts_s"] == AS_OF - 3 * DAY_S
    assert row["ends_s"] == AS_OF - 3 * DAY_S + 28 * DAY_S
    assert row["level"] == 1
    assert "the cell itself had 0 in the last 365 days" in row["reason"]
    json.dumps(row["evidence"])
    # without coordinates the incident's cell centre stands in for its point
    plain = near_repeat_warnings(
        _incidents([(AS_OF - 3 * DAY_S, CELL)]), STUDY, AS_OF, settings=settings
    )
    assert set(plain["cell"]) == ring


def test_default_rule_uses_the_exact_point():
    # A burglary on the edge between CELL and one neighbour: that neighbour's centre is
    # within 400 m, the far side of CELL's ring is not.
    neighbour = h3.str_to_int(sorted(h3.grid_ring(CENTRE, 1))[0])
    (lon_a, lat_a), (lon_b, lat_b) = _centre(CELL), _centre(neighbour)
    edge = ((lon_a + lon_b) / 2, (lat_a + lat_b) / 2)
    warnings = near_repeat_warnings(
        _points([(AS_OF - DAY_S, CELL, *edge)]), STUDY, AS_OF,
        settings=NearRepeatSettings(bands=BANDS, max_share=1.0),
    )  # fmt: skip
    assert neighbour in set(warnings["cell"])
    assert len(warnings) < 6
    assert CELL not in set(warnings["cell"])


@pytest.mark.parametrize(
    "rows",
    [
        [(AS_OF - 30 * DAY_S, CELL)],  # older than the 28-day window
        [(AS_OF + DAY_S, CELL)],  # after as_of
    ],
)
def test_default_rule_does_not_warn(rows):
    settings = NearRepeatSettings(bands=BANDS, max_share=1.0)
    assert near_repeat_warnings(_incidents(rows), STUDY, AS_OF, settings=settings).empty


def test_default_rule_skips_cells_with_their_own_recent_incident_and_ranks_quiet_first():
    neighbours = sorted(h3.str_to_int(c) for c in h3.grid_ring(CENTRE, 1))
    busy, known = neighbours[0], neighbours[1]
    rows = [(AS_OF - 2 * DAY_S, CELL), (AS_OF - 5 * DAY_S, busy)]
    rows += [(AS_OF - 100 * DAY_S - i * DAY_S, known) for i in range(3)]
    settings = NearRepeatSettings(bands=BANDS, max_share=1.0)
    warned = set(near_repeat_warnings(_incidents(rows), STUDY, AS_OF, settings=settings)["cell"])
    # CELL and busy each had their own burglary within 28 days: their history already says it
    assert busy not in warned and CELL not in warned
    assert known in warned
    # with room for 5 cells, the one with 3 burglaries in its own year is left out
    few = NearRepeatSettings(bands=BANDS, max_share=5 / STUDY.size)
    kept = set(near_repeat_warnings(_incidents(rows), STUDY, AS_OF, settings=few)["cell"])
    assert len(kept) == 5 and known not in kept


def test_rings_for_distance_at_resolution_9():
    assert rings_for_distance(100, 9) == 0
    assert rings_for_distance(300, 9) == 1
    assert rings_for_distance(700, 9) == 2


def test_benjamini_hochberg_by_hand():
    # m = 4: sorted p 0.01, 0.02, 0.03, 0.5 -> p * 4 / rank = 0.04, 0.04, 0.04, 0.5
    q = benjamini_hochberg([0.03, 0.5, 0.01, 0.02])
    np.testing.assert_allclose(q, [0.04, 0.5, 0.04, 0.04])
    # a later smaller value pulls earlier ones down (step-up): 0.02*3/2=0.03 > 0.03*3/3
    np.testing.assert_allclose(benjamini_hochberg([0.01, 0.02, 0.03]), [0.03, 0.03, 0.03])
    assert benjamini_hochberg([0.9, 0.95]).max() <= 1.0


def _steady(area_cell: int, per_week: int, weeks: int = 60) -> list[tuple[int, int]]:
    rows = []
    for week in range(weeks):
        start = AS_OF - (week + 1) * 7 * DAY_S
        rows += [(start + DAY_S * (i % 7) + 3600 * i, area_cell) for i in range(per_week)]
    return rows


def test_rising_area_warns_a_spike_and_not_a_steady_area():
    steady = _steady(FAR, per_week=3)
    spike = _steady(CELL, per_week=2)
    spike = [r for r in spike if r[0] < AS_OF - 7 * DAY_S]
    spike += [(AS_OF - DAY_S * 6 + 3600 * i, CELL) for i in range(12)]
    areas = {"a": np.array([CELL]), "b": np.array([FAR])}
    warnings = rising_area_warnings(
        _incidents(steady + spike), STUDY, AS_OF, areas, group_codes=None,
        settings=RisingAreaSettings(fdr=0.10),
    )  # fmt: skip
    assert warnings["area"].tolist() == ["a"]
    evidence = warnings["evidence"].iloc[0]
    assert evidence["observed"] == 12
    assert evidence["expected"] == pytest.approx(2.0, rel=0.1)
    assert evidence["q"] <= 0.10 and evidence["p"] <= evidence["q"]
    assert "12 incidents" in warnings["reason"].iloc[0]
    # without the spike nothing is warned
    quiet = rising_area_warnings(
        _incidents(steady), STUDY, AS_OF, areas, group_codes=None, settings=RisingAreaSettings()
    )
    assert quiet.empty


def test_emerging_warns_a_cell_that_just_turned_hot():
    rng = np.random.default_rng(0)
    rows = [(int(AS_OF - rng.integers(1, 26 * 7) * DAY_S), int(c)) for c in STUDY for _ in range(2)]
    rows += [(AS_OF - DAY_S - 3600 * i, CELL) for i in range(25)]
    warnings = emerging_warnings(
        _incidents(rows), STUDY, AS_OF, group_codes=None, settings=EmergingSettings(weeks=26)
    )
    assert CELL in set(warnings["cell"])
    row = warnings[warnings["cell"] == CELL].iloc[0]
    assert row["evidence"]["category"] == "new hot spot"
    assert row["ends_s"] == AS_OF + 7 * DAY_S
    # the week before, it was not hot, and a calm history gives no warning
    calm = emerging_warnings(
        _incidents(rows[:-25]), STUDY, AS_OF, group_codes=None, settings=EmergingSettings()
    )
    assert CELL not in set(calm["cell"])


def test_compute_warnings_combines_rules_and_is_deterministic():
    rows = [(AS_OF - 3 * DAY_S, CELL), (AS_OF - DAY_S, CELL), (AS_OF + DAY_S, CELL)]
    settings = WarningSettings(near_repeat=_near(), rising_area=None, emerging=None)
    first = compute_warnings(
        _incidents(rows), STUDY, AS_OF, group_codes=("BURGLARY",), settings=settings
    )
    again = compute_warnings(
        _incidents(rows), STUDY, AS_OF, group_codes=("BURGLARY",), settings=settings
    )
    pd.testing.assert_frame_equal(first, again)
    assert set(first["rule"]) == {"near_repeat"}
    assert first["cell"].dtype == np.int64
    assert set(first["cell"]) <= set(STUDY)


def test_history_strata():
    rows = _incidents([(AS_OF - DAY_S, CELL)] * 3 + [(AS_OF - 100 * DAY_S, FAR)])
    strata = history_strata(rows["occurred_at"].to_numpy(), rows["cell"].to_numpy(), STUDY, AS_OF)
    assert strata[STUDY == CELL][0] == 3 * 5 + 2  # 3+ in 28 days, 3-5 in 365 days
    assert strata[STUDY == FAR][0] == 0 * 5 + 1  # 0 in 28 days, 1-2 in 365 days
    assert (strata[(STUDY != CELL) & (STUDY != FAR)] == 0).all()


def test_backtest_lift_on_a_constructed_case():
    # Every cell has one incident 100 days ago; a repeat in CELL warns its ring. After the
    # origin every warned cell has an incident, and so do 6 of the unwarned cells.
    ring = sorted(h3.str_to_int(c) for c in h3.grid_disk(CENTRE, 1))
    history = [(AS_OF - 100 * DAY_S, int(c)) for c in STUDY]
    trigger = [(AS_OF - 3 * DAY_S, CELL), (AS_OF - DAY_S, CELL)]
    future = [(AS_OF + DAY_S, int(c)) for c in ring]
    others = [int(c) for c in STUDY if int(c) not in ring][:6]
    future += [(AS_OF + DAY_S, c) for c in others]
    incidents = _incidents(history + trigger + future)
    settings = WarningSettings(near_repeat=_near(), rising_area=None, emerging=None)
    table = backtest_warnings(incidents, STUDY, [AS_OF], group_codes=None, settings=settings)
    row = table[table["rule"] == "near_repeat"].iloc[0]
    assert row["warned_cells"] == 7
    assert row["hits"] == 7
    # CELL's stratum (2 in 28 days, 3 in 365) has no unwarned cell: it counts at its own
    # rate. Its 6 neighbours (stratum 0 x 1-2) compare with the other 54 cells, 6 of which hit.
    assert row["expected_hits"] == pytest.approx(1 + 6 * 6 / (STUDY.size - 7))
    assert row["lift"] == pytest.approx(7 / (1 + 36 / (STUDY.size - 7)))
    summary = summarise_warning_backtest(table)
    assert set(summary["rule"]) == {"near_repeat", "simple"}
