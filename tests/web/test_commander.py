"""The commander's pages: hotspot map, cells and cell explanations, statistics, accuracy."""

from __future__ import annotations

import csv
import io
import json
import re

import h3
import numpy as np
import pandas as pd
import pytest

from geo.backtest import model_forecaster, naive_count_forecaster, run_backtest, summarise
from geo.cells import cells_from_hex
from geo.emerging import EMERGING_CATEGORIES
from geo.statistics import compare_counts, holm
from tests.web.conftest import EXTERNAL_URL, logged_in_client
from web import storage
from web.services import site_data as hd
from web.services.accuracy import accuracy_groups, accuracy_origins, verdict
from web.services.cell_names import cell_names
from web.services.compare import compare_periods, parse_periods
from web.services.filters import FilterError, Filters, area_cells, cell_counts, parse_filters
from web.services.map_layers import EMERGING_WEEKS
from web.services.scores import MAP_MODEL, cell_scores, city_tiers, score_tiers
from web.services.statistics import concentration, concentration_text, figure_area
from web.views.commander_tools import _csv_row

ENDPOINTS = (
    "/command/hotspots",
    "/command/cells.json",
    "/command/statistics",
    "/command/accuracy",
)

# Statistics windows, backtest origins and the demo follow the date: run at every moment;
# on the demo in SQLite and in PostgreSQL (tests/web/conftest.py).
pytestmark = [pytest.mark.dates, pytest.mark.databases(demo=True)]


@pytest.fixture(scope="module")
def site(demo_db):
    engine = storage.make_engine(demo_db)
    return engine, hd.site_data(engine)


@pytest.fixture(scope="module")
def commander(app, moment):
    return logged_in_client(app, moment, "commander")


def _cells(client, query: str = "") -> dict:
    response = client.get(f"/command/cells.json{('?' + query) if query else ''}")
    assert response.status_code == 200, response.data[:300]
    return response.get_json()


@pytest.mark.parametrize("path", [*ENDPOINTS, "/command/statistics?period=week"])
def test_every_page_answers_a_commander(commander, path) -> None:
    assert commander.get(path).status_code == 200


@pytest.mark.parametrize("role", ["admin", "planner"])
def test_admins_and_planners_see_the_map(client_as, role) -> None:
    assert client_as(role).get("/command/hotspots").status_code == 200


@pytest.mark.parametrize("path", [*ENDPOINTS, "/command/cell/8928308280fffff"])
def test_grid_workers_are_refused(client_as, path) -> None:
    assert client_as("grid_worker").get(path).status_code == 403


def test_anonymous_visitors_are_sent_to_log_in(app) -> None:
    response = app.test_client().get("/command/hotspots")
    assert response.status_code in (302, 401)


def test_page_sends_ids_not_polygons_and_loads_nothing_from_outside(commander) -> None:
    body = commander.get("/command/hotspots").data
    assert not EXTERNAL_URL.search(body)
    assert b"h3-js@4.5.0/dist/h3-js.umd.js" in body
    assert b"hotspots.js" in body
    assert b"leaflet_heat.min.js" in body  # the heat layer's script, served here
    assert b'id="time-slider"' in body and b'type="range"' in body
    config = _page_config(body)
    assert config["data"]["cells"] and len(config["data"]["cells"]) == len(config["data"]["score"])
    # No cell polygon is embedded: outlines are the only GeoJSON, far fewer features.
    assert body.count(b'"Polygon"') + body.count(b'"MultiPolygon"') < 100
    for url in set(re.findall(rb"""(?:src|href)=["'](/static/vendor/[^"']+)""", body)):
        with commander.get(url.decode()) as response:
            assert response.status_code == 200, url


def _page_config(body: bytes) -> dict:
    match = re.search(
        rb'<script type="application/json" id="hotspot-config">(.*?)</script>', body, re.S
    )
    assert match
    return json.loads(match.group(1))


