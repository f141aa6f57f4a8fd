"""What the command modules share: the workspace decorator, failing with a message, and the
name the audit log records for the person at the terminal."""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from web.services.workspace import Workspace

__all__ = ["pass_ctx", "fail", "os_user"]

pass_ctx = click.make_pass_decorator(Workspace, ensure=True)


def fail(message: str) -> NoReturn:
    """Print ``error: message`` on standard error and exit with status 2."""
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def os_user() -> str:
    """``cli:<login name>`` for the audit log (``cli`` when the system cannot tell)."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"
