"""Logins kept in the database, and login attempts counted for growing delays.

A session row is keyed by the sha256 of a random token; the browser's (signed) cookie holds
the token. Logging out, a new password, disabling an account or changing its role deletes
the account's rows, which ends those sessions in every server process at once.

Login throttling counts attempts per key (a user name, an address) and claims each attempt
atomically before the password is checked: the first ``free`` attempts in a window go
through, each later one only after a delay that doubles with every attempt (up to a cap),
so guessing slows to a crawl while the real user still gets in after a short wait.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from web.storage._shared import insert_new, now_seconds, record_from_row
from web.storage.schema import login_throttle, sessions


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SessionRecord:
    """One login: whose, and its times (UTC seconds)."""

    user_id: int
    created_at: int
    last_seen_at: int
    expires_at: int


def create_session(engine: Engine, token: str, user_id: int, lifetime_s: int, ip: str) -> None:
    """Store a new login for ``token`` that ends ``lifetime_s`` from now, whatever happens."""
    now = now_seconds()
    with engine.begin() as conn:
        conn.execute(
            sa.insert(sessions).values(
                id=_digest(token), user_id=user_id, created_at=now, last_seen_at=now,
                expires_at=now + lifetime_s, ip=ip[:64],
            )
        )  # fmt: skip


def get_session(engine: Engine, token: str) -> SessionRecord | None:
    """The login of ``token``, or None if there is none (ended, or never made)."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(sessions).where(sessions.c.id == _digest(token))).first()
    return record_from_row(SessionRecord, row)


def touch_session(engine: Engine, token: str) -> None:
    """Record activity now (for the idle timeout; the absolute end does not move)."""
    with engine.begin() as conn:
        conn.execute(
            sa.update(sessions)
            .where(sessions.c.id == _digest(token))
            .values(last_seen_at=now_seconds())
        )


def end_session(engine: Engine, token: str) -> None:
    """End one login (logging out)."""
    with engine.begin() as conn:
        conn.execute(sa.delete(sessions).where(sessions.c.id == _digest(token)))


def end_user_sessions(engine: Engine, user_id: int) -> int:
    """End every login of an account; returns how many there were. Also drops sessions of
    anyone that have expired, so the table does not grow."""
    with engine.begin() as conn:
        ended = conn.execute(sa.delete(sessions).where(sessions.c.user_id == user_id)).rowcount
        conn.execute(sa.delete(sessions).where(sessions.c.expires_at < now_seconds()))
    return int(ended or 0)


# --- login throttling --------------------------------------------------------------------


def claim_login_attempt(
    engine: Engine, keys: dict[str, int], window_s: int, first_delay_s: int, max_delay_s: int
) -> int:
    """Claim one login attempt for every key (``{key: free attempts}``), atomically.

    Returns 0 when the attempt may go ahead (it is counted for every key), else the seconds
    to wait (nothing is counted). Counts older than ``window_s`` start again from zero.
    After a key's ``free`` attempts, attempt ``free + k`` must come ``first_delay_s *
    2**(k - 1)`` seconds after the one before (at most ``max_delay_s``).
    """
    now = now_seconds()
    ordered = sorted(keys)
    # The rows exist first, in a transaction of their own: the claim below then only locks
    # rows, always in key order, so two concurrent log-ins never wait on each other in a
    # circle (PostgreSQL once saw deadlocks when a row's insert raced a log-in's update).
    with engine.begin() as conn:
        for key in ordered:
            conn.execute(
                insert_new(conn, login_throttle, "key").values(key=key, attempts=0, updated_at=now)
            )
    with engine.begin() as conn:
        # Writing first locks until commit (SQLite: the database; PostgreSQL: these rows, one
        # by one in key order), so concurrent attempts are decided one after another.
        for key in ordered:
            conn.execute(
                sa.update(login_throttle)
                .where(login_throttle.c.key == key)
                .values(attempts=login_throttle.c.attempts)
            )
        rows = conn.execute(
            sa.select(login_throttle).where(login_throttle.c.key.in_(ordered))
        ).all()
        counts = {r.key: (0 if r.updated_at < now - window_s else r.attempts) for r in rows}
        wait = 0
        for row in rows:
            extra = counts[row.key] - keys[row.key]
            if extra >= 0:
                delay = min(max_delay_s, first_delay_s * 2 ** min(extra, 30))
                wait = max(wait, row.updated_at + delay - now)
        if wait > 0:
            return int(wait)
        for key in ordered:
            conn.execute(
                sa.update(login_throttle)
                .where(login_throttle.c.key == key)
                .values(attempts=counts.get(key, 0) + 1, updated_at=now)
            )
    return 0


def refund_login_attempt(engine: Engine, key: str) -> None:
    """Take back one attempt of a key (a successful login from an address: only failures
    should count against the address a whole station may share)."""
    with engine.begin() as conn:
        conn.execute(
            sa.update(login_throttle)
            .where(login_throttle.c.key == key, login_throttle.c.attempts > 0)
            .values(attempts=login_throttle.c.attempts - 1)
        )


def clear_login_attempts(engine: Engine, key: str) -> None:
    """Forget the attempts of one key (a user name after a successful login)."""
    with engine.begin() as conn:
        conn.execute(sa.delete(login_throttle).where(login_throttle.c.key == key))
