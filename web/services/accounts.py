"""Accounts: password hashing and the short caches of accounts and a grid worker's cells.

Passwords are hashed with werkzeug's scrypt (never stored or logged in clear). Each request
needs the logged-in account (and a grid worker's cells); they are read from the database at
most once per :data:`ACCOUNT_CACHE_S` (2 s). Any change to accounts, grid assignments or
grids made in this process (admin pages, CLI functions) clears them at once; a change by
another process (``hotspot users disable NAME`` while the site runs) takes effect within
2 s: a disabled account is locked out by then.
"""

from __future__ import annotations

import re

from werkzeug.security import generate_password_hash

from web import storage
from web.services.caches import Cache

__all__ = [
    "ACCOUNT_CACHE_S",
    "MIN_PASSWORD_LENGTH",
    "account_cells",
    "cached_account",
    "hash_password",
    "USERNAME",
    "validate_password",
    "validate_username",
]

MIN_PASSWORD_LENGTH = 8
#: Seconds an account (and a grid worker's cells) read from the database is reused; changes
#: in this process clear it at once, so this bounds only changes made by another process.
ACCOUNT_CACHE_S = 2.0

_accounts = Cache("accounts", max_entries=4096, ttl_s=ACCOUNT_CACHE_S, tables=("users",))
_account_cells = Cache(
    "account cells",
    max_entries=4096,
    max_bytes=16 * 2**20,
    ttl_s=ACCOUNT_CACHE_S,
    tables=("users", "user_grids", "areas", "area_cells"),
)


def hash_password(password: str) -> str:
    """Return the scrypt hash of a password (after :func:`validate_password`)."""
    validate_password(password)
    return generate_password_hash(password)


# User names: what people type to log in (letters, digits, ".", "-", "_"; 2-40, starting
# with a letter or digit); names shown to others go in the display name.
USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,39}")


def validate_username(username: str) -> None:
    """Raise ``ValueError`` for a user name outside :data:`USERNAME`."""
    if not USERNAME.fullmatch(username):
        raise ValueError(
            "a user name has 2 to 40 letters, digits, dots, dashes or underscores, "
            f"starting with a letter or digit; got {username[:60]!r}"
        )


def validate_password(password: str) -> None:
    """Raise ``ValueError`` for a password that is too short."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")


def cached_account(engine, user_id: int) -> storage.UserRecord | None:
    """The account with this id (None if there is none), read at most once per
    :data:`ACCOUNT_CACHE_S`."""
    key = (storage.database_key(engine), user_id)
    return _accounts.get_or_load(key, lambda: storage.get_user(engine, user_id))


def account_cells(engine, user_id: int):
    """The H3 cells (int64, sorted) of an account's grids, as ``storage.user_cells``; read at
    most once per :data:`ACCOUNT_CACHE_S` (read-only: requests share it)."""

    def load():
        cells = storage.user_cells(engine, user_id)
        cells.flags.writeable = False
        return cells

    return _account_cells.get_or_load((storage.database_key(engine), user_id), load)
