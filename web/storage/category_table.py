"""Replacing a database's category table with another city's (the Jiayuguan demo's Chinese
table over the default one a new database was seeded with), keeping every category that
stored data still refers to."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from web.storage.importing import _upsert_categories
from web.storage.schema import categories, incident_changes, incidents, report_categories

__all__ = ["replace_categories"]


def replace_categories(engine: Engine, frame: pd.DataFrame) -> list[str]:
    """Store the categories of ``frame`` (as :func:`geo.categories.load_categories` returns)
    and delete every other category no incident, incident change or report category refers
    to, in one transaction.

    Returns the codes deleted, in table order; categories still referred to stay.
    """
    wanted = set(frame["code"])
    with engine.begin() as conn:
        used = set(conn.execute(sa.select(incidents.c.category_id).distinct()).scalars())
        used |= set(
            conn.execute(
                sa.select(incident_changes.c.old_category_id)
                .where(incident_changes.c.old_category_id.is_not(None))
                .distinct()
            ).scalars()
        )
        reported = set(conn.execute(sa.select(report_categories.c.category_code)).scalars())
        rows = conn.execute(
            sa.select(categories.c.id, categories.c.code).order_by(categories.c.id)
        ).all()
        # Unused categories go, the wanted ones too: inserted again, they follow the order
        # of ``frame`` (lists show categories in table order).
        unused = [row for row in rows if row.id not in used and row.code not in reported]
        if unused:
            conn.execute(
                sa.delete(categories).where(categories.c.id.in_([row.id for row in unused]))
            )
        _upsert_categories(conn, frame)
    return [row.code for row in unused if row.code not in wanted]
