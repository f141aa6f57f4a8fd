"""Stations' own units and working hours per named shift, from the stations file
(`hotspot stations --load`: columns units_day, units_evening, units_night, hours_day, ...)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from web import storage
from web.cli import cli
from web.services.patrol_plans import PlanRequest, plan_day

pytestmark = pytest.mark.databases()


@pytest.fixture
def demo(cli_env, tmp_path):
    result = CliRunner().invoke(cli, ["demo", "--days", "30", "--seed", "3"], env=cli_env)
    assert result.exit_code == 0, result.output
    engine = storage.make_engine(cli_env["HOTSPOT_DATABASE_URL"])
    yield cli_env, engine, storage.list_stations(engine)
    engine.dispose()


def _write(tmp_path, stations: pd.DataFrame, **columns) -> str:
    frame = stations[["station_id", "name", "name_en", "lon", "lat", "units"]].copy()
    for name, values in columns.items():
        frame[name] = values
    path = tmp_path / "stations.csv"
    frame.to_csv(path, index=False)
    return str(path)


def test_a_stations_file_sets_units_and_hours_per_shift(demo, tmp_path) -> None:
    env, engine, stations = demo
    n = len(stations)
    path = _write(tmp_path, stations, units_night=[0] + [1] * (n - 1),
                  hours_day=["", "10:00-14:00"] + [""] * (n - 2))  # fmt: skip
    result = CliRunner().invoke(cli, ["stations", "--load", path], env=env)
    assert result.exit_code == 0, result.output
    first, second = stations["station_id"].iloc[0], stations["station_id"].iloc[1]
    stored = storage.list_stations(engine).set_index("station_id")
    assert json.loads(stored.loc[first, "shifts"]) == {"night": {"units": 0}}
    assert json.loads(stored.loc[second, "shifts"]) == {
        "day": {"hours": "10:00-14:00"}, "night": {"units": 1}}  # fmt: skip
    night = plan_day(engine, PlanRequest(date="2026-12-01", shift="night", candidates=30,
                                         time_limit_s=1.0, seed=1), "s")  # fmt: skip
    owners = {u.id.rsplit("-", 1)[0] for u in night.problem.units}
    assert first not in owners and len(night.problem.units) == n - 1
    day = plan_day(engine, PlanRequest(date="2026-12-01", shift="day", candidates=30,
                                       time_limit_s=1.0, seed=1), "s")  # fmt: skip
    for unit in day.problem.units:
        expected = (10 * 3600, 14 * 3600) if unit.id.startswith(f"{second}-") else (
            8 * 3600, 16 * 3600)  # fmt: skip
        assert (unit.shift_start_s, unit.shift_end_s) == expected
    # The form's numbers come before the file's: units at the first station at night.
    again = plan_day(engine, PlanRequest(date="2026-12-01", shift="night", candidates=30,
                                         time_limit_s=1.0, seed=1, station_units={first: 2}),
                     "s")  # fmt: skip
    assert sum(u.id.startswith(f"{first}-") for u in again.problem.units) == 2


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        (
            "hours_day",
            ["07:00-12:00"],
            "line 2, field hours_day: 07:00-12:00 is not within the day",
        ),
        ("hours_evening", ["late"], "line 2, field hours_evening: HH:MM-HH:MM, got 'late'"),
        ("units_day", ["two"], "line 2, field units_day: a whole number from 0 to 50"),
        ("units_night", [-1], "line 2, field units_night: a whole number from 0 to 50"),
    ],
)
def test_a_bad_stations_file_is_refused_naming_line_and_field(demo, tmp_path, column, values,
                                                              message) -> None:  # fmt: skip
    env, engine, stations = demo
    before = storage.list_stations(engine)
    path = _write(tmp_path, stations, **{column: values + [""] * (len(stations) - 1)})
    result = CliRunner().invoke(cli, ["stations", "--load", path], env=env)
    assert result.exit_code == 2 and message in result.output, result.output
    pd.testing.assert_frame_equal(storage.list_stations(engine), before)
