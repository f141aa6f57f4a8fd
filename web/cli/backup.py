"""Backup commands: ``hotspot backup FILE`` while the site runs, ``hotspot restore FILE``
into an empty database (see :mod:`web.storage.backup`)."""

from __future__ import annotations

from pathlib import Path

import click

from web.cli._common import failing_on, pass_ctx
from web.services.workspace import Workspace
from web.storage import backup as backups

_MAX_TIMEOUT_S = 7 * 24 * 3600
_timeout_option = click.option(
    "--timeout", "timeout_s", type=click.IntRange(1, _MAX_TIMEOUT_S),
    default=backups.DEFAULT_TIMEOUT_S, show_default=True,
    help="seconds before giving up (nothing is left half-written)",
)  # fmt: skip
_file_argument = click.argument("file", type=click.Path(dir_okay=False, path_type=Path))


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:,.1f} MB" if n_bytes >= 100_000 else f"{n_bytes:,} bytes"


@click.command("backup")
@_file_argument
@click.option("--force", is_flag=True, help="replace FILE if it exists")
@_timeout_option
@pass_ctx
def backup_command(ctx: Workspace, file: Path, force: bool, timeout_s: int) -> None:
    """Write a consistent backup of the whole database to FILE while the site runs.

    SQLite: a copy of the database file made with SQLite's online backup API. PostgreSQL:
    a pg_dump archive (custom format). FILE is written in one go: a failed backup leaves
    no file.
    """
    with failing_on(backups.BackupError):
        result = backups.backup_database(ctx.engine, file, timeout_s=timeout_s, replace=force)
    kind = {"sqlite": "SQLite", "postgresql": "PostgreSQL (pg_dump custom format)"}[result.kind]
    click.echo(f"backup written: {result.path} ({kind}, {_size(result.size_bytes)})")


@click.command("restore")
@_file_argument
@_timeout_option
@pass_ctx
def restore_command(ctx: Workspace, file: Path, timeout_s: int) -> None:
    """Restore the backup FILE into the database, which must be empty (no tables).

    The backup must come from the same kind of database (SQLite or PostgreSQL). Afterwards
    the migrations run, so a backup made by an older version is upgraded; the rows of every
    table are printed.
    """
    if not file.is_file():
        raise click.BadParameter(f"{file} is not a file", param_hint="FILE")
    with failing_on(backups.BackupError):
        backups.restore_database(ctx.engine, file, timeout_s=timeout_s)
    counts = backups.table_counts(ctx.engine)
    click.echo(f"restored {file} into {ctx.engine.url.render_as_string(hide_password=True)}")
    width = max(len(name) for name in counts)
    for name, rows in counts.items():
        click.echo(f"  {name:<{width}}  {rows:>10,}")
    click.echo(f"{len(counts)} tables, {sum(counts.values()):,} rows")
