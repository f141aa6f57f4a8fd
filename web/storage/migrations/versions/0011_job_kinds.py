"""job kinds: score runs and warning refreshes as jobs (one queued at a time per kind) with
their result in the row
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"

# Written out, not imported: a migration's DDL never changes (web.storage.jobs.SINGLE_KINDS).
# (Written with OR rather than IN: PostgreSQL prints an IN over varchar in a form that reads
# back differently, so a restored pg_dump would show another index definition.)
ONE_QUEUED = "state = 'queued' AND (kind = 'scores' OR kind = 'warnings')"


def upgrade() -> None:
    op.add_column("jobs", sa.Column("result", sa.Text(), nullable=True))
    op.create_index(
        "ux_jobs_one_queued",
        "jobs",
        ["kind"],
        unique=True,
        sqlite_where=sa.text(ONE_QUEUED),
        postgresql_where=sa.text(ONE_QUEUED),
    )


def downgrade() -> None:
    op.drop_index("ux_jobs_one_queued", table_name="jobs")
    op.drop_column("jobs", "result")
