"""The ``hotspot`` command: thin click commands over geo, planner and storage.

One module per concern, each adding its commands to the group here: ``data`` (database,
incidents, categories, areas, stations, the demo and the Chicago data), ``analysis`` (scores,
backtests, hot spots, explanations, the concentration guardrail), ``plans`` (patrol plans),
``accounts`` (users) and ``serve`` (the site). ``_common`` holds what they share.
"""

from __future__ import annotations

import click
import sqlalchemy as sa

from web.cli import (
    _common,
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


class _Group(click.Group):
    """The ``hotspot`` group: a database without the schema (a new file, a mistyped
    ``HOTSPOT_DATABASE_URL``) ends a command with what to do instead of a traceback."""

    def invoke(self, ctx: click.Context):  # noqa: ANN201 - click's own signature
        try:
            return super().invoke(ctx)
        except Exception as err:
            cause = _database_error(err)
            text = str(cause.orig) if cause is not None else ""
            if "no such table" in text or type(getattr(cause, "orig", None)).__name__ == (
                "UndefinedTable"
            ):
                _common.fail(
                    f"the database has no tables yet ({text}): run `hotspot init-db`, or "
                    "check HOTSPOT_DATABASE_URL"
                )
            if "unable to open database file" in text:
                _common.fail(f"cannot open the database ({text}): check HOTSPOT_DATABASE_URL")
            raise


def _database_error(err: BaseException | None) -> sa.exc.DBAPIError | None:
    """The database driver's error behind ``err`` (pandas wraps it in its own), if any."""
    for _ in range(5):
        if err is None or isinstance(err, sa.exc.DBAPIError):
            return err
        err = err.__cause__ or err.__context__
    return None


@click.group(cls=_Group)
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
