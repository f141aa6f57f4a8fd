"""Grid workers' field reports: the short list of what may be reported (report categories),
the reports with their review status, accepting one as an incident from source ``field``,
and the newest incidents and reports for the commanders' live view.

Accepting stores the incident through the live feed's own path (web.storage.feed, kind
``field``): an import run, a ``feed_runs`` row and an ``incident_changes`` row, so every
server process sees it through the same change log.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from web.storage._shared import (
    in_same_minute,
    insert_once,
    inserted_id,
    now_seconds,
    record_from_row,
)
from web.storage.schema import (
    categories,
    field_reports,
    import_runs,
    incident_changes,
    incidents,
    report_categories,
    users,
)

__all__ = [
    "FIELD_SOURCE",
    "FieldReport",
    "ReportCategory",
    "ReportStateError",
    "accept_field_report",
    "add_field_report",
    "add_report_category",
    "field_incident_id",
    "get_field_report",
    "latest_incidents",
    "list_field_reports",
    "list_report_categories",
    "newest_run_id",
    "reject_field_report",
    "set_report_category_active",
]

#: The source name of incidents made from accepted reports (import runs and dedupe keys).
FIELD_SOURCE = "field"


class ReportStateError(ValueError):
    """The report is not waiting for review (already accepted or rejected, or unknown)."""


@dataclass(frozen=True)
class ReportCategory:
    """One entry of the list grid workers choose from; ``category_code`` is the incident
    category an accepted report becomes."""

    id: int
    code: str
    name_zh: str
    name_en: str
    category_code: str
    active: bool
    position: int


@dataclass(frozen=True)
class FieldReport:
    """A stored report with its reporter's and report category's names (times UTC seconds,
    position WGS-84)."""

    id: int
    user_id: int
    username: str
    report_category_id: int
    category: str  # the report category's code
    name_zh: str
    name_en: str
    occurred_at: int
    lon: float
    lat: float
    cell: int
    accuracy_m: float | None
    crs: str
    note: str
    status: str
    reason: str
    reviewed_by: int | None
    reviewed_at: int | None
    incident_id: int | None
    created_at: int


# --- report categories -------------------------------------------------------------------


def list_report_categories(engine: Engine, active_only: bool = False) -> list[ReportCategory]:
    """The report categories in their order (position, then id)."""
    query = sa.select(report_categories).order_by(
        report_categories.c.position, report_categories.c.id
    )
    if active_only:
        query = query.where(report_categories.c.active == sa.true())
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        record_from_row(ReportCategory, row, active=bool)  # type: ignore[misc]
        for row in rows
    ]


def add_report_category(
    engine: Engine,
    code: str,
    name_zh: str,
    name_en: str,
    category_code: str,
    position: int | None = None,
) -> int:
    """Add a report category (last in the list unless ``position`` is given); returns its id.

    Raises ValueError when ``code`` is taken or ``category_code`` is not a stored incident
    category.
    """
    with engine.begin() as conn:
        known = conn.execute(
            sa.select(categories.c.id).where(categories.c.code == category_code)
        ).first()
        if known is None:
            raise ValueError(f"category_code: {category_code!r} is not an incident category")
        taken = conn.execute(
            sa.select(report_categories.c.id).where(report_categories.c.code == code)
        ).first()
        if taken is not None:
            raise ValueError(f"code: a report category {code!r} exists already")
        if position is None:
            last = conn.execute(sa.select(sa.func.max(report_categories.c.position))).scalar()
            position = int(last or 0) + 1
        result = conn.execute(
            sa.insert(report_categories).values(
                code=code, name_zh=name_zh, name_en=name_en, category_code=category_code,
                active=True, position=int(position),
            )
        )  # fmt: skip
        return inserted_id(result)


def set_report_category_active(engine: Engine, code: str, active: bool) -> bool:
    """Enable or disable a report category (reports already made keep it); False when no
    category has that code."""
    with engine.begin() as conn:
        result = conn.execute(
            sa.update(report_categories)
            .where(report_categories.c.code == code)
            .values(active=bool(active))
        )
    return bool(result.rowcount)


# --- reports ---------------------------------------------------------------------------------


def add_field_report(
    engine: Engine,
    *,
    user_id: int,
    report_category_id: int,
    occurred_at: int,
    lon: float,
    lat: float,
    cell: int,
    accuracy_m: float | None,
    crs: str,
    note: str,
) -> tuple[int, bool]:
    """Store a checked report as ``reported``; returns (its id, whether it is new). The same
    report sent again (same account, category, cell, minute and note: a double tap, a
    retried request) is the one already stored: its id, and False."""
    same = sa.and_(
        field_reports.c.user_id == user_id,
        field_reports.c.report_category_id == report_category_id,
        field_reports.c.cell == int(cell),
        in_same_minute(field_reports.c.occurred_at, occurred_at),
        field_reports.c.note == note,
    )
    values = {
        "user_id": user_id, "report_category_id": report_category_id,
        "occurred_at": int(occurred_at), "lon": float(lon), "lat": float(lat),
        "cell": int(cell), "accuracy_m": None if accuracy_m is None else float(accuracy_m),
        "crs": crs, "note": note, "status": "reported", "reason": "",
        "created_at": now_seconds(),
    }  # fmt: skip
    with engine.begin() as conn:
        return insert_once(conn, field_reports, same, values)


def _report_query() -> sa.Select:
    return (
        sa.select(
            field_reports,
            users.c.username,
            report_categories.c.code.label("category"),
            report_categories.c.name_zh,
            report_categories.c.name_en,
        )
        .join(users, users.c.id == field_reports.c.user_id)
        .join(report_categories, report_categories.c.id == field_reports.c.report_category_id)
    )


def _report(row) -> FieldReport:
    return record_from_row(FieldReport, row)  # type: ignore[return-value]


def get_field_report(engine: Engine, report_id: int) -> FieldReport | None:
    """One report, or None."""
    with engine.connect() as conn:
        row = conn.execute(_report_query().where(field_reports.c.id == report_id)).first()
    return None if row is None else _report(row)


def list_field_reports(
    engine: Engine,
    *,
    user_id: int | None = None,
    status: str | None = None,
    after_id: int | None = None,
    limit: int = 100,
) -> list[FieldReport]:
    """Reports, newest first: of one account, of one status, with ids above ``after_id``."""
    query = _report_query().order_by(field_reports.c.id.desc()).limit(limit)
    if user_id is not None:
        query = query.where(field_reports.c.user_id == user_id)
    if status is not None:
        query = query.where(field_reports.c.status == status)
    if after_id is not None:
        query = query.where(field_reports.c.id > after_id)
    with engine.connect() as conn:
        return [_report(row) for row in conn.execute(query).all()]


def reject_field_report(engine: Engine, report_id: int, reviewer_id: int, reason: str) -> None:
    """Mark a waiting report rejected with ``reason``; ReportStateError when it is not
    waiting (a second reviewer was quicker)."""
    with engine.begin() as conn:
        _claim(conn, report_id, reviewer_id, "rejected", reason)


def _claim(conn: Connection, report_id: int, reviewer_id: int, status: str, reason: str) -> None:
    """Move a ``reported`` report to ``status``: one conditional update, so of two reviewers
    at once exactly one succeeds."""
    result = conn.execute(
        sa.update(field_reports)
        .where(field_reports.c.id == report_id, field_reports.c.status == "reported")
        .values(status=status, reason=reason, reviewed_by=reviewer_id, reviewed_at=now_seconds())
    )
    if result.rowcount != 1:
        raise ReportStateError(f"report {report_id} is not waiting for review")


def field_incident_id(report_id: int) -> int:
    """The incident id (dedupe key, int64) an accepted report gets: geo.ingest's key of
    source ``field`` and record id ``report-<id>``, as the feed would make it."""
    from geo.ingest import dedupe_keys

    keys = dedupe_keys(
        FIELD_SOURCE,
        pd.Series([f"report-{report_id}"]),
        np.zeros(1, dtype=np.int64),
        np.zeros(1),
        np.zeros(1),
        pd.Series([""]),
        pd.Series([""]),
    )
    return int(np.asarray(keys, dtype=np.int64)[0])


def accept_field_report(engine: Engine, report_id: int, reviewer_id: int) -> int:
    """Accept a waiting report: in one transaction, mark it accepted and store it as an
    incident of its report category's incident category through the live feed's path
    (:func:`web.storage.feed.store_feed_batch`, kind ``field``: an import run of source
    ``field``, its ``feed_runs`` row, the incident and its ``incident_changes`` row).
    Returns the incident id; ReportStateError when the report is not waiting."""
    from web.storage.feed import rows_batch, store_feed_batch

    incident_id = field_incident_id(report_id)
    with engine.begin() as conn:
        _claim(conn, report_id, reviewer_id, "accepted", "")
        report = conn.execute(
            sa.select(field_reports, report_categories.c.category_code)
            .join(report_categories, report_categories.c.id == field_reports.c.report_category_id)
            .join(categories, categories.c.code == report_categories.c.category_code)
            .where(field_reports.c.id == report_id)
        ).first()
        if report is None:  # its report category maps to a category no longer stored
            raise ReportStateError(f"report {report_id}: its incident category is not stored")
        frame = pd.DataFrame(
            {
                "key": np.array([incident_id], dtype=np.int64),
                "source_id": [f"report-{report_id}"],
                "occurred_at": np.array([report.occurred_at], dtype=np.int64),
                "lon": [float(report.lon)],
                "lat": [float(report.lat)],
                "cell": np.array([report.cell], dtype=np.int64),
                "category": [report.category_code],
                "line": np.array([1], dtype=np.int64),
            }
        )
        digest = hashlib.sha256(f"field-report-{report_id}".encode()).hexdigest()
        batch = rows_batch(frame, source=FIELD_SOURCE, file_sha256=digest)
        result = store_feed_batch(conn, batch, kind="field")
        if result.stored != 1:  # the key is taken: never for a report accepted once
            raise ReportStateError(f"report {report_id}: its incident is stored already")
        conn.execute(
            sa.update(field_reports)
            .where(field_reports.c.id == report_id)
            .values(incident_id=incident_id)
        )
    return incident_id


# --- the live view -----------------------------------------------------------------------------


def newest_run_id(engine: Engine) -> int:
    """The newest import run's id (0 without any): the live view's cursor for incidents."""
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.max(import_runs.c.id))).scalar() or 0)


_LIVE_COLUMNS = (
    incidents.c.id,
    incidents.c.import_run_id,
    incidents.c.occurred_at,
    incidents.c.lon,
    incidents.c.lat,
    incidents.c.cell,
    categories.c.code.label("category"),
    import_runs.c.source,
)


def latest_incidents(engine: Engine, after_run_id: int | None, limit: int) -> pd.DataFrame:
    """The newest incidents for the live view: with ``after_run_id`` None, the ``limit`` most
    recent by time; otherwise those stored or changed by feed and field runs after that run
    (through ``incident_changes``, which is indexed by run), newest run first.

    Columns: id, import_run_id, occurred_at, lon, lat, cell, category (code), source.
    """
    query = (
        sa.select(*_LIVE_COLUMNS)
        .join(categories, categories.c.id == incidents.c.category_id)
        .join(import_runs, import_runs.c.id == incidents.c.import_run_id)
    )
    if after_run_id is None:
        query = query.order_by(incidents.c.occurred_at.desc()).limit(limit)
    else:
        changed = (
            sa.select(incident_changes.c.incident_id)
            .where(incident_changes.c.import_run_id > after_run_id)
            .scalar_subquery()
        )
        query = (
            query.where(incidents.c.id.in_(changed))
            .order_by(incidents.c.import_run_id.desc(), incidents.c.occurred_at.desc())
            .limit(limit)
        )
    with engine.connect() as conn:
        return pd.read_sql(query, conn)
