"""API tokens of machine clients (the dispatch system's feed, read-only scripts).

A token is shown once when it is made; only its SHA-256 is stored, so a copy of the database
gives no working token. Looking one up hashes the presented token and finds the row by the
hash (a unique index), so the time taken does not depend on how much of a guess is right.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from web.storage._shared import now_seconds, record_from_row
from web.storage.schema import api_tokens

__all__ = [
    "TOKEN_PREFIX",
    "SCOPES",
    "USE_RECORDED_EVERY_S",
    "TokenRecord",
    "create_token",
    "list_tokens",
    "get_token",
    "revoke_token",
    "find_token",
    "record_token_use",
    "token_hash",
]

#: Every token starts with this, so a leaked one is easy to recognise (and to scan for).
TOKEN_PREFIX = "hs_"
SCOPES = ("feed", "read")
#: A token's last use is written at most this often (not once per request).
USE_RECORDED_EVERY_S = 60
HINT_CHARS = 8  # prefix and five characters: enough to tell tokens apart, useless to guess
NAME = re.compile(r"\w[\w.\-]{1,79}")


@dataclass(frozen=True)
class TokenRecord:
    """One token as stored (never the token itself)."""

    id: int
    name: str
    scope: str
    hint: str
    created_by: int | None
    created_at: int
    last_used_at: int | None
    last_used_ip: str | None
    revoked_at: int | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def token_hash(token: str) -> str:
    """The stored form of a token: its SHA-256 as hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(
    engine: Engine, name: str, scope: str, created_by: int | None = None
) -> tuple[TokenRecord, str]:
    """Make a token; returns its record and the plain token (not stored, shown once).

    Raises ValueError for a bad name or scope, or a name already taken (revoked tokens keep
    their names, so the log stays readable).
    """
    name = name.strip()
    if not NAME.fullmatch(name):
        raise ValueError(
            f"a token name has 2 to 80 letters, digits, dots, dashes or underscores, got {name!r}"
        )
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        taken = conn.execute(
            sa.select(api_tokens.c.id).where(sa.func.lower(api_tokens.c.name) == name.lower())
        ).first()
        if taken is not None:
            raise ValueError(f"a token named {name!r} exists already")
        token_id = conn.execute(
            sa.insert(api_tokens)
            .values(
                name=name,
                scope=scope,
                token_hash=token_hash(token),
                hint=token[:HINT_CHARS],
                created_by=created_by,
                created_at=now_seconds(),
            )
            .returning(api_tokens.c.id)
        ).scalar_one()
        row = conn.execute(sa.select(api_tokens).where(api_tokens.c.id == token_id)).first()
    record = record_from_row(TokenRecord, row)
    assert record is not None  # just inserted in this transaction
    return record, token


def list_tokens(engine: Engine) -> list[TokenRecord]:
    """Every token, active ones first, then by name."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(api_tokens).order_by(api_tokens.c.revoked_at.is_not(None), api_tokens.c.name)
        ).all()
    return [record for row in rows if (record := record_from_row(TokenRecord, row))]


def get_token(engine: Engine, token_id: int) -> TokenRecord | None:
    """One token by id, or None."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(api_tokens).where(api_tokens.c.id == token_id)).first()
    return record_from_row(TokenRecord, row)


def revoke_token(engine: Engine, name: str) -> TokenRecord:
    """Revoke the token called ``name`` (at once, in every process); returns its record.

    Revoking a revoked token changes nothing. Raises KeyError when no token has that name.
    """
    with engine.begin() as conn:
        conn.execute(
            sa.update(api_tokens)
            .where(api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now_seconds())
        )
        row = conn.execute(sa.select(api_tokens).where(api_tokens.c.name == name)).first()
    record = record_from_row(TokenRecord, row)
    if record is None:
        raise KeyError(f"no token named {name!r}")
    return record


def find_token(engine: Engine, token: str) -> TokenRecord | None:
    """The record of a presented token (revoked ones too: the caller says why it is refused),
    or None for an unknown one."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    wanted = token_hash(token)
    with engine.connect() as conn:
        row = conn.execute(sa.select(api_tokens).where(api_tokens.c.token_hash == wanted)).first()
    if row is None or not hmac.compare_digest(row.token_hash, wanted):
        return None
    return record_from_row(TokenRecord, row)


def record_token_use(
    engine: Engine, token_id: int, ip: str, every_s: int = USE_RECORDED_EVERY_S
) -> bool:
    """Write the token's last use (time and address) unless it was written less than
    ``every_s`` ago; returns whether it was written. One conditional update, so two
    processes never both write within the interval."""
    now = now_seconds()
    with engine.begin() as conn:
        result = conn.execute(
            sa.update(api_tokens)
            .where(
                api_tokens.c.id == token_id,
                sa.or_(
                    api_tokens.c.last_used_at.is_(None),
                    api_tokens.c.last_used_at <= now - every_s,
                ),
            )
            .values(last_used_at=now, last_used_ip=ip[:64])
        )
    return bool(result.rowcount)
