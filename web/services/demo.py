"""Loading the Jiayuguan demo (synthetic incidents) and the real Chicago data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from geo.errors import FileFormatError
from geo.tables import check_text_column, check_unique
from web import clock, storage
from web.config import REPO_ROOT

__all__ = [
    "DEMO_ACCOUNTS",
    "DEMO_CATEGORIES_FILE",
    "DEMO_GRID_TARGET_CELLS",
    "demo_logins",
    "ensure_demo_accounts",
    "ensure_report_categories",
    "load_chicago",
    "load_demo",
    "publish_demo_plans",
    "read_stations",
]

DATA = REPO_ROOT / "data"
# The demo's own category table: a Chinese city bureau's categories (Chicago's stay in
# data/categories.csv).
DEMO_CATEGORIES_FILE = DATA / "demo" / "categories.csv"
# About 1.2 km2 per grid at H3 resolution 9 (0.105 km2 a cell): the size of a community
# grid that one grid worker can walk.
DEMO_GRID_TARGET_CELLS = 12
STATION_COLUMNS = ("station_id", "name", "lon", "lat")
# Demo logins, printed by `make run`: one per role, two grid workers with different grids
# (so each sees only their own). For trying the site on a laptop, never for a real bureau:
# `hotspot serve` refuses to start in production while they exist.
DEMO_ACCOUNTS = (
    ("admin", "admin-demo", "admin", "系统管理员"),
    ("commander", "commander-demo", "commander", "指挥长"),
    ("planner", "planner-demo", "planner", "巡逻规划员"),
    ("grid1", "grid1-demo", "grid_worker", "网格员 一"),
    ("grid2", "grid2-demo", "grid_worker", "网格员 二"),
)
DEMO_META_KEY = "demo_accounts"
# What the demo's grid workers may report: (code, Chinese name, English name, the incident
# category of data/demo/categories.csv an accepted report becomes).
DEMO_REPORT_CATEGORIES = (
    ("dispute", "纠纷", "Dispute", "NEIGHBOUR_DISPUTE"),
    ("hazard", "安全隐患", "Safety hazard", "SAFETY_HAZARD"),
    ("gambling_fraud", "疑似赌博/诈骗窝点", "Suspected gambling or fraud venue", "GAMBLING"),
    ("public_order", "扰乱公共秩序", "Public-order nuisance", "PUBLIC_DISORDER"),
)


MAX_STATION_UNITS = 50  # units one station may field in a shift


def read_stations(path: Path) -> pd.DataFrame:
    """Read a station CSV (station_id, name, name_en, lon, lat, units; WGS-84), with
    optional per-shift columns ``units_day``, ``units_evening``, ``units_night`` (0 for no
    patrol) and ``hours_day`` ... (``HH:MM-HH:MM`` within the shift)."""
    try:
        frame = pd.read_csv(path, dtype={"station_id": str}, encoding="utf-8")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise FileFormatError(f"{path}: cannot read the station file: {err}") from err
    missing = [c for c in STATION_COLUMNS if c not in frame.columns]
    if missing:
        raise FileFormatError(f"{path}: missing column(s) {', '.join(missing)}")
    for column, limit in (("lon", 180.0), ("lat", 90.0)):
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        bad = ~(np.abs(values) <= limit)  # NaN (not a number) and inf fail too
        if bad.any():
            line = int(np.flatnonzero(bad)[0]) + 2
            raise FileFormatError(
                f"{path}: line {line}, field {column}: a number from -{limit:g} to {limit:g} "
                f"(WGS-84 degrees), got {frame[column].iloc[line - 2]}"
            )
    if "name_en" not in frame.columns:
        frame["name_en"] = ""
    for column, limit, required in _STATION_TEXT:
        check_text_column(path, frame, column, limit, required=required)
    check_unique(path, frame, "station_id")
    if "units" not in frame.columns:
        frame["units"] = 1
    _check_count(path, frame, "units", 1)
    frame["shifts"] = _station_shifts(path, frame)
    return frame


# Text columns of a station file: (column, most characters, required). Ids fit the stations
# table's column; names are shown on maps, plans and exports.
_STATION_TEXT = (("station_id", 80, True), ("name", 200, True), ("name_en", 200, False))


def _check_count(path: Path, frame: pd.DataFrame, column: str, low: int) -> None:
    """A whole number of units from ``low`` to MAX_STATION_UNITS in every non-blank cell."""
    for offset, raw in enumerate(frame[column].tolist()):
        if pd.isna(raw) or str(raw).strip() == "":
            continue
        try:
            number = float(raw)
        except (TypeError, ValueError):
            number = -1.0
        if not (number.is_integer() and low <= number <= MAX_STATION_UNITS):
            raise FileFormatError(
                f"{path}: line {offset + 2}, field {column}: a whole number from {low} to "
                f"{MAX_STATION_UNITS}, got {raw!r}"
            )


def _station_shifts(path: Path, frame: pd.DataFrame) -> list[str | None]:
    """Each station's own units (``units_day`` ...) and hours (``hours_day`` ...) per named
    shift, as the JSON the stations table keeps (None when it has none)."""
    from web.services.patrol_plans import SHIFTS, shift_seconds

    for shift in SHIFTS:
        if f"units_{shift}" in frame.columns:
            _check_count(path, frame, f"units_{shift}", 0)
    out: list[str | None] = []
    for offset, row in enumerate(frame.to_dict("records")):
        own: dict[str, dict] = {}
        for shift, hours in SHIFTS.items():
            units = row.get(f"units_{shift}")
            if units is not None and not pd.isna(units) and str(units).strip() != "":
                own.setdefault(shift, {})["units"] = int(float(units))
            text = row.get(f"hours_{shift}")
            if text is None or pd.isna(text) or not str(text).strip():
                continue
            text = str(text).strip()
            field = f"line {offset + 2}, field hours_{shift}"
            try:
                begin, end = shift_seconds(text)
            except ValueError:
                raise FileFormatError(f"{path}: {field}: HH:MM-HH:MM, got {text!r}") from None
            start_s, end_s = shift_seconds(shift)
            if begin < start_s:
                begin, end = begin + 86_400, end + 86_400
            if not start_s <= begin < end <= end_s:
                raise FileFormatError(
                    f"{path}: {field}: {text} is not within the {shift} shift ({hours})"
                )
            own.setdefault(shift, {})["hours"] = text
        out.append(json.dumps(own, sort_keys=True) if own else None)
    return out


def _import(ctx, paths, mapping, *, source, synthetic, preset, tolerance=None):
    from web.services.imports import ImportRequest, import_files, stored_boundary

    city = ctx.city()
    request = ImportRequest(
        mapping=mapping,
        source=source,
        timezone=city["timezone"],
        resolution=int(city["resolution"]),
        now=clock.now(),
        preset=preset,
        boundary=stored_boundary(ctx.engine),
        boundary_tolerance_m=(
            float(ctx.settings["BOUNDARY_TOLERANCE_M"]) if tolerance is None else tolerance
        ),
        synthetic=synthetic,
    )
    return import_files(ctx.engine, paths, request)


def load_demo(ctx, seed: int, days: int) -> Iterator[str]:
    """Load the Jiayuguan demo and yield one line of progress per step.

    The demo's Chinese category table (:data:`DEMO_CATEGORIES_FILE`) replaces the one a new
    database is seeded with. The incidents are synthetic (geo.synthetic, seeded, each
    category with its own hours and places); they are written as a CSV in GCJ-02, as phones
    and Chinese map apps report positions, and imported through the normal path.
    """
    from dataclasses import replace

    import shapely

    from geo.categories import load_categories
    from geo.ingest import PRESETS
    from geo.synthetic import DEFAULT_CATEGORY_PROFILES, demo_window, generate_incidents
    from web.services.workspace import load_area_layer
    from web.storage.category_table import replace_categories

    table = load_categories(DEMO_CATEGORIES_FILE)
    removed = replace_categories(ctx.engine, table)
    yield (
        f"categories: {len(table)} from {DEMO_CATEGORIES_FILE.relative_to(REPO_ROOT)}"
        + (f" (replacing {len(removed)} unused)" if removed else "")
    )

    boundary = DATA / "boundaries" / "jiayuguan.geojson"
    core = DATA / "boundaries" / "jiayuguan_urban_core.geojson"
    frame, cells = load_area_layer(ctx, str(boundary), "jurisdiction")
    yield f"jurisdiction: {frame['name'].iloc[0]}, {len(cells)} cells"
    core_frame, core_cells = load_area_layer(ctx, str(core), "urban_core", name_field="name")
    yield f"urban core: {len(core_cells)} cells"

    from geo.grids import generate_grids, grids_to_polygons

    grid_cells = generate_grids(
        core_cells["cell"].unique(), target_cells=DEMO_GRID_TARGET_CELLS, seed=seed
    )
    polygons = grids_to_polygons(grid_cells)
    polygons["name"] = "网格 " + polygons["area_id"]
    storage.store_areas(ctx.engine, "grid", polygons, grid_cells, source=f"generated seed={seed}")
    yield f"management grids: {len(polygons)} (about {DEMO_GRID_TARGET_CELLS} cells each)"

    stations = read_stations(DATA / "demo" / "stations.csv")
    storage.store_stations(ctx.engine, stations)
    yield f"stations: {len(stations)} (fictional)"

    from geo.coords import gcj02_from_wgs84

    now = clock.now().floor("h")
    start, end = demo_window(now, days=days)
    area = shapely.union_all(core_frame.geometry.to_numpy())
    profiles = {
        c: DEFAULT_CATEGORY_PROFILES[c] for c in table["code"] if c in DEFAULT_CATEGORY_PROFILES
    }
    names = dict(zip(table["code"], table["name_zh"], strict=True))
    incidents = generate_incidents(
        area, start, end, seed=seed, categories=profiles or None, names=names
    )
    lon, lat = gcj02_from_wgs84(incidents["lon"].to_numpy(), incidents["lat"].to_numpy())
    out = incidents.assign(
        lon=np.round(lon, 6),
        lat=np.round(lat, 6),
        occurred_at=incidents["occurred_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    target = Path(str(ctx.settings["DATABASE_URL"]).removeprefix("sqlite:///")).parent
    if not target.is_dir():
        target = REPO_ROOT / "instance"
    target.mkdir(parents=True, exist_ok=True)
    csv_path = target / f"demo_incidents_synthetic_gcj02_seed{seed}.csv"
    out.to_csv(csv_path, index=False)
    mapping = replace(PRESETS["generic"], crs="GCJ-02")
    summaries = _import(
        ctx, [csv_path], mapping, source="synthetic-demo", synthetic=True, preset="generic"
    )
    s = summaries[0]
    yield (
        f"synthetic incidents ({start:%Y-%m-%d} .. {end:%Y-%m-%d}, GCJ-02 file {csv_path.name}): "
        f"read {s.rows_read}, imported {s.inserted}, rejected {s.rejected}"
    )
    created = ensure_demo_accounts(ctx.engine)
    yield f"demo accounts: {', '.join(created) if created else 'already there'}"
    added = ensure_report_categories(ctx.engine)
    yield f"report categories: {', '.join(added) if added else 'already there'}"
    yield from publish_demo_plans(ctx)


def load_chicago(ctx, shared: Path) -> Iterator[str]:
    """Load the real Chicago data from ``shared`` (boundaries, stations, 2016-01..2018-07)."""
    from geo.ingest import PRESETS
    from web.services.workspace import init_database, load_area_layer

    chicago = shared / "data" / "boundaries" / "chicago"
    incidents = shared / "data" / "incidents" / "chicago"
    files = sorted(incidents.glob("chicago_crimes_*.csv.gz"))
    # Checked before anything is stored: a missing file found late left a half-loaded city.
    needed = ("city_boundary.geojson", "police_districts.geojson", "police_beats.geojson",
              "police_stations.csv")  # fmt: skip
    missing = [str(chicago / name) for name in needed if not (chicago / name).is_file()]
    if not files:
        missing.append(f"{incidents}/chicago_crimes_*.csv.gz")
    if missing:
        raise FileFormatError(f"Chicago data not found: {', '.join(missing)}")
    init_database(ctx, city_name="Chicago", timezone="America/Chicago")
    meta = storage.get_meta(ctx.engine)
    if meta.get("timezone") != "America/Chicago":
        raise FileFormatError(
            "this database belongs to another city (timezone "
            f"{meta.get('timezone')}); use a new one, e.g. "
            "HOTSPOT_DATABASE_URL=sqlite:///instance/chicago.db"
        )
    _, cells = load_area_layer(ctx, str(chicago / "city_boundary.geojson"), "jurisdiction")
    yield f"jurisdiction: Chicago, {len(cells)} cells"
    frame, _ = load_area_layer(
        ctx, str(chicago / "police_districts.geojson"), "district", "DIST_NUM", "DIST_LABEL"
    )
    yield f"districts: {len(frame)}"
    frame, _ = load_area_layer(
        ctx, str(chicago / "police_beats.geojson"), "beat", "BEAT_NUM", "BEAT_NUM"
    )
    yield f"beats: {len(frame)}"
    raw = pd.read_csv(chicago / "police_stations.csv", dtype={"DISTRICT": str})
    raw = raw[raw["DISTRICT"].str.fullmatch(r"\d+")]
    stations = pd.DataFrame(
        {
            "station_id": raw["DISTRICT"].str.zfill(3),
            "name": raw["DISTRICT NAME"],
            "name_en": raw["DISTRICT NAME"],
            "lon": raw["LONGITUDE"],
            "lat": raw["LATITUDE"],
            "units": 3,
        }
    )
    storage.store_stations(ctx.engine, stations)
    yield f"stations: {len(stations)}"
    summaries = _import(
        ctx, files, PRESETS["chicago"], source="chicago", synthetic=False, preset="chicago"
    )
    yield (
        f"incidents: read {sum(s.rows_read for s in summaries)}, "
        f"imported {sum(s.inserted for s in summaries)}, "
        f"already stored {sum(s.duplicates for s in summaries)}, "
        f"rejected {sum(s.rejected for s in summaries)} (see `hotspot rejects`)"
    )


def ensure_demo_accounts(engine) -> list[str]:
    """Create the demo accounts that are missing; grid workers get the two busiest grids each.

    Returns the user names created.
    """
    from werkzeug.security import generate_password_hash

    ranked = storage.busiest_areas(engine, "grid")
    created = []
    workers = 0
    for username, password, role, name in DEMO_ACCOUNTS:
        if storage.get_user_by_name(engine, username) is not None:
            if role == "grid_worker":
                workers += 1
            continue
        user_id = storage.create_user(
            engine, username, generate_password_hash(password), role, display_name=name
        )
        if role == "grid_worker":
            storage.set_user_grids(engine, user_id, ranked[2 * workers : 2 * workers + 2])
            workers += 1
        created.append(username)
    storage.set_meta(engine, {DEMO_META_KEY: "1"})
    return created


def ensure_report_categories(engine) -> list[str]:
    """Add the demo's report categories that are missing; returns the codes added."""
    from web.storage import reports

    known = {c.code for c in reports.list_report_categories(engine)}
    added = []
    for position, (code, name_zh, name_en, category) in enumerate(DEMO_REPORT_CATEGORIES, 1):
        if code not in known:
            reports.add_report_category(engine, code, name_zh, name_en, category, position)
            added.append(code)
    return added


