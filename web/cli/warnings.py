"""Early warning commands: the Knox table (`near-repeat`), the warnings open at a time
(`warnings`) and their backtest (`warnings backtest`), from the database or incident files."""

from __future__ import annotations

import functools

import click
import numpy as np
import pandas as pd

from web.cli._common import fail, failing_on, local_time, pass_ctx, workspace_of
from web.cli.analysis import _group_codes, _scoring_data
from web.services.workspace import Workspace

KNOX_YEAR_S = 365 * 86400
AREA_KIND = "beat"
# Most origins a warnings backtest takes: ten years of days (each one scores the city).
MAX_ORIGINS = 3660

_FILE_OPTIONS = [
    click.option("--incidents", "incident_files", multiple=True, type=click.Path(exists=True),
                 help="read these files (repeat the option) instead of the database"),
    click.option("--preset", help="column mapping of --incidents files"),
    click.option("--boundary", "boundary_path", type=click.Path(exists=True),
                 help="jurisdiction boundary for --incidents"),
    click.option("--areas", "areas_path", type=click.Path(exists=True),
                 help="areas (GeoJSON) of the rising-area rule for --incidents"),
    click.option("--timezone", help="city timezone for --incidents files"),
]  # fmt: skip


def _file_options(function, *, more_files: bool = True):
    # `--incidents a.csv b.csv ...`: the files after the first arrive as positional arguments
    # (as in analysis.py); a group cannot take them, its subcommand name comes there.
    options = _FILE_OPTIONS
    if more_files:
        options = [click.argument("more_files", nargs=-1, type=click.Path(exists=True))] + options

        command = function

        @functools.wraps(command)
        def wrapper(*args, more_files=(), incident_files=(), **kwargs):
            return command(
                *args, incident_files=tuple(incident_files) + tuple(more_files), **kwargs
            )

        function = wrapper
    for option in reversed(options):
        function = option(function)
    return function


def _points(ctx: Workspace, files, preset, timezone, codes, start_s: int, end_s: int):
    """Incidents of the group with lon/lat in [start_s, end_s): the Knox test needs metres."""
    if files:
        from geo.categories import load_categories
        from geo.ingest import PRESETS, ImportRules, prepare_incidents, read_incident_table
        from web import clock
        from web.config import REPO_ROOT

        mapping = PRESETS[preset]
        rules = ImportRules(
            timezone=timezone, now=clock.now(), resolution=9, source=preset,
            known_categories=load_categories(REPO_ROOT / "data" / "categories.csv"),
        )  # fmt: skip
        frames = [
            prepare_incidents(read_incident_table(p, mapping), mapping, rules).incidents
            for p in files
        ]
        frame = pd.concat(frames, ignore_index=True)
    else:
        from web import storage

        frame = storage.load_incidents(ctx.engine, start_s=start_s, end_s=end_s)
    keep = (frame["occurred_at"] >= start_s) & (frame["occurred_at"] < end_s)
    if codes is not None:
        keep &= frame["category"].isin(set(codes))
    return frame.loc[keep, ["occurred_at", "lon", "lat"]].dropna()


def _knox(points, permutations: int, seed: int):
    from geo.near_repeat import knox_test, project_points

    x, y = project_points(points["lon"].to_numpy(), points["lat"].to_numpy())
    return knox_test(x, y, points["occurred_at"].to_numpy(), permutations=permutations, seed=seed)


def _areas(ctx: Workspace, files, areas_path, resolution: int):
    from geo.boundaries import cells_from_polygons, load_areas

    if files:
        if not areas_path:
            return None
        cover = cells_from_polygons(load_areas(areas_path, kind=AREA_KIND), resolution)
    else:
        from web import storage

        cover = storage.load_area_cells(ctx.engine, AREA_KIND)
    if cover.empty:
        return None
    return {str(a): g["cell"].to_numpy(dtype=np.int64) for a, g in cover.groupby("area_id")}


def _iso(seconds, timezone: str) -> list[str]:
    stamps = pd.to_datetime(np.asarray(seconds, dtype=np.int64), unit="s", utc=True)
    return [s.isoformat() for s in stamps.tz_convert(timezone)]


