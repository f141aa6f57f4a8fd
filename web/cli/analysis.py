"""Analysis commands: scores, backtests, the concentration guardrail, cell explanations and
statistical hot spots, from the database or straight from incident files."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import click
import pandas as pd

from web import storage
from web.cli._common import fail, failing_on, local_time, pass_ctx
from web.services.workspace import Workspace

# --- data for every analysis ---------------------------------------------------------------------


def _scoring_data(ctx: Workspace, incident_files, preset, boundary_path, timezone, res, piw):
    from geo.cells import DEFAULT_RESOLUTION
    from web.services.scoring_data import scoring_data_from_db, scoring_data_from_files

    try:
        if incident_files:
            if not (preset and boundary_path):
                fail("--incidents needs --preset and --boundary")
            return scoring_data_from_files(
                incident_files, preset, boundary_path,
                timezone or str(ctx.settings["TIMEZONE"]), res or DEFAULT_RESOLUTION,
                police_initiated_weight=piw,
            )  # fmt: skip
        return scoring_data_from_db(ctx.engine, resolution=res, police_initiated_weight=piw)
    except ValueError as err:  # GeoError derives from ValueError
        fail(str(err))


def _group_codes(group: str | None, categories: str | None):
    from web.services.scoring_data import GROUPS

    if categories:
        return tuple(c.strip().upper() for c in categories.split(",") if c.strip())
    if group:
        if group not in GROUPS:
            fail(f"unknown group {group!r}; known: {', '.join(GROUPS)}")
        return GROUPS[group]
    return None


_DATA_OPTIONS = [
    # `--incidents a.csv b.csv ...`: click options take one value each, so the files after
    # the first arrive as positional arguments and are joined back together.
    click.argument("more_files", nargs=-1, type=click.Path(exists=True)),
    click.option("--incidents", "incident_files", multiple=True, type=click.Path(exists=True),
                 help="score from these files (FILE...) instead of the database"),
    click.option("--preset", help="column mapping of --incidents files"),
    click.option("--boundary", "boundary_path", type=click.Path(exists=True),
                 help="jurisdiction boundary for --incidents"),
    click.option("--timezone", help="city timezone for --incidents files"),
    click.option("--res", type=int, help="H3 resolution (the stored one or coarser)"),
    click.option("--police-initiated-weight", "piw", type=float,
                 help="factor on police-initiated categories (default 0: excluded)"),
]  # fmt: skip


def _data_options(function):
    @functools.wraps(function)
    def wrapper(*args, more_files=(), incident_files=(), **kwargs):
        if more_files and not incident_files:
            fail(f"unexpected argument(s) {' '.join(more_files)}; files go after --incidents")
        return function(*args, incident_files=tuple(incident_files) + tuple(more_files), **kwargs)

    for option in reversed(_DATA_OPTIONS):
        wrapper = option(wrapper)
    return wrapper


def _monthly_option(help_text: str):
    # The default is the benchmark's year of test months (bench/score_bench.py).
    return click.option("--monthly", default="2017-07:2018-06", show_default=True, help=help_text)


def backtest_origins(monthly: str, weekly_end: str, weeks: int, timezone: str) -> list[tuple]:
    """The labelled origin sets of a backtest: ``("monthly", origins)`` for the FIRST:LAST test
    months of ``monthly``, ``("weekly", origins)`` for ``weeks`` weeks ending ``weekly_end``;
    an empty ``monthly`` or ``weekly_end`` leaves its set out."""
    from geo.backtest import monthly_origins, weekly_origins

    runs: list[tuple] = []
    if monthly:
        first, _, last = monthly.partition(":")
        runs.append(("monthly", monthly_origins(first, last or first, timezone)))
    if weekly_end:
        runs.append(("weekly", weekly_origins(weekly_end, weeks, timezone)))
    return runs


def backtest_models(data, names, runs, groups) -> Iterator[tuple]:
    """Backtest the models ``names`` on each labelled origin set of ``runs`` in turn, yielding
    ``(label, origins, result)`` as each finishes. Plain counts (no category weights), each
    model free to pool the other categories; ``data`` is a ScoringData. Shared with the
    benchmark (bench/score_bench.py)."""
    from geo.backtest import model_forecaster, run_backtest

    forecasters = [model_forecaster(n, pool_categories=True) for n in names]
    for label, origins in runs:
        yield label, origins, run_backtest(data.incidents, data.cells, forecasters, origins, groups)


@click.command("score")
@click.option("--as-of", "as_of", required=True, help="ISO time; local time without an offset")
@click.option("--model", default="default", show_default=True)
@click.option("--group", help="category group: all, burglary, violent")
@click.option("--categories", help="comma-separated category codes")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False))
@click.option("--explain", is_flag=True, help="add each model component's column")
@_data_options
@pass_ctx
def score_command(ctx: Workspace, as_of, model, group, categories, out_path, explain,
                  incident_files, preset, boundary_path, timezone, res, piw) -> None:  # fmt: skip
    """Score every study-area cell as of a time; writes cell,score (cell as H3 hex)."""
    from geo.cells import hex_from_cells
    from geo.scoring import MODELS, score_cells

    if model not in MODELS:
        fail(f"unknown model {model!r}; known: {', '.join(sorted(MODELS))}")
    data = _scoring_data(ctx, incident_files, preset, boundary_path, timezone, res, piw)
    as_of_s = local_time(as_of, data.timezone)
    scores = score_cells(
        data.incidents, data.cells, as_of_s, model=model,
        category_weights=data.category_weights, categories=_group_codes(group, categories),
    )  # fmt: skip
    out = scores if explain else scores[["cell", "score"]]
    out = out.assign(cell=hex_from_cells(out["cell"].to_numpy()))
    out.to_csv(out_path, index=False)
    used = int((data.incidents["occurred_at"] < as_of_s).sum())
    click.echo(
        f"{len(out)} cells scored with {model} as of {as_of} ({data.timezone}) from {used} "
        f"incidents; top cell {out['cell'].iloc[out['score'].argmax()]}; wrote {out_path}"
    )


@click.command("backtest")
@click.option("--models", default="naive,weighted_count,ring_smoothed,default", show_default=True)
@click.option("--groups", default="all,burglary,violent", show_default=True)
@_monthly_option("FIRST:LAST test months (origin at the start of each); '' for none")
@click.option(
    "--weekly-end",
    default="2018-07-31",
    show_default=True,
    help="last day of the weekly origins; '' for none",
)
@click.option("--weeks", type=click.IntRange(1, 520), default=8, show_default=True)
@click.option("--table", "table_path", type=click.Path(dir_okay=False), help="CSV of every origin")
@click.option("--chart", "chart_path", type=click.Path(dir_okay=False), help="PNG coverage curves")
@_data_options
@pass_ctx
def backtest_command(ctx: Workspace, models, groups, monthly, weekly_end, weeks, table_path,
                     chart_path, incident_files, preset, boundary_path, timezone, res,
                     piw) -> None:  # fmt: skip
    """Backtest models side by side on rolling monthly and weekly origins."""
    from geo.backtest import format_table, plot_coverage, summarise
    from geo.scoring import MODELS
    from web.services.scoring_data import GROUPS

    names = [m.strip() for m in models.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        fail(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(sorted(MODELS))}")
    if "naive" not in names:
        names.insert(0, "naive")  # the reference every model is compared with
    chosen = {g.strip(): GROUPS.get(g.strip(), ()) for g in groups.split(",") if g.strip()}
    bad = [g for g in chosen if g not in GROUPS]
    if bad:
        fail(f"unknown group(s) {', '.join(bad)}; known: {', '.join(GROUPS)}")
    data = _scoring_data(ctx, incident_files, preset, boundary_path, timezone, res, piw)
    try:
        runs = backtest_origins(monthly, weekly_end, weeks, data.timezone)
    except ValueError as err:  # GeoError derives from it
        fail(f"--monthly {monthly!r} / --weekly-end {weekly_end!r}: {err}")
    tables = []
    for label, origins, result in backtest_models(data, names, runs, chosen):
        click.echo(f"\n{label} origins ({len(origins)}), {len(data.cells)} study cells:")
        click.echo(format_table(summarise(result)))
        tables.append(result.table.assign(origins=label))
        if chart_path:
            target = Path(chart_path)
            if len(runs) > 1:
                target = target.with_name(f"{target.stem}_{label}{target.suffix}")
            plot_coverage(result, target)
            click.echo(f"chart: {target}")
    if table_path and tables:
        pd.concat(tables, ignore_index=True).to_csv(table_path, index=False)
        click.echo(f"table: {table_path}")


@click.command("concentration")
@click.option("--kind", default="district", show_default=True, help="area kind to report on")
@click.option("--model", default="default", show_default=True)
@click.option("--group", help="category group: all, burglary, violent")
@_monthly_option("FIRST:LAST months; scores are taken at the start of each")
@click.option(
    "--top",
    "top_fraction",
    type=float,
    default=0.05,
    show_default=True,
    help="share of the study area counted as top-ranked",
)
@click.option("--out", "out_path", type=click.Path(dir_okay=False), help="CSV of every share")
@_data_options
@pass_ctx
def concentration_command(ctx: Workspace, kind, model, group, monthly, top_fraction, out_path,
                          incident_files, preset, boundary_path, timezone, res,
                          piw) -> None:  # fmt: skip
    """Guardrail report: each area's share of the top-ranked cells, month by month."""
    from geo.backtest import area_share_of_top, monthly_origins, summarise_concentration
    from geo.checks import local_dates
    from geo.scoring import score_cells

    data = _scoring_data(ctx, incident_files, preset, boundary_path, timezone, res, piw)
    area_cells = storage.load_area_cells(ctx.engine, kind)
    if area_cells.empty:
        fail(f"no areas of kind {kind!r}; load them with `hotspot areas load FILE --kind {kind}`")
    first, _, last = monthly.partition(":")
    codes = _group_codes(group, None)
    scores = {
        origin.origin_s: score_cells(
            data.incidents, data.cells, origin.origin_s, model=model,
            category_weights=data.category_weights, categories=codes,
        )["score"].to_numpy()
        for origin in monthly_origins(first, last or first, data.timezone)
    }  # fmt: skip
    shares = area_share_of_top(scores, data.cells, area_cells, top_fraction=top_fraction)
    summary = summarise_concentration(shares)
    click.echo(f"top {top_fraction:.0%} of the study area by {model}, per {kind}:")
    click.echo("month     areas with top  largest share (area)   x its size  Herfindahl  Gini")
    months = local_dates(summary["origin_s"].to_numpy(), data.timezone).astype("datetime64[M]")
    for month, row in zip(months.astype(str), summary.itertuples(), strict=True):
        click.echo(
            f"{month}   {row.n_areas_with_top:>5} of {row.n_areas:<5}  "
            f"{row.max_share:>6.1%} ({row.max_area_id:<8})  {row.max_ratio:>9.1f}  "
            f"{row.herfindahl:>10.3f}  {row.gini:>4.2f}"
        )
    if out_path:
        shares.to_csv(out_path, index=False)
        click.echo(f"shares: {out_path}")


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "n/a" if value is None else format(value, spec)