def test_cells_totals_equal_the_data_layer_and_follow_the_filters(commander, site) -> None:
    engine, data = site
    everything = _cells(commander, "start=2000-01-01&value=count")
    filters = parse_filters({"start": "2000-01-01", "end": everything["end"]}, data, engine)
    expected = cell_counts(data, filters)
    assert everything["total"] == int(expected["n"].sum()) == sum(everything["count"])
    by_cell = dict(zip(everything["cells"], everything["count"], strict=True))
    hexes = [format(int(c) & (2**64 - 1), "x") for c in expected["cell"]]
    assert all(by_cell[h] == n for h, n in zip(hexes, expected["n"], strict=True))

    code = data.categories.loc[data.categories["group"] == "property", "code"].iloc[0]
    theft = _cells(commander, f"start=2000-01-01&end={everything['end']}&category={code}")
    assert 0 < theft["total"] < everything["total"]
    night = _cells(commander, f"start=2000-01-01&end={everything['end']}&hours=22-2")
    assert 0 < night["total"] < everything["total"]
    weekend = _cells(commander, f"start=2000-01-01&end={everything['end']}&weekdays=5&weekdays=6")
    assert weekend["total"] == int(
        cell_counts(
            data,
            parse_filters(
                {"start": "2000-01-01", "end": everything["end"], "weekdays": "5,6"}, data, engine
            ),
        )["n"].sum()
    )
    grid = storage.list_areas(engine).query("kind == 'grid'")["area_id"].iloc[0]
    in_grid = _cells(commander, f"area=grid:{grid}")
    area = set(area_cells(engine, data, f"grid:{grid}"))
    assert 0 < len(in_grid["cells"]) < len(everything["cells"])
    assert set(cells_from_hex(in_grid["cells"]).tolist()) <= area


def test_gi_star_classes_are_present(commander) -> None:
    data = _cells(commander, "start=2000-01-01")
    bins = set(data["gi"])
    assert bins <= {-3, -2, -1, 0, 1, 2, 3}
    assert any(b > 0 for b in bins), "the demo's synthetic clusters are hot spots"
    assert data["hot"] == sum(1 for b in data["gi"] if b > 0)


def test_emerging_classes_come_on_request(commander) -> None:
    data = _cells(commander, "layers=emerging")
    labels = data["emerging"]["labels"]
    assert len(data["emerging"]["codes"]) == len(data["cells"])
    assert all(
        label.endswith(("hot spot", "cold spot")) or label == "no pattern" for label in labels
    )
    assert "emerging" not in _cells(commander)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("start=2024-13-01", "start"),
        ("start=2024-05-02&end=2024-05-01", "end"),
        ("category=NOPE", "NOPE"),
        ("hours=25", "hours"),
        ("weekdays=9", "weekdays"),
        ("area=grid:NOPE", "NOPE"),
        ("model=magic", "model"),
        ("value=colour", "value"),
        ("layers=everything", "layers"),
    ],
)
def test_bad_filters_are_400_json_with_the_message(commander, query, message) -> None:
    response = commander.get(f"/command/cells.json?{query}")
    assert response.status_code == 400
    body = response.get_json()
    assert message in body["error"] and body["status"] == 400


def test_bad_filters_on_the_page_are_flashed(commander) -> None:
    response = commander.get("/command/hotspots?start=2024-13-01")
    assert response.status_code == 400
    assert b"start: expected a date" in response.data


def test_cell_explanation_matches_a_direct_count(commander, site) -> None:
    engine, data = site
    payload = _cells(commander, "value=count")
    top = payload["cells"][int(np.argmax(payload["count"]))]
    end = payload["end"]
    explanation = commander.get(f"/command/cell/{top}?end={end}").get_json()
    cell = int(cells_from_hex([top])[0])
    as_of = explanation["as_of_s"]
    times = data.incidents.loc[data.incidents["cell"] == cell, "occurred_at"].to_numpy()
    # geo.explain's windows (DEFAULT_WINDOWS_DAYS), the same as `hotspot explain`'s.
    assert explanation["counts"]["windows"] == ["7d", "28d", "91d", "365d", "all"]
    for days in (7, 28, 91, 365):
        direct = int(((times < as_of) & (times >= as_of - days * 86400)).sum())
        assert explanation["counts"]["total"][f"{days}d"] == direct
    assert explanation["counts"]["total"]["all"] == int((times < as_of).sum())
    # Each category row carries its name in the page's language (English here).
    english = dict(zip(data.categories["code"], data.categories["name_en"], strict=True))
    assert explanation["counts"]["rows"]
    assert all(r["name"] == english[r["category"]] for r in explanation["counts"]["rows"])
    assert explanation["window"]["count"] == payload["count"][payload["cells"].index(top)]
    assert len(explanation["trend"]["counts"]) == EMERGING_WEEKS
    assert explanation["trend"]["direction"] in ("up", "down", "none")
    assert explanation["model"]["name"] == MAP_MODEL
    assert 1 <= explanation["model"]["rank"] <= explanation["model"]["n_cells"]
    assert "weighted_count" in explanation["model"]["components"]
    assert explanation["gi_star"]["gi_bin"] == payload["gi"][payload["cells"].index(top)]
    assert explanation["emerging"] in EMERGING_CATEGORIES
    hours = explanation["hour_counts"]
    assert len(hours["counts"]) == 24 and hours["window_days"] == 91
    assert sum(hours["counts"]) == explanation["counts"]["total"]["91d"]


