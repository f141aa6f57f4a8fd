"""sessions kept in the database, login throttling counters, case-free unique user names

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from web.storage.migrations.shapes import create_login_failures, create_table, foreign_key

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_table(
        "sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("ip", sa.String(length=64), server_default="", nullable=False),
        foreign_key("sessions", "user_id", "users"),
    )
    op.create_index("ix_sessions_user_id", "sessions", ["user_id"], unique=False)
    create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        primary_key=("key",),
    )
    clashes = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT lower(username) FROM users GROUP BY lower(username) HAVING count(*) > 1"
            )
        )
        .scalars()
        .all()
    )
    if clashes:
        raise RuntimeError(
            "user names differ only in case (" + ", ".join(clashes) + "): rename one of each "
            "pair (`hotspot users`) and run `hotspot init-db` again"
        )
    op.create_index("ux_users_username_lower", "users", [sa.text("lower(username)")], unique=True)
    op.drop_table("login_failures")  # replaced by login_throttle


def downgrade() -> None:
    create_login_failures(indexes={"ix_login_failures_username": ["username", "at"]})
    op.drop_index("ux_users_username_lower", table_name="users")
    op.drop_table("login_throttle")
    op.drop_index("ix_sessions_user_id", table_name="sessions")
    op.drop_table("sessions")