def _window_days(text: str | None) -> dict:
    """``windows_days`` for geo.explain from ``--windows`` (nothing: geo's default windows)."""
    if text is None:
        return {}
    try:
        return {"windows_days": tuple(float(part) for part in text.split(",") if part.strip())}
    except ValueError:
        fail(f"--windows: expected days separated by commas, e.g. 7,28,91,365; got {text!r}")


@click.command("explain")
@click.argument("cell_ids", nargs=-1, required=True)
@click.option("--as-of", "as_of", required=True, help="ISO time; local time without an offset")
@click.option("--model", default="default", show_default=True)
@click.option("--group", help="category group: all, burglary, violent")
@click.option("--windows", help="count windows in days, comma-separated [default: 7,28,91,365]")
@click.option(
    "--police-initiated-weight",
    "piw",
    type=float,
    help="factor on police-initiated categories (default 0: excluded)",
)
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of text")
@pass_ctx
def explain_command(ctx: Workspace, cell_ids, as_of, model, group, windows, piw,
                    as_json) -> None:  # fmt: skip
    """Explain cells (H3 hex ids): counts, trend, Gi* class, model components, hot hours."""
    import json

    from geo.errors import GeoError
    from geo.explain import explain_cells

    data = _scoring_data(ctx, (), None, None, None, None, piw)
    as_of_s = local_time(as_of, data.timezone)
    try:
        explanations = explain_cells(
            data.incidents, data.cells, list(cell_ids), as_of_s, data.timezone, model=model,
            category_weights=data.category_weights, categories=_group_codes(group, None),
            **_window_days(windows),
        )  # fmt: skip
    except GeoError as err:
        fail(str(err))
    payload = [e.to_dict() for e in explanations]
    if as_json:
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    for item in payload:
        model_part = item["model"]
        gi = item["gi_star"]
        trend = item["trend"]
        click.echo(f"cell {item['cell']}  as of {as_of} ({data.timezone})")
        click.echo(
            f"  {model_part['name']} score {model_part['score']:.3g}, rank {model_part['rank']} "
            f"of {model_part['n_cells']}"
        )
        for name, part in model_part["components"].items():
            click.echo(f"    {name:<14} {part['value']!s:>10}  {part['note']}")
        click.echo(f"  Gi*: {gi['label']} (z {_fmt(gi['z'])}); emerging: {item['emerging']}")
        click.echo(f"  trend over {len(trend['counts'])} weeks: {trend['direction']} "
                   f"(Mann-Kendall z {_fmt(trend['z'])}, p {_fmt(trend['p'], '.3f')})")  # fmt: skip
        click.echo("  counts: " + "; ".join(
            f"{cat} {counts}" for cat, counts in list(item["counts"].items())[:6]
        ))  # fmt: skip
        windows = item["hot_hours"]["windows"]
        if windows:
            click.echo("  hot hours: " + ", ".join(w["label"] for w in windows))


