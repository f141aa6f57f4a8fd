"""Early warnings: one open warning per place and rule, the cells it covers, who acknowledged
it, who has read it.

A place is a cell's hex id (near-repeat and emerging warnings) or an area id (rising-area
warnings, with the area's cells). A new computation for a place that already has an open
warning of the same rule extends that warning (its end moves later, its level follows the
new strength, its reason and evidence are replaced) instead of adding another; a warning whose
end has passed is expired. Warnings are about places, never persons: texts hold numbers and
place names only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from web.storage._shared import insert_new, inserted_id
from web.storage.schema import users, warning_acks, warning_cells, warning_reads, warnings

__all__ = [
    "RULES",
    "ComputedWarning",
    "WarningAck",
    "WarningChanges",
    "WarningRecord",
    "acknowledge_warning",
    "apply_warnings",
    "get_warning",
    "list_warning_acks",
    "list_warnings",
    "mark_warnings_read",
    "open_warning_cells",
    "unread_warning_count",
]

RULES = ("near_repeat", "rising_area", "emerging")
NOTE_MAX_CHARS = 500


@dataclass(frozen=True)
class ComputedWarning:
    """One warning as a computation found it, before it is stored."""

    rule: str
    place: str  # a cell's hex id, or an area id for a rising-area warning
    cells: tuple[int, ...]
    level: int  # 1..3
    starts_at: int  # UTC seconds
    ends_at: int
    strength: float
    reason: str
    evidence: dict = field(default_factory=dict)
    area_kind: str | None = None


@dataclass(frozen=True)
class WarningRecord:
    """A stored warning with its cells (int64 H3 ids) and, for a reader, whether it was read."""

    id: int
    rule: str
    place: str
    area_kind: str | None
    level: int
    starts_at: int
    ends_at: int
    strength: float
    reason: str
    evidence: dict
    status: str
    raised_at: int
    updated_at: int
    cells: tuple[int, ...] = ()
    read: bool = False


@dataclass(frozen=True)
class WarningAck:
    """An acknowledgement: who, when, with what note."""

    warning_id: int
    user_id: int
    username: str
    at: int
    note: str


@dataclass(frozen=True)
class WarningChanges:
    """What :func:`apply_warnings` did: ids raised (new), extended, expired."""

    raised: list[int]
    extended: list[int]
    expired: list[int]


def apply_warnings(
    engine: Engine, computed: Iterable[ComputedWarning], now_s: int
) -> WarningChanges:
    """Expire the open warnings that ended by ``now_s``, then store ``computed``: an open
    warning of the same rule and place is extended (its end never moves earlier; a level
    that rises makes it unread again), any other is raised. One transaction: the first
    write takes the database's write lock, so two processes refreshing at once do not both
    raise the same warning."""
    raised: list[int] = []
    extended: list[int] = []
    with engine.begin() as conn:
        expired = _expire(conn, now_s)
        columns = (warnings.c.id, warnings.c.rule, warnings.c.place, warnings.c.level,
                   warnings.c.ends_at, warnings.c.strength, warnings.c.reason,
                   warnings.c.evidence, warnings.c.area_kind)  # fmt: skip
        open_now = {
            (row.rule, row.place): row._asdict()
            for row in conn.execute(sa.select(*columns).where(warnings.c.status == "open"))
        }
        open_cells: dict[int, set[int]] = {}
        for warning_id, cell in conn.execute(
            sa.select(warning_cells.c.warning_id, warning_cells.c.cell)
            .join(warnings, warnings.c.id == warning_cells.c.warning_id)
            .where(warnings.c.status == "open")
        ):
            open_cells.setdefault(int(warning_id), set()).add(int(cell))
        for item in computed:
            if item.rule not in RULES:
                raise ValueError(f"rule must be one of {', '.join(RULES)}, got {item.rule!r}")
            if item.ends_at <= now_s:
                continue  # already over: nothing to warn about
            values: dict[str, Any] = {
                "level": int(min(max(item.level, 1), 3)),
                "strength": float(item.strength),
                "reason": item.reason,
                "evidence": json.dumps(item.evidence, ensure_ascii=False, default=str),
                "area_kind": item.area_kind,
            }
            cells = {int(c) for c in item.cells}
            known = open_now.get((item.rule, item.place))
            if known is None:
                warning_id = inserted_id(
                    conn.execute(
                        sa.insert(warnings).values(
                            rule=item.rule,
                            place=item.place,
                            starts_at=int(item.starts_at),
                            ends_at=int(item.ends_at),
                            status="open",
                            raised_at=now_s,
                            updated_at=now_s,
                            **values,
                        )  # fmt: skip
                    )
                )
                open_now[(item.rule, item.place)] = {"id": warning_id, "ends_at": item.ends_at,
                                                     **values}  # fmt: skip
                open_cells[warning_id] = set()
                raised.append(warning_id)
            else:
                warning_id = int(known["id"])
                extended.append(warning_id)
                values["ends_at"] = max(int(known["ends_at"]), int(item.ends_at))
                # The same finding again (each feed batch refreshes): nothing to write.
                if any(known[key] != value for key, value in values.items()):
                    conn.execute(
                        sa.update(warnings)
                        .where(warnings.c.id == warning_id)
                        .values(updated_at=now_s, **values)
                    )
                    if values["level"] > int(known["level"]):  # an escalation is news again
                        conn.execute(
                            sa.delete(warning_reads).where(warning_reads.c.warning_id == warning_id)
                        )
                    known.update(values)
            stored = open_cells.get(warning_id, set())
            if cells != stored:
                conn.execute(
                    sa.delete(warning_cells).where(
                        warning_cells.c.warning_id == warning_id,
                        warning_cells.c.cell.in_(sorted(stored - cells)),
                    )
                )
                if cells - stored:
                    conn.execute(
                        sa.insert(warning_cells),
                        [{"warning_id": warning_id, "cell": c} for c in sorted(cells - stored)],
                    )
                open_cells[warning_id] = cells
    return WarningChanges(raised=raised, extended=extended, expired=expired)


def _expire(conn: Connection, now_s: int) -> list[int]:
    ended = [
        int(r.id)
        for r in conn.execute(
            sa.select(warnings.c.id).where(warnings.c.status == "open", warnings.c.ends_at <= now_s)
        )
    ]
    if ended:
        conn.execute(
            sa.update(warnings)
            .where(warnings.c.id.in_(ended))
            .values(status="expired", updated_at=now_s)
        )
    return ended


def _touching(cells: Sequence[int] | np.ndarray):
    """The ids of warnings covering any of ``cells`` (a subquery)."""
    wanted = [int(c) for c in cells]
    return sa.select(warning_cells.c.warning_id).where(warning_cells.c.cell.in_(wanted))


def list_warnings(
    engine: Engine,
    *,
    cells: Sequence[int] | np.ndarray | None = None,
    status: str | None = None,
    overlapping: tuple[int, int] | None = None,
    reader_id: int | None = None,
    limit: int = 200,
) -> list[WarningRecord]:
    """Warnings newest first (raised, then id): only those covering one of ``cells`` (None:
    all), of ``status``, whose time overlaps ``overlapping`` (start, end); with ``read`` set
    for ``reader_id``."""
    query = sa.select(warnings).order_by(warnings.c.raised_at.desc(), warnings.c.id.desc())
    if cells is not None:
        query = query.where(warnings.c.id.in_(_touching(cells)))
    if status is not None:
        query = query.where(warnings.c.status == status)
    if overlapping is not None:
        start, end = overlapping
        query = query.where(warnings.c.starts_at < end, warnings.c.ends_at > start)
    with engine.connect() as conn:
        rows = conn.execute(query.limit(limit)).all()
        ids = [int(r.id) for r in rows]
        return _records(conn, rows, ids, reader_id)


def get_warning(engine: Engine, warning_id: int, reader_id: int | None = None):
    """One warning (None when there is no such warning)."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(warnings).where(warnings.c.id == warning_id)).all()
        records = _records(conn, rows, [warning_id], reader_id)
    return records[0] if records else None


