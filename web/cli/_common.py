"""What the command modules share: the workspace decorator, failing with a message, and the
audit log entries of the person at the terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import click

from web import storage
from web.services.workspace import Workspace

__all__ = ["pass_ctx", "fail", "failing_on", "os_user", "audit"]

pass_ctx = click.make_pass_decorator(Workspace, ensure=True)


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
