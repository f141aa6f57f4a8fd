"""Data commands: the database, incidents and their rejects, categories, areas, stations,
the Jiayuguan demo and the real Chicago data."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import click
import pandas as pd

from web import clock, storage
from web.cli._common import audit, fail, failing_on, pass_ctx, workspace_of
from web.config import REPO_ROOT
from web.services.workspace import Workspace, init_database, load_area_layer

_load_option = click.option("--load", "load_path", type=click.Path(exists=True, dir_okay=False))


def _echo_rows(frame: pd.DataFrame, empty: str, line: Callable[[Any], str]) -> None:
    """Print ``line(row)`` for each row of ``frame``, or ``empty`` when it has none."""
    if frame.empty:
        click.echo(empty)
        return
    for row in frame.itertuples():
        click.echo(line(row))


# --- database ---------------------------------------------------------------------------


@click.command("init-db")
@pass_ctx
def init_db_command(ctx: Workspace) -> None:
    """Create or upgrade the database schema (safe to run again)."""
    init_database(ctx)
    click.echo(f"database ready: {ctx.engine.url.render_as_string(hide_password=True)}")


@click.command("categories")
@_load_option
@pass_ctx
def categories_command(ctx: Workspace, load_path: str | None) -> None:
    """List categories, or load/update them from a category file."""
    from geo.categories import load_categories
    from geo.errors import GeoError

    if load_path:
        with failing_on(GeoError):
            n = storage.store_categories(ctx.engine, load_categories(load_path))
        click.echo(f"{n} categories loaded from {load_path}")
    frame = storage.load_categories_table(ctx.engine)
    for row in frame.itertuples():
        flag = " (police-initiated)" if row.police_initiated else ""
        click.echo(f"{row.code:<36} {row.weight:>5g}  {row.group:<16} {row.name_zh}{flag}")


# --- incidents ----------------------------------------------------------------------------


def _mapping_from_options(preset, column_map, time_format, crs, delimiter, encoding):
    from dataclasses import replace

    from geo.ingest import PRESETS, ColumnMapping

    mapping = PRESETS.get(preset) if preset else None
    if preset and mapping is None:
        fail(f"unknown preset {preset!r}; known: {', '.join(sorted(PRESETS))}")
    fields = {}
    for item in column_map:
        if "=" not in item:
            fail(f"--map takes FIELD=COLUMN, got {item!r}")
        key, value = item.split("=", 1)
        if key not in ColumnMapping.__dataclass_fields__ or key in {"crs", "delimiter", "encoding"}:
            fail(f"--map: unknown field {key!r}")
        fields[key] = value or None
    if mapping is None:
        if "occurred_at" not in fields or "category" not in fields:
            fail("give --preset or at least --map occurred_at=COLUMN --map category=COLUMN")
        mapping = ColumnMapping(**fields)
    else:
        mapping = replace(mapping, **fields)
    extra = {}
    if time_format:
        extra["time_format"] = time_format
    if crs:
        extra["crs"] = crs
    if delimiter:
        extra["delimiter"] = "\t" if delimiter in {"\\t", "tab"} else delimiter
    if encoding:
        extra["encoding"] = encoding
    return replace(mapping, **extra)


@click.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--preset", help="named column mapping, e.g. chicago or generic")
@click.option("--map", "column_map", multiple=True, help="FIELD=COLUMN, e.g. category=Type")
@click.option("--time-format", help="strftime format of local times (default ISO 8601)")
@click.option("--crs", help="coordinate system: EPSG:4326 (default), GCJ-02, BD-09, EPSG:...")
@click.option("--delimiter", help="CSV delimiter (default ,)")
@click.option("--encoding", help="text encoding (default utf-8; e.g. gbk)")
@click.option("--source", help="data source name; record ids are unique within it")
@click.option("--timezone", help="override the city's timezone for reading local times")
@click.option("--strict-categories", is_flag=True, help="reject unknown categories")
@click.option("--boundary", "boundary_path", type=click.Path(exists=True, dir_okay=False))
@click.option("--no-boundary", is_flag=True, help="do not check the jurisdiction boundary")
@click.option("--boundary-tolerance-m", type=float, help="accept points this far outside")
@click.option("--synthetic", is_flag=True, help="mark the data as synthetic (demo)")
@pass_ctx
def import_command(ctx: Workspace, files, preset, column_map, time_format, crs, delimiter, encoding,
                   source, timezone, strict_categories, boundary_path, no_boundary,
                   boundary_tolerance_m, synthetic) -> None:  # fmt: skip
    """Import incident files (CSV, CSV.gz, GeoJSON, GeoPackage, Parquet) into the database."""
    from tqdm import tqdm

    from geo.errors import GeoError
    from web.services.imports import ImportRequest, import_files, stored_boundary

    if source is not None and not (source.strip() and len(source) <= 80 and source.isprintable()):
        fail(f"--source: give a short name (at most 80 characters), got {source[:90]!r}")
    init_database(ctx)
    mapping = _mapping_from_options(preset, column_map, time_format, crs, delimiter, encoding)
    city = ctx.city()
    boundary = None
    if not no_boundary:
        if boundary_path:
            from geo.boundaries import load_boundary

            try:
                boundary = load_boundary(boundary_path).geometry.iloc[0]
            except GeoError as err:
                fail(str(err))
        else:
            boundary = stored_boundary(ctx.engine)
    tolerance = boundary_tolerance_m
    if tolerance is None:
        configured = ctx.settings["BOUNDARY_TOLERANCE_M"]
        assert isinstance(configured, int | float)  # load_settings made it a float
        tolerance = float(configured)
    request = ImportRequest(
        mapping=mapping,
        source=source or preset or "default",
        timezone=timezone or city["timezone"],
        resolution=int(city["resolution"]),
        now=clock.now(),
        preset=preset,
        boundary=boundary,
        boundary_tolerance_m=tolerance,
        strict_categories=strict_categories,
        synthetic=synthetic,
    )
    bar = tqdm(total=len(files) + 1, unit="step", desc="import", file=sys.stderr,
               disable=len(files) < 2 and not sys.stderr.isatty())  # fmt: skip

    def progress(msg: str) -> None:
        bar.set_postfix_str(msg)
        bar.update()

    try:
        summaries = import_files(ctx.engine, files, request, progress=progress)
    except GeoError as err:
        bar.close()
        fail(f"{err}\nnothing was imported; the database is unchanged")
    bar.close()
    for summary in summaries:
        audit(ctx, "import", (
            f"{Path(summary.file).name}: read {summary.rows_read}, imported {summary.inserted}, "
            f"duplicates {summary.duplicates}, rejected {summary.rejected}"))  # fmt: skip
    _print_summaries(summaries)
    if boundary is None and not no_boundary:
        click.echo(
            "note: no jurisdiction boundary is stored, so no point was checked against the "
            "city (swapped or far-off coordinates were accepted); load one with "
            "`hotspot areas load FILE --kind jurisdiction` or give --boundary FILE"
        )


def _print_summaries(summaries) -> None:
    totals = {"rows_read": 0, "inserted": 0, "duplicates": 0, "rejected": 0}
    for s in summaries:
        click.echo(
            f"{s.file}: read {s.rows_read}, imported {s.inserted}, "
            f"already stored {s.duplicates}, rejected {s.rejected} (run {s.run_id})"
        )
        if s.new_categories:
            click.echo(f"  new categories (weight 1): {', '.join(s.new_categories)}")
        for key in totals:
            totals[key] += getattr(s, key)
    if len(summaries) > 1:
        click.echo(
            f"total: read {totals['rows_read']}, imported {totals['inserted']}, "
            f"already stored {totals['duplicates']}, rejected {totals['rejected']}"
        )
    if totals["rejected"]:
        click.echo("rejected rows are kept for review: hotspot rejects")


@click.command("rejects")
@click.option("--run", "run_id", type=int, help="only rejects of this import run")
@click.option("--limit", type=click.IntRange(1, 1_000_000), default=50, show_default=True)
@click.option("--csv", "as_csv", is_flag=True, help="write CSV to standard output")
@pass_ctx
def rejects_command(ctx: Workspace, run_id: int | None, limit: int, as_csv: bool) -> None:
    """Show rejected rows kept for review: file, line, field and reason."""
    frame = storage.list_rejects(ctx.engine, run_id=run_id, limit=limit)
    if as_csv:
        frame.to_csv(sys.stdout, index=False)
        return
    _echo_rows(
        frame,
        "no rejected rows",
        lambda row: f"{row.file}:{row.line} [{row.field}] {row.reason}  {row.raw}",
    )


@click.command("imports")
@click.option("--limit", type=click.IntRange(1, 100_000), default=20, show_default=True)
@pass_ctx
def imports_command(ctx: Workspace, limit: int) -> None:
    """List import runs with their counts, newest first."""
    frame = storage.list_import_runs(ctx.engine, limit=limit)
    for row in frame.itertuples():
        finished_at = cast(int, row.finished_at)  # pandas-stubs: a row field is any scalar
        when = pd.Timestamp(finished_at, unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M")
        click.echo(
            f"run {row.id} {when}Z {row.file}: read {row.rows_read}, imported {row.inserted}, "
            f"duplicates {row.duplicates}, rejected {row.rejected}"
        )


# --- areas --------------------------------------------------------------------------------


@click.group("areas", invoke_without_command=True)
@click.pass_context
def areas_group(click_ctx: click.Context) -> None:
    """List areas (jurisdiction, districts, beats, grids); subcommands load and build them."""
    if click_ctx.invoked_subcommand is None:
        ctx = workspace_of(click_ctx)
        _echo_rows(
            storage.list_areas(ctx.engine),
            "no areas loaded",
            lambda row: f"{row.kind:<14} {row.area_id:<12} {row.n_cells:>6} cells  {row.name}",
        )


@areas_group.command("load")
@click.argument("path", type=click.Path(exists=True))
@click.option("--kind", required=True, help="jurisdiction, district, beat, grid, ...")
@click.option("--id-field")
@click.option("--name-field")
@click.option("--crs", help="coordinates of the file when unlabelled: GCJ-02, BD-09")
@pass_ctx
def areas_load_command(ctx: Workspace, path, kind, id_field, name_field, crs) -> None:
    """Load an area layer (GeoJSON, Shapefile, GeoPackage) and cover it with H3 cells."""
    from geo.errors import GeoError

    if not kind.strip() or len(kind) > 40 or not kind.isprintable():
        fail(f"--kind: give a short name such as district or beat (at most 40 characters), "
             f"got {kind[:60]!r}")  # fmt: skip
    init_database(ctx)
    try:
        frame, cells = load_area_layer(ctx, path, kind, id_field, name_field, crs)
    except GeoError as err:
        message = str(err)  # the cover's size check knows no file name
        fail(message if message.startswith(str(path)) else f"{path}: {message}")
    audit(ctx, "areas_loaded", f"{len(frame)} {kind} area(s), {len(cells)} cells from {path}")
    click.echo(f"{len(frame)} {kind} area(s), {len(cells)} cells, from {path}")


@areas_group.command("generate-grids")
@click.option("--within", "within_kind", default="urban_core", show_default=True,
              help="area kind whose cells are split into grids")  # fmt: skip
@click.option("--target-cells", type=int, default=40, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@pass_ctx
def generate_grids_command(ctx: Workspace, within_kind: str, target_cells: int, seed: int) -> None:
    """Generate management grids: compact groups of about N cells each."""
    from geo.grids import generate_grids, grids_to_polygons

    cells = storage.load_area_cells(ctx.engine, within_kind)
    if cells.empty:
        fail(f"no areas of kind {within_kind!r}; load one with `hotspot areas load`")
    with failing_on(ValueError):  # GeoError: a target or seed out of range
        grid_cells = generate_grids(cells["cell"].unique(), target_cells=target_cells, seed=seed)
    polygons = grids_to_polygons(grid_cells)
    polygons["name"] = polygons["area_id"]
    storage.store_areas(ctx.engine, "grid", polygons, grid_cells, source=f"generated seed={seed}")
    click.echo(f"{len(polygons)} grids from {len(grid_cells)} cells (target {target_cells})")


@areas_group.command("lookup")
@click.argument("cells", nargs=-1, required=True)
@pass_ctx
def areas_lookup_command(ctx: Workspace, cells) -> None:
    """Show which areas contain the given H3 cells (hex ids)."""
    from geo.boundaries import area_lookup
    from geo.cells import cells_from_hex
    from geo.errors import GeoError

    with failing_on(GeoError):
        ids = cells_from_hex(cells)
    frame = storage.list_areas(ctx.engine)
    for kind in sorted(set(frame["kind"])):
        # Rows come in area-id order; a cell in two areas of a kind (overlapping polygons)
        # is shown in the later one.
        found = area_lookup(storage.load_area_cells(ctx.engine, kind), ids, keep="last")
        for hex_id, area_id in zip(cells, found, strict=True):
            click.echo(f"{hex_id} {kind}: {'-' if pd.isna(area_id) else area_id}")


# --- stations, the demo, the Chicago data -------------------------------------------------


@click.command("stations")
@_load_option
@pass_ctx
def stations_command(ctx: Workspace, load_path: str | None) -> None:
    """List stations, or replace them from a CSV (station_id,name,name_en,lon,lat,units and
    optional units_day/units_evening/units_night, hours_day/hours_evening/hours_night)."""
    if load_path:
        from geo.errors import FileFormatError
        from web.services.demo import read_stations

        init_database(ctx)
        with failing_on(FileFormatError):
            stations = read_stations(Path(load_path))
        storage.store_stations(ctx.engine, stations)
        audit(ctx, "stations_loaded", f"{len(stations)} stations from {load_path}")
    for row in storage.list_stations(ctx.engine).itertuples():
        own = f"  {row.shifts!s}" if isinstance(row.shifts, str) and row.shifts else ""
        click.echo(
            f"{row.station_id:<10} {row.units} units  {row.lon:.5f},{row.lat:.5f}  {row.name}{own}"
        )


@click.command("demo")
@click.option("--if-empty", is_flag=True, help="do nothing when incidents are already stored")
# Checked before anything is stored: the demo loads in steps, and a bad value found late
# left the outline and areas loaded without incidents. Ten years at most (100,000 days took
# over 7 GB).
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=20261125, show_default=True)
@click.option("--days", type=click.IntRange(1, 3660), default=180, show_default=True)
@click.option(
    "--timezone",
    default="Asia/Shanghai",
    show_default=True,
    help="the city's clock (another zone tries the site's date handling, e.g. America/Chicago "
    "for daylight saving time)",
)
@pass_ctx
def demo_command(ctx: Workspace, if_empty: bool, seed: int, days: int, timezone: str) -> None:
    """Load the Jiayuguan demo: outline, urban core, grids, stations, synthetic incidents."""
    from geo.checks import check_timezone
    from geo.errors import GeoError
    from web.services.demo import load_demo

    try:
        check_timezone(timezone)
    except GeoError:
        fail(f"--timezone: unknown IANA timezone {timezone!r}")
    init_database(ctx, city_name="嘉峪关市", timezone=timezone)
    meta = storage.get_meta(ctx.engine)
    if meta.get("timezone") != timezone or meta.get("city_name") != "嘉峪关市":
        fail(
            f"this database holds another city ({meta.get('city_name')}, "
            f"{meta.get('timezone')}); load the demo into its own database "
            "(HOTSPOT_DATABASE_URL)"
        )
    if if_empty and storage.count_rows(ctx.engine)["incidents"] > 0:
        click.echo("demo: incidents already stored, nothing to do")
        if storage.list_import_runs(ctx.engine)["synthetic"].all():
            from web.services.demo import ensure_demo_accounts

            created = ensure_demo_accounts(ctx.engine)
            if created:
                click.echo(f"demo accounts created: {', '.join(created)}")
        return
    for line in load_demo(ctx, seed=seed, days=days):
        click.echo(line)


@click.command("load-chicago")
@click.option("--shared", "shared_dir", type=click.Path(exists=True, file_okay=False),
              default=str(REPO_ROOT.parent / "shared"), show_default=True)  # fmt: skip
@pass_ctx
def load_chicago_command(ctx: Workspace, shared_dir: str) -> None:
    """Load the real Chicago data (boundary, districts, beats, stations, incidents)."""
    from geo.errors import GeoError
    from web.services.demo import load_chicago

    try:
        for line in load_chicago(ctx, Path(shared_dir)):
            click.echo(line)
    except GeoError as err:
        fail(str(err))
