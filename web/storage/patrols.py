"""Patrol plans as stored (draft or published, with their documents), their planned visits
one row per stop, and grid workers' check-ins."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TypedDict, Unpack

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from web.storage._shared import (
    in_same_minute,
    insert_once,
    inserted_id,
    now_seconds,
    record_from_row,
)
from web.storage.schema import checkins, plan_visits, plans, users


@dataclass(frozen=True)
class StoredPlan:
    """A generated plan as stored (documents as text, request and summary as dicts)."""

    id: int
    plan_date: str
    shift: str
    status: str
    created_at: int
    created_by: int | None
    published_at: int | None
    published_by: int | None
    shift_start: int
    seed: int
    request: dict
    summary: dict
    plan_json: str
    geojson: str
    gpx: str
    csv: str
    revision_of: int | None = None  # the plan this one re-plans
    revision: int = 1
    replan: dict | None = None  # why: {"at", "called_away", "back", "urgent", "done_from"}
    problem: str | None = None  # the shift's problem (JSON without travel matrices)


def geojson_dumps(value: object) -> str:
    """Serialise to compact JSON (used for GeoJSON columns)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def store_plan(
    engine: Engine,
    *,
    plan_date: str,
    shift: str,
    created_by: int | None,
    shift_start: int,
    seed: int,
    request: dict,
    summary: dict,
    plan_json: str,
    geojson: str,
    gpx: str,
    csv: str,
    visits: pd.DataFrame,
    problem: str | None = None,
    revision_of: int | None = None,
    replan: dict | None = None,
) -> int:
    """Store a draft plan and its visits (``unit_id, seq, cell, start_at, end_at, value``).

    A re-plan names the plan it re-plans (``revision_of``) and why (``replan``); its revision
    number is one more than that plan's.
    """
    with engine.begin() as conn:
        revision = 1
        if revision_of is not None:
            parent = conn.execute(
                sa.select(plans.c.revision).where(plans.c.id == revision_of)
            ).scalar_one_or_none()
            if parent is None:
                raise ValueError(f"revision_of: no plan {revision_of}")
            revision = int(parent) + 1
        result = conn.execute(
            sa.insert(plans).values(
                plan_date=plan_date, shift=shift, status="draft", created_at=now_seconds(),
                created_by=created_by, shift_start=shift_start, seed=seed,
                request=geojson_dumps(request), summary=geojson_dumps(summary),
                plan_json=plan_json, geojson=geojson, gpx=gpx, csv=csv, problem=problem,
                revision_of=revision_of, revision=revision,
                replan=None if replan is None else geojson_dumps(replan),
            )
        )  # fmt: skip
        plan_id = inserted_id(result)
        if len(visits):
            rows = [
                {
                    "plan_id": plan_id, "unit_id": str(r["unit_id"]), "seq": int(r["seq"]),
                    "cell": int(r["cell"]), "start_at": int(r["start_at"]),
                    "end_at": int(r["end_at"]), "value": float(r["value"]),
                }
                for r in visits.to_dict("records")
            ]  # fmt: skip
            conn.execute(sa.insert(plan_visits), rows)
    return plan_id


def _stored_plan(row) -> StoredPlan | None:
    return record_from_row(
        StoredPlan,
        row,
        request=json.loads,
        summary=json.loads,
        replan=lambda text: None if text is None else json.loads(text),
    )


def get_plan(engine: Engine, plan_id: int) -> StoredPlan | None:
    """Return one stored plan, or None."""
    with engine.connect() as conn:
        return _stored_plan(conn.execute(sa.select(plans).where(plans.c.id == plan_id)).first())


def _newer_published(of=plans):
    """Published plans of ``of``'s date and shift published after it (later time, or the same
    second and a higher id): a published plan with one of these is replaced."""
    newer = plans.alias("newer")
    later = sa.or_(
        newer.c.published_at > of.c.published_at,
        sa.and_(newer.c.published_at == of.c.published_at, newer.c.id > of.c.id),
    )
    return newer, sa.and_(
        newer.c.plan_date == of.c.plan_date,
        newer.c.shift == of.c.shift,
        newer.c.status == "published",
        of.c.status == "published",
        later,
    )


