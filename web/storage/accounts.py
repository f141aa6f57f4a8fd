"""Accounts: users and their roles, the management grids assigned to grid workers, and the
audit log. User names are unique and looked up without regard to case."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypedDict, Unpack

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from web.storage._shared import inserted_id, now_seconds, record_from_row
from web.storage.schema import (
    ROLES,
    area_cells,
    areas,
    audit_log,
    sessions,
    user_grids,
    users,
)

USERNAME_MAX = 80  # the column's width
AUDIT_DETAIL_MAX = 1000

# --- users and their grids ---------------------------------------------------------------


@dataclass(frozen=True)
class UserRecord:
    """One account (the password hash never leaves this module except for checking)."""

    id: int
    username: str
    display_name: str
    role: str
    active: bool
    locale: str | None
    password_hash: str


def create_user(
    engine: Engine,
    username: str,
    password_hash: str,
    role: str,
    display_name: str = "",
    locale: str | None = None,
) -> int:
    """Insert an account; raises ``ValueError`` for a taken name or an unknown role."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    with engine.begin() as conn:
        taken = conn.execute(sa.select(users.c.id).where(_same_name(username))).first()
        if taken is not None:
            raise ValueError(f"user name {username!r} is taken")
        result = conn.execute(
            sa.insert(users).values(
                username=username, display_name=display_name, password_hash=password_hash,
                role=role, active=True, locale=locale, created_at=now_seconds(),
            )
        )  # fmt: skip
        return inserted_id(result)


def _user(row) -> UserRecord | None:
    return record_from_row(UserRecord, row, active=bool)


def get_user(engine: Engine, user_id: int) -> UserRecord | None:
    """Return the account with this id, or None."""
    with engine.connect() as conn:
        return _user(conn.execute(sa.select(users).where(users.c.id == user_id)).first())


def _same_name(username: str):
    return sa.func.lower(users.c.username) == username.lower()


def get_user_by_name(engine: Engine, username: str) -> UserRecord | None:
    """Return the account with this user name (in any case), or None."""
    with engine.connect() as conn:
        return _user(conn.execute(sa.select(users).where(_same_name(username))).first())


def list_users(engine: Engine) -> pd.DataFrame:
    """Return every account (no hashes) with the grids assigned to it, comma-separated."""
    columns = users.c["id", "username", "display_name", "role", "active", "created_at"]
    query = sa.select(*columns).order_by(users.c.username)
    with engine.connect() as conn:
        frame = pd.read_sql(query, conn)
        grids = pd.read_sql(
            sa.select(user_grids.c.user_id, areas.c.area_id)
            .join(areas, areas.c.id == user_grids.c.area_pk)
            .order_by(areas.c.area_id),
            conn,
        )
    joined = grids.groupby("user_id")["area_id"].agg(", ".join)
    frame["grids"] = [str(joined.get(i, "")) for i in frame["id"]]
    return frame


class UserChanges(TypedDict, total=False):
    """The fields of an account :func:`update_user` changes (one left out or None stays)."""

    role: str | None
    active: bool | None
    password_hash: str | None
    display_name: str | None
    locale: str | None


def update_user(engine: Engine, user_id: int, **changes: Unpack[UserChanges]) -> None:
    """Change fields of one account (only those given).

    A new password, a new role or disabling the account ends every session of the account
    (in the same transaction), so no old cookie outlives the change.
    """
    values = {name: value for name, value in changes.items() if value is not None}
    if "role" in values and values["role"] not in ROLES:
        raise ValueError(f"unknown role {values['role']!r}; roles: {', '.join(ROLES)}")
    if "active" in values:
        values["active"] = bool(values["active"])
    if not values:
        return
    with engine.begin() as conn:
        before = conn.execute(sa.select(users).where(users.c.id == user_id)).first()
        conn.execute(sa.update(users).where(users.c.id == user_id).values(**values))
        if before is not None and (
            values.get("role", before.role) != before.role
            or (values.get("active") is False and before.active)
            or "password_hash" in values
        ):
            conn.execute(sa.delete(sessions).where(sessions.c.user_id == user_id))


