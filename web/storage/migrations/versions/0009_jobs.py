"""jobs: plan jobs and re-plans as rows that worker processes take, with their progress"""

import sqlalchemy as sa

from web.storage.migrations.shapes import (
    create_table,
    drop_table,
    foreign_key,
)

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    create_table(
        "jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("owner_name", sa.String(length=64), server_default="", nullable=False),
        sa.Column("owner_ip", sa.String(length=64), server_default="", nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("phase", sa.String(length=40), server_default="", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("worker", sa.String(length=120), nullable=True),
        sa.Column("heartbeat_at", sa.Float(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=True),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.Column("time_limit_s", sa.Float(), nullable=False),
        sa.Column("deadline_at", sa.Float(), nullable=True),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        foreign_key("jobs", "owner_id", "users", ondelete="SET NULL"),
        indexes={"ix_jobs_state": ["state", "created_at"], "ix_jobs_owner_id": ["owner_id"]},
    )


def downgrade() -> None:
    drop_table("jobs", "ix_jobs_owner_id", "ix_jobs_state")
