"""`hotspot import` and friends on files a tired clerk exports: a clear message naming the
file (and line and field), and the database either unchanged or holding every good row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from web import storage
from web.cli import cli

HEADER = "incident_id,occurred_at,category,lon,lat,description\n"


def run(cli_env: dict[str, str], *args: str):
    return CliRunner().invoke(cli, list(args), env=cli_env)


@pytest.mark.databases()
def test_a_row_too_long_for_the_database_is_rejected_and_the_rest_imported(
    engine, cli_env, tmp_path: Path
) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        HEADER
        + "1,2025-01-05T08:03:00,theft,-87.63,41.88,x\n"
        + f"2,2025-01-05T08:03:00,{'T' * 200},-87.63,41.88,x\n"
        + "3\x00,2025-01-05T08:03:00,theft,-87.63,41.88,x\n",
        encoding="utf-8",
    )
    result = run(cli_env, "import", "--preset", "generic", "--no-boundary", str(path))
    assert result.exit_code == 0, result.output
    assert "read 3, imported 1, already stored 0, rejected 2" in result.output
    rejects = storage.list_rejects(engine, limit=10).sort_values("line")
    assert rejects["line"].tolist() == [3, 4]
    assert rejects["reason"].tolist() == [
        "longer than 80 characters",
        "control characters in the text",
    ]


@pytest.mark.databases()
def test_areas_load_refuses_a_huge_polygon_and_a_long_kind_naming_the_file(
    engine, cli_env, tmp_path: Path
) -> None:
    ring = [[60, 10], [140, 10], [140, 55], [60, 55], [60, 10]]
    path = tmp_path / "province.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"id": "1"},
                        "geometry": {"type": "Polygon", "coordinates": [ring]},
                    }
                ],
            }
        )
    )
    huge = run(cli_env, "areas", "load", str(path), "--kind", "jurisdiction")
    assert huge.exit_code == 2
    assert f"error: {path}: the areas cover" in huge.output
    long_kind = run(cli_env, "areas", "load", str(path), "--kind", "k" * 41)
    assert long_kind.exit_code == 2
    assert "--kind: give a short name" in long_kind.output
    assert storage.list_areas(engine).empty


def test_plan_time_limits_are_bounded(cli_env) -> None:
    for option in ("--time-limit", "--work"):
        result = run(cli_env, "plan", "--date", "2026-12-06", option, "1e12", "--out", "x.json")
        assert result.exit_code == 2
        assert f"Invalid value for '{option}': 1000000000000.0 is not in the range 0<x<=3600" in (
            result.output
        )
    replan = run(cli_env, "replan", "1", "--at", "10:00", "--time-limit", "0")
    assert replan.exit_code == 2 and "is not in the range 0<x<=3600" in replan.output


@pytest.mark.databases()
def test_import_refuses_a_source_name_the_database_cannot_keep(
    engine, cli_env, tmp_path: Path
) -> None:
    path = tmp_path / "a.csv"
    path.write_text(HEADER + "1,2025-01-05T08:03:00,theft,-87.63,41.88,x\n", encoding="utf-8")
    for source in ("s" * 81, "a\x00b"):
        result = run(cli_env, "import", "--preset", "generic", "--source", source, str(path))
        assert result.exit_code == 2
        assert "--source: give a short name (at most 80 characters)" in result.output
    assert storage.list_import_runs(engine).empty


@pytest.mark.databases()
def test_categories_the_database_cannot_keep_name_line_and_field(
    engine, cli_env, tmp_path: Path
) -> None:
    before = storage.load_categories_table(engine)
    header = "code,name_en,name_zh,weight,group,police_initiated,aliases\n"
    for row, field in ((f"{'X' * 81},a,b,1,g,false,", "code"), ("Y,a,b,1,g\x00h,false,", "group")):
        path = tmp_path / "cats.csv"
        path.write_text(header + "THEFT,Theft,盗窃,1,property,false,\n" + row + "\n")
        result = run(cli_env, "categories", "--load", str(path))
        assert result.exit_code == 2
        assert f"cats.csv: line 3, field {field}: " in result.output
    assert storage.load_categories_table(engine).equals(before)


def test_users_add_keeps_the_display_name_to_one_line_of_80_characters(engine, cli_env) -> None:
    password = "Xy7!abcdefgh"
    long_name = run(cli_env, "users", "add", "kim", "--role", "planner", "--name", "a" * 81,
                    "--password", password)  # fmt: skip
    assert long_name.exit_code == 2
    assert "--name has at most 80 characters, got 81" in long_name.output
    assert storage.get_user_by_name(engine, "kim") is None
    ok = run(cli_env, "users", "add", "kim", "--role", "planner", "--name", " Kim \n\t Lee ",
             "--password", password)  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert storage.get_user_by_name(engine, "kim").display_name == "Kim Lee"


def test_analysis_options_that_would_exhaust_memory_or_time_are_refused(cli_env) -> None:
    for args, message in (
        (["hotspots", "--as-of", "2026-01-01", "--k", "1000", "--out", "x.csv"], "'--k': 1000"),
        (["hotspots", "--as-of", "2026-01-01", "--weeks", "100000", "--out", "x.csv"],
         "'--weeks': 100000"),
        (["hotspots", "--as-of", "2026-01-01", "--days", "-1", "--out", "x.csv"], "'--days': -1"),
        (["backtest", "--weeks", "0"], "'--weeks': 0"),
        (["near-repeat", "--permutations", "1000000000"], "'--permutations': 1000000000"),
    ):  # fmt: skip
        result = run(cli_env, *args)
        assert result.exit_code == 2
        assert f"Invalid value for {message} is not in the range" in result.output


def test_dates_that_are_no_dates_name_their_option(demo_db: str, tmp_path: Path) -> None:
    env = {"HOTSPOT_DATABASE_URL": demo_db}
    out = str(tmp_path / "out.csv")
    for args, message in (
        (["score", "--as-of", "99999-01-01", "--out", out], "--as-of: '99999-01-01' is not a"),
        (["explain", "8924ae196a3ffff", "--as-of", "2026-13-01"], "--as-of: '2026-13-01' is not"),
        (["near-repeat", "--to", "garbage"], "--to: 'garbage' is not a date-time"),
        (["backtest", "--monthly", "2017-13:2018-01"], "--monthly '2017-13:2018-01'"),
        (["warnings", "backtest", "--from", "1900-01-01", "--to", "2026-01-01"],
         "46022 origins from --from to --to; at most 3660"),
    ):  # fmt: skip
        result = run(env, *args)
        assert result.exit_code == 2, result.output
        assert message in result.output
        assert "Traceback" not in result.output


@pytest.mark.databases()
def test_commands_on_a_database_without_tables_say_to_run_init_db(cli_env) -> None:
    for args in (["rejects"], ["areas"], ["categories"], ["backtest"]):
        result = run(cli_env, *args)
        assert result.exit_code == 2, result.output
        assert "the database has no tables yet" in result.output
        assert "run `hotspot init-db`" in result.output


def test_import_without_a_boundary_says_that_points_went_unchecked(
    engine, cli_env, tmp_path: Path
) -> None:
    path = tmp_path / "swapped.csv"
    path.write_text(HEADER + "1,2025-01-05T08:03:00,theft,41.88,-87.63,x\n", encoding="utf-8")
    result = run(cli_env, "import", "--preset", "generic", str(path))
    assert result.exit_code == 0, result.output
    assert "note: no jurisdiction boundary is stored, so no point was checked" in result.output
    explicit = run(cli_env, "import", "--preset", "generic", "--no-boundary", str(path))
    assert "note: no jurisdiction boundary" not in explicit.output


def test_generate_grids_out_of_range_is_a_message_and_stores_nothing(demo_copy_url: str) -> None:
    env = {"HOTSPOT_DATABASE_URL": demo_copy_url}
    engine = storage.make_engine(demo_copy_url)
    try:
        before = storage.list_areas(engine)
        for args, message in ((["--target-cells", "0"], "target_cells must be a positive"),
                              (["--seed", "-1"], "seed must be a non-negative")):  # fmt: skip
            result = run(env, "areas", "generate-grids", *args)
            assert result.exit_code == 2, result.output
            assert f"error: {message}" in result.output
        assert storage.list_areas(engine).equals(before)
    finally:
        engine.dispose()


def test_list_limits_and_positions_are_bounded(cli_env) -> None:
    for args in (["rejects", "--limit", "100000000000000000000"], ["rejects", "--limit", "-1"],
                 ["imports", "--limit", "0"],
                 ["report-categories", "add", "x", "--zh", "甲", "--en", "a", "--category",
                  "THEFT", "--position", "99999999999"]):  # fmt: skip
        result = run(cli_env, *args)
        assert result.exit_code == 2
        assert "is not in the range" in result.output


def test_demo_values_out_of_range_are_refused_before_anything_is_stored(cli_env) -> None:
    for args in (["--days", "0"], ["--days", "100000"], ["--seed", "-1"]):
        result = run(cli_env, "demo", *args)
        assert result.exit_code == 2
        assert "is not in the range" in result.output
    tables = run(cli_env, "areas")  # the database was not even created
    assert "the database has no tables yet" in tables.output
