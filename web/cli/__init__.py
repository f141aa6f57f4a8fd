"""The ``hotspot`` command: thin click commands over geo, planner and storage."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click
import pandas as pd

from web import clock, storage
from web.config import REPO_ROOT
from web.services.workspace import Workspace, init_database, load_area_layer

pass_ctx = click.make_pass_decorator(Workspace, ensure=True)


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


@click.group()
def cli() -> None:
    """Hotspot scoring and patrol planning over H3 cells."""


# --- database ---------------------------------------------------------------------------


@cli.command("init-db")
@pass_ctx
def init_db_command(ctx: Workspace) -> None:
    """Create or upgrade the database schema (safe to run again)."""
    init_database(ctx)
    click.echo(f"database ready: {ctx.engine.url.render_as_string(hide_password=True)}")


@cli.command("categories")
@click.option("--load", "load_path", type=click.Path(exists=True, dir_okay=False))
@pass_ctx
def categories_command(ctx: Workspace, load_path: str | None) -> None:
    """List categories, or load/update them from a category file."""
    from geo.categories import load_categories
    from geo.errors import GeoError

    if load_path:
        try:
            n = storage.store_categories(ctx.engine, load_categories(load_path))
        except GeoError as err:
            _fail(str(err))
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
        _fail(f"unknown preset {preset!r}; known: {', '.join(sorted(PRESETS))}")
    fields = {}
    for item in column_map:
        if "=" not in item:
            _fail(f"--map takes FIELD=COLUMN, got {item!r}")
        key, value = item.split("=", 1)
        if key not in ColumnMapping.__dataclass_fields__ or key in {"crs", "delimiter", "encoding"}:
            _fail(f"--map: unknown field {key!r}")
        fields[key] = value or None
    if mapping is None:
        if "occurred_at" not in fields or "category" not in fields:
            _fail("give --preset or at least --map occurred_at=COLUMN --map category=COLUMN")
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


@cli.command("import")
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
                _fail(str(err))
        else:
            boundary = stored_boundary(ctx.engine)
    tolerance = (
        boundary_tolerance_m
        if boundary_tolerance_m is not None
        else float(ctx.settings["BOUNDARY_TOLERANCE_M"])
    )
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
    try:
        summaries = import_files(
            ctx.engine,
            files,
            request,
            progress=lambda msg: (bar.set_postfix_str(msg), bar.update()),
        )
    except GeoError as err:
        bar.close()
        _fail(f"{err}\nnothing was imported; the database is unchanged")
    bar.close()
    for summary in summaries:
        storage.audit(ctx.engine, "import", username=_os_user(), detail=(
            f"{Path(summary.file).name}: read {summary.rows_read}, imported {summary.inserted}, "
            f"duplicates {summary.duplicates}, rejected {summary.rejected}"))  # fmt: skip
    _print_summaries(summaries)


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


@cli.command("rejects")
@click.option("--run", "run_id", type=int, help="only rejects of this import run")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--csv", "as_csv", is_flag=True, help="write CSV to standard output")
@pass_ctx
def rejects_command(ctx: Workspace, run_id: int | None, limit: int, as_csv: bool) -> None:
    """Show rejected rows kept for review: file, line, field and reason."""
    frame = storage.list_rejects(ctx.engine, run_id=run_id, limit=limit)
    if as_csv:
        frame.to_csv(sys.stdout, index=False)
        return
    if frame.empty:
        click.echo("no rejected rows")
        return
    for row in frame.itertuples():
        click.echo(f"{row.file}:{row.line} [{row.field}] {row.reason}  {row.raw}")


@cli.command("imports")
@click.option("--limit", type=int, default=20, show_default=True)
@pass_ctx
def imports_command(ctx: Workspace, limit: int) -> None:
    """List import runs with their counts, newest first."""
    frame = storage.list_import_runs(ctx.engine, limit=limit)
    for row in frame.itertuples():
        when = pd.Timestamp(row.finished_at, unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M")
        click.echo(
            f"run {row.id} {when}Z {row.file}: read {row.rows_read}, imported {row.inserted}, "
            f"duplicates {row.duplicates}, rejected {row.rejected}"
        )


# --- areas --------------------------------------------------------------------------------


@cli.group("areas", invoke_without_command=True)
@click.pass_context
def areas_group(click_ctx: click.Context) -> None:
    """List areas (jurisdiction, districts, beats, grids); subcommands load and build them."""
    if click_ctx.invoked_subcommand is None:
        ctx = click_ctx.ensure_object(Workspace)
        frame = storage.list_areas(ctx.engine)
        if frame.empty:
            click.echo("no areas loaded")
            return
        for row in frame.itertuples():
            click.echo(f"{row.kind:<14} {row.area_id:<12} {row.n_cells:>6} cells  {row.name}")


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

    init_database(ctx)
    try:
        frame, cells = load_area_layer(ctx, path, kind, id_field, name_field, crs)
    except GeoError as err:
        _fail(str(err))
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
        _fail(f"no areas of kind {within_kind!r}; load one with `hotspot areas load`")
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
    from geo.cells import cells_from_hex
    from geo.errors import GeoError

    try:
        ids = cells_from_hex(cells)
    except GeoError as err:
        _fail(str(err))
    frame = storage.list_areas(ctx.engine)
    for kind in sorted(set(frame["kind"])):
        table = storage.load_area_cells(ctx.engine, kind)
        found = dict(zip(table["cell"], table["area_id"], strict=True))
        for hex_id, cell in zip(cells, ids, strict=True):
            click.echo(f"{hex_id} {kind}: {found.get(int(cell), '-')}")


# --- stations, demo, serve ----------------------------------------------------------------


@cli.command("stations")
@click.option("--load", "load_path", type=click.Path(exists=True, dir_okay=False))
@pass_ctx
def stations_command(ctx: Workspace, load_path: str | None) -> None:
    """List stations, or replace them from a CSV (station_id,name,name_en,lon,lat,units)."""
    if load_path:
        from web.services.demo import read_stations

        init_database(ctx)
        storage.store_stations(ctx.engine, read_stations(Path(load_path)))
    for row in storage.list_stations(ctx.engine).itertuples():
        click.echo(
            f"{row.station_id:<10} {row.units} units  {row.lon:.5f},{row.lat:.5f}  {row.name}"
        )


@cli.group("users", invoke_without_command=True)
@click.pass_context
def users_group(click_ctx: click.Context) -> None:
    """List accounts, or manage them: add, passwd, grids, disable, enable."""
    if click_ctx.invoked_subcommand is None:
        ws = click_ctx.ensure_object(Workspace)
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
        _fail(f"no account named {username!r}")
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
    from web.services.accounts import hash_password

    init_database(ctx)
    grid_ids = [g.strip() for g in grids.split(",") if g.strip()]
    if grid_ids and role != "grid_worker":
        _fail("only grid workers are assigned grids")
    try:
        known = set(storage.load_area_cells(ctx.engine, "grid")["area_id"])
        unknown = [g for g in grid_ids if g not in known]
        if unknown:
            _fail(f"unknown grid id(s): {', '.join(unknown)}")
        user_id = storage.create_user(ctx.engine, username, hash_password(password), role,
                                      display_name=display_name)  # fmt: skip
        storage.set_user_grids(ctx.engine, user_id, grid_ids)
    except ValueError as err:
        _fail(str(err))
    storage.audit(ctx.engine, "user_created", username=_os_user(),
                  detail=f"{username} ({role}) from the command line")  # fmt: skip
    click.echo(f"created {username} ({role})")


@users_group.command("passwd")
@click.argument("username")
@_password_option
@pass_ctx
def users_passwd(ctx: Workspace, username: str, password: str) -> None:
    """Set an account's password."""
    from web.services.accounts import hash_password

    record = _account(ctx, username)
    try:
        storage.update_user(ctx.engine, record.id, password_hash=hash_password(password))
    except ValueError as err:
        _fail(str(err))
    storage.audit(ctx.engine, "user_changed", username=_os_user(),
                  detail=f"{username}: password reset from the command line")  # fmt: skip
    click.echo(f"password of {username} changed")


