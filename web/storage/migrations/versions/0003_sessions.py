"""sessions kept in the database, login throttling counters, case-free unique user names"""

import sqlalchemy as sa
from alembic import op

from web.storage.migrations.shapes import (
    create_login_failures,
    create_table,
    drop_table,
    foreign_key,
    time_column,
)

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    create_table(
        "sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        time_column("created_at"),
        time_column("last_seen_at"),
        time_column("expires_at"),
        sa.Column("ip", sa.String(length=64), server_default="", nullable=False),
        foreign_key("sessions", "user_id", "users"),
        indexes={"ix_sessions_user_id": ["user_id"]},
    )
    create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        time_column("updated_at"),
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
    drop_table("sessions", "ix_sessions_user_id")