def _settings(ctx, files, preset, timezone, codes, as_of_s: int, data, permutations, seed):
    from geo.near_repeat import choose_bands
    from geo.warnings import NearRepeatSettings, RisingAreaSettings, WarningSettings

    points = _points(ctx, files, preset, data.timezone, codes, as_of_s - KNOX_YEAR_S, as_of_s)
    bands = choose_bands(_knox(points, permutations, seed)) if len(points) > 1 else None
    return bands, WarningSettings(
        near_repeat=NearRepeatSettings(bands=bands, resolution=data.resolution),
        rising_area=RisingAreaSettings(timezone=data.timezone),
    )


@click.command("near-repeat")
@click.option("--group", default="burglary", show_default=True)
@click.option("--categories", help="comma-separated category codes instead of --group")
@click.option("--from", "start", help="first day (local); default a year before --to")
@click.option("--to", "end", help="day after the last (local); default the newest incident")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--permutations", type=click.IntRange(1, 9999), default=99, show_default=True)
@click.option("--alpha", type=float, default=0.05, show_default=True)
@click.option("--min-ratio", type=float, default=1.2, show_default=True)
@_file_options
@pass_ctx
def near_repeat_command(ctx: Workspace, group, categories, start, end, seed, permutations, alpha,
                        min_ratio, incident_files, preset, boundary_path, areas_path,
                        timezone) -> None:  # fmt: skip
    """Print the Knox table of a group and the near-repeat bands it gives."""
    from geo.near_repeat import choose_bands

    if incident_files and not preset:
        fail("--incidents needs --preset")
    zone = timezone or str(ctx.settings["TIMEZONE"])
    codes = _group_codes(group, categories)
    end_s = local_time(end, zone, "--to") if end else 2**40
    start_s = local_time(start, zone, "--from") if start else -(2**40)
    points = _points(ctx, incident_files, preset, zone, codes, start_s, end_s)
    if not start and len(points):
        start_s = int(points["occurred_at"].max()) - KNOX_YEAR_S
        points = points[points["occurred_at"] >= start_s]
    if len(points) < 2:
        fail("fewer than two incidents of the group in the period")
    table = _knox(points, permutations, seed)
    click.echo(table.format(alpha))
    bands = choose_bands(table, alpha=alpha, min_ratio=min_ratio)
    if bands is None:
        click.echo(f"no significant near-repeat pattern (alpha {alpha:g}, ratio >= {min_ratio:g})")
        return
    click.echo(
        f"near-repeat window: 0-{bands.distance_m:g} m, 0-{bands.time_days:g} days, "
        f"ratio {bands.ratio:.2f} (weakest cell {bands.min_ratio_cell:.2f}, "
        f"largest p {bands.max_p_value:.3f})"
    )


@click.group("warnings", invoke_without_command=True)
@click.option("--as-of", "as_of", help="ISO time; local time without an offset")
@click.option("--group", help="category group (default: burglary, robbery, motor vehicle theft)")
@click.option("--categories", help="comma-separated category codes")
@click.option("--out", "out_path", type=click.Path(dir_okay=False))
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--permutations", type=click.IntRange(1, 9999), default=99, show_default=True)
@functools.partial(_file_options, more_files=False)
@click.pass_context
def warnings_group(click_ctx, as_of, group, categories, out_path, seed, permutations,
                   incident_files, preset, boundary_path, areas_path,
                   timezone) -> None:  # fmt: skip
    """Write the warnings open at --as-of (cell as H3 hex; an area warning one row per cell)."""
    if click_ctx.invoked_subcommand is not None:
        return
    from geo.cells import hex_from_cells
    from geo.warnings import compute_warnings

    if not (as_of and out_path):
        fail("warnings needs --as-of and --out (or a subcommand: backtest)")
    ctx = workspace_of(click_ctx)
    codes = _warning_codes(group, categories)
    data = _scoring_data(ctx, incident_files, preset, boundary_path, timezone, None, None)
    as_of_s = local_time(as_of, data.timezone)
    bands, settings = _settings(
        ctx, incident_files, preset, timezone, codes, as_of_s, data, permutations, seed
    )
    areas = _areas(ctx, incident_files, areas_path, data.resolution)
    frame = compute_warnings(
        data.incidents, data.cells, as_of_s, areas=areas, group_codes=codes, settings=settings
    )
    out = pd.DataFrame(
        {
            "cell": hex_from_cells(frame["cell"].to_numpy()),
            "area": frame["area"],
            "rule": frame["rule"],
            "level": frame["level"],
            "starts": _iso(frame["starts_s"], data.timezone),
            "ends": _iso(frame["ends_s"], data.timezone),
            "reason": frame["reason"],
        }
    )
    out.to_csv(out_path, index=False)
    counts = frame.groupby("rule").size().to_dict() if len(frame) else {}
    window = "none" if bands is None else f"{bands.distance_m:g} m / {bands.time_days:g} d"
    click.echo(
        f"{len(out)} warning rows as of {as_of} ({data.timezone}): {counts or 'none'}; "
        f"Knox window {window}; wrote {out_path}"
    )


