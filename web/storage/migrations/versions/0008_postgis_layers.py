"""PostGIS layers on PostgreSQL: areas, stations and incidents get a ``geom`` column (SRID 4326)
with a GiST index, and the view ``incident_layer`` names the incidents' categories, so QGIS or
ArcGIS open them directly; nothing on SQLite

The columns are stored generated columns, computed by PostgreSQL from what the site already
writes (``lon``/``lat``; an area's GeoJSON text), so every insert and update through the
existing code (imports, the feed, accepted field reports, boundary loads) keeps them right
without a trigger or a second write. They are PostgreSQL-only: the metadata in
web.storage.schema leaves them out and web.storage.engine.include_name keeps them out of
schema comparisons (:data:`web.storage.engine.POSTGIS_LAYERS`).

An area's GeoJSON may be a Polygon or a MultiPolygon (or, after rounding, a collection): the
column holds its polygons as one MultiPolygon, so each layer has one geometry type.

The view ``incident_layer`` shows the incidents as a GIS team reads them: the time as a
timestamp (QGIS's temporal controller), the category's code and names, the offence details,
the H3 cell as its hex id, and ``geom`` (the table's column, so its index serves the view).
PostgreSQL refuses to drop or change the type of a column a view uses: a later migration
that does so to a column the view shows must drop the view first and create it again.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"

POINT = "ST_SetSRID(ST_MakePoint(lon, lat), 4326)"
# 3: the polygons of a collection; a Polygon stays itself, then becomes a MultiPolygon.
MULTIPOLYGON = "ST_Multi(ST_CollectionExtract(ST_SetSRID(ST_GeomFromGeoJSON(geometry), 4326), 3))"
# Table: (the column's type, how PostgreSQL computes it from the row).
LAYERS = {
    "areas": ("geometry(MultiPolygon, 4326)", MULTIPOLYGON),
    "stations": ("geometry(Point, 4326)", POINT),
    "incidents": ("geometry(Point, 4326)", POINT),
}
INCIDENT_LAYER = """
CREATE VIEW incident_layer AS
SELECT i.id, to_timestamp(i.occurred_at) AS occurred, c.code AS category,
       c.name_en AS category_en, c.name_zh AS category_zh, c."group" AS category_group,
       d.offense_code, d.description, d.location_type, i.source_id,
       to_hex(i.cell) AS cell, i.import_run_id, i.geom
FROM incidents i
JOIN categories c ON c.id = i.category_id
LEFT JOIN incident_details d ON d.id = i.detail_id
"""
POSTGIS_MISSING = (
    "migration 0008 needs the PostGIS extension in this PostgreSQL database, but {problem}. "
    "Install PostGIS for the server (Debian: apt-get install postgresql-15-postgis-3), then "
    "as a superuser run CREATE EXTENSION postgis; in this database (or let the site's "
    "database role create it once), and run `hotspot init-db` again."
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _require_postgis()
    for table, (type_, expression) in LAYERS.items():
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN geom {type_} GENERATED ALWAYS AS ({expression}) STORED"
        )
        op.execute(f"CREATE INDEX ix_{table}_geom ON {table} USING gist (geom)")
    op.execute(INCIDENT_LAYER)


def downgrade() -> None:
    # The extension stays: it may have been there before (and other databases' objects may
    # use it); dropping the columns drops their indexes.
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP VIEW incident_layer")
    for table in reversed(LAYERS):
        op.execute(f"ALTER TABLE {table} DROP COLUMN geom")


def _require_postgis() -> None:
    """Create the postgis extension when it is missing; a clear error when it cannot be."""
    bind = op.get_bind()
    installed = bind.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")
    if installed.first() is not None:
        return
    available = bind.exec_driver_sql("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")
    if available.first() is None:
        raise RuntimeError(POSTGIS_MISSING.format(problem="the server has no PostGIS package"))
    try:
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    except sa.exc.DBAPIError as err:
        problem = f"the database role may not create it ({str(err.orig).strip()})"
        raise RuntimeError(POSTGIS_MISSING.format(problem=problem)) from err
