"""Wiring of `hotspot near-repeat`, `hotspot warnings` and `hotspot warnings backtest` (the
statistics are tested in tests/geo)."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from tests.conftest import CHICAGO_BOUNDARIES, CHICAGO_INCIDENTS
from web.cli import cli

# The demo-database test runs on SQLite and on PostgreSQL (tests/web/conftest.py).
pytestmark = pytest.mark.databases(demo=True)

MONTHS = [str(CHICAGO_INCIDENTS / f"chicago_crimes_2016-0{m}.csv.gz") for m in (1, 2, 3)]
FILES = [
    "--incidents", *MONTHS, "--preset", "chicago", "--timezone", "America/Chicago",
    "--boundary", str(CHICAGO_BOUNDARIES / "city_boundary.geojson"),
]  # fmt: skip


def test_near_repeat_prints_the_knox_table() -> None:
    args = ["near-repeat", "--group", "burglary", "--from", "2016-01-01", "--to", "2016-04-01"]
    result = CliRunner().invoke(cli, [*args, "--permutations", "19", "--seed", "1", *FILES])
    assert result.exit_code == 0, result.output
    assert "Knox test:" in result.output and "0-100 m" in result.output and "0-7 d" in result.output
    assert "near-repeat window" in result.output or "no significant" in result.output


def test_warnings_writes_the_open_warnings(tmp_path) -> None:
    out = tmp_path / "warnings.csv"
    args = ["warnings", "--as-of", "2016-03-20T00:00", "--out", str(out), "--permutations", "19"]
    # the group takes no positional files: one --incidents per file
    files = [x for m in MONTHS for x in ("--incidents", m)] + FILES[len(MONTHS) + 1 :]
    result = CliRunner().invoke(cli, [*args, *files])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["cell", "area", "rule", "level", "starts", "ends", "reason"]
    assert frame["ends"].str.endswith(("-05:00", "-06:00")).all()
    assert set(frame["rule"]) <= {"near_repeat", "rising_area", "emerging"}


def test_warnings_backtest_prints_each_rule() -> None:
    args = [
        "warnings",
        "backtest",
        "--from",
        "2016-03-01",
        "--to",
        "2016-03-15",
        "--step-days",
        "14",
    ]
    result = CliRunner().invoke(cli, [*args, "--permutations", "19", *FILES])
    assert result.exit_code == 0, result.output
    assert "simple" in result.output and "lift" in result.output


def test_warnings_needs_as_of_and_out() -> None:
    result = CliRunner().invoke(cli, ["warnings"])
    assert result.exit_code == 2
    assert "--as-of" in result.output


def test_warnings_refresh_stores_what_the_site_would(demo_copy_url) -> None:
    """`hotspot warnings refresh` computes and stores the warnings open now, audits the new
    ones, and a second run raises none again (one open warning per place and rule)."""
    from web import storage

    url = demo_copy_url
    with storage.make_engine(url).begin() as conn:
        for table in ("warning_cells", "warning_acks", "warning_reads", "warnings"):
            conn.exec_driver_sql(f"DELETE FROM {table}")
    env = {"HOTSPOT_DATABASE_URL": url}
    first = CliRunner().invoke(cli, ["warnings", "refresh"], env=env)
    assert first.exit_code == 0, first.output
    raised = int(first.output.split("warnings: ")[1].split(" raised")[0])
    engine = storage.make_engine(url)
    with engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT count(*) FROM warnings").scalar_one()
        audited = conn.exec_driver_sql(
            "SELECT count(*) FROM audit_log WHERE action = 'warning_raised'"
        ).scalar_one()
    assert raised > 0 and stored == raised and audited >= raised
    again = CliRunner().invoke(cli, ["warnings", "refresh"], env=env)
    assert again.exit_code == 0 and "warnings: 0 raised" in again.output
