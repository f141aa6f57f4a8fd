"""The ``hotspot`` command: thin click commands over geo, planner and storage.

One module per concern, each adding its commands to the group here: ``data`` (database,
incidents, categories, areas, stations, the demo and the Chicago data), ``analysis`` (scores,
backtests, hot spots, explanations, the concentration guardrail), ``plans`` (patrol plans),
``accounts`` (users) and ``serve`` (the site). ``_common`` holds what they share.
"""

from __future__ import annotations

import click

from web.cli import (
    accounts,
    analysis,
    backup,
    data,
    plans,
    reports,
    serve,
    tokens,
    warnings,
    worker,
)

__all__ = ["cli"]


@click.group()
def cli() -> None:
    """Hotspot scoring and patrol planning over H3 cells."""


for _command in (
    data.init_db_command,
    data.categories_command,
    data.import_command,
    data.rejects_command,
    data.imports_command,
    data.areas_group,
    data.stations_command,
    data.demo_command,
    data.load_chicago_command,
    analysis.score_command,
    analysis.backtest_command,
    analysis.concentration_command,
    analysis.explain_command,
    analysis.hotspots_command,
    analysis.score_run_command,
    plans.plan_command,
    plans.plan_problem_command,
    plans.replan_command,
    accounts.users_group,
    reports.report_categories_group,
    tokens.tokens_group,
    serve.serve_command,
    worker.worker_command,
    backup.backup_command,
    backup.restore_command,
    warnings.near_repeat_command,
    warnings.warnings_group,
):
    cli.add_command(_command)
