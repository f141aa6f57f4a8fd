"""The site's cached incident data: filters, counts, scores and reloading after imports."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from web import storage
from web.cli import cli
from web.services import site_data as hd
from web.services.filters import (
    FilterError,
    Filters,
    category_mask,
    cell_counts,
    local_date,
    parse_filters,
)
from web.services.scores import MAP_MODEL, cell_scores

# Every test runs on the demo in SQLite and in PostgreSQL (tests/web/conftest.py).
pytestmark = pytest.mark.databases(demo=True)


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
    filters = parse_filters({"start": first, "end": last, "hours": "22-3",
                                "weekdays": "5,6", "group": "violent"}, site)  # fmt: skip
    expected = raw[
        (local >= pd.Timestamp(first, tz="Asia/Shanghai"))
        & (local < last_day + pd.Timedelta(days=1))
        & local.dt.hour.isin([22, 23, 0, 1, 2, 3])
        & local.dt.day_of_week.isin([5, 6])
        & raw["category"].isin(filters.categories or ())
    ]
    counts = cell_counts(site, filters)
    assert counts["n"].sum() == len(expected) > 0
    assert dict(zip(counts["cell"], counts["n"], strict=True)) == (
        expected.groupby("cell").size().to_dict()
    )


def test_area_filter_keeps_only_the_areas_cells(data) -> None:
    engine, site = data
    grids = storage.load_area_cells(engine, "grid")
    grid_id = grids.groupby("area_id").size().idxmax()
    filters = parse_filters({"area": f"grid:{grid_id}"}, site, engine)
    cells = set(grids.loc[grids["area_id"] == grid_id, "cell"])
    counts = cell_counts(site, filters)
    assert set(counts["cell"]) <= cells
    scores = cell_scores(site, filters)
    assert set(scores["cell"]) <= cells and len(scores) > 0
    assert scores["rank"].min() >= 1


def test_scores_rank_the_study_area_and_are_cached(data) -> None:
    _, site = data
    filters = parse_filters({}, site)
    first = cell_scores(site, filters)
    assert len(first) == len(site.cells)
    assert sorted(first["rank"]) == list(range(1, len(first) + 1))
    top = first.sort_values("rank").iloc[0]
    assert top["score"] == first["score"].max()
    assert cell_scores(site, filters) is first


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"start": "2026-13-01"}, "start: expected a date"),
        ({"start": "2026-5-1"}, "start: expected a date YYYY-MM-DD"),
        ({"start": "0001-01-01"}, "start: dates from 1970-01-01 to 2099-12-31"),
        ({"end": "2262-04-10"}, "end: dates from 1970-01-01 to 2099-12-31"),
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
    with pytest.raises(FilterError, match=message):
        parse_filters(args, site, engine)


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


# --- the compact columns -----------------------------------------------------------------


PER_INCIDENT = ("occurred_at", "cell_index", "category_index", "hour", "weekday", "day")


def test_incidents_are_compact_columns_sorted_by_cell(data) -> None:
    engine, site = data
    raw = storage.load_incidents(engine)
    assert site.n_incidents == len(raw) > 1000
    dtypes = {name: getattr(site, name).dtype for name in PER_INCIDENT}
    assert dtypes == {"occurred_at": np.int64, "cell_index": np.int32,
                      "category_index": np.int16, "hour": np.int8, "weekday": np.int8,
                      "day": np.int32}  # fmt: skip
    held = ("occurred_at", "cell_index", "category_index")  # the rest is worked out on demand
    assert sum(getattr(site, name).itemsize for name in held) == 14  # bytes per incident
    assert not any(getattr(site, name).flags.writeable for name in PER_INCIDENT)
    # The same incidents as the database holds.
    mine = pd.DataFrame(
        {
            "occurred_at": site.occurred_at,
            "cell": site.incident_cells,
            "category": np.asarray(site.category_codes)[site.category_index],
        }
    )
    theirs = raw[["occurred_at", "cell", "category"]].astype({"category": str})
    columns = ["cell", "occurred_at", "category"]
    assert mine.sort_values(columns).reset_index(drop=True).equals(
        theirs.sort_values(columns).reset_index(drop=True)
    )  # fmt: skip
    # Sorted by cell then time; each cell's incidents are one slice.
    assert (np.diff(site.cell_ids) > 0).all()
    assert (np.diff(site.cell_index) >= 0).all()
    same_cell = np.diff(site.cell_index) == 0
    assert (np.diff(site.occurred_at)[same_cell] >= 0).all()
    cell = int(site.cell_ids[len(site.cell_ids) // 2])
    rows = site.cell_rows(cell)
    assert (site.incident_cells[rows] == cell).all()
    assert rows.stop - rows.start == (raw["cell"] == cell).sum()
    assert site.cell_rows(int(site.cells.max()) + 1) == slice(0, 0)
    # Local hour, weekday and day in the city's timezone.
    local = pd.to_datetime(site.occurred_at, unit="s", utc=True).tz_convert(site.timezone)
    assert (local.hour.to_numpy() == site.hour).all()
    assert (local.day_of_week.to_numpy() == site.weekday).all()
    days = local.tz_localize(None).to_numpy().astype("datetime64[D]").astype(np.int64)
    assert (days == site.day).all()
    assert (site.first_s, site.last_s) == (raw["occurred_at"].min(), raw["occurred_at"].max())


def test_a_bulk_column_reader_gives_the_same_data(data, monkeypatch) -> None:
    """When storage reads the columns in bulk (``storage.incident_columns``), the site data
    is loaded from it, in chunks, and is the same."""
    engine, site = data
    raw = storage.load_incidents(engine)
    table = storage.load_categories_table(engine)
    ids = dict(zip(table["code"], table["id"], strict=True))
    chunks = []

    def incident_columns(_engine, chunk_rows):
        for start in range(0, len(raw), 1000):
            part = raw.iloc[start : start + 1000]
            chunks.append(len(part))
            yield {
                "occurred_at": part["occurred_at"].to_numpy(dtype=np.int64),
                "cell": part["cell"].to_numpy(dtype=np.int64),
                "category_id": part["category"].map(ids).to_numpy(dtype=np.int64),
            }

    monkeypatch.setattr(storage, "incident_columns", incident_columns, raising=False)
    loaded = hd.load_site_data(engine, site.source, site.version)
    assert len(chunks) > 2 and sum(chunks) == site.n_incidents
    for name in (*PER_INCIDENT, "cell_ids", "cell_starts", "cells"):
        assert np.array_equal(getattr(loaded, name), getattr(site, name)), name


def test_data_the_packed_keys_cannot_hold_loads_the_same(data, monkeypatch) -> None:
    """Loading sorts incidents through 64-bit keys (cell rank, time, category); data beyond
    their bits (here: more than four cells) is sorted column by column instead."""
    engine, site = data
    monkeypatch.setattr(hd, "_CELL_BITS", 2)
    loaded = hd.load_site_data(engine, site.source, site.version)
    assert "local_fields" not in loaded._memo  # hours, weekdays and days come when asked for
    for name in (*PER_INCIDENT, "cell_ids", "cell_starts", "cells"):
        assert np.array_equal(getattr(loaded, name), getattr(site, name)), name


def test_scores_pass_the_category_filter_to_geo(data) -> None:
    from geo.scoring import score_cells

    _, site = data
    filters = parse_filters({"group": "violent"}, site)
    as_of_s = site.last_s + 1
    for model in ("default", "weighted_count"):
        scores = cell_scores(site, filters, model=model)
        expected = score_cells(site.incidents, site.cells, as_of_s, model=model,
                               category_weights=site.category_weights,
                               categories=filters.categories)  # fmt: skip
        assert np.allclose(scores["score"], expected["score"], rtol=1e-12, atol=0)
    # A count model gives what counting the group's incidents alone gives.
    alone = site.incidents[category_mask(site, filters.categories)]
    counted = score_cells(alone, site.cells, as_of_s, model="weighted_count",
                          category_weights=site.category_weights)  # fmt: skip
    assert np.allclose(scores["score"], counted["score"], rtol=1e-12, atol=0)


def test_the_planner_scores_the_sites_data(data, monkeypatch) -> None:
    """A day's patrol plan scores the site's incidents through the map's scoring (no second
    read of the incidents from the database)."""
    from web.services import patrol_plans, scoring_data
    from web.services import scores as scoring

    engine, site = data
    calls = []
    scored = scoring.cell_scores

    def counted_scores(data, filters, model=MAP_MODEL, as_of_s=None):
        calls.append((data, filters, model))
        return scored(data, filters, model, as_of_s)

    def no_second_read(*_args, **_kwargs):
        raise AssertionError("the planner read the incidents again")

    monkeypatch.setattr(scoring, "cell_scores", counted_scores)
    monkeypatch.setattr(scoring_data, "scoring_data_from_db", no_second_read)
    monkeypatch.setattr(storage, "load_incidents", no_second_read)
    day = local_date(site.last_s, site.timezone)
    request = patrol_plans.PlanRequest(date=day, candidates=20, time_limit_s=2.0, work_s=0.2,
                                       seed=1)  # fmt: skip
    planned = patrol_plans.plan_day(engine, request, secret="test")
    assert len(calls) == 1 and calls[0][0] is hd.site_data(engine)
    assert calls[0][1] == Filters() and calls[0][2] == "default"
    assert len(planned.problem.stops) == 20
