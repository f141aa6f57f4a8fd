"""patrol requests: a commander asks that a cell be patrolled soon

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa

from web.storage.migrations.shapes import create_table, drop_table, foreign_key, id_column

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_table(
        "patrol_requests",
        id_column(),
        sa.Column("cell", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=False),
        sa.Column("requested_at", sa.BigInteger(), nullable=False),
        sa.Column("until_at", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("withdrawn_by", sa.Integer(), nullable=True),
        sa.Column("withdrawn_at", sa.BigInteger(), nullable=True),
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
