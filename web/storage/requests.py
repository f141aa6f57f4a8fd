"""Patrol requests: a commander asks that a cell be patrolled before a given time.

A request is stored ``open`` until its author or an administrator withdraws it. Whether it
was planned (a published plan visits the cell in its time) or done (a check-in there) is
read from plans and check-ins by :func:`request_outcomes`, never stored, so it cannot drift
from what happened.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from web.storage._shared import inserted_id, record_from_row
from web.storage.patrols import plan_in_force
from web.storage.schema import checkins, patrol_requests, plan_visits, plans, users


@dataclass(frozen=True)
class PatrolRequest:
    """One request as stored, with its author's user name."""

    id: int
    cell: int
    reason: str
    requested_by: int
    username: str
    requested_at: int
    until_at: int
    status: str  # open | withdrawn
    withdrawn_by: int | None
    withdrawn_at: int | None


@dataclass(frozen=True)
class RequestOutcome:
    """What became of a request: the first visit a plan in force (published, not replaced)
    has in the cell within the request's time (plan id, planned start), and the first
    check-in there (time)."""

    plan_id: int | None = None
    planned_at: int | None = None
    checked_in_at: int | None = None


def _select():
    return sa.select(*patrol_requests.c, users.c.username.label("username")).join(
        users, users.c.id == patrol_requests.c.requested_by
    )


def add_patrol_request(
    engine: Engine, *, cell: int, reason: str, user_id: int, requested_at: int, until_at: int
) -> int:
    """Store a checked request as ``open``; returns its id."""
    with engine.begin() as conn:
        result = conn.execute(
            patrol_requests.insert().values(
                cell=int(cell),
                reason=reason,
                requested_by=user_id,
                requested_at=int(requested_at),
                until_at=int(until_at),
                status="open",
            )  # fmt: skip
        )
        return inserted_id(result)


def get_patrol_request(engine: Engine, request_id: int) -> PatrolRequest | None:
    """One request, or None."""
    with engine.connect() as conn:
        row = conn.execute(_select().where(patrol_requests.c.id == int(request_id))).first()
    return record_from_row(PatrolRequest, row)


def list_patrol_requests(
    engine: Engine, *, since: int, open_at: int | None = None, limit: int = 200
) -> list[PatrolRequest]:
    """Requests whose time ends after ``since``, newest first (at most ``limit``); with
    ``open_at``, only open ones still running at that moment."""
    query = _select().where(patrol_requests.c.until_at > int(since))
    if open_at is not None:
        query = query.where(
            patrol_requests.c.status == "open",
            patrol_requests.c.requested_at <= int(open_at),
            patrol_requests.c.until_at > int(open_at),
        )
    query = query.order_by(patrol_requests.c.requested_at.desc(), patrol_requests.c.id.desc())
    with engine.connect() as conn:
        rows = conn.execute(query.limit(int(limit))).all()
    return [record for row in rows if (record := record_from_row(PatrolRequest, row)) is not None]


def count_open_requests(engine: Engine, user_id: int, now: int) -> int:
    """How many of ``user_id``'s requests are open and running at ``now``."""
    query = sa.select(sa.func.count()).where(
        patrol_requests.c.requested_by == user_id,
        patrol_requests.c.status == "open",
        patrol_requests.c.until_at > int(now),
    )
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def withdraw_patrol_request(engine: Engine, request_id: int, user_id: int, now: int) -> bool:
    """Withdraw an open request; False when it is not open (withdrawn already, or unknown)."""
    with engine.begin() as conn:
        result = conn.execute(
            patrol_requests.update()
            .where(patrol_requests.c.id == int(request_id), patrol_requests.c.status == "open")
            .values(status="withdrawn", withdrawn_by=user_id, withdrawn_at=int(now))
        )
        return result.rowcount == 1


def request_outcomes(
    engine: Engine, requests: Sequence[PatrolRequest]
) -> dict[int, RequestOutcome]:
    """Request id -> what became of it (see :class:`RequestOutcome`): visits of published
    plans and check-ins in the cell between the request and its end."""
    if not requests:
        return {}
    cells = sorted({r.cell for r in requests})
    start = min(r.requested_at for r in requests)
    end = max(r.until_at for r in requests)
    with engine.connect() as conn:
        visits = conn.execute(
            sa.select(plan_visits.c.cell, plan_visits.c.plan_id, plan_visits.c.start_at)
            .join(plans, plans.c.id == plan_visits.c.plan_id)
            .where(
                plan_in_force(),  # not a plan a revision replaced
                plan_visits.c.cell.in_(cells),
                plan_visits.c.start_at >= start,
                plan_visits.c.start_at < end,
            )
            .order_by(plan_visits.c.start_at)
        ).all()
        visited = conn.execute(
            sa.select(checkins.c.cell, checkins.c.visited_at)
            .where(
                checkins.c.cell.in_(cells),
                checkins.c.visited_at >= start,
                checkins.c.visited_at < end,
            )
            .order_by(checkins.c.visited_at)
        ).all()
    outcomes = {}
    for r in requests:
        planned = _first_within(visits, r, "start_at")
        checked = _first_within(visited, r, "visited_at")
        outcomes[r.id] = RequestOutcome(
            plan_id=None if planned is None else int(planned.plan_id),
            planned_at=None if planned is None else int(planned.start_at),
            checked_in_at=None if checked is None else int(checked.visited_at),
        )
    return outcomes


def _first_within(rows, request: PatrolRequest, time_column: str):
    """The first of ``rows`` (ordered by time) in the request's cell and time, or None."""
    for row in rows:
        at = getattr(row, time_column)
        if row.cell == request.cell and request.requested_at <= at < request.until_at:
            return row
    return None