def test_cell_explanation_errors(commander) -> None:
    malformed = commander.get("/command/cell/not-a-cell")
    assert malformed.status_code == 400 and "cell" in malformed.get_json()["error"]
    # A valid H3 cell far from the city (and of another resolution): not on this map.
    elsewhere = commander.get("/command/cell/8928308280fffff")
    assert elsewhere.status_code == 404 and "not on this map" in elsewhere.get_json()["error"]


def test_compare_counts_says_no_change_unless_the_evidence_is_strong() -> None:
    same = compare_counts(30, 30)
    assert same.p_value > 0.5 and same.verdict() == "no significant change"
    assert compare_counts(12, 18).verdict() == "no significant change"
    rise = compare_counts(10, 60)
    assert rise.p_value < 1e-6 and rise.verdict() == "increase" and rise.ratio == 6
    assert rise.ci_low > 1 < rise.ci_high
    assert compare_counts(60, 10).verdict() == "decrease"
    # Different lengths: 31 vs 62 incidents over 31 and 62 days is the same rate.
    assert compare_counts(31, 62, 31, 62).verdict() == "no significant change"
    assert holm([0.01, 0.04, 0.5]) == pytest.approx([0.03, 0.08, 0.5])


def test_statistics_counts_per_period_and_tests_the_change(commander, site) -> None:
    engine, data = site
    body = commander.get("/command/statistics?period=week&format=json").get_json()
    table = body["table"]
    assert body["groups"][0] == "all"
    assert sum(row["all"] for row in table) == len(data.incidents)
    assert all(row["all"] == sum(row[g] for g in body["groups"][1:]) for row in table)
    assert {c["comparison"] for c in body["changes"]} == {"previous"}
    for change in body["changes"]:
        assert change["verdict"] in ("increase", "decrease", "no significant change")
        assert 0 <= change["p_value"] <= change["p_adjusted"] <= 1
    page = commander.get("/command/statistics?period=week")
    assert b"<svg" in page.data and b"period-counts" in page.data
    assert not EXTERNAL_URL.search(page.data)
    bad = commander.get("/command/statistics?period=year&format=json")
    assert bad.status_code == 400 and "period" in bad.get_json()["error"]


def test_accuracy_numbers_equal_the_backtest(commander, site) -> None:
    engine, data = site
    body = commander.get("/command/accuracy?format=json&origins=weekly&n=3").get_json()
    assert body["origins_kind"] == "weekly" and len(body["origins"]) == 3
    kind, origins = accuracy_origins(data, "weekly", 3)
    result = run_backtest(
        data.incidents,
        figure_area(data),
        [
            naive_count_forecaster("naive"),
            model_forecaster(MAP_MODEL, category_weights=data.category_weights),
        ],  # fmt: skip
        list(origins),
        accuracy_groups(data),
    )
    expected = summarise(result, reference="naive", pai_at=(0.01, 0.05, 0.1, 0.2))
    got = {(r["group"], r["model"]): r for r in body["summary"]}
    for row in expected.to_dict(orient="records"):
        mine = got[(row["group"], row["model"])]
        for key in ("mean_auc20", "mean_pai_0.05", "mean_pai_0.2"):
            if np.isnan(row[key]):
                assert mine[key] is None
            else:
                assert mine[key] == pytest.approx(row[key])
    page = commander.get("/command/accuracy?origins=weekly&n=3")
    assert page.status_code == 200 and b"<svg" in page.data and b"accuracy-table" in page.data
    assert commander.get("/command/accuracy?format=json&n=99").status_code == 400


# --- honest headline figures (issue 15, item 6) -------------------------------------------------

TINY_TZ = "Asia/Shanghai"
CENTRE = h3.latlng_to_cell(39.8, 98.3, 9)


