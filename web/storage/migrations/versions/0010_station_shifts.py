"""stations: their own units and working hours per named shift (from the stations file)"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.add_column("stations", sa.Column("shifts", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("stations", "shifts")
