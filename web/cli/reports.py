"""Report category commands: the short list grid workers report from (``hotspot
report-categories list|add|disable|enable``)."""

from __future__ import annotations

import click

from web.cli._common import audit, fail, failing_on, pass_ctx
from web.cli.accounts import add_disable_enable
from web.services.workspace import Workspace, init_database
from web.storage import reports as report_store


@click.group("report-categories", invoke_without_command=True)
@click.pass_context
def report_categories_group(click_ctx: click.Context) -> None:
    """List the report categories, or manage them: add, disable, enable."""
    if click_ctx.invoked_subcommand is None:
        click_ctx.invoke(report_categories_list)


@report_categories_group.command("list")
@pass_ctx
def report_categories_list(ctx: Workspace) -> None:
    """Every report category in its order, with the incident category it becomes."""
    init_database(ctx)
    for c in report_store.list_report_categories(ctx.engine):
        state = "active" if c.active else "disabled"
        click.echo(f"{c.code:<16} {state:<9} {c.category_code:<28} {c.name_zh} / {c.name_en}")


@report_categories_group.command("add")
@click.argument("code")
@click.option("--zh", "name_zh", required=True, help="name in Chinese")
@click.option("--en", "name_en", required=True, help="name in English")
@click.option(
    "--category",
    "category_code",
    required=True,
    help="the incident category an accepted report becomes (see `hotspot categories`)",
)
@click.option("--position", type=click.IntRange(0, 9999), default=None,
              help="place in the list (default: last)")  # fmt: skip
@pass_ctx
def report_categories_add(ctx: Workspace, code: str, name_zh: str, name_en: str,
                          category_code: str, position: int | None) -> None:  # fmt: skip
    """Add a report category."""
    init_database(ctx)
    code = code.strip()
    if not code or len(code) > 40 or not name_zh.strip() or not name_en.strip():
        fail("the code (1-40 characters) and both names are required")
    with failing_on(ValueError):
        report_store.add_report_category(ctx.engine, code, name_zh.strip()[:80],
                                         name_en.strip()[:80], category_code, position)  # fmt: skip
    audit(ctx, "report_category", f"added {code} -> {category_code}")
    click.echo(f"report category {code} added (becomes {category_code})")


def _set_active(ctx: Workspace, code: str, active: bool) -> None:
    init_database(ctx)
    if not report_store.set_report_category_active(ctx.engine, code, active):
        fail(f"no report category named {code!r}")
    word = "enabled" if active else "disabled"
    audit(ctx, "report_category", f"{word} {code}")
    click.echo(f"report category {code} {word}")


add_disable_enable(
    report_categories_group,
    "code",
    _set_active,
    disable_help="Take a category off the list (reports already made keep it).",
    enable_help="Put a disabled category back on the list.",
)