def _replaced_by_column():
    """The id of the plan that replaced a published plan (the next one published), else NULL."""
    newer, condition = _newer_published()
    return (
        sa.select(newer.c.id)
        .where(condition)
        .order_by(newer.c.published_at, newer.c.id)
        .limit(1)
        .scalar_subquery()
        .label("replaced_by")
    )


def plan_in_force():
    """SQL true for a plan in force (in a query over ``plans``): published, and not replaced
    by a newer published plan of its date and shift."""
    return sa.and_(plans.c.status == "published", ~_replaced())


def _replaced():
    """SQL true for a published plan that a newer published plan of its date and shift
    replaced."""
    newer, condition = _newer_published()
    return sa.exists(sa.select(newer.c.id).where(condition))


def list_plans(engine: Engine, limit: int = 50, status: str | None = None) -> pd.DataFrame:
    """Return plans newest first: id, date, shift, status, times, ``replaced_by`` (the plan
    that replaced a published one, else NaN), summary text.

    ``status``: "draft", "published" (the plans in force: published and not replaced) or
    "replaced" (published, then replaced by a newer published plan of the date and shift).
    The table keeps a replaced plan "published" with its publication time.
    """
    query = (
        sa.select(
            plans.c.id,
            plans.c.plan_date,
            plans.c.shift,
            plans.c.status,
            plans.c.created_at,
            plans.c.created_by,
            plans.c.published_at,
            _replaced_by_column(),
            plans.c.summary,
            plans.c.revision,
            plans.c.revision_of,
        )
        .order_by(plans.c.plan_date.desc(), plans.c.id.desc())
        .limit(limit)
    )
    if status == "replaced":
        query = query.where(_replaced())
    elif status == "published":
        query = query.where(plan_in_force())
    elif status:
        query = query.where(plans.c.status == status)
    with engine.connect() as conn:
        return pd.read_sql(query, conn)