def _disk(cell: str, k: int) -> list[int]:
    return sorted(h3.str_to_int(c) for c in h3.grid_disk(cell, k))


def tiny_site(
    study: list[int], events: list[tuple[str, int, str]], source: str = "tiny"
) -> hd.SiteData:
    """A SiteData of a few incidents (local time, cell, category code), no database."""
    frame = pd.DataFrame(events, columns=["at", "cell", "code"])
    frame["t"] = [int(pd.Timestamp(t, tz=TINY_TZ).timestamp()) for t in frame["at"]]
    codes = ["THEFT", "ASSAULT"]
    frame["row"] = frame["code"].map(codes.index)
    frame = frame.sort_values(["cell", "t", "row"], kind="stable").reset_index(drop=True)
    cell_ids, cell_index = np.unique(frame["cell"].to_numpy(dtype=np.int64), return_inverse=True)
    starts = np.searchsorted(cell_index, np.arange(len(cell_ids) + 1))
    categories = pd.DataFrame(
        {"id": [1, 2], "code": codes, "name_en": ["Theft", "Assault"], "name_zh": ["盗窃", "伤害"],
         "weight": [1.0, 1.0], "group": ["property", "violent"]}
    )  # fmt: skip
    times = frame["t"].to_numpy(dtype=np.int64)
    return hd.SiteData(
        source=source,
        version=(1, len(frame)),
        timezone=TINY_TZ,
        resolution=9,
        cells=np.array(sorted(study), dtype=np.int64),
        categories=categories,
        category_weights={"THEFT": 1.0, "ASSAULT": 1.0},
        cell_ids=cell_ids.astype(np.int64),
        cell_starts=starts.astype(np.int64),
        occurred_at=times,
        cell_index=cell_index.astype(np.int32),
        category_index=frame["row"].to_numpy(dtype=np.int16),
        first_s=int(times.min()) if len(times) else None,
        last_s=int(times.max()) if len(times) else None,
    )


@pytest.fixture(scope="module")
def tiny():
    """A 'desert' jurisdiction (a ring of 10 around the centre: 331 cells) with incidents in
    two cells only; a far cell outside the jurisdiction has one."""
    study = _disk(CENTRE, 10)
    busy = h3.str_to_int(CENTRE)
    other = h3.str_to_int(h3.grid_ring(CENTRE, 3)[0])
    outside = h3.str_to_int(h3.grid_ring(CENTRE, 14)[0])
    events = [(f"2026-03-{d:02d}T10:00", busy, "THEFT") for d in range(1, 11)]
    events += [("2026-03-05T22:00", other, "ASSAULT"), ("2026-04-02T09:00", other, "THEFT")]
    events += [("2026-03-07T12:00", outside, "THEFT")]
    return tiny_site(study, events), busy, other, outside


def test_the_figure_area_is_where_incidents_happen_not_the_jurisdiction(tiny) -> None:
    data, busy, other, outside = tiny
    area = figure_area(data)
    expected = sorted(set(_disk(h3.int_to_str(busy), 1)) | set(_disk(h3.int_to_str(other), 1)))
    assert area.tolist() == expected and len(area) == 14 < len(data.cells) == 331
    assert outside not in area  # outside the jurisdiction: never in the figure area
    spread = concentration(data, Filters())
    assert spread.area_cells == 14 and spread.incidents == 13 and spread.outside == 1
    assert spread.busy_cells == 2 and spread.top_cells == 1  # 5 % of 14 cells, rounded up
    assert spread.top_incidents == 10
    assert spread.top_share == pytest.approx(10 / 13)
    assert spread.times_chance == pytest.approx((10 / 13) / (1 / 14))
    text = concentration_text(spread)
    assert "Of 14 cells where incidents happen, 2 (14 %) had at least one incident" in text
    assert "the busiest 5 % of cells (1 cells) held 77 % of the 13 incidents" in text
    assert "10.8 times their share of the area" in text


