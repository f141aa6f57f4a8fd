"""check-ins carry the id their phone gave them, unique per account (offline queues resend)"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    # Plain ALTER TABLE (SQLite 3.35+ drops columns too): batch mode would copy the table
    # and its downgrade would leave the DDL text of 0005 changed.
    op.add_column("checkins", sa.Column("client_id", sa.String(length=40), nullable=True))
    op.create_index(
        "ux_checkins_user_id_client_id", "checkins", ["user_id", "client_id"], unique=True
    )


def downgrade() -> None:
    op.drop_index("ux_checkins_user_id_client_id", table_name="checkins")
    op.drop_column("checkins", "client_id")