@users_group.command("grids")
@click.argument("username")
@click.argument("grid_ids", nargs=-1)
@pass_ctx
def users_grids(ctx: Workspace, username: str, grid_ids: tuple[str, ...]) -> None:
    """Assign management grids to a grid worker (replacing any)."""
    record = _account(ctx, username)
    if record.role != "grid_worker":
        _fail(f"{username} is a {record.role}; only grid workers are assigned grids")
    try:
        assigned = storage.set_user_grids(ctx.engine, record.id, grid_ids)
    except ValueError as err:
        _fail(str(err))
    storage.audit(ctx.engine, "user_changed", username=_os_user(),
                  detail=f"{username}: grids {', '.join(assigned) or 'none'}")  # fmt: skip
    click.echo(f"{username}: {', '.join(assigned) or 'no grids'}")


def _set_active(ctx: Workspace, username: str, active: bool) -> None:
    record = _account(ctx, username)
    storage.update_user(ctx.engine, record.id, active=active)
    state = "enabled" if active else "disabled"
    storage.audit(ctx.engine, "user_changed", username=_os_user(), detail=f"{username}: {state}")
    click.echo(f"{username} {state}")


@users_group.command("disable")
@click.argument("username")
@pass_ctx
def users_disable(ctx: Workspace, username: str) -> None:
    """Disable an account (it can no longer log in; its records stay)."""
    _set_active(ctx, username, False)


