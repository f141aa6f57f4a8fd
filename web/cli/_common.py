"""What the command modules share: the workspace decorator, failing with a message, and the
audit log entries of the person at the terminal."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click

from web import storage
from web.services.workspace import Workspace

__all__ = ["pass_ctx", "workspace_of", "fail", "failing_on", "local_time", "os_user", "audit"]


def pass_ctx(function: Callable[..., Any]) -> Callable[..., Any]:
    """Pass the command's :class:`Workspace` (made on first use) as the first argument, as
    ``click.make_pass_decorator(Workspace, ensure=True)`` does, and close its database
    connections when the command ends: a database server would otherwise keep them open
    until the process exits."""

    @functools.wraps(function)
    def with_workspace(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        return ctx.invoke(function, workspace_of(ctx), *args, **kwargs)

    return with_workspace


def workspace_of(ctx: click.Context) -> Workspace:
    """The command's :class:`Workspace` (made on first use), its database connections closed
    when the command ends (for groups that take the click context)."""
    workspace = ctx.ensure_object(Workspace)
    ctx.call_on_close(functools.partial(_close, workspace))
    return workspace


def _close(workspace: Workspace) -> None:
    """Close the pooled connections of the workspace's engine, if it made one."""
    engine = workspace.__dict__.get("_engine")  # not made for commands that never needed it
    if engine is not None:
        engine.dispose()


def fail(message: str) -> NoReturn:
    """Print ``error: message`` on standard error and exit with status 2."""
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


@contextmanager
def failing_on(*errors: type[Exception]) -> Iterator[None]:
    """Within the block, any of ``errors`` ends the command through :func:`fail` with its
    message."""
    try:
        yield
    except errors as err:
        fail(str(err))


def local_time(text: str, timezone: str, option: str = "--as-of") -> int:
    """UTC seconds of a date-time typed for ``option``; without an offset it is local time in
    ``timezone``. One that is no date-time, or does not exist on the local clock, ends the
    command with a message naming the option."""
    from web.services.scoring_data import parse_local_time

    try:
        return parse_local_time(text, timezone)
    except ValueError as err:  # pandas' parse errors, DST gaps and NaT all derive from it
        fail(f"{option}: {text!r} is not a date-time such as 2026-01-05 or 2026-01-05T08:00 "
             f"in {timezone} ({err})")  # fmt: skip


def os_user() -> str:
    """``cli:<login name>`` for the audit log (``cli`` when the system cannot tell)."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def audit(ws: Workspace, action: str, detail: str) -> None:
    """Add an entry to the audit log in the name of the person at the terminal."""
    storage.audit(ws.engine, action, username=os_user(), detail=detail)
