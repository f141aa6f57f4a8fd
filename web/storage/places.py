"""Places: areas of every kind (jurisdiction, districts, beats, management grids) with the H3
cells that cover them, and police stations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from web.storage._shared import placeholders
from web.storage.incident_queries import cell_counts
from web.storage.schema import area_cells, areas, stations


def store_areas(
    engine: Engine, kind: str, frame, area_cells_frame: pd.DataFrame, source: str = ""
) -> int:
    """Replace all areas of one kind (e.g. "district", "grid", "jurisdiction").

    ``frame`` is a GeoDataFrame with ``area_id``, ``name`` and ``geometry`` (WGS-84);
    ``area_cells_frame`` has ``area_id`` and ``cell``. Returns the number of areas.
    """
    import shapely

    with engine.begin() as conn:
        old = sa.select(areas.c.id).where(areas.c.kind == kind)
        conn.execute(sa.delete(area_cells).where(area_cells.c.area_pk.in_(old)))
        conn.execute(sa.delete(areas).where(areas.c.kind == kind))
        ids = {}
        for area_id, name, geom in zip(
            frame["area_id"], frame["name"], frame.geometry, strict=True
        ):
            ids[str(area_id)] = conn.execute(
                sa.insert(areas)
                .values(
                    kind=kind,
                    area_id=str(area_id),
                    name=str(name),
                    geometry=shapely.to_geojson(shapely.set_precision(geom, 1e-6)),
                    source=source,
                )
                .returning(areas.c.id)
            ).scalar_one()
        if len(area_cells_frame):
            pk = area_cells_frame["area_id"].astype(str).map(ids)
            rows = list(
                zip(
                    pk.astype(int).tolist(),
                    area_cells_frame["cell"].astype(np.int64).tolist(),
                    strict=True,
                )
            )
            conn.exec_driver_sql(
                f"INSERT INTO area_cells (area_pk, cell) VALUES ({placeholders(conn, 2)})", rows
            )
    return len(frame)


def list_areas(engine: Engine) -> pd.DataFrame:
    """Return every area with its kind, id, name and number of cells."""
    query = (
        sa.select(
            areas.c.kind,
            areas.c.area_id,
            areas.c.name,
            sa.func.count(area_cells.c.cell).label("n_cells"),
        )
        .select_from(areas.outerjoin(area_cells, area_cells.c.area_pk == areas.c.id))
        .group_by(areas.c.id)
        .order_by(areas.c.kind, areas.c.area_id)
    )
    with engine.connect() as conn:
        return pd.read_sql(query, conn)


def load_areas_table(engine: Engine, kind: str):
    """Return the areas of one kind as a GeoDataFrame (``area_id``, ``name``, ``geometry``)."""
    import geopandas as gpd
    import shapely

    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(areas.c.area_id, areas.c.name, areas.c.geometry)
            .where(areas.c.kind == kind)
            .order_by(areas.c.area_id)
        ).all()
    geoms = shapely.from_geojson([r.geometry for r in rows]) if rows else []
    return gpd.GeoDataFrame(
        {"area_id": [r.area_id for r in rows], "name": [r.name for r in rows]},
        geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"),
        crs="EPSG:4326",
    )


def load_area_cells(engine: Engine, kind: str) -> pd.DataFrame:
    """Return ``area_id``, ``cell`` for every area of one kind."""
    query = (
        sa.select(areas.c.area_id, area_cells.c.cell)
        .join(area_cells, area_cells.c.area_pk == areas.c.id)
        .where(areas.c.kind == kind)
        .order_by(areas.c.area_id, area_cells.c.cell)
    )
    with engine.connect() as conn:
        frame = pd.read_sql(query, conn)
    return frame.astype({"cell": np.int64})


def busiest_areas(engine: Engine, kind: str) -> list[str]:
    """Area ids of one kind, the most stored incidents first (ties in id order)."""
    area_cells_frame = load_area_cells(engine, kind)
    counts = cell_counts(engine)
    totals = (
        area_cells_frame.merge(counts, on="cell", how="left")
        .fillna({"n": 0})
        .groupby("area_id")["n"]
        .sum()
        .sort_values(ascending=False, kind="stable")
    )
    return [str(a) for a in totals.index]


def _text_or_none(value: object) -> str | None:
    return None if value is None or (isinstance(value, float) and value != value) else str(value)


def store_stations(engine: Engine, frame: pd.DataFrame) -> int:
    """Replace the stations with ``station_id, name, name_en, lon, lat, units`` rows and
    their optional ``shifts`` (JSON: own units and hours per named shift)."""
    with engine.begin() as conn:
        conn.execute(sa.delete(stations))
        for row in frame.to_dict("records"):
            conn.execute(
                sa.insert(stations).values(
                    station_id=str(row["station_id"]),
                    name=str(row["name"]),
                    name_en=str(row.get("name_en", "") or ""),
                    lon=float(row["lon"]),
                    lat=float(row["lat"]),
                    units=int(row.get("units", 1) or 1),
                    shifts=_text_or_none(row.get("shifts")),
                )
            )
    return len(frame)


def list_stations(engine: Engine) -> pd.DataFrame:
    """Return the stations."""
    with engine.connect() as conn:
        return pd.read_sql(sa.select(stations).order_by(stations.c.station_id), conn)
