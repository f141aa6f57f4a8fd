"""patrol requests: a commander asks that a cell be patrolled soon"""

import sqlalchemy as sa

from web.storage.migrations.shapes import (
    cell_column,
    create_table,
    drop_table,
    foreign_key,
    id_column,
    time_column,
)

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    create_table(
        "patrol_requests",
        id_column(),
        cell_column(),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=False),
        time_column("requested_at"),
        time_column("until_at"),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("withdrawn_by", sa.Integer(), nullable=True),
        time_column("withdrawn_at", nullable=True),
        sa.CheckConstraint("status IN ('open', 'withdrawn')", name="ck_patrol_requests_status"),
        sa.CheckConstraint("until_at > requested_at", name="ck_patrol_requests_until"),
        foreign_key("patrol_requests", "requested_by", "users"),
        foreign_key("patrol_requests", "withdrawn_by", "users"),
        indexes={
            "ix_patrol_requests_until_at": ["until_at"],
            "ix_patrol_requests_cell": ["cell"],
        },
    )


def downgrade() -> None:
    drop_table("patrol_requests", "ix_patrol_requests_until_at", "ix_patrol_requests_cell")
