"""API token commands: add, list and revoke (``hotspot tokens``)."""

from __future__ import annotations

import click
import pandas as pd

from web.cli._common import audit, fail, pass_ctx
from web.services.workspace import Workspace, init_database
from web.storage import tokens as token_store


@click.group("tokens", invoke_without_command=True)
@click.pass_context
def tokens_group(click_ctx: click.Context) -> None:
    """List API tokens of machine clients, or add and revoke them."""
    if click_ctx.invoked_subcommand is None:
        click_ctx.invoke(tokens_list)


def _utc(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    return pd.Timestamp(seconds, unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M UTC")


@tokens_group.command("add")
@click.argument("name")
@click.option("--scope", type=click.Choice(token_store.SCOPES), required=True,
              help="feed: POST incidents to /api/feed; read: the API's GET routes")  # fmt: skip
@pass_ctx
def tokens_add(ctx: Workspace, name: str, scope: str) -> None:
    """Create a token and print it (once: only its hash is stored)."""
    init_database(ctx)
    try:
        record, token = token_store.create_token(ctx.engine, name, scope)
    except ValueError as err:
        fail(str(err))
    audit(ctx, "token_created", f"{record.name} (scope {record.scope}, {record.hint}...)")
    click.echo(token)
    click.echo(
        f"token {record.name} (scope {record.scope}) created; copy it now: it is not shown "
        "again. Clients send it as the header 'Authorization: Bearer <token>'.",
        err=True,
    )


@tokens_group.command("list")
@pass_ctx
def tokens_list(ctx: Workspace) -> None:
    """Every token: name, scope, start of the token, created, last use, revoked."""
    init_database(ctx)
    records = token_store.list_tokens(ctx.engine)
    if not records:
        click.echo("no tokens; add one with: hotspot tokens add NAME --scope feed")
        return
    for t in records:
        state = f"revoked {_utc(t.revoked_at)}" if t.revoked_at else "active"
        used = f"{_utc(t.last_used_at)} from {t.last_used_ip}" if t.last_used_at else "never"
        click.echo(
            f"{t.name:<20} {t.scope:<5} {t.hint}...  created {_utc(t.created_at)}  "
            f"last used {used}  {state}"
        )


@tokens_group.command("revoke")
@click.argument("name")
@pass_ctx
def tokens_revoke(ctx: Workspace, name: str) -> None:
    """Revoke a token: clients using it are refused at once."""
    init_database(ctx)
    try:
        record = token_store.revoke_token(ctx.engine, name)
    except KeyError as err:
        fail(str(err.args[0]))
    audit(ctx, "token_revoked", f"{record.name} (scope {record.scope})")
    click.echo(f"token {record.name} revoked")
