"""Pages of the minimal site: the incident-cell map with import counts."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from web import maps, storage

bp = Blueprint("main", __name__)


@bp.get("/")
def index():
    """Front page: a map of incident counts per H3 cell and the import counts."""
    engine = current_app.extensions["engine"]
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
        "index.html",
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
    """Liveness check with the row counts."""
    return {"status": "ok", "counts": storage.count_rows(current_app.extensions["engine"])}
