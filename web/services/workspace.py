"""A workspace: the settings and database the CLI and the loaders share, plus the set-up
steps built on them (initialising a database, loading an area layer)."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from web import clock, storage
from web.config import ENV_PREFIX, ConfigError, load_settings

__all__ = ["Workspace", "init_database", "load_area_layer", "start_clock"]


def start_clock(moment: object, engine: Engine, default_timezone: str) -> None:
    """Run the clock as of ``HOTSPOT_NOW`` when it is set (a moment in the city's time)."""
    if moment:
        timezone = storage.stored_timezone(engine) or default_timezone
        try:
            clock.set_now(str(moment), run=True, timezone=timezone)
        except ValueError as err:
            raise ConfigError(f"{ENV_PREFIX}NOW: {err}") from err


class Workspace:
    """Settings and a lazily created engine."""

    def __init__(self, settings: dict[str, object] | None = None) -> None:
        self.settings = load_settings() if settings is None else settings
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = storage.make_engine(str(self.settings["DATABASE_URL"]))
            start_clock(self.settings.get("NOW"), self._engine, str(self.settings["TIMEZONE"]))
        return self._engine

    def city(self) -> dict[str, str]:
        """The city settings stored with the data, falling back to the configured ones."""
        meta = storage.get_meta(self.engine)
        return {
            "timezone": meta.get("timezone", str(self.settings["TIMEZONE"])),
            "resolution": meta.get("resolution", str(self.settings["H3_RESOLUTION"])),
            "city_name": meta.get("city_name", str(self.settings["CITY_NAME"])),
        }


def init_database(ws: Workspace, city_name: str | None = None, timezone: str | None = None) -> None:
    """Create or upgrade the schema; seed categories and city settings on a new database."""
    from geo.categories import load_categories

    storage.init_db(ws.engine)
    meta = storage.get_meta(ws.engine)
    if "resolution" not in meta:
        storage.set_meta(
            ws.engine,
            {
                "resolution": str(ws.settings["H3_RESOLUTION"]),
                "timezone": timezone or str(ws.settings["TIMEZONE"]),
                "city_name": city_name or str(ws.settings["CITY_NAME"]),
            },
        )
    if storage.load_categories_table(ws.engine).empty:
        storage.store_categories(ws.engine, load_categories(str(ws.settings["CATEGORIES_FILE"])))


def load_area_layer(ws: Workspace, path: str, kind: str, id_field=None, name_field=None, crs=None):
    """Load an area file, cover it with H3 cells and store it; returns (areas, cells).

    The jurisdiction is dissolved to one area and covered by the "overlap" rule (no incident
    on its edge falls outside the study area); other layers use the "center" rule, so a
    partition of the city gives every cell exactly one area.
    """
    from geo.boundaries import cells_from_polygons, load_areas, load_boundary

    resolution = int(ws.city()["resolution"])
    if kind == "jurisdiction":
        frame = load_boundary(path, crs=crs).assign(area_id="jurisdiction")
        cells = cells_from_polygons(frame, resolution, containment="overlap")
    else:
        frame = load_areas(path, kind=kind, id_field=id_field, name_field=name_field, crs=crs)
        cells = cells_from_polygons(frame, resolution, containment="center")
    storage.store_areas(ws.engine, kind, frame, cells, source=str(path))
    return frame, cells
