"""`hotspot import` and friends on files a tired clerk exports: a clear message naming the
file (and line and field), and the database either unchanged or holding every good row."""

from __future__ import annotations

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