def test_an_empty_range_says_so_and_cells_without_incidents_are_never_the_busiest(tiny) -> None:
    data, busy, other, _outside = tiny
    day = int(pd.Timestamp("2026-04-02", tz=TINY_TZ).timestamp())
    empty = concentration(data, Filters(start_s=day - 10 * 86400, end_s=day - 5 * 86400))
    assert empty.incidents == 0 and empty.top_share is None and empty.times_chance is None
    assert concentration_text(empty) == "No incidents in this range."
    # One incident in April, in one cell: the top 5 % (one cell) is that cell, no tie at 0.
    april = concentration(data, Filters(start_s=day, end_s=day + 86400))
    assert (april.busy_cells, april.top_incidents, april.top_share) == (1, 1, 1.0)
    # A larger area: 5 % is more cells than had any incident; zeros are not counted in.
    ring = h3.grid_ring(CENTRE, 6)  # three cells 12 apart on a ring: no shared neighbour
    wide = tiny_site(
        _disk(CENTRE, 10),
        [(f"2026-03-0{d}T10:00", h3.str_to_int(ring[12 * d - 12]), "THEFT") for d in (1, 2, 3)],
    )
    spread = concentration(wide, Filters())
    assert spread.area_cells == 21 and spread.top_cells == 2 and spread.busy_cells == 3
    few = concentration(
        wide, Filters(end_s=int(pd.Timestamp("2026-03-02", tz=TINY_TZ).timestamp()))
    )
    assert few.busy_cells == 1 < few.top_cells == 2
    assert "only 1 (5 %) had any: all 1 incidents fell in fewer cells than the top 5 %" in (
        concentration_text(few)
    )
    assert few.times_chance == pytest.approx(1.0 / (1 / 21))


def test_zero_incident_cells_are_never_top_5_percent_and_ties_are_not_split() -> None:
    cells = np.arange(1, 101, dtype=np.int64)  # 100 area cells: top 1 % = 1, top 5 % = 5
    score = np.zeros(100)
    score[:3] = [9.0, 8.0, 7.0]
    score[3:8] = 5.0  # five cells tied across the 5 % cut
    scores = pd.DataFrame({"cell": cells, "score": score})
    recent = cells[:8]
    tiers = score_tiers(scores, cells, recent)
    assert tiers == {1: "top1", 2: "top5", 3: "top5"}  # the tie at 5.0 stays out whole
    # The hottest cell had no incident in the window: never tagged, and its place is not
    # given to the next cell.
    assert score_tiers(scores, cells, recent[1:]) == {2: "top5", 3: "top5"}
    # Nothing scored: ties at zero are not hot spots.
    flat = scores.assign(score=0.0)
    assert score_tiers(flat, cells, cells) == {}
    # The share is of the figure area given, not of every scored cell.
    assert score_tiers(scores, cells[:20], recent) == {1: "top1"}  # 1 % of 20: one cell
    assert score_tiers(scores, cells[:0], recent) == {}


def test_a_cell_without_incidents_in_the_last_28_days_gets_no_city_tier() -> None:
    study = _disk(CENTRE, 10)
    old = h3.str_to_int(CENTRE)
    fresh = h3.str_to_int(h3.grid_ring(CENTRE, 5)[0])
    events = [(f"2026-01-{d:02d}T10:00", old, "THEFT") for d in range(1, 21)]
    events += [("2026-03-20T10:00", fresh, "THEFT")]
    quiet = tiny_site(study, events, source="tiny-quiet")
    scores = cell_scores(quiet, Filters()).set_index("cell")["score"]
    assert scores[old] > scores[fresh] > 0  # the old cell still ranks first
    assert len(figure_area(quiet)) == 14  # top 1 % and top 5 %: one cell each
    assert city_tiers(quiet) == {}  # first, but nothing in 28 days; its place is not passed on
    busy = tiny_site(study, [*events, ("2026-03-19T10:00", old, "THEFT")], source="tiny-busy")
    assert city_tiers(busy) == {old: "top1"}


def test_the_verdict_says_the_hit_rate_and_times_chance_in_plain_words() -> None:
    row = {"n_origins": 6, "mean_hit_rate_0.05": 0.4, "mean_hit_rate_0.01": 0.005}
    assert verdict(row, 0.05, "monthly", 820, "Model") == (
        "Model: the top 5 % of cells (about 41 cells) held 40 % of next month's incidents, "
        "8.0 times chance."
    )
    assert verdict(row, 0.05, "weekly", 820, "Model").endswith(
        "held 40 % of next week's incidents, 8.0 times chance."
    )
    assert verdict(row, 0.01, "monthly", 820, "Model").endswith(
        "(about 9 cells) held 0 % of next month's incidents, no better than chance."
    )
    for empty in ({"n_origins": 0, "mean_hit_rate_0.05": None},
                  {"n_origins": 3, "mean_hit_rate_0.05": float("nan")}):  # fmt: skip
        assert verdict(empty, 0.05, "monthly", 820, "Model") == (
            "Model: no incidents in this range."
        )


