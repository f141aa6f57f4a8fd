"""check-ins carry the id their phone gave them, unique per account (offline queues resend)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("checkins", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client_id", sa.String(length=40), nullable=True))
        batch_op.create_index(
            "ux_checkins_user_id_client_id", ["user_id", "client_id"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("checkins", schema=None) as batch_op:
        batch_op.drop_index("ux_checkins_user_id_client_id")
        batch_op.drop_column("client_id")
