"""The CLI's listing commands on an empty database: a plain line instead of no output."""

from __future__ import annotations

from click.testing import CliRunner

from web.cli import cli


def test_rejects_and_areas_say_when_there_are_none(engine, cli_env) -> None:
    runner = CliRunner()
    rejects = runner.invoke(cli, ["rejects"], env=cli_env)
    assert rejects.exit_code == 0, rejects.output
    assert rejects.output == "no rejected rows\n"
    areas = runner.invoke(cli, ["areas"], env=cli_env)
    assert areas.exit_code == 0, areas.output
    assert areas.output == "no areas loaded\n"