def set_user_grids(engine: Engine, user_id: int, grid_ids: Sequence[str]) -> list[str]:
    """Assign management grids (area ids of kind ``grid``) to an account, replacing any.

    Raises ``ValueError`` naming any id that is not a stored grid; nothing changes then.
    """
    wanted = sorted({str(g).strip() for g in grid_ids if str(g).strip()})
    with engine.begin() as conn:
        rows = conn.execute(
            sa.select(areas.c.id, areas.c.area_id).where(
                areas.c.kind == "grid", areas.c.area_id.in_(wanted)
            )
        ).all()
        found = {r.area_id: r.id for r in rows}
        missing = [g for g in wanted if g not in found]
        if missing:
            raise ValueError(f"unknown grid id(s): {', '.join(missing)}")
        conn.execute(sa.delete(user_grids).where(user_grids.c.user_id == user_id))
        if found:
            conn.execute(
                sa.insert(user_grids),
                [{"user_id": user_id, "area_pk": pk} for pk in found.values()],
            )
    return wanted


def user_grid_ids(engine: Engine, user_id: int) -> list[str]:
    """Return the grid ids assigned to an account."""
    query = (
        sa.select(areas.c.area_id)
        .join(user_grids, user_grids.c.area_pk == areas.c.id)
        .where(user_grids.c.user_id == user_id)
        .order_by(areas.c.area_id)
    )
    with engine.connect() as conn:
        return [r.area_id for r in conn.execute(query)]


def user_cells(engine: Engine, user_id: int) -> np.ndarray:
    """Return the H3 cells (int64, sorted) of the grids assigned to an account."""
    query = (
        sa.select(area_cells.c.cell)
        .join(user_grids, user_grids.c.area_pk == area_cells.c.area_pk)
        .where(user_grids.c.user_id == user_id)
        .distinct()
    )
    with engine.connect() as conn:
        cells = np.array([r.cell for r in conn.execute(query)], dtype=np.int64)
    cells.sort()
    return cells


# --- audit log ---------------------------------------------------------------------------


def audit(
    engine: Engine,
    action: str,
    *,
    user_id: int | None = None,
    username: str = "",
    detail: str = "",
    ip: str = "",
) -> None:
    """Append one entry to the audit log (user name, detail and address cut to their bounds:
    a stranger's 450 KB "user name" is stored as its first 80 characters)."""
    with engine.begin() as conn:
        conn.execute(
            sa.insert(audit_log).values(
                at=now_seconds(),
                user_id=user_id,
                username=username[:USERNAME_MAX],
                action=action[:40],
                detail=detail[:AUDIT_DETAIL_MAX],
                ip=ip[:64],
            )  # fmt: skip
        )


def list_audit(
    engine: Engine,
    limit: int = 200,
    action: str | None = None,
    *,
    start_s: int | None = None,
    end_s: int | None = None,
    username: str | None = None,
) -> pd.DataFrame:
    """Return the newest audit entries first: at most ``limit``, of one action, at or after
    ``start_s`` and before ``end_s`` (epoch seconds), of one user name (in any case)."""
    query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(max(0, int(limit)))
    if action:
        query = query.where(audit_log.c.action == action)
    if start_s is not None:
        query = query.where(audit_log.c.at >= start_s)
    if end_s is not None:
        query = query.where(audit_log.c.at < end_s)
    if username:
        query = query.where(sa.func.lower(audit_log.c.username) == username.lower())
    with engine.connect() as conn:
        return pd.read_sql(query, conn)


def audit_actions(engine: Engine) -> list[str]:
    """Every action code the audit log holds, sorted."""
    query = sa.select(audit_log.c.action).distinct().order_by(audit_log.c.action)
    with engine.connect() as conn:
        return [r.action for r in conn.execute(query)]
