"""early warnings: warnings per place and rule, their cells, acknowledgements, read marks"""

import sqlalchemy as sa

from web.storage.migrations.shapes import (
    create_cell_table,
    create_table,
    drop_table,
    foreign_key,
    id_column,
    time_column,
)

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    create_table(
        "warnings",
        id_column(),
        sa.Column("rule", sa.String(length=20), nullable=False),
        sa.Column("place", sa.String(length=80), nullable=False),
        sa.Column("area_kind", sa.String(length=40), nullable=True),
        sa.Column("level", sa.Integer(), nullable=False),
        time_column("starts_at"),
        time_column("ends_at"),
        sa.Column("strength", sa.Float(), nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("evidence", sa.Text(), server_default="{}", nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        time_column("raised_at"),
        time_column("updated_at"),
        sa.CheckConstraint(
            "rule IN ('near_repeat', 'rising_area', 'emerging')", name="ck_warnings_rule"
        ),
        sa.CheckConstraint("level BETWEEN 1 AND 3", name="ck_warnings_level"),
        sa.CheckConstraint("status IN ('open', 'expired')", name="ck_warnings_status"),
        indexes={
            "ix_warnings_status": ["status", "rule", "place"],
            "ix_warnings_ends_at": ["ends_at"],
        },
    )
    create_cell_table("warning_cells", "warning_id", "warnings")
    create_table(
        "warning_acks",
        id_column(),
        sa.Column("warning_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        time_column("at"),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        foreign_key("warning_acks", "user_id", "users"),
        foreign_key("warning_acks", "warning_id", "warnings", ondelete="CASCADE"),
        indexes={"ix_warning_acks_warning_id": ["warning_id"]},
    )
    create_table(
        "warning_reads",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("warning_id", sa.Integer(), nullable=False),
        time_column("at"),
        foreign_key("warning_reads", "user_id", "users", ondelete="CASCADE"),
        foreign_key("warning_reads", "warning_id", "warnings", ondelete="CASCADE"),
        primary_key=("user_id", "warning_id"),
    )


def downgrade() -> None:
    drop_table("warning_reads")
    drop_table("warning_acks", "ix_warning_acks_warning_id")
    drop_table("warning_cells", "ix_warning_cells_cell")
    drop_table("warnings", "ix_warnings_status", "ix_warnings_ends_at")
