"""Wiring of `hotspot score` and `hotspot backtest` (the statistics are tested in tests/geo)."""

from __future__ import annotations

import h3
import pandas as pd
import pytest
from click.testing import CliRunner

from tests.conftest import CHICAGO_BOUNDARIES, CHICAGO_INCIDENTS
from tests.web.conftest import DATABASES
from web import storage
from web.cli import cli

MONTHS = [CHICAGO_INCIDENTS / f"chicago_crimes_2016-0{m}.csv.gz" for m in (1, 2, 3)]
BOUNDARY = CHICAGO_BOUNDARIES / "city_boundary.geojson"


@pytest.fixture(scope="module", params=DATABASES)
def chicago_env(request, tmp_path_factory) -> dict[str, str]:
    """A database with the Chicago boundary and three months of incidents, on SQLite and on
    PostgreSQL (the session's throwaway cluster)."""
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_cluster").create_database()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('scoring') / 'chicago.db'}"
    env = {"HOTSPOT_DATABASE_URL": url, "HOTSPOT_TIMEZONE": "America/Chicago"}
    runner = CliRunner()
    loaded = runner.invoke(cli, ["areas", "load", str(BOUNDARY), "--kind", "jurisdiction"], env=env)
    assert loaded.exit_code == 0, loaded.output
    imported = runner.invoke(cli, ["import", "--preset", "chicago", *map(str, MONTHS)], env=env)
    assert imported.exit_code == 0, imported.output
    return env


def test_score_from_the_database_writes_every_study_cell(chicago_env, tmp_path) -> None:
    out = tmp_path / "scores.csv"
    result = CliRunner().invoke(
        cli, ["score", "--as-of", "2016-03-01T00:00", "--model", "naive", "--out", str(out)],
        env=chicago_env,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["cell", "score"]
    assert len(frame) == 5629  # cells whose centre lies in the city
    assert all(h3.is_valid_cell(c) and h3.get_resolution(c) == 9 for c in frame["cell"][:50])
    # Only January and February count as of 1 March (local time), each incident with its
    # category's severity weight and police-initiated categories excluded.
    engine = storage.make_engine(chicago_env["HOTSPOT_DATABASE_URL"])
    as_of = pd.Timestamp("2016-03-01", tz="America/Chicago").timestamp()
    incidents = storage.load_incidents(engine, end_s=int(as_of))
    table = storage.load_categories_table(engine).set_index("code")
    weight = table["weight"].where(~table["police_initiated"], 0.0)
    cells = set(h3.str_to_int(c) for c in frame["cell"])
    inside = incidents[incidents["cell"].isin(cells)]
    assert frame["score"].sum() == pytest.approx(inside["category"].map(weight).sum())


def test_score_groups_models_and_explanations(chicago_env, tmp_path) -> None:
    out = tmp_path / "burglary.csv"
    result = CliRunner().invoke(
        cli,
        ["score", "--as-of", "2016-03-15", "--group", "burglary", "--model", "weighted_count",
         "--explain", "--res", "8", "--out", str(out)],
        env=chicago_env,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    assert len(frame.columns) > 2
    assert h3.get_resolution(frame["cell"][0]) == 8
    assert frame["score"].max() > 0


def test_score_from_files_without_the_database(tmp_path) -> None:
    out = tmp_path / "files.csv"
    env = {"HOTSPOT_DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}"}
    result = CliRunner().invoke(
        cli,
        ["score", "--as-of", "2016-02-01", "--model", "naive", "--out", str(out),
         "--incidents", str(MONTHS[0]), "--preset", "chicago", "--boundary", str(BOUNDARY),
         "--timezone", "America/Chicago"],
        env=env,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out)) == 5629
    assert not (tmp_path / "unused.db").exists()


def test_score_rejects_an_unknown_model(chicago_env, tmp_path) -> None:
    result = CliRunner().invoke(
        cli, ["score", "--as-of", "2016-03-01", "--model", "oracle", "--out", str(tmp_path / "x")],
        env=chicago_env,
    )  # fmt: skip
    assert result.exit_code == 2
    assert "unknown model 'oracle'" in result.output


def test_backtest_prints_the_table_and_writes_csv_and_chart(chicago_env, tmp_path) -> None:
    table, chart = tmp_path / "bt.csv", tmp_path / "cov.png"
    result = CliRunner().invoke(
        cli,
        ["backtest", "--models", "weighted_count", "--groups", "all,burglary",
         "--monthly", "2016-03:2016-03", "--weekly-end", "2016-03-31", "--weeks", "2",
         "--table", str(table), "--chart", str(chart)],
        env=chicago_env,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "monthly origins (1)" in result.output and "weekly origins (2)" in result.output
    assert "naive" in result.output and "(ref)" in result.output
    rows = pd.read_csv(table)
    # (1 monthly + 2 weekly origins) x 2 groups x 2 models
    assert len(rows) == 12
    assert set(rows["model"]) == {"naive", "weighted_count"}
    for label in ("monthly", "weekly"):
        png = tmp_path / f"cov_{label}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_concentration_report_per_district(chicago_env, tmp_path) -> None:
    runner = CliRunner()
    loaded = runner.invoke(
        cli,
        ["areas", "load", str(CHICAGO_BOUNDARIES / "police_districts.geojson"), "--kind",
         "district", "--id-field", "DIST_NUM"],
        env=chicago_env,
    )  # fmt: skip
    assert loaded.exit_code == 0, loaded.output
    out = tmp_path / "shares.csv"
    result = runner.invoke(
        cli,
        ["concentration", "--model", "naive", "--monthly", "2016-02:2016-03", "--out", str(out)],
        env=chicago_env,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "2016-02" in result.output and "2016-03" in result.output
    shares = pd.read_csv(out)
    # Each month's top 5 % is split among the districts (a sliver may fall outside them all).
    per_month = shares.groupby("origin_s")["share"].sum()
    assert ((per_month > 0.97) & (per_month <= 1.0 + 1e-9)).all()
    assert shares["area_id"].nunique() == 23


def test_explain_prints_text_and_json(chicago_env) -> None:
    import json

    runner = CliRunner()
    cell = "892664c1a83ffff"  # the busiest cell of the Loop
    text = runner.invoke(cli, ["explain", cell, "--as-of", "2016-03-15"], env=chicago_env)
    assert text.exit_code == 0, text.output
    assert f"cell {cell}" in text.output and "Gi*" in text.output and "rank" in text.output
    raw = runner.invoke(cli, ["explain", cell, "--as-of", "2016-03-15", "--json"], env=chicago_env)
    payload = json.loads(raw.output)
    assert payload[0]["cell"] == cell
    assert payload[0]["counts"]["ALL"]["all"] > 0
    bad = runner.invoke(cli, ["explain", "8928308280fffff", "--as-of", "2016-03-15"],
                        env=chicago_env)  # fmt: skip
    assert bad.exit_code == 2
    assert "8928308280fffff" in bad.output


def test_hotspots_writes_gi_classes_and_emerging_categories(chicago_env, tmp_path) -> None:
    out = tmp_path / "hot.csv"
    result = CliRunner().invoke(
        cli, ["hotspots", "--as-of", "2016-04-01", "--days", "90", "--weeks", "12",
              "--out", str(out)],
        env=chicago_env,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    assert len(frame) == 5629
    assert {"z", "p", "gi_bin", "emerging"} <= set(frame.columns)
    assert (frame["gi_bin"] == 3).any()  # downtown is a hot spot at 99 %
    assert frame["gi_bin"].between(-3, 3).all()
    assert frame.loc[frame["cell"] == "892664c1a83ffff", "gi_bin"].item() == 3