def test_compare_counts_each_cell_in_both_periods(tiny) -> None:
    data, busy, other, outside = tiny
    periods = parse_periods(
        {"a_start": "2026-03-01", "a_end": "2026-03-05", "b_start": "2026-03-06",
         "b_end": "2026-04-14"}, data)  # fmt: skip
    assert (periods.days("a"), periods.days("b")) == (5.0, 40.0)
    result = compare_periods(data, periods)
    assert result.area_cells == 14
    rows = result.cells.set_index("cell")
    # busy: 5 in A (5 days), 5 in B (40 days): B minus A scaled to B's length.
    assert (rows.loc[busy, "a"], rows.loc[busy, "b"]) == (5, 5)
    assert rows.loc[busy, "change"] == pytest.approx(5 - 5 * 40 / 5)
    assert rows.loc[busy, "ratio"] == pytest.approx((5 / 40) / (5 / 5))
    # other: 1 and 1, below the minimum for a ratio.
    assert (rows.loc[other, "a"], rows.loc[other, "b"]) == (1, 1)
    assert np.isnan(rows.loc[other, "ratio"])
    assert outside not in rows.index and (result.outside_a, result.outside_b) == (0, 1)
    assert result.cells["cell"].iloc[0] == busy  # largest change first
    assert (result.total.earlier, result.total.later) == (6, 6)
    new = compare_periods(data, parse_periods(
        {"a_start": "2026-02-01", "a_end": "2026-02-28", "b_start": "2026-03-01",
         "b_end": "2026-03-28"}, data))  # fmt: skip
    assert np.isinf(new.cells.set_index("cell").loc[busy, "ratio"])  # none before: new
    # Without dates: B is the last 28 days of data, A the 28 before.
    default = parse_periods({}, data).dates
    assert default == {"a_start": "2026-02-06", "a_end": "2026-03-05",
                       "b_start": "2026-03-06", "b_end": "2026-04-02"}  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"a_start": "2026-03-01"}, "a_end: a date is needed"),
        ({"a_start": "2026-03-01", "a_end": "2026-02-01", "b_start": "2026-03-01",
          "b_end": "2026-03-02"}, "a_end: must not be before start"),
        ({"a_start": "2026-13-01", "a_end": "2026-02-01", "b_start": "2026-03-01",
          "b_end": "2026-03-02"}, "a_start: expected a date"),
        ({"a_start": "2025-01-01", "a_end": "2026-02-01", "b_start": "2026-03-01",
          "b_end": "2026-03-02"}, "a_end: a period is at most 366 days"),
        ({"a_start": "2026-01-01", "a_end": "2026-02-01", "b_start": "2026-03-01",
          "b_end": "2026-03-02", "group": "nope"}, "a_group: unknown"),
    ],
)  # fmt: skip
def test_compare_refuses_bad_periods_naming_the_field(tiny, args, message) -> None:
    with pytest.raises(FilterError, match=message):
        parse_periods(args, tiny[0])


def test_csv_cells_never_start_a_formula() -> None:
    assert _csv_row(["=1+2", "+x", "-y", "@z", "ok", 5, -3, 0.5]) == [
        "'=1+2", "'+x", "'-y", "'@z", "ok", 5, -3, 0.5]  # fmt: skip


