"""A fault: ``kill -9`` of a ``hotspot import`` process while it writes leaves the database
exactly as it was (every table's rows and content, every index), and usable, on SQLite and
PostgreSQL."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import CHICAGO_INCIDENTS, REPO
from tests.web.test_backup import schema
from tests.web.test_imports import request
from web.services.imports import import_files
from web.storage import backup as backups

pytestmark = pytest.mark.databases()

# Six real monthly files (about 130,000 incidents): the import writes for seconds.
MONTHS = ("2016-01", "2016-02", "2016-03", "2016-04", "2016-05", "2016-06")
DEADLINE_S = 300  # for the import to start writing, and for the server to end its session
POLL_S = 0.02


def _sqlite_writing(url: str) -> bool:
    """Whether another connection holds SQLite's write lock (an open write transaction)."""
    conn = sqlite3.connect(sa.make_url(url).database, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as err:
        if "locked" in str(err):
            return True
        raise
    else:
        conn.execute("ROLLBACK")
        return False
    finally:
        conn.close()


# Sessions of other connections to this database with a write lock on the incident table.
_WRITERS = """
SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
WHERE c.relname = 'incidents' AND l.mode = 'RowExclusiveLock' AND l.granted
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.pid <> pg_backend_pid()
"""
_SESSIONS = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
"""


def _count(engine: sa.Engine, query: str) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql(query).scalar_one())


def _writing(engine: sa.Engine, url: str) -> bool:
    if engine.dialect.name == "sqlite":
        return _sqlite_writing(url)
    return _count(engine, _WRITERS) > 0


def _start_import(url: str, files: list[Path]) -> subprocess.Popen:
    """``hotspot import`` of ``files`` in a new process (its own process group)."""
    env = {**os.environ, "HOTSPOT_DATABASE_URL": url, "HOTSPOT_TIMEZONE": "America/Chicago"}
    args = [sys.executable, "-c", "from web.cli import cli; cli()", "import", "--preset",
            "chicago", "--source", "chicago", "--no-boundary", *map(str, files)]  # fmt: skip
    return subprocess.Popen(args, env=env, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip


def _wait_until(condition, what: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if process is not None and process.poll() is not None:
            output = process.stdout.read().decode(errors="replace")
            pytest.fail(f"the import ended before {what} (status {process.returncode}):\n{output}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {DEADLINE_S} s")
        time.sleep(POLL_S)


def test_kill_9_of_an_import_while_it_writes_leaves_the_database_as_before(
    engine, db_url, chicago_sample
) -> None:
    first = import_files(engine, [chicago_sample], request(boundary=None))[0]
    assert first.inserted > 190  # the database holds incidents before the killed import
    before = backups.table_fingerprints(engine)
    shape = schema(engine)  # a large import on SQLite drops the indexes and builds them again
    files = [CHICAGO_INCIDENTS / f"chicago_crimes_{month}.csv.gz" for month in MONTHS]

    process = _start_import(db_url, files)
    try:
        _wait_until(lambda: _writing(engine, db_url), "write by the import", process)
        assert process.poll() is None
        os.killpg(process.pid, signal.SIGKILL)
        assert process.wait(timeout=DEADLINE_S) == -signal.SIGKILL
    finally:
        if process.poll() is None:  # a failed wait above
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        process.stdout.close()

    if engine.dialect.name == "postgresql":  # the server notices the client is gone
        engine.dispose()
        _wait_until(lambda: _count(engine, _SESSIONS) == 0, "end of the killed session")
    else:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
    assert backups.table_fingerprints(engine) == before
    after = schema(engine)
    lost = [row[:2] for row in shape if row not in after]
    assert not lost, f"tables or indexes lost by the killed import: {lost}"
    assert after == shape
    # The database works: the first of the files imports in full afterwards.
    again = import_files(engine, files[:1], request(boundary=None))[0]
    assert again.inserted > 10_000 and again.duplicates == first.inserted
    assert again.inserted + again.duplicates + again.rejected == again.rows_read
