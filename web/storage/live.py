"""What the site needs to follow live data: the incident changes since a data version, and
the score runs (when forecast scores were last computed).

Feed batches and accepted field reports are import runs with a ``feed_runs`` row; each
logs the incidents it stored or changed in ``incident_changes`` (with the version it
replaced). :func:`changes_since` turns that log into the rows to add and to remove, so a
server process brings its in-memory data up to date without reading every incident again;
a file import in between (not logged row by row) makes it answer None: reload.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from web.storage._shared import inserted_id, now_seconds
from web.storage.schema import feed_runs, import_runs, incident_changes, incidents, score_runs

#: More changed rows than this since a version: reading everything again is as quick.
MAX_CHANGED_ROWS = 200_000


@dataclass(frozen=True)
class IncidentChanges:
    """Rows to add (the incidents' current versions) and rows to remove (the versions they
    replaced that were current at the earlier data version): UTC seconds, cells and category
    ids, int64 arrays."""

    added_times: np.ndarray
    added_cells: np.ndarray
    added_category_ids: np.ndarray
    removed_times: np.ndarray
    removed_cells: np.ndarray
    removed_category_ids: np.ndarray


def changes_since(engine: Engine, run_id: int, runs: int) -> IncidentChanges | None:
    """The incident changes of the ``runs`` import runs after ``run_id``, or None when there
    are other runs after it than ``runs`` (one committed late with a lower id), one of
    them is not logged row by row (a file import) or they changed more than
    :data:`MAX_CHANGED_ROWS` incidents: the caller reads all incidents again."""
    with engine.connect() as conn:
        later, unlogged = conn.execute(
            sa.select(sa.func.count(), sa.func.count() - sa.func.count(feed_runs.c.import_run_id))
            .select_from(import_runs)
            .outerjoin(feed_runs, feed_runs.c.import_run_id == import_runs.c.id)
            .where(import_runs.c.id > run_id)
        ).one()
        if later != runs or unlogged:
            return None
        changed = conn.execute(
            sa.select(sa.func.count(sa.distinct(incident_changes.c.incident_id))).where(
                incident_changes.c.import_run_id > run_id
            )
        ).scalar_one()
        if changed > MAX_CHANGED_ROWS:
            return None
        # Each changed incident once: its current row, and the version its first change
        # since ``run_id`` replaced (none when it is new since then).
        first = (
            sa.select(
                incident_changes.c.incident_id,
                sa.func.min(incident_changes.c.id).label("first_change"),
            )
            .where(incident_changes.c.import_run_id > run_id)
            .group_by(incident_changes.c.incident_id)
            .subquery()
        )
        added = conn.execute(
            sa.select(incidents.c.occurred_at, incidents.c.cell, incidents.c.category_id).join(
                first, first.c.incident_id == incidents.c.id
            )
        ).all()
        removed = conn.execute(
            sa.select(
                incident_changes.c.old_occurred_at,
                incident_changes.c.old_cell,
                incident_changes.c.old_category_id,
            )
            .join(first, first.c.first_change == incident_changes.c.id)
            .where(incident_changes.c.old_run_id.is_not(None))
            .where(incident_changes.c.old_run_id <= run_id)
        ).all()
    add, remove = _columns(added), _columns(removed)
    return IncidentChanges(*add, *remove)


def _columns(rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    values = np.array([tuple(r) for r in rows], dtype=np.int64).reshape(-1, 3)
    return values[:, 0].copy(), values[:, 1].copy(), values[:, 2].copy()


# --- score runs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreRun:
    """One computation of the forecast scores."""

    id: int
    started_at: int
    finished_at: int | None
    data_run_id: int
    trigger: str
    status: str


def start_score_run(engine: Engine, trigger: str, requested_by: int | None = None) -> int:
    """Record that scores are being computed now from the newest data; returns its id."""
    with engine.begin() as conn:
        newest = conn.execute(sa.select(sa.func.max(import_runs.c.id))).scalar_one() or 0
        return inserted_id(
            conn.execute(
                sa.insert(score_runs).values(
                    started_at=now_seconds(),
                    data_run_id=int(newest),
                    trigger=trigger,
                    requested_by=requested_by,
                    status="running",
                )
            )
        )


def finish_score_run(engine: Engine, run_id: int, failed: str | None = None) -> None:
    """Mark a score run done (or failed, with the reason)."""
    with engine.begin() as conn:
        conn.execute(
            sa.update(score_runs)
            .where(score_runs.c.id == run_id)
            .values(
                finished_at=now_seconds(),
                status="failed" if failed else "done",
                detail=(failed or "")[:2000],
            )
        )


def latest_score_run(engine: Engine) -> ScoreRun | None:
    """The newest score run that finished, or None."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(score_runs)
            .where(score_runs.c.status == "done")
            .order_by(score_runs.c.id.desc())
            .limit(1)
        ).first()
    if row is None:
        return None
    return ScoreRun(
        id=int(row.id),
        started_at=int(row.started_at),
        finished_at=None if row.finished_at is None else int(row.finished_at),
        data_run_id=int(row.data_run_id),
        trigger=str(row.trigger),
        status=str(row.status),
    )
