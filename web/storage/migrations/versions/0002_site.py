"""site: users, grid assignments, audit log, login failures, plans, check-ins

Created: 2026-11-26 03:25:10.575175
"""

import sqlalchemy as sa

from web.storage.migrations.shapes import (
    cell_column,
    create_login_failures,
    create_table,
    drop_table,
    foreign_key,
    id_column,
    time_column,
    unique,
)

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    create_table(
        "audit_log",
        id_column(),
        time_column("at"),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=80), server_default="", nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.Text(), server_default="", nullable=False),
        sa.Column("ip", sa.String(length=64), server_default="", nullable=False),
        indexes={"ix_audit_log_at": ["at"]},
    )
    create_login_failures(indexes={"ix_login_failures_username": ["username", "at"]})
    create_table(
        "users",
        id_column(),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("display_name", sa.Text(), server_default="", nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("locale", sa.String(length=10), nullable=True),
        time_column("created_at"),
        sa.CheckConstraint(
            "role IN ('admin', 'commander', 'planner', 'grid_worker')", name="ck_users_role"
        ),
        unique("users", "username"),
    )
    create_table(
        "plans",
        id_column(),
        sa.Column("plan_date", sa.String(length=10), nullable=False),
        sa.Column("shift", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        time_column("created_at"),
        sa.Column("created_by", sa.Integer(), nullable=True),
        time_column("published_at", nullable=True),
        sa.Column("published_by", sa.Integer(), nullable=True),
        time_column("shift_start"),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("plan_json", sa.Text(), nullable=False),
        sa.Column("geojson", sa.Text(), nullable=False),
        sa.Column("gpx", sa.Text(), nullable=False),
        sa.Column("csv", sa.Text(), nullable=False),
        sa.CheckConstraint("status IN ('draft', 'published')", name="ck_plans_status"),
        foreign_key("plans", "created_by", "users"),
        foreign_key("plans", "published_by", "users"),
        indexes={"ix_plans_plan_date": ["plan_date", "shift"]},
    )
    create_table(
        "user_grids",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("area_pk", sa.Integer(), nullable=False),
        foreign_key("user_grids", "area_pk", "areas", ondelete="CASCADE"),
        foreign_key("user_grids", "user_id", "users", ondelete="CASCADE"),
        primary_key=("user_id", "area_pk"),
    )
    create_table(
        "checkins",
        id_column(),
        sa.Column("user_id", sa.Integer(), nullable=False),
        cell_column(),
        time_column("visited_at"),
        sa.Column("minutes", sa.Float(), nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        time_column("created_at"),
        foreign_key("checkins", "plan_id", "plans", ondelete="SET NULL"),
        foreign_key("checkins", "user_id", "users"),
        indexes={"ix_checkins_cell": ["cell", "visited_at"]},
    )
    create_table(
        "plan_visits",
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.String(length=80), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        cell_column(),
        time_column("start_at"),
        time_column("end_at"),
        sa.Column("value", sa.Float(), nullable=False),
        foreign_key("plan_visits", "plan_id", "plans", ondelete="CASCADE"),
        primary_key=("plan_id", "unit_id", "seq"),
        indexes={"ix_plan_visits_cell": ["cell"]},
    )


def downgrade() -> None:
    drop_table("plan_visits", "ix_plan_visits_cell")
    drop_table("checkins", "ix_checkins_cell")
    drop_table("user_grids")
    drop_table("plans", "ix_plans_plan_date")
    drop_table("users")
    drop_table("login_failures", "ix_login_failures_username")
    drop_table("audit_log", "ix_audit_log_at")