def _records(conn: Connection, rows, ids: list[int], reader_id: int | None) -> list[WarningRecord]:
    if not rows:
        return []
    cells: dict[int, list[int]] = {i: [] for i in ids}
    for warning_id, cell in conn.execute(
        sa.select(warning_cells.c.warning_id, warning_cells.c.cell)
        .where(warning_cells.c.warning_id.in_(ids))
        .order_by(warning_cells.c.warning_id, warning_cells.c.cell)
    ):
        cells[int(warning_id)].append(int(cell))
    read: set[int] = set()
    if reader_id is not None:
        read = {
            int(r.warning_id)
            for r in conn.execute(
                sa.select(warning_reads.c.warning_id).where(
                    warning_reads.c.user_id == reader_id, warning_reads.c.warning_id.in_(ids)
                )
            )
        }
    return [
        WarningRecord(
            id=int(r.id),
            rule=r.rule,
            place=r.place,
            area_kind=r.area_kind,
            level=int(r.level),
            starts_at=int(r.starts_at),
            ends_at=int(r.ends_at),
            strength=float(r.strength),
            reason=r.reason,
            evidence=json.loads(r.evidence or "{}"),
            status=r.status,
            raised_at=int(r.raised_at),
            updated_at=int(r.updated_at),
            cells=tuple(cells[int(r.id)]),
            read=int(r.id) in read,
        )  # fmt: skip
        for r in rows
    ]