@users_group.command("enable")
@click.argument("username")
@pass_ctx
def users_enable(ctx: Workspace, username: str) -> None:
    """Enable a disabled account."""
    _set_active(ctx, username, True)


def _os_user() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@cli.command("demo")
@click.option("--if-empty", is_flag=True, help="do nothing when incidents are already stored")
@click.option("--seed", type=int, default=20261125, show_default=True)
@click.option("--days", type=int, default=180, show_default=True)
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
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from web.services.demo import load_demo

    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        _fail(f"--timezone: unknown IANA timezone {timezone!r}")
    init_database(ctx, city_name="嘉峪关市", timezone=timezone)
    meta = storage.get_meta(ctx.engine)
    if meta.get("timezone") != timezone or meta.get("city_name") != "嘉峪关市":
        _fail(
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


@cli.command("load-chicago")
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
        _fail(str(err))


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=5000, show_default=True)
def serve_command(host: str, port: int) -> None:
    """Serve the site with waitress (printing the demo logins when the demo is loaded)."""
    from web import create_app
    from web.config import ConfigError
    from web.services.demo import demo_logins

    try:
        app = create_app()
    except ConfigError as err:  # production without a strong secret, with demo accounts...
        _fail(str(err))
    engine = app.extensions["engine"]
    if storage.current_revision(engine) is None:
        _fail("the database is empty: run `hotspot init-db` (or `make run`) first")
    logins = demo_logins(engine)
    if logins and app.config["ENV"] == "production":
        _fail("demo accounts exist; disable or delete them before serving in production")
    if logins:
        click.echo("demo logins (user / password / role):")
        for username, password, role in logins:
            click.echo(f"  {username:<10} {password:<16} {role}")
    elif not storage.list_users(engine).shape[0]:
        click.echo("no accounts yet: create one with `hotspot users add NAME --role admin`")
    click.echo(f"serving on http://{host}:{port}")
    _warm_up(engine)
    from waitress import serve

    serve(app, host=host, port=port, threads=8)


def _warm_up(engine) -> None:
    """Load the incidents into memory in the background, so the first map is not slow."""
    import threading

    from web.services import site_data as hotspot_data

    def load() -> None:
        try:
            hotspot_data.site_data(engine)
        except ValueError as err:  # e.g. no boundary yet: the pages say so themselves
            click.echo(f"note: map data not loaded: {err}", err=True)

    threading.Thread(target=load, name="warm-up", daemon=True).start()


# --- scoring and backtesting ----------------------------------------------------------------


def _scoring_data(ctx: Workspace, incident_files, preset, boundary_path, timezone, res, piw):
    from web.services.scoring_data import scoring_data_from_db, scoring_data_from_files

    try:
        if incident_files:
            if not (preset and boundary_path):
                _fail("--incidents needs --preset and --boundary")
            return scoring_data_from_files(
                incident_files, preset, boundary_path,
                timezone or str(ctx.settings["TIMEZONE"]), res or 9,
                police_initiated_weight=piw,
            )  # fmt: skip
        return scoring_data_from_db(ctx.engine, resolution=res, police_initiated_weight=piw)
    except ValueError as err:  # GeoError derives from ValueError
        _fail(str(err))


