"""Write notifications: callbacks run when a statement writes to watched tables, so caches
kept outside this package (the incidents in memory, data versions) know when to drop
what they hold. :func:`database_key` names a database in those caches."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

import sqlalchemy as sa

_watch_lock = threading.Lock()
_watchers: list[tuple[frozenset[str], Callable[[str], None]]] = []
_PENDING = "hotspot_pending_writes"  # key in a DBAPI connection's info: callbacks to call again


def database_key(engine) -> str:
    """The database URL (with password) that names an engine's database in every cache."""
    return engine.url.render_as_string(hide_password=False)


def on_writes(tables: Iterable[str], callback: Callable[[str], None]) -> None:
    """Call ``callback(database_key)`` whenever a statement writing to one of ``tables`` runs
    on any engine of this process, and again when its transaction ends (so a read that ran
    between the write and the commit cannot stay cached). Raw SQL that writes counts as a
    write to every table."""
    with _watch_lock:
        if not _watchers:
            sa.event.listen(sa.engine.Engine, "after_execute", _after_execute)
            sa.event.listen(sa.engine.Engine, "commit", _after_transaction)
            sa.event.listen(sa.engine.Engine, "rollback", _after_transaction)
        _watchers.append((frozenset(tables), callback))


def _written_tables(statement) -> frozenset[str] | None:
    """Tables a statement writes (empty for reads); None when unknown (raw SQL that writes)."""
    if isinstance(statement, sa.Insert | sa.Update | sa.Delete):
        table = statement.table
        if isinstance(table, sa.TableClause | sa.Alias):
            return frozenset([table.name])
        return None  # a write through a join: its tables are not named, so every table
    text = statement if isinstance(statement, str) else getattr(statement, "text", None)
    if isinstance(text, str):
        verb = text.lstrip().split(None, 1)[0].lower() if text.strip() else ""
        if verb in ("insert", "update", "delete", "replace", "drop", "alter", "create"):
            return None
    return frozenset()


def _after_execute(conn, statement, *_args) -> None:
    tables = _written_tables(statement)
    if tables is not None and not tables:
        return
    called = [cb for watched, cb in _watchers if tables is None or watched & tables]
    if not called:
        return
    key = database_key(conn.engine)
    for callback in called:
        callback(key)
    conn.info.setdefault(_PENDING, set()).update(called)


def _after_transaction(conn) -> None:
    pending = conn.info.pop(_PENDING, None)
    if pending:
        key = database_key(conn.engine)
        for callback in pending:
            callback(key)
