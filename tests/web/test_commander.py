"""The commander's pages: hotspot map, cells and cell explanations, statistics, accuracy."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from geo.backtest import model_forecaster, naive_count_forecaster, run_backtest, summarise
from geo.cells import cells_from_hex
from geo.emerging import EMERGING_CATEGORIES
from geo.statistics import compare_counts, holm
from tests.web.conftest import EXTERNAL_URL, logged_in_client
from web import storage
from web.services import site_data as hd
from web.services.accuracy import accuracy_groups, accuracy_origins
from web.services.filters import area_cells, cell_counts, parse_filters
from web.services.map_layers import EMERGING_WEEKS
from web.services.scores import MAP_MODEL

ENDPOINTS = (
    "/command/hotspots",
    "/command/cells.json",
    "/command/statistics",
    "/command/accuracy",
)

# Statistics windows, backtest origins and the demo follow the date: run at every moment.
pytestmark = pytest.mark.dates


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

    theft = _cells(commander, f"start=2000-01-01&end={everything['end']}&category=THEFT")
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
        data.cells,
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