@click.command("hotspots")
@click.option("--as-of", "as_of", required=True, help="ISO time; local time without an offset")
@click.option("--days", type=click.IntRange(1, 36600), default=365, show_default=True,
              help="window for Gi*")  # fmt: skip
@click.option("--weeks", type=click.IntRange(1, 520), default=52, show_default=True,
              help="weeks for emerging")  # fmt: skip
@click.option("--k", "k", type=click.IntRange(0, 10), default=1, show_default=True,
              help="neighbourhood rings")  # fmt: skip
@click.option("--group", help="category group: all, burglary, violent")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False))
@_data_options
@pass_ctx
def hotspots_command(ctx: Workspace, as_of, days, weeks, k, group, out_path, incident_files,
                     preset, boundary_path, timezone, res, piw) -> None:  # fmt: skip
    """Statistical hot spots: Gi* class (FDR) and emerging hot-spot category per cell."""
    from geo.cells import hex_from_cells
    from geo.emerging import WEEK_S, emerging_hotspots
    from geo.hotspots import hotspot_table
    from geo.scoring import score_cells

    data = _scoring_data(ctx, incident_files, preset, boundary_path, timezone, res, piw)
    as_of_s = local_time(as_of, data.timezone)
    codes = _group_codes(group, None)
    incidents = data.incidents
    weights = data.category_weights
    keep = incidents["category"].map(lambda c: weights.get(c, 1.0) > 0).to_numpy(dtype=bool)
    if codes is not None:
        keep &= incidents["category"].isin(codes).to_numpy()
    incidents = incidents[keep & (incidents["occurred_at"].to_numpy() < as_of_s)]
    window = incidents[incidents["occurred_at"] >= as_of_s - days * 86400]
    counts = score_cells(window, data.cells, as_of_s, model="naive")["score"].to_numpy()
    with failing_on(ValueError):  # GeoError: too many neighbour pairs or cube counts
        table = hotspot_table(data.cells, counts, k=k)
        emerging = emerging_hotspots(
            data.cells, incidents["cell"].to_numpy(), incidents["occurred_at"].to_numpy(),
            as_of_s - weeks * WEEK_S, as_of_s, k=k,
        )  # fmt: skip
    out = table.merge(emerging[["cell", "category", "trend_z", "trend_p"]], on="cell", how="left")
    out = out.rename(columns={"category": "emerging"})
    out["cell"] = hex_from_cells(out["cell"].to_numpy())
    out.to_csv(out_path, index=False)
    hot = int((out["gi_bin"] > 0).sum())
    cold = int((out["gi_bin"] < 0).sum())
    common = out["emerging"].value_counts().head(4).to_dict()
    click.echo(f"{len(out)} cells: {hot} hot and {cold} cold at 90 % or more (FDR); "
               f"emerging: {common}; wrote {out_path}")  # fmt: skip


@click.command("score-run")
@pass_ctx
def score_run_command(ctx: Workspace) -> None:
    """Recompute the forecast scores now (a score run): every server process keys its scores
    by the newest run within a second; `hotspot serve` also queues one (for a worker) every
    HOTSPOT_SCORE_INTERVAL_MIN minutes."""
    from web.cli._common import audit, failing_on
    from web.services.score_runs import run_scores

    with failing_on(ValueError):
        run = run_scores(ctx.engine, "demand")
    audit(ctx, "score_run", f"run {run.id}")
    click.echo(f"score run {run.id}: scores computed from import runs up to {run.data_run_id}")
