"""Account commands: list, add, passwd, grids, disable and enable (``hotspot users``)."""

from __future__ import annotations

from collections.abc import Callable

import click

from web import storage
from web.cli._common import audit, fail, failing_on, pass_ctx, workspace_of
from web.services.workspace import Workspace, init_database


@click.group("users", invoke_without_command=True)
@click.pass_context
def users_group(click_ctx: click.Context) -> None:
    """List accounts, or manage them: add, passwd, grids, disable, enable."""
    if click_ctx.invoked_subcommand is None:
        ws = workspace_of(click_ctx)
        init_database(ws)
        for row in storage.list_users(ws.engine).itertuples():
            state = "active" if row.active else "disabled"
            click.echo(f"{row.username:<16} {row.role:<12} {state:<9} {row.grids}")


def _password_option(function):
    return click.option(
        "--password",
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        help="the password (asked for when not given; at least 8 characters)",
    )(function)


def _account(ws: Workspace, username: str):
    record = storage.get_user_by_name(ws.engine, username)
    if record is None:
        fail(f"no account named {username!r}")
    return record


@users_group.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(storage.ROLES), required=True)
@click.option("--name", "display_name", default="", help="name shown on the site")
@click.option("--grids", default="", help="grid ids for a grid worker, comma-separated")
@_password_option
@pass_ctx
def users_add(ctx: Workspace, username: str, role: str, display_name: str, grids: str,
              password: str) -> None:  # fmt: skip
    """Create an account (the first admin is made this way)."""
    from web.services.accounts import hash_password, validate_username

    init_database(ctx)
    with failing_on(ValueError):
        validate_username(username)
    display_name = " ".join(display_name.split())  # one line, as the site's admin page keeps
    if len(display_name) > 80:
        fail(f"--name has at most 80 characters, got {len(display_name)}")
    grid_ids = [g.strip() for g in grids.split(",") if g.strip()]
    if grid_ids and role != "grid_worker":
        fail("only grid workers are assigned grids")
    with failing_on(ValueError):
        known = set(storage.load_area_cells(ctx.engine, "grid")["area_id"])
        unknown = [g for g in grid_ids if g not in known]
        if unknown:
            fail(f"unknown grid id(s): {', '.join(unknown)}")
        user_id = storage.create_user(ctx.engine, username, hash_password(password), role,
                                      display_name=display_name)  # fmt: skip
        storage.set_user_grids(ctx.engine, user_id, grid_ids)
    audit(ctx, "user_created", f"{username} ({role}) from the command line")
    click.echo(f"created {username} ({role})")


@users_group.command("passwd")
@click.argument("username")
@_password_option
@pass_ctx
def users_passwd(ctx: Workspace, username: str, password: str) -> None:
    """Set an account's password."""
    from web.services.accounts import hash_password

    record = _account(ctx, username)
    with failing_on(ValueError):
        storage.update_user(ctx.engine, record.id, password_hash=hash_password(password))
    audit(ctx, "user_changed", f"{username}: password reset from the command line")
    click.echo(f"password of {username} changed")


@users_group.command("grids")
@click.argument("username")
@click.argument("grid_ids", nargs=-1)
@pass_ctx
def users_grids(ctx: Workspace, username: str, grid_ids: tuple[str, ...]) -> None:
    """Assign management grids to a grid worker (replacing any)."""
    record = _account(ctx, username)
    if record.role != "grid_worker":
        fail(f"{username} is a {record.role}; only grid workers are assigned grids")
    with failing_on(ValueError):
        assigned = storage.set_user_grids(ctx.engine, record.id, grid_ids)
    audit(ctx, "user_changed", f"{username}: grids {', '.join(assigned) or 'none'}")
    click.echo(f"{username}: {', '.join(assigned) or 'no grids'}")


def _set_active(ctx: Workspace, username: str, active: bool) -> None:
    record = _account(ctx, username)
    storage.update_user(ctx.engine, record.id, active=active)
    state = "enabled" if active else "disabled"
    audit(ctx, "user_changed", f"{username}: {state}")
    click.echo(f"{username} {state}")


def add_disable_enable(
    group: click.Group,
    argument: str,
    set_active: Callable[[Workspace, str, bool], None],
    *,
    disable_help: str,
    enable_help: str,
) -> None:
    """Add the commands ``disable ARGUMENT`` and ``enable ARGUMENT`` to ``group``; each calls
    ``set_active(workspace, value, active)``. (Shared with the report category commands.)"""
    switches = (("disable", False, disable_help), ("enable", True, enable_help))
    for name, active, help_text in switches:

        @group.command(name, help=help_text)
        @click.argument("value", metavar=argument.upper())
        @pass_ctx
        def switch(ctx: Workspace, value: str, active: bool = active) -> None:
            set_active(ctx, value, active)


add_disable_enable(
    users_group,
    "username",
    _set_active,
    disable_help="Disable an account (it can no longer log in; its records stay).",
    enable_help="Enable a disabled account.",
)