def publish_demo_plans(ctx, shifts: tuple[str, ...] = ("day", "evening")) -> Iterator[str]:
    """Plan and publish today's shifts as the demo planner, so every page has a plan to show
    (planners' maps, grid workers' visits). A short solver limit: the demo is for looking."""
    from web.services.patrol_plans import PlanRequest, plan_day, plan_record

    planner = storage.get_user_by_name(ctx.engine, "planner")
    who = planner.id if planner is not None else None
    timezone = storage.get_meta(ctx.engine).get("timezone", "Asia/Shanghai")
    today = clock.today(timezone).isoformat()
    for shift in shifts:
        request = PlanRequest(date=today, shift=shift, candidates=120, time_limit_s=5.0)
        planned = plan_day(ctx.engine, request, str(ctx.settings["SECRET_KEY"]))
        record = plan_record(planned, request)
        plan_id = storage.store_plan(ctx.engine, created_by=who, **record)
        storage.publish_plan(ctx.engine, plan_id, who)
        summary = record["summary"]
        detail = f"plan {plan_id}: {today} {shift}, {summary['visits']} visits"
        storage.audit(ctx.engine, "plan_published", user_id=who, username="demo", detail=detail)
        yield f"plan {today} {shift}: {summary['visits']} visits, published (plan {plan_id})"


def demo_logins(engine) -> list[tuple[str, str, str]]:
    """(user name, password, role) of the demo accounts still present with their demo role."""
    if storage.get_meta(engine).get(DEMO_META_KEY) != "1":
        return []
    out = []
    for username, password, role, _name in DEMO_ACCOUNTS:
        record = storage.get_user_by_name(engine, username)
        if record is not None and record.active and record.role == role:
            out.append((username, password, role))
    return out