def acknowledge_warning(
    engine: Engine, warning_id: int, user_id: int, note: str, now_s: int
) -> int:
    """Record that ``user_id`` acknowledged a warning with ``note`` (cut to 500 characters);
    returns the acknowledgement's id. Acknowledging also marks it read."""
    with engine.begin() as conn:
        ack_id = inserted_id(
            conn.execute(
                sa.insert(warning_acks).values(
                    warning_id=warning_id, user_id=user_id, at=now_s, note=note[:NOTE_MAX_CHARS]
                )
            )
        )
        _mark_read(conn, user_id, [warning_id], now_s)
    return ack_id


def list_warning_acks(engine: Engine, warning_ids: Sequence[int]) -> dict[int, list[WarningAck]]:
    """The acknowledgements of each warning, oldest first."""
    out: dict[int, list[WarningAck]] = {int(i): [] for i in warning_ids}
    if not out:
        return out
    query = (
        sa.select(warning_acks, users.c.username)
        .join(users, users.c.id == warning_acks.c.user_id)
        .where(warning_acks.c.warning_id.in_(list(out)))
        .order_by(warning_acks.c.at, warning_acks.c.id)
    )
    with engine.connect() as conn:
        for r in conn.execute(query):
            out[int(r.warning_id)].append(
                WarningAck(int(r.warning_id), int(r.user_id), r.username, int(r.at), r.note)
            )
    return out


def mark_warnings_read(
    engine: Engine, user_id: int, warning_ids: Sequence[int], now_s: int
) -> None:
    """Mark warnings read by ``user_id`` (already read ones stay as they were)."""
    if not len(warning_ids):
        return
    with engine.begin() as conn:
        _mark_read(conn, user_id, warning_ids, now_s)


def _mark_read(conn: Connection, user_id: int, warning_ids: Sequence[int], now_s: int) -> None:
    ids = sorted({int(i) for i in warning_ids})
    if not ids:
        return
    # Rows already stored (read before, or by a request at the same moment) keep their time.
    conn.execute(
        insert_new(conn, warning_reads, "user_id", "warning_id"),
        [{"user_id": user_id, "warning_id": i, "at": now_s} for i in ids],
    )


def unread_warning_count(
    engine: Engine, user_id: int, cells: Sequence[int] | np.ndarray | None = None
) -> int:
    """Open warnings (covering one of ``cells``; None: all) that ``user_id`` has not read."""
    read = sa.select(warning_reads.c.warning_id).where(warning_reads.c.user_id == user_id)
    query = (
        sa.select(sa.func.count())
        .select_from(warnings)
        .where(warnings.c.status == "open", warnings.c.id.not_in(read))
    )
    if cells is not None:
        query = query.where(warnings.c.id.in_(_touching(cells)))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def open_warning_cells(engine: Engine, after_s: int | None = None) -> pd.DataFrame:
    """``warning_id, cell, rule, level, ends_at`` of every open warning (ending after
    ``after_s`` when given), one row per covered cell."""
    query = (
        sa.select(warning_cells.c.warning_id, warning_cells.c.cell, warnings.c.rule,
                  warnings.c.level, warnings.c.ends_at)
        .join(warnings, warnings.c.id == warning_cells.c.warning_id)
        .where(warnings.c.status == "open")
        .order_by(warning_cells.c.cell, warnings.c.level.desc())
    )  # fmt: skip
    if after_s is not None:
        query = query.where(warnings.c.ends_at > after_s)
    with engine.connect() as conn:
        frame = pd.read_sql(query, conn)
    return frame.astype({"cell": np.int64, "warning_id": np.int64, "level": np.int64})