def previous_plan(engine: Engine, plan: StoredPlan) -> StoredPlan | None:
    """The newest published plan in force of the same shift on an earlier date, else None."""
    query = (
        sa.select(plans)
        .where(
            plans.c.shift == plan.shift,
            plans.c.plan_date < plan.plan_date,
            plan_in_force(),
        )
        .order_by(plans.c.plan_date.desc(), plans.c.id.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        return _stored_plan(conn.execute(query).first())


def publish_plan(engine: Engine, plan_id: int, user_id: int | None) -> bool:
    """Publish a plan. Any other published plan of the same date and shift stays "published"
    with its publication time (its history) but is replaced: the newest published plan of a
    date and shift is the one in force (:func:`replaced_by`; grid workers see its visits
    only). Returns False when the plan does not exist."""
    with engine.begin() as conn:
        row = conn.execute(sa.select(plans.c.id).where(plans.c.id == plan_id)).first()
        if row is None:
            return False
        conn.execute(
            sa.update(plans)
            .where(plans.c.id == plan_id)
            .values(status="published", published_at=now_seconds(), published_by=user_id)
        )
    return True


def replaced_by(engine: Engine, plan_id: int) -> int | None:
    """The id of the plan published after this published plan for its date and shift (the
    one that replaced it), else None (a draft, or the plan in force)."""
    query = sa.select(_replaced_by_column()).select_from(plans).where(plans.c.id == plan_id)
    with engine.connect() as conn:
        value = conn.execute(query).scalar()
    return None if value is None else int(value)


def plan_visits_frame(
    engine: Engine,
    plan_id: int | None = None,
    *,
    cells: np.ndarray | None = None,
    start: int | None = None,
    end: int | None = None,
    published_only: bool = False,
) -> pd.DataFrame:
    """Planned visits (``plan_id, unit_id, seq, cell, start_at, end_at, value``).

    Filters: one plan, a set of cells (a grid worker's), visits starting in [start, end),
    published plans in force only (not replaced by a newer published plan).
    """
    query = sa.select(plan_visits).join(plans, plans.c.id == plan_visits.c.plan_id)
    if plan_id is not None:
        query = query.where(plan_visits.c.plan_id == plan_id)
    query = _in_cells_and_window(
        query, plan_visits.c.cell, cells, plan_visits.c.start_at, start, end
    )
    if published_only:
        query = query.where(plan_in_force())
    query = query.order_by(plan_visits.c.plan_id, plan_visits.c.unit_id, plan_visits.c.seq)
    return _read_with_cells(engine, query)


def add_checkin(
    engine: Engine,
    user_id: int,
    cell: int,
    visited_at: int,
    minutes: float,
    note: str = "",
    plan_id: int | None = None,
    client_id: str | None = None,
) -> tuple[int, bool]:
    """Record a field visit to a cell; returns (its id, whether it is new). The same visit
    sent again is the check-in already stored (its id, and False): the same ``client_id``
    of the account (a phone's queue sending again), or without one the same account and
    cell at a time in the same minute (a double tap, a retried request)."""
    same_visit = sa.and_(
        checkins.c.cell == int(cell), in_same_minute(checkins.c.visited_at, visited_at)
    )
    same = sa.and_(
        checkins.c.user_id == user_id,
        same_visit if client_id is None else checkins.c.client_id == client_id,
    )
    values = {
        "user_id": user_id, "cell": int(cell), "visited_at": int(visited_at),
        "minutes": float(minutes), "note": note, "plan_id": plan_id,
        "created_at": now_seconds(), "client_id": client_id,
    }  # fmt: skip
    try:
        with engine.begin() as conn:
            return insert_once(conn, checkins, same, values)
    except sa.exc.IntegrityError:
        # The same client id sent twice at once: the other request stored it.
        if client_id is None:
            raise
        with engine.connect() as conn:
            found = conn.execute(sa.select(checkins.c.id).where(same)).first()
        if found is None:
            raise
        return int(found.id), False


class CheckinFilters(TypedDict, total=False):
    """Which check-ins (each filter optional, None filters nothing): in one of ``cells``,
    visited in [start, end), of one plan, of one user."""

    cells: np.ndarray | None
    start: int | None
    end: int | None
    plan_id: int | None
    user_id: int | None


def checkins_frame(engine: Engine, **filters: Unpack[CheckinFilters]) -> pd.DataFrame:
    """Check-ins with the user name, newest first, filtered like :func:`plan_visits_frame`."""
    return _read_with_cells(engine, _checkins_query(filters))


def latest_checkins(engine: Engine, limit: int, **filters: Unpack[CheckinFilters]) -> list[dict]:
    """The newest ``limit`` check-ins as :func:`checkins_frame` rows, as plain dicts (the
    API lists them; a frame costs more than the query for a hundred rows)."""
    query = _checkins_query(filters).limit(limit)
    with engine.connect() as conn:
        result = conn.execute(query)
        keys = list(result.keys())
        return [dict(zip(keys, row, strict=True)) for row in result]


def _checkins_query(filters: CheckinFilters) -> sa.Select:
    query = sa.select(
        checkins.c.id,
        checkins.c.user_id,
        users.c.username,
        checkins.c.cell,
        checkins.c.visited_at,
        checkins.c.minutes,
        checkins.c.note,
        checkins.c.plan_id,
        checkins.c.created_at,
    ).join(users, users.c.id == checkins.c.user_id)
    query = _in_cells_and_window(
        query,
        checkins.c.cell,
        filters.get("cells"),
        checkins.c.visited_at,
        filters.get("start"),
        filters.get("end"),
    )
    for column in ("plan_id", "user_id"):
        if filters.get(column) is not None:
            query = query.where(checkins.c[column] == filters[column])
    return query.order_by(checkins.c.visited_at.desc(), checkins.c.id.desc())


def _in_cells_and_window(
    query: sa.Select,
    cell: sa.Column,
    cells: np.ndarray | None,
    time: sa.Column,
    start: int | None,
    end: int | None,
) -> sa.Select:
    """``query`` kept to rows whose ``cell`` is one of ``cells`` and whose ``time`` is in
    [start, end); a bound that is None does not filter."""
    if cells is not None:
        query = query.where(cell.in_([int(c) for c in cells]))
    if start is not None:
        query = query.where(time >= start)
    if end is not None:
        query = query.where(time < end)
    return query


def _read_with_cells(engine: Engine, query: sa.Select) -> pd.DataFrame:
    """The rows of ``query`` as a frame, its ``cell`` column as int64 H3 ids."""
    with engine.connect() as conn:
        frame = pd.read_sql(query, conn)
    return frame.astype({"cell": np.int64})
