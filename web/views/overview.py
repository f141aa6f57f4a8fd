"""Shared page parts (menu, city name, language) and the data overview page."""

from __future__ import annotations

from flask import Blueprint, current_app, g, render_template
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from web import clock, storage
from web.maps import render as maps
from web.views.access import ANALYSTS, EVERYONE, get_engine, roles_required

bp = Blueprint("main", __name__)

ROLE_NAMES = {
    "admin": _l("administrator"),
    "commander": _l("commander"),
    "planner": _l("patrol planner"),
    "grid_worker": _l("grid worker"),
}
# The menu: (endpoint, label, roles that see it). Endpoints not registered are left out.
MENU = (
    ("commander.hotspots", _l("Hotspot map"), ANALYSTS),
    ("commander.live", _l("Live view"), ANALYSTS),
    ("commander.statistics", _l("Statistics"), ANALYSTS),
    ("commander.accuracy", _l("Forecast accuracy"), ANALYSTS),
    ("commander.compare", _l("Compare two periods"), ANALYSTS),
    ("planner.plans", _l("Patrol plans"), ANALYSTS),
    ("requests.index", _l("Patrol requests"), ANALYSTS),
    ("grid.home", _l("My grid"), ("grid_worker",)),
    ("main.overview", _l("Data"), ANALYSTS),
    ("admin.users", _l("Accounts"), ("admin",)),
    ("admin.audit_log", _l("Audit log"), ("admin",)),
    ("api.docs", _l("API"), EVERYONE),
)


@bp.app_context_processor
def _page_globals() -> dict:
    def nav_links() -> list[tuple[str, str]]:
        if not current_user.is_authenticated:
            return []
        known = current_app.view_functions
        return [(e, str(label)) for e, label, roles in MENU
                if current_user.role in roles and e in known]  # fmt: skip

    if "city_name" not in g:
        meta = storage.get_meta(get_engine())
        g.city_name = meta.get("city_name", current_app.config["CITY_NAME"])
    return {
        "city_name": g.city_name,
        "nav_links": nav_links,
        "role_names": {k: str(v) for k, v in ROLE_NAMES.items()},
        "current_locale": str(get_locale() or current_app.config["DEFAULT_LOCALE"]).split("_")[0],
        # Set when the site runs as of another moment (HOTSPOT_NOW): the top bar says so.
        "clock_set_s": clock.now_s() if clock.is_set() else None,
    }


@bp.get("/overview")
@roles_required(*ANALYSTS)
def overview():
    """The data as stored: incidents per H3 cell on a map, import runs and rejects."""
    engine = get_engine()
    meta = storage.get_meta(engine)
    counts = storage.count_rows(engine)
    summary = storage.incident_summary(engine)
    cells = storage.cell_counts(engine)
    areas = storage.list_areas(engine)
    grid_polygons = storage.load_areas_table(engine, "grid")
    boundary = storage.load_areas_table(engine, "jurisdiction")
    figure = maps.incident_cell_map(
        cells,
        boundary=boundary,
        grids=grid_polygons,
        stations=storage.list_stations(engine),
        tile_url=str(current_app.config["TILE_URL"]) or None,
        tile_attribution=str(current_app.config["TILE_ATTRIBUTION"]) or None,
        max_cells=int(current_app.config["MAX_CELLS_DRAWN"]),
    )
    return render_template(
        "overview.html",
        city_name=meta.get("city_name", current_app.config["CITY_NAME"]),
        timezone=meta.get("timezone", current_app.config["TIMEZONE"]),
        counts=counts,
        summary=summary,
        runs=storage.list_import_runs(engine, limit=10),
        area_counts=areas.groupby("kind").size().to_dict() if not areas.empty else {},
        map_parts=figure,
    )


@bp.get("/healthz")
def healthz():
    """Liveness check for monitors: the database answers. Nothing about the data (open to
    anyone)."""
    try:
        storage.get_meta(get_engine())
    except Exception:  # noqa: BLE001  (any database failure means "not ready")
        return {"status": "unavailable"}, 503
    return {"status": "ok"}
