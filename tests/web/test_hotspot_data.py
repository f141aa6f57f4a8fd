"""The site's cached incident data: filters, counts, scores and reloading after imports."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from web import storage
from web.cli import cli
from web.services import site_data as hd


@pytest.fixture(scope="module")
def data(demo_db):
    engine = storage.make_engine(demo_db)
    return engine, hd.site_data(engine)


def test_counts_follow_local_dates_hours_weekdays_and_categories(data) -> None:
    engine, site = data
    raw = storage.load_incidents(engine)
    local = pd.to_datetime(raw["occurred_at"], unit="s", utc=True).dt.tz_convert("Asia/Shanghai")
    last_day = local.max().normalize()
    first = (last_day - pd.Timedelta(days=13)).strftime("%Y-%m-%d")
    last = last_day.strftime("%Y-%m-%d")
    filters = hd.parse_filters({"start": first, "end": last, "hours": "22-3",
                                "weekdays": "5,6", "group": "violent"}, site)  # fmt: skip
    expected = raw[
        (local >= pd.Timestamp(first, tz="Asia/Shanghai"))
        & (local < last_day + pd.Timedelta(days=1))
        & local.dt.hour.isin([22, 23, 0, 1, 2, 3])
        & local.dt.day_of_week.isin([5, 6])
        & raw["category"].isin(filters.categories or ())
    ]
    counts = hd.cell_counts(site, filters)
    assert counts["n"].sum() == len(expected) > 0
    assert dict(zip(counts["cell"], counts["n"], strict=True)) == (
        expected.groupby("cell").size().to_dict()
    )


def test_area_filter_keeps_only_the_areas_cells(data) -> None:
    engine, site = data
    grids = storage.load_area_cells(engine, "grid")
    grid_id = grids.groupby("area_id").size().idxmax()
    filters = hd.parse_filters({"area": f"grid:{grid_id}"}, site, engine)
    cells = set(grids.loc[grids["area_id"] == grid_id, "cell"])
    counts = hd.cell_counts(site, filters)
    assert set(counts["cell"]) <= cells
    scores = hd.cell_scores(site, filters)
    assert set(scores["cell"]) <= cells and len(scores) > 0
    assert scores["rank"].min() >= 1


def test_scores_rank_the_study_area_and_are_cached(data) -> None:
    _, site = data
    filters = hd.parse_filters({}, site)
    first = hd.cell_scores(site, filters)
    assert len(first) == len(site.cells)
    assert sorted(first["rank"]) == list(range(1, len(first) + 1))
    top = first.sort_values("rank").iloc[0]
    assert top["score"] == first["score"].max()
    assert hd.cell_scores(site, filters) is first


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"start": "2026-13-01"}, "start: expected a date"),
        ({"start": "2026-05-02", "end": "2026-05-01"}, "end: must not be before start"),
        ({"hours": "7-25"}, "hours: values must be in 0..23"),
        ({"weekdays": "mon"}, "weekdays: expected numbers"),
        ({"category": "NOT_A_CODE"}, "category: unknown code"),
        ({"group": "parking"}, "group: unknown"),
        ({"category": "THEFT", "group": "violent"}, "either category or group"),
        ({"area": "grid"}, "area: expected KIND:ID"),
        ({"area": "grid:NOPE"}, "area: no grid with id"),
    ],
)
def test_bad_filters_name_the_parameter(data, args, message) -> None:
    engine, site = data
    with pytest.raises(hd.FilterError, match=message):
        hd.parse_filters(args, site, engine)


def test_data_reloads_after_an_import(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'small.db'}"
    env = {"HOTSPOT_DATABASE_URL": url}
    runner = CliRunner()
    result = runner.invoke(cli, ["demo", "--days", "10", "--seed", "3"], env=env)
    assert result.exit_code == 0, result.output
    engine = storage.make_engine(url)
    before = hd.site_data(engine)
    assert hd.site_data(engine) is before
    rows = storage.load_incidents(engine).head(3)
    extra = tmp_path / "extra.csv"
    pd.DataFrame({
        "incident_id": ["x1", "x2", "x3"],
        "description": ["test"] * 3,
        "occurred_at": ["2026-01-05T10:00:00", "2026-01-05T11:00:00", "2026-01-05T12:00:00"],
        "category": ["THEFT"] * 3,
        "lon": rows["lon"].to_numpy(), "lat": rows["lat"].to_numpy(),
    }).to_csv(extra, index=False)  # fmt: skip
    imported = runner.invoke(cli, ["import", str(extra), "--preset", "generic"], env=env)
    assert imported.exit_code == 0, imported.output
    after = hd.site_data(engine)
    assert after is not before and after.version != before.version
    assert len(after.incidents) == len(before.incidents) + 3
    assert np.isin(rows["cell"].to_numpy(), after.incidents["cell"].to_numpy()).all()