def _group_codes(group: str | None, categories: str | None):
    from web.services.scoring_data import GROUPS

    if categories:
        return tuple(c.strip().upper() for c in categories.split(",") if c.strip())
    if group:
        if group not in GROUPS:
            _fail(f"unknown group {group!r}; known: {', '.join(GROUPS)}")
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
            _fail(f"unexpected argument(s) {' '.join(more_files)}; files go after --incidents")
        return function(*args, incident_files=tuple(incident_files) + tuple(more_files), **kwargs)

    for option in reversed(_DATA_OPTIONS):
        wrapper = option(wrapper)
    return wrapper


@cli.command("score")
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
    from web.services.scoring_data import parse_local_time

    if model not in MODELS:
        _fail(f"unknown model {model!r}; known: {', '.join(sorted(MODELS))}")
    data = _scoring_data(ctx, incident_files, preset, boundary_path, timezone, res, piw)
    as_of_s = parse_local_time(as_of, data.timezone)
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
        f"incidents; top cell {out.loc[out['score'].idxmax(), 'cell']}; wrote {out_path}"
    )


def model_forecaster(name: str, weights=None):
    """A backtest forecaster running one geo.scoring model (pooling categories when asked)."""
    from geo.backtest import IN_GROUP_COLUMN, Forecaster
    from geo.scoring import score_cells

    def forecast(train, cells, as_of_s):
        in_group = train[IN_GROUP_COLUMN].to_numpy(dtype=bool)
        codes = None if in_group.all() else tuple(train.loc[in_group, "category"].unique())
        frame = train.drop(columns=[IN_GROUP_COLUMN])
        scored = score_cells(frame, cells, as_of_s, model=name, category_weights=weights,
                             categories=codes if codes is not None else None)  # fmt: skip
        return scored["score"].to_numpy()

    return Forecaster(name=name, fn=forecast, uses_all_categories=True)