def _warning_codes(group: str | None, categories: str | None) -> tuple[str, ...]:
    """The group's codes; without --group or --categories, those the site warns about."""
    from geo.warnings import DEFAULT_GROUP_CODES

    return tuple(_group_codes(group, categories) or DEFAULT_GROUP_CODES)


@warnings_group.command("refresh")
@pass_ctx
def warnings_refresh_command(ctx: Workspace) -> None:
    """Compute the warnings open now from the stored incidents and store them, as the site
    does after new data and each score run (new ones audited, ended ones expired)."""
    from web.services.warnings import refresh_warnings

    with failing_on(ValueError):
        changes = refresh_warnings(ctx.engine)
    click.echo(
        f"warnings: {len(changes.raised)} raised, {len(changes.extended)} extended, "
        f"{len(changes.expired)} expired"
    )


@warnings_group.command("backtest")
@click.option("--from", "start", required=True, help="first origin (local day)")
@click.option("--to", "end", required=True, help="last origin (local day)")
@click.option("--group", help="category group (default: burglary, robbery, motor vehicle theft)")
@click.option("--categories", help="comma-separated category codes")
@click.option("--step-days", type=click.IntRange(1, 366), default=1, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--permutations", type=click.IntRange(1, 9999), default=99, show_default=True)
@click.option("--table", "table_path", type=click.Path(dir_okay=False), help="CSV of every origin")
@_file_options
@pass_ctx
def warnings_backtest_command(ctx: Workspace, start, end, group, categories, step_days, seed,
                              permutations, table_path, incident_files, preset, boundary_path,
                              areas_path, timezone) -> None:  # fmt: skip
    """Backtest each warning rule over origins every --step-days, next to the simple rule."""
    from geo.warnings_backtest import (
        backtest_warnings,
        format_warning_backtest,
        summarise_warning_backtest,
    )

    codes = _warning_codes(group, categories)
    data = _scoring_data(ctx, incident_files, preset, boundary_path, timezone, None, None)
    local_time(start, data.timezone, "--from")
    local_time(end, data.timezone, "--to")
    days = pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq=f"{step_days}D")
    if len(days) > MAX_ORIGINS:
        fail(f"{len(days)} origins from --from to --to; at most {MAX_ORIGINS} (use --step-days)")
    origins = [local_time(d.isoformat(), data.timezone, "--from") for d in days]
    if not origins:
        fail("no origins between --from and --to")
    # The Knox bands come from the year before the first origin only.
    bands, settings = _settings(
        ctx, incident_files, preset, timezone, codes, origins[0], data, permutations, seed
    )
    areas = _areas(ctx, incident_files, areas_path, data.resolution)
    table = backtest_warnings(
        data.incidents, data.cells, origins, areas=areas, group_codes=codes, settings=settings
    )
    window = "none" if bands is None else f"{bands.distance_m:g} m / {bands.time_days:g} d"
    click.echo(
        f"{len(origins)} origins {start}..{end} every {step_days} d, {len(data.cells)} cells, "
        f"{len(areas) if areas else 0} areas; Knox window {window}"
    )
    click.echo(format_warning_backtest(summarise_warning_backtest(table)))
    if table_path:
        table.to_csv(table_path, index=False)
        click.echo(f"table: {table_path}")
