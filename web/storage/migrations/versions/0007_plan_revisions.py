"""plan revisions: a re-planned shift names the plan it re-plans, why, and keeps its problem"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    # Plain ALTER TABLE, as 0006: batch mode would copy the table and change the DDL of 0002.
    op.add_column("plans", sa.Column("revision_of", sa.Integer(), nullable=True))
    op.add_column("plans", sa.Column("revision", sa.Integer(), server_default="1", nullable=False))
    op.add_column("plans", sa.Column("replan", sa.Text(), nullable=True))
    op.add_column("plans", sa.Column("problem", sa.Text(), nullable=True))
    op.create_index("ix_plans_revision_of", "plans", ["revision_of"])


def downgrade() -> None:
    op.drop_index("ix_plans_revision_of", table_name="plans")
    op.drop_column("plans", "problem")
    op.drop_column("plans", "replan")
    op.drop_column("plans", "revision")
    op.drop_column("plans", "revision_of")