@cli.command("backtest")
@click.option("--models", default="naive,weighted_count,ring_smoothed,default", show_default=True)
@click.option("--groups", default="all,burglary,violent", show_default=True)
@click.option(
    "--monthly",
    default="2017-07:2018-06",
    show_default=True,
    help="FIRST:LAST test months (origin at the start of each); '' for none",
)
@click.option(
    "--weekly-end",
    default="2018-07-31",
    show_default=True,
    help="last day of the weekly origins; '' for none",
)
@click.option("--weeks", type=int, default=8, show_default=True)
@click.option("--table", "table_path", type=click.Path(dir_okay=False), help="CSV of every origin")
@click.option("--chart", "chart_path", type=click.Path(dir_okay=False), help="PNG coverage curves")
@_data_options
@pass_ctx
def backtest_command(ctx: Workspace, models, groups, monthly, weekly_end, weeks, table_path,
                     chart_path, incident_files, preset, boundary_path, timezone, res,
                     piw) -> None:  # fmt: skip
    """Backtest models side by side on rolling monthly and weekly origins."""
    from geo.backtest import (
        format_table,
        monthly_origins,
        plot_coverage,
        run_backtest,
        summarise,
        weekly_origins,
    )
    from geo.scoring import MODELS
    from web.services.scoring_data import GROUPS

    names = [m.strip() for m in models.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        _fail(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(sorted(MODELS))}")
    if "naive" not in names:
        names.insert(0, "naive")  # the reference every model is compared with
    chosen = {g.strip(): GROUPS.get(g.strip(), ()) for g in groups.split(",") if g.strip()}
    bad = [g for g in chosen if g not in GROUPS]
    if bad:
        _fail(f"unknown group(s) {', '.join(bad)}; known: {', '.join(GROUPS)}")
    data = _scoring_data(ctx, incident_files, preset, boundary_path, timezone, res, piw)
    runs = []
    if monthly:
        first, _, last = monthly.partition(":")
        runs.append(("monthly", monthly_origins(first, last or first, data.timezone)))
    if weekly_end:
        runs.append(("weekly", weekly_origins(weekly_end, weeks, data.timezone)))
    forecasters = [model_forecaster(n) for n in names]
    tables = []
    for label, origins in runs:
        result = run_backtest(data.incidents, data.cells, forecasters, origins, chosen)
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


@cli.command("concentration")
@click.option("--kind", default="district", show_default=True, help="area kind to report on")
@click.option("--model", default="default", show_default=True)
@click.option("--group", help="category group: all, burglary, violent")
@click.option(
    "--monthly",
    default="2017-07:2018-06",
    show_default=True,
    help="FIRST:LAST months; scores are taken at the start of each",
)
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
    from geo.scoring import score_cells

    data = _scoring_data(ctx, incident_files, preset, boundary_path, timezone, res, piw)
    area_cells = storage.load_area_cells(ctx.engine, kind)
    if area_cells.empty:
        _fail(f"no areas of kind {kind!r}; load them with `hotspot areas load FILE --kind {kind}`")
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
    for row in summary.itertuples():
        month = pd.Timestamp(row.origin_s, unit="s", tz="UTC").tz_convert(data.timezone)
        click.echo(
            f"{month:%Y-%m}   {row.n_areas_with_top:>5} of {row.n_areas:<5}  "
            f"{row.max_share:>6.1%} ({row.max_area_id:<8})  {row.max_ratio:>9.1f}  "
            f"{row.herfindahl:>10.3f}  {row.gini:>4.2f}"
        )
    if out_path:
        shares.to_csv(out_path, index=False)
        click.echo(f"shares: {out_path}")


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "n/a" if value is None else format(value, spec)


@cli.command("explain")
@click.argument("cell_ids", nargs=-1, required=True)
@click.option("--as-of", "as_of", required=True, help="ISO time; local time without an offset")
@click.option("--model", default="default", show_default=True)
@click.option("--group", help="category group: all, burglary, violent")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of text")
@pass_ctx
def explain_command(ctx: Workspace, cell_ids, as_of, model, group, as_json) -> None:
    """Explain cells (H3 hex ids): counts, trend, Gi* class, model components, hot hours."""
    import json

    from geo.errors import GeoError
    from geo.explain import explain_cells
    from web.services.scoring_data import parse_local_time

    data = _scoring_data(ctx, (), None, None, None, None, None)
    as_of_s = parse_local_time(as_of, data.timezone)
    try:
        explanations = explain_cells(
            data.incidents, data.cells, list(cell_ids), as_of_s, data.timezone, model=model,
            category_weights=data.category_weights, categories=_group_codes(group, None),
        )  # fmt: skip
    except GeoError as err:
        _fail(str(err))
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


@cli.command("hotspots")
@click.option("--as-of", "as_of", required=True, help="ISO time; local time without an offset")
@click.option("--days", type=int, default=365, show_default=True, help="window for Gi*")
@click.option("--weeks", type=int, default=52, show_default=True, help="weeks for emerging")
@click.option("--k", "k", type=int, default=1, show_default=True, help="neighbourhood rings")
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
    from web.services.scoring_data import parse_local_time

    data = _scoring_data(ctx, incident_files, preset, boundary_path, timezone, res, piw)
    as_of_s = parse_local_time(as_of, data.timezone)
    codes = _group_codes(group, None)
    incidents = data.incidents
    weights = data.category_weights
    keep = incidents["category"].map(lambda c: weights.get(c, 1.0) > 0).to_numpy(dtype=bool)
    if codes is not None:
        keep &= incidents["category"].isin(codes).to_numpy()
    incidents = incidents[keep & (incidents["occurred_at"].to_numpy() < as_of_s)]
    window = incidents[incidents["occurred_at"] >= as_of_s - days * 86400]
    counts = score_cells(window, data.cells, as_of_s, model="naive")["score"].to_numpy()
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


# --- patrol planning -----------------------------------------------------------------------


def _write_plan_exports(planned, out_path: str, geojson, gpx, csv_path) -> None:
    import json

    from planner.plan import plan_to_csv, plan_to_geojson, plan_to_gpx
    from planner.problem_json import plan_to_json

    document = plan_to_json(planned.plan)
    document["date_start_utc"] = planned.day_start_utc.isoformat()
    document["timezone"] = planned.timezone
    document["seed"] = planned.seed
    Path(out_path).write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
    if geojson:
        data = plan_to_geojson(planned.plan, planned.problem)
        Path(geojson).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    if gpx:
        origin = planned.day_start_utc.to_pydatetime()
        Path(gpx).write_text(plan_to_gpx(planned.plan, planned.problem, clock_origin=origin),
                             encoding="utf-8")  # fmt: skip
    if csv_path:
        Path(csv_path).write_text(plan_to_csv(planned.plan, planned.problem), encoding="utf-8")


@cli.command("plan")
@click.option("--date", "date", required=True, help="planning date, YYYY-MM-DD (local)")
@click.option(
    "--shift",
    default="day",
    show_default=True,
    help="day (08-16), evening (16-24), night (00-08) or HH:MM-HH:MM",
)
@click.option(
    "--units",
    "units_file",
    type=click.Path(exists=True, dir_okay=False),
    help="units CSV (unit_id,station_id[,mode,end_station_id,break_min])",
)
@click.option("--units-per-station", type=int, help="instead of each station's stored count")
@click.option(
    "--candidates",
    type=int,
    default=300,
    show_default=True,
    help="top-scored cells offered to the planner",
)
@click.option("--dwell-min", type=float, default=15.0, show_default=True)
@click.option(
    "--max-visits",
    type=int,
    default=2,
    show_default=True,
    help="visits one cell may get in the shift (repeats at least an hour apart)",
)
@click.option("--time-limit", "time_limit_s", type=float, default=30.0, show_default=True)
@click.option(
    "--work",
    "work_s",
    type=float,
    help="search work in seconds of an unloaded machine (default: the time limit); "
    "below the limit, the same seed gives the same plan on a busy machine",
)
@click.option("--seed", type=int, help="fixed seed (default: a secret daily seed)")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False))
@click.option("--geojson", type=click.Path(dir_okay=False))
@click.option("--gpx", type=click.Path(dir_okay=False))
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False))
@pass_ctx
def plan_command(ctx: Workspace, date, shift, units_file, units_per_station, candidates,
                 dwell_min, max_visits, time_limit_s, work_s, seed, out_path, geojson, gpx,
                 csv_path) -> None:  # fmt: skip
    """Plan a day's patrol routes from the database: scores, risky hours, stations, units."""
    from geo.errors import GeoError
    from planner.errors import PlannerError
    from web.services.patrol_plans import PlanRequest, plan_day

    request = PlanRequest(
        date=date, shift=shift, units_file=units_file, units_per_station=units_per_station,
        candidates=candidates, dwell_min=dwell_min, max_visits=max_visits,
        time_limit_s=time_limit_s, work_s=work_s, seed=seed,
    )  # fmt: skip
    try:
        planned = plan_day(ctx.engine, request, secret=str(ctx.settings["SECRET_KEY"]))
    except (GeoError, PlannerError, ValueError) as err:
        _fail(str(err))
    _write_plan_exports(planned, out_path, geojson, gpx, csv_path)
    plan = planned.plan
    click.echo(f"{date} {shift}: {len(planned.problem.units)} units, "
               f"{len(planned.problem.stops)} candidate cells; {_plan_summary(plan)}")  # fmt: skip
    click.echo(f"wrote {out_path}")


def _plan_summary(plan) -> str:
    visits = sum(len(route.visits) for route in plan.routes)
    return (f"status {plan.status}, {visits} visits, total value {plan.total_value:.1f}, "
            f"feasible {plan.check.feasible}")  # fmt: skip


@cli.command("plan-problem")
@click.argument("problem_path", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False))
def plan_problem_command(problem_path: str, out_path: str) -> None:
    """Solve a matrix-level problem JSON (schema: docs/problem-schema.md)."""
    import json

    from planner.errors import PlannerError
    from planner.problem_json import plan_problem_json

    try:
        document = plan_problem_json(problem_path)
    except (PlannerError, ValueError) as err:
        _fail(f"{problem_path}: {err}")
    Path(out_path).write_text(json.dumps(document, indent=1), encoding="utf-8")
    click.echo(f"total value {document.get('total_value')}; wrote {out_path}")
