"""live data: API tokens, feed runs and their incident changes, field reports, score runs"""

import sqlalchemy as sa

from web.storage.migrations.shapes import (
    cell_column,
    create_table,
    drop_table,
    foreign_key,
    id_column,
    lon_lat_columns,
    time_column,
    unique,
)

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    create_table(
        "api_tokens",
        id_column(),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("hint", sa.String(length=12), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        time_column("created_at"),
        time_column("last_used_at", nullable=True),
        sa.Column("last_used_ip", sa.String(length=64), nullable=True),
        time_column("revoked_at", nullable=True),
        sa.CheckConstraint("scope IN ('feed', 'read')", name="ck_api_tokens_scope"),
        foreign_key("api_tokens", "created_by", "users"),
        unique("api_tokens", "name"),
        unique("api_tokens", "token_hash"),
    )
    create_table(
        "feed_runs",
        sa.Column("import_run_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("updated", sa.Integer(), server_default="0", nullable=False),
        sa.Column("unchanged", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint("kind IN ('feed', 'field')", name="ck_feed_runs_kind"),
        foreign_key("feed_runs", "import_run_id", "import_runs", ondelete="CASCADE"),
        foreign_key("feed_runs", "token_id", "api_tokens"),
        primary_key=("import_run_id",),
    )
    create_table(
        "incident_changes",
        id_column(),
        sa.Column("import_run_id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.BigInteger(), nullable=False),
        sa.Column("old_run_id", sa.Integer(), nullable=True),
        sa.Column("old_source_id", sa.String(length=80), nullable=True),
        time_column("old_occurred_at", nullable=True),
        sa.Column("old_lon", sa.Float(), nullable=True),
        sa.Column("old_lat", sa.Float(), nullable=True),
        sa.Column("old_cell", sa.BigInteger(), nullable=True),
        sa.Column("old_category_id", sa.Integer(), nullable=True),
        sa.Column("old_detail_id", sa.Integer(), nullable=True),
        foreign_key("incident_changes", "import_run_id", "import_runs"),
        indexes={
            "ix_incident_changes_import_run_id": ["import_run_id"],
            "ix_incident_changes_incident_id": ["incident_id"],
        },
    )
    create_table(
        "report_categories",
        id_column(),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name_zh", sa.String(length=80), nullable=False),
        sa.Column("name_en", sa.String(length=80), nullable=False),
        sa.Column("category_code", sa.String(length=80), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
        unique("report_categories", "code"),
    )
    create_table(
        "field_reports",
        id_column(),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("report_category_id", sa.Integer(), nullable=False),
        time_column("occurred_at"),
        *lon_lat_columns(),
        cell_column(),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column("crs", sa.String(length=10), nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("reviewed_by", sa.Integer(), nullable=True),
        time_column("reviewed_at", nullable=True),
        sa.Column("incident_id", sa.BigInteger(), nullable=True),
        time_column("created_at"),
        sa.CheckConstraint(
            "status IN ('reported', 'accepted', 'rejected')", name="ck_field_reports_status"
        ),
        foreign_key("field_reports", "report_category_id", "report_categories"),
        foreign_key("field_reports", "reviewed_by", "users"),
        foreign_key("field_reports", "user_id", "users"),
        indexes={
            "ix_field_reports_status": ["status", "created_at"],
            "ix_field_reports_user_id": ["user_id"],
        },
    )
    create_table(
        "score_runs",
        id_column(),
        time_column("started_at"),
        time_column("finished_at", nullable=True),
        sa.Column("data_run_id", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(length=10), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("detail", sa.Text(), server_default="", nullable=False),
        sa.CheckConstraint("trigger IN ('schedule', 'demand')", name="ck_score_runs_trigger"),
        sa.CheckConstraint("status IN ('running', 'done', 'failed')", name="ck_score_runs_status"),
        foreign_key("score_runs", "requested_by", "users"),
    )


def downgrade() -> None:
    drop_table("score_runs")
    drop_table("field_reports", "ix_field_reports_status", "ix_field_reports_user_id")
    drop_table("report_categories")
    drop_table(
        "incident_changes", "ix_incident_changes_import_run_id", "ix_incident_changes_incident_id"
    )
    drop_table("feed_runs")
    drop_table("api_tokens")