def test_statistics_and_accuracy_are_counted_over_the_figure_area(commander, site) -> None:
    engine, data = site
    area = figure_area(data)
    assert 0 < len(area) < len(data.cells)
    body = commander.get("/command/statistics?format=json").get_json()
    spread = body["concentration"]
    assert spread["area_cells"] == len(area) and spread["incidents"] == len(data.incidents)
    assert spread["busy_cells"] <= len(area) and spread["text"].startswith(
        f"Of {len(area):,} cells where incidents happen"
    )
    page = commander.get("/command/statistics").data.decode()
    assert f"Counted over {len(area):,} cells where incidents happen" in page
    assert 'id="cell-search"' in page and "statistics.csv" in page
    accuracy = commander.get("/command/accuracy?format=json&origins=weekly&n=3").get_json()
    assert accuracy["area"]["cells"] == len(area)
    assert accuracy["area"]["jurisdiction_cells"] == len(data.cells)
    for row in accuracy["summary"]:
        assert re.search(r"top 5 % of cells \(about \d+ cells\) held \d+ % of next week's", row[
            "verdict"]) or row["verdict"].endswith("no incidents in this range.")  # fmt: skip
    html = commander.get("/command/accuracy?origins=weekly&n=3").data.decode()
    assert f"Figures over {len(area):,} cells where incidents happen" in html
    assert 'class="verdicts"' in html and "times chance" in html
    cells = _cells(commander)
    figures = cells["figures"]
    assert figures["area_cells"] == int(np.isin(cells_from_hex(cells["cells"]), area).sum())
    assert figures["top_cells"] <= -(-len(area) * 5 // 100)


def test_statistics_export_is_csv_for_people(commander, site) -> None:
    engine, data = site
    response = commander.get("/command/statistics.csv?period=week")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv; charset=utf-8")
    assert 'filename="statistics_week.csv"' in response.headers["Content-Disposition"]
    body = response.data.decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body[1:])))
    header = rows[3]
    assert header[:5] == ["Period", "First day", "Last day", "Days", "Complete"]
    counts = commander.get("/command/statistics?period=week&format=json").get_json()["table"]
    table = rows[4 : 4 + len(counts)]
    assert [int(r[5]) for r in table] == [row["all"] for row in counts]
    assert all(r[2] < row["end"] for r, row in zip(table, counts, strict=True))  # inclusive
    assert re.fullmatch(r"exported \d{4}-\d\d-\d\d \d\d:\d\d", rows[0][1])
    assert rows[0][2] == data.timezone
    assert not any(c[:1] in "=+-@" for r in rows for c in r if c and not _number(c))
    assert commander.get("/command/statistics.csv?period=year").status_code == 400


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_a_grid_or_cell_is_found_by_name(commander, site) -> None:
    engine, data = site
    names = cell_names(engine, data)
    grid = storage.list_areas(engine).query("kind == 'grid'")["area_id"].iloc[0]
    found = commander.get(f"/command/find?q={grid}&format=json").get_json()["results"]
    assert found and all(r["name"].startswith(f"{grid}-") for r in found)
    assert all(r["area"] == f"grid:{grid}" for r in found)
    assert all(f"area=grid:{grid}" in r["map_url"] and r["cell"] in r["map_url"] for r in found)
    first = found[0]
    one = commander.get(f"/command/find?q={first['name'].lower()}&format=json").get_json()
    assert [r["cell"] for r in one["results"]] == [first["cell"]]
    by_id = commander.get(f"/command/find?q={first['cell']}&format=json").get_json()
    assert by_id["results"][0]["label"] == names.label(first["cell"])
    for row in found:  # never a top 5 % cell without an incident in the last 28 days
        assert row["tier"] is None or row["recent"] > 0
    page = commander.get(f"/command/find?q={grid}").data.decode()
    assert first["name"] in page and "Show on the hotspot map" in page
    nothing = commander.get("/command/find?q=NOPE-99")
    assert nothing.status_code == 200 and b"No grid or cell matches" in nothing.data
    assert commander.get("/command/find?q=" + "x" * 41).status_code == 400


def test_the_compare_page_maps_the_change_with_cell_names(commander, site) -> None:
    engine, data = site
    names = cell_names(engine, data)
    body = commander.get("/command/compare?format=json").get_json()
    assert body["area_cells"] == len(figure_area(data))
    for row in body["increases"]:
        assert row["change"] > 0 and row["name"] == names.name(row["cell"])
    for row in body["decreases"]:
        assert row["change"] < 0
    dates = body["periods"]
    page = commander.get("/command/compare?" + "&".join(f"{k}={v}" for k, v in dates.items()))
    assert page.status_code == 200 and b"compare-map" in page.data
    assert not EXTERNAL_URL.search(page.data)
    shown = body["increases"] or body["decreases"]
    assert shown and shown[0]["name"].encode() in page.data
    bad = commander.get("/command/compare?a_start=2026-01-02&a_end=2026-01-01&b_start=x&b_end=y")
    assert bad.status_code == 400 and b"a_end: must not be before start" in bad.data
    assert commander.get("/command/compare?a_start=2026-01-01&format=json").status_code == 400
