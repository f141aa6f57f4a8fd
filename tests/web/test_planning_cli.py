"""Wiring of `hotspot plan` (from the demo database) and `hotspot plan-problem` (JSON)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pandas as pd
import pytest
from click.testing import CliRunner

from web.cli import cli
from web.services.patrol_plans import daily_seed, read_units, shift_seconds


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory) -> dict[str, str]:
    path = tmp_path_factory.mktemp("plan") / "demo.db"
    env = {"HOTSPOT_DATABASE_URL": f"sqlite:///{path}", "HOTSPOT_SECRET_KEY": "test-secret"}
    result = CliRunner().invoke(cli, ["demo", "--days", "90", "--seed", "3"], env=env)
    assert result.exit_code == 0, result.output
    return env


def _plan(env, tmp_path, *extra: str):
    out = tmp_path / "plan.json"
    args = ["plan", "--date", "2026-11-20", "--shift", "evening", "--candidates", "60",
            "--time-limit", "20", "--work", "2", "--out", str(out), *extra]  # fmt: skip
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text()), result.output


def test_plan_from_the_database_with_every_export(demo_env, tmp_path) -> None:
    paths = {k: tmp_path / f"plan.{k}" for k in ("geojson", "gpx", "csv")}
    plan, output = _plan(demo_env, tmp_path, "--seed", "5", "--geojson", str(paths["geojson"]),
                         "--gpx", str(paths["gpx"]), "--csv", str(paths["csv"]))  # fmt: skip
    assert "14 units, 60 candidate cells" in output  # the five demo stations' 4+3+2+3+2 units
    assert "feasible True" in output
    assert plan["timezone"] == "Asia/Shanghai" and plan["seed"] == 5
    assert len(plan["units"]) == 14
    assert plan["feasible"] is True
    # Each unit's node sequence runs from its station back to its station.
    visits = sum(len(unit["nodes"]) - 2 for unit in plan["units"])
    assert visits > 14
    geo = json.loads(paths["geojson"].read_text())
    assert geo["type"] == "FeatureCollection" and geo["features"]
    gpx = ET.fromstring(paths["gpx"].read_text())
    assert len([el for el in gpx if el.tag.endswith("rte")]) == 14
    rows = pd.read_csv(paths["csv"])
    assert len(rows) == visits
    # Evening shift 16:00-24:00 local: every visit starts inside it.
    assert rows["start_s"].between(16 * 3600, 24 * 3600).all()


def test_same_seed_same_plan_and_a_fresh_daily_seed_otherwise(demo_env, tmp_path) -> None:
    first, _ = _plan(demo_env, tmp_path, "--seed", "11")
    again, _ = _plan(demo_env, tmp_path, "--seed", "11")
    assert first["units"] == again["units"]
    daily, _ = _plan(demo_env, tmp_path)
    assert daily["seed"] == daily_seed("2026-11-20", "test-secret")
    assert daily_seed("2026-11-20", "test-secret") != daily_seed("2026-11-21", "test-secret")
    assert daily_seed("2026-11-20", "test-secret") != daily_seed("2026-11-20", "other")


def test_units_file_and_shift_parsing(demo_env, tmp_path) -> None:
    units = tmp_path / "units.csv"
    units.write_text("unit_id,station_id,mode,break_min\nA1,S01,car,30\nF1,S02,foot,0\n")
    frame = read_units(units)
    assert list(frame["mode"]) == ["car", "foot"]
    plan, output = _plan(demo_env, tmp_path, "--units", str(units), "--seed", "2")
    assert "2 units" in output
    assert {unit["id"] for unit in plan["units"]} == {"A1", "F1"}
    assert shift_seconds("night") == (0, 8 * 3600)
    assert shift_seconds("22:00-06:00") == (22 * 3600, 30 * 3600)
    with pytest.raises(ValueError, match="HH:MM-HH:MM"):
        shift_seconds("noon")
    bad = tmp_path / "bad.csv"
    bad.write_text("unit_id,station_id\nX,S99\n")
    result = CliRunner().invoke(
        cli, ["plan", "--date", "2026-11-20", "--units", str(bad), "--out", str(tmp_path / "x")],
        env=demo_env,
    )  # fmt: skip
    assert result.exit_code == 2 and "unknown station_id S99" in result.output


def test_plan_problem_solves_a_matrix_level_problem(tmp_path) -> None:
    problem = {
        "travel_time_s": [[0, 600, 600, 900], [600, 0, 300, 600], [600, 300, 0, 600],
                          [900, 600, 600, 0]],
        "value": [0, 10, 4, 7],
        "dwell_s": 900,
        "units": [{"id": "u1", "start": 0, "end": 0, "max_duration_s": 3600}],
        "time_limit_s": 2,
        "seed": 1,
    }  # fmt: skip
    source = tmp_path / "problem.json"
    source.write_text(json.dumps(problem))
    out = tmp_path / "plan.json"
    result = CliRunner().invoke(cli, ["plan-problem", str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    plan = json.loads(out.read_text())
    # One hour: 600 out + 900 dwell + 300 + 900 dwell + 600 back = 3300 s fits nodes 1 and 2
    # (value 14); node 3 alone needs 900+900+900 = 2700 s (value 7); 1 and 3 need 600 + 900 +
    # 600 + 900 + 900 = 3900 s, too long. So the optimum is 14.
    assert plan["total_value"] == pytest.approx(14)
    broken = tmp_path / "broken.json"
    broken.write_text('{"value": [0, 1]}')
    result = CliRunner().invoke(cli, ["plan-problem", str(broken), "--out", str(out)])
    assert result.exit_code == 2
    assert "broken.json" in result.output
