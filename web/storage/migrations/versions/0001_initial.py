"""initial schema: incidents, details, categories, import runs, rejects, areas, stations

Created: 2026-11-26 00:57:44.468373
"""

import sqlalchemy as sa

from web.storage.migrations.shapes import (
    cell_column,
    create_cell_table,
    create_table,
    drop_table,
    file_columns,
    foreign_key,
    id_column,
    lon_lat_columns,
    time_column,
    unique,
)

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_table(
        "areas",
        id_column(),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("area_id", sa.String(length=80), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("geometry", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), server_default="", nullable=False),
        sa.UniqueConstraint("kind", "area_id", name="uq_areas_kind_area_id"),
    )
    create_table(
        "categories",
        id_column(),
        sa.Column("code", sa.String(length=80), nullable=False),
        sa.Column("name_en", sa.String(length=120), nullable=False),
        sa.Column("name_zh", sa.String(length=120), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("group", sa.String(length=40), nullable=False),
        sa.Column("police_initiated", sa.Boolean(), nullable=False),
        sa.Column("aliases", sa.Text(), server_default="", nullable=False),
        unique("categories", "code"),
    )
    create_table(
        "import_runs",
        id_column(),
        *file_columns(),
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.Column("preset", sa.String(length=80), nullable=True),
        time_column("started_at"),
        time_column("finished_at"),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("inserted", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("synthetic", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    create_table(
        "incident_details",
        id_column(),
        sa.Column("offense_code", sa.String(length=40), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("location_type", sa.Text(), nullable=False),
        sa.UniqueConstraint(
            "offense_code", "description", "location_type", name="uq_incident_details_all"
        ),
    )
    create_table(
        "meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        primary_key=("key",),
    )
    create_table(
        "stations",
        id_column(),
        sa.Column("station_id", sa.String(length=80), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), server_default="", nullable=False),
        *lon_lat_columns(),
        sa.Column("units", sa.Integer(), server_default="1", nullable=False),
        unique("stations", "station_id"),
    )
    create_cell_table("area_cells", "area_pk", "areas")
    create_table(
        "incidents",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("import_run_id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.String(length=80), nullable=True),
        time_column("occurred_at"),
        *lon_lat_columns(),
        cell_column(),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("detail_id", sa.Integer(), nullable=True),
        foreign_key("incidents", "category_id", "categories"),
        foreign_key("incidents", "detail_id", "incident_details"),
        foreign_key("incidents", "import_run_id", "import_runs"),
        indexes={"ix_incidents_cell_occurred_at": ["cell", "occurred_at"]},
    )
    create_table(
        "rejects",
        id_column(),
        sa.Column("import_run_id", sa.Integer(), nullable=False),
        *file_columns(),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("field", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        foreign_key("rejects", "import_run_id", "import_runs"),
        sa.UniqueConstraint("file_sha256", "line", name="uq_rejects_file_line"),
    )


def downgrade() -> None:
    drop_table("rejects")
    drop_table("incidents", "ix_incidents_cell_occurred_at")
    drop_table("area_cells", "ix_area_cells_cell")
    for table in ("stations", "meta", "incident_details", "import_runs", "categories", "areas"):
        drop_table(table)
