"""Backups of the whole database, restoring one into an empty database, and a fingerprint of
every table (row count and content digest) to compare two databases.

- SQLite: SQLite's online backup API copies the file page by page inside one read
  transaction, so the copy is consistent while the site keeps reading and writing (WAL
  mode: writers do not wait). The copy is checked (``PRAGMA quick_check``) and kept as one
  self-contained file (rollback journal mode, no ``-wal`` beside it). Restoring copies it
  back with the same API into the target file, in one write transaction.
- PostgreSQL: ``pg_dump --format=custom`` (a consistent snapshot; the site keeps running)
  and ``pg_restore --no-owner --no-privileges --single-transaction --exit-on-error`` (a
  failed restore leaves the database empty; the tables belong to the restoring role, the
  database's owner need not be a superuser: what only an extension's owner may write is
  left out, the extension's comment and rows added to PostGIS's ``spatial_ref_sys``). The
  client programs come from Debian's ``/usr/lib/postgresql/<version>/bin`` (the newest) or
  the ``PATH``; they connect through libpq environment variables made from the
  SQLAlchemy URL, so a password is never a process argument, and it is masked in every
  message.

A backup is written to a temporary file beside the target and renamed at the end, so a
failed or interrupted backup never leaves a half-written file. Every long step has a time
limit. Restoring refuses a database that has tables, and a backup of the other kind of
database; afterwards the migrations run, so an older backup is upgraded.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from web.storage.engine import EXTENSION_TABLES, init_db

__all__ = [
    "KINDS",
    "BackupError",
    "BackupResult",
    "TableFingerprint",
    "backup_database",
    "backup_kind",
    "restore_database",
    "table_counts",
    "table_fingerprints",
    "libpq_environment",
]

# The first bytes of each kind of backup file: an SQLite database, a pg_dump custom archive.
KINDS = {"sqlite": b"SQLite format 3\x00", "postgresql": b"PGDMP"}
DEFAULT_TIMEOUT_S = 3600
_PAGES_PER_STEP = 4096  # SQLite backup steps (16 MB of 4 kB pages): the time limit is checked
_CHECK_EVERY = 10_000  # SQLite virtual machine steps between time-limit checks
_OUR_VERSION_TABLE = "alembic_version"  # every hotspot database has it (the migrations')
_SQLITE_SIDE_FILES = ("-journal", "-wal", "-shm")  # beside an SQLite file while it is written


class BackupError(RuntimeError):
    """A backup or restore that cannot be done or failed; the message says why (never with a
    password). Nothing was written: no backup file, or the target database unchanged."""


# --- fingerprints ------------------------------------------------------------------------------


def _tables(engine: Engine) -> list[str]:
    """The tables of the database (default schema), without the ones extensions own."""
    names = sa.inspect(engine).get_table_names()
    return sorted(name for name in names if name not in EXTENSION_TABLES)


def table_counts(engine: Engine) -> dict[str, int]:
    """The number of rows of every table of the database (not only the data tables)."""
    quote_name = engine.dialect.identifier_preparer.quote
    with engine.connect() as conn:
        return {
            name: int(conn.exec_driver_sql(f"SELECT count(*) FROM {quote_name(name)}").scalar_one())
            for name in _tables(engine)
        }


def _normalised(value: object) -> object:
    """A value in a form that prints the same from SQLite and PostgreSQL drivers."""
    if isinstance(value, bool):
        return int(value)
    if value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value.normalize())
    return str(value)


def _ordered_rows(engine: Engine, conn: sa.Connection, name: str) -> sa.CursorResult:
    """Every row of table ``name`` (all columns) ordered by its primary key, or by all its
    columns when it has none."""
    quote_name = engine.dialect.identifier_preparer.quote
    key = sa.inspect(conn).get_pk_constraint(name).get("constrained_columns") or []
    if key:
        order = ", ".join(quote_name(column) for column in key)
    else:
        width = len(conn.exec_driver_sql(f"SELECT * FROM {quote_name(name)} WHERE 1 = 0").keys())
        order = ", ".join(str(i + 1) for i in range(width))
    query = f"SELECT * FROM {quote_name(name)} ORDER BY {order}"
    options = {"stream_results": True} if engine.dialect.name == "postgresql" else {}
    return conn.execution_options(**options).exec_driver_sql(query)


@dataclass(frozen=True)
class TableFingerprint:
    """One table's row count and the SHA-256 of its rows in primary-key order."""

    rows: int
    sha256: str


def table_fingerprints(engine: Engine) -> dict[str, TableFingerprint]:
    """Every table's row count and a SHA-256 of its rows (values normalised, in primary-key
    order): two databases with equal fingerprints hold the same data. Tables are read in one
    transaction (one snapshot on PostgreSQL)."""
    result = {}
    with engine.connect() as conn:
        for name in _tables(engine):
            digest = hashlib.sha256()
            rows = 0
            for row in _ordered_rows(engine, conn, name):
                line = json.dumps([_normalised(value) for value in row], ensure_ascii=False)
                digest.update(line.encode())
                digest.update(b"\n")
                rows += 1
            result[name] = TableFingerprint(rows=rows, sha256=digest.hexdigest())
    return result


# --- the kind of a database and of a backup file -----------------------------------------------


def _database_kind(engine: Engine) -> str:
    kind = engine.dialect.name
    if kind not in KINDS:
        raise BackupError(f"unsupported database {kind!r}: backups work on SQLite and PostgreSQL")
    return kind


def _describe(engine: Engine) -> str:
    """The database for messages: the SQLite file, or the PostgreSQL URL without password."""
    if engine.dialect.name == "sqlite":
        return f"the SQLite database {engine.url.database}"
    return f"the PostgreSQL database {engine.url.database!r} ({_safe_url(engine)})"


def _safe_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def backup_kind(path: str | Path) -> str:
    """``sqlite`` or ``postgresql``: which database made the backup file ``path``."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
    except OSError as err:
        raise BackupError(f"cannot read the backup {path}: {err.strerror or err}") from err
    for kind, magic in KINDS.items():
        if head.startswith(magic):
            return kind
    raise BackupError(
        f"{path} is not a backup made by `hotspot backup` "
        "(neither an SQLite database nor a pg_dump custom-format archive)"
    )


def _check_kind(engine: Engine, path: Path) -> str:
    kind = _database_kind(engine)
    found = backup_kind(path)
    if found != kind:
        names = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
        raise BackupError(
            f"{path} is a backup of a {names[found]} database and cannot be restored into "
            f"{_describe(engine)}: restore it into a {names[found]} database "
            f"(set HOTSPOT_DATABASE_URL), or move data between kinds by importing files"
        )
    return kind


# --- writing a file safely ---------------------------------------------------------------------


@contextlib.contextmanager
def _new_file(path: Path, replace: bool) -> Iterator[Path]:
    """A temporary file beside ``path`` (mode 600: a backup holds password hashes and
    sessions) renamed to ``path`` when the block ends without error; removed otherwise."""
    if path.is_dir():
        raise BackupError(f"{path} is a folder: give a file name for the backup")
    if path.exists() and not replace:
        raise BackupError(f"{path} exists: choose a new name, or replace it with --force")
    try:
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial",
                                        dir=path.parent)  # fmt: skip
    except OSError as err:
        raise BackupError(
            f"cannot write the backup in {path.parent}: {err.strerror or err}"
        ) from err
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        with temporary.open("rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    finally:
        for leftover in (temporary, *(Path(f"{temporary}{end}") for end in _SQLITE_SIDE_FILES)):
            leftover.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # the rename survives a power cut
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


class _Deadline:
    """The end of a time limit, checked between steps."""

    def __init__(self, timeout_s: float, what: str) -> None:
        self.end = time.monotonic() + timeout_s
        self.timeout_s = timeout_s
        self.what = what

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def passed(self) -> bool:
        return time.monotonic() >= self.end

    def error(self) -> BackupError:
        return BackupError(f"{self.what} did not finish within {self.timeout_s:g} s")

    def check(self, *_args: object) -> None:
        """Raise :meth:`error` once the limit has passed (an SQLite backup progress hook)."""
        if self.passed():
            raise self.error()


# --- backup ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupResult:
    """A finished backup: its file (an absolute path), its kind (``sqlite``, a copy made by
    SQLite's online backup, or ``postgresql``, a pg_dump custom archive) and its size in bytes."""

    path: Path
    kind: str
    size_bytes: int


def backup_database(
    engine: Engine, path: str | Path, *, timeout_s: float = DEFAULT_TIMEOUT_S, replace: bool = False
) -> BackupResult:
    """Write a consistent backup of the whole database to ``path`` while the site may keep
    running; ``replace`` overwrites an existing file. Raises :class:`BackupError`."""
    kind = _database_kind(engine)
    path = Path(path).absolute()
    deadline = _Deadline(timeout_s, "the backup")
    with _new_file(path, replace) as temporary:
        if kind == "sqlite":
            _sqlite_backup(_sqlite_file(engine), temporary, deadline)
        else:
            _pg_dump(engine, temporary, deadline)
    return BackupResult(path=path, kind=kind, size_bytes=path.stat().st_size)


def _sqlite_file(engine: Engine) -> Path:
    name = engine.url.database
    if not name or name == ":memory:" or name.startswith("file:"):
        raise BackupError(f"cannot back up the SQLite database {name or ':memory:'!r}: not a file")
    return Path(name).absolute()


def _sqlite_backup(source_path: Path, target_path: Path, deadline: _Deadline) -> None:
    if not source_path.is_file():
        raise BackupError(f"the SQLite database {source_path} does not exist")
    if target_path.resolve() == source_path.resolve():
        raise BackupError("the backup file cannot be the database itself")
    source = sqlite3.connect(source_path, timeout=10, isolation_level=None)
    target = sqlite3.connect(target_path, isolation_level=None)
    try:
        # One read transaction over the whole copy: the copy is one snapshot, and writes by
        # other connections (WAL mode) neither wait for it nor make it start over.
        source.execute("BEGIN")
        source.execute("SELECT count(*) FROM sqlite_master").fetchone()
        source.backup(target, pages=_PAGES_PER_STEP, progress=deadline.check)
        source.execute("COMMIT")
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        _sqlite_quick_check(target, deadline, str(source_path))
    except sqlite3.Error as err:
        raise BackupError(f"the SQLite backup failed: {err}") from err
    finally:
        source.close()
        target.close()


def _sqlite_quick_check(conn: sqlite3.Connection, deadline: _Deadline, what: str) -> None:
    """``PRAGMA quick_check`` within the time limit; :class:`BackupError` unless ``ok``."""
    conn.set_progress_handler(lambda: int(deadline.passed()), _CHECK_EVERY)
    try:
        found = [row[0] for row in conn.execute("PRAGMA quick_check")]
    except sqlite3.OperationalError as err:
        if deadline.passed():
            raise deadline.error() from err
        raise
    finally:
        conn.set_progress_handler(None, 0)
    if found != ["ok"]:
        raise BackupError(f"the copy of {what} is damaged: {'; '.join(found[:5])}")


# --- PostgreSQL client programs --------------------------------------------------------------

# URL query parameters psycopg passes to libpq, and the libpq variable of each.
_LIBPQ_PARAMETERS = {
    "host": "PGHOST",
    "hostaddr": "PGHOSTADDR",
    "port": "PGPORT",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "passfile": "PGPASSFILE",
    "service": "PGSERVICE",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "application_name": "PGAPPNAME",
    "options": "PGOPTIONS",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "gssencmode": "PGGSSENCMODE",
}


def libpq_environment(url: str | sa.URL) -> dict[str, str]:
    """The libpq environment variables (``PGHOST``, ``PGUSER``, ``PGPASSWORD``, ...) that
    connect ``pg_dump``/``pg_restore`` where the SQLAlchemy ``url`` connects psycopg; a
    unix-socket folder comes from ``?host=/folder``. Parts the URL leaves out stay libpq's
    (the process environment, ``~/.pgpass``). Raises :class:`BackupError` on a query
    parameter libpq does not take."""
    url = sa.make_url(url)
    env = {
        "PGHOST": url.host,
        "PGPORT": str(url.port) if url.port else None,
        "PGUSER": url.username,
        "PGPASSWORD": url.password,
        "PGDATABASE": url.database,
    }
    for name, value in url.query.items():
        variable = _LIBPQ_PARAMETERS.get(name)
        if variable is None:
            raise BackupError(
                f"the database URL's parameter {name!r} is not one pg_dump and pg_restore "
                f"take (known: {', '.join(sorted(_LIBPQ_PARAMETERS))})"
            )
        env[variable] = ",".join(value) if isinstance(value, tuple) else value
    env.setdefault("PGCONNECT_TIMEOUT", "30")
    return {key: str(value) for key, value in env.items() if value not in (None, "")}


def _secrets(url: sa.URL) -> list[str]:
    found = [url.password, url.query.get("password")]
    plain = [str(s) for s in found if s]
    return plain + [quote(s, safe="") for s in plain]


def _masked(text: str, secrets: list[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _conninfo_dbname(database: str | None) -> str:
    """``dbname='...'``: a connection string, so that no database name is read as one."""
    if not database:
        raise BackupError("the database URL names no database")
    escaped = database.replace("\\", "\\\\").replace("'", "\\'")
    return f"dbname='{escaped}'"


def _program(name: str) -> str:
    """The newest Debian ``/usr/lib/postgresql/<version>/bin/<name>``, else the PATH's."""
    versions = []
    for folder in Path("/usr/lib/postgresql").glob("*/bin"):
        if folder.parent.name.isdigit() and (folder / name).is_file():
            versions.append((int(folder.parent.name), folder / name))
    if versions:
        return str(max(versions)[1])
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} not found: install the PostgreSQL client programs "
            "(Debian: apt-get install postgresql-client-15)"
        )
    return found


def _run(command: list[str], url: sa.URL, deadline: _Deadline, what: str) -> str:
    """Run a PostgreSQL client program, connected through libpq variables, within the time
    limit; its standard output, or :class:`BackupError` with its message (password masked)."""
    env = {**os.environ, **libpq_environment(url)}
    try:
        done = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=deadline.left())  # fmt: skip
    except subprocess.TimeoutExpired as err:
        raise deadline.error() from err
    except OSError as err:
        raise BackupError(f"cannot run {command[0]}: {err.strerror or err}") from err
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip() or f"exit status {done.returncode}"
        raise BackupError(f"{what} failed: {_masked(message, _secrets(url))}")
    return done.stdout


def _pg_dump(engine: Engine, target: Path, deadline: _Deadline) -> None:
    url = engine.url
    lock_wait_ms = max(1000, int(min(deadline.left(), 300) * 1000))
    command = [
        _program("pg_dump"), "--format=custom", "--no-password", f"--file={target}",
        f"--lock-wait-timeout={lock_wait_ms}", f"--dbname={_conninfo_dbname(url.database)}",
    ]  # fmt: skip
    _run(command, url, deadline, "pg_dump")
    # Read the archive's table of contents back: a damaged archive fails here, not on restore.
    _run([_program("pg_restore"), "--list", str(target)], url, deadline, "reading the backup")


# --- restore -----------------------------------------------------------------------------------


def _check_empty(engine: Engine) -> None:
    try:
        tables = _tables(engine)
    except sa.exc.OperationalError as err:
        message = _masked(str(err.orig).strip(), _secrets(engine.url))
        raise BackupError(f"cannot open {_describe(engine)}: {message}") from err
    if tables:
        found = _OUR_VERSION_TABLE if _OUR_VERSION_TABLE in tables else tables[0]
        raise BackupError(
            f"{_describe(engine)} is not empty (it has {len(tables)} tables, e.g. {found!r}): "
            "restore only into a new, empty database; nothing was changed"
        )


def restore_database(
    engine: Engine, path: str | Path, *, timeout_s: float = DEFAULT_TIMEOUT_S
) -> None:
    """Restore the backup ``path`` into the empty database of ``engine``, then run the
    migrations (an older backup is upgraded). Raises :class:`BackupError` (the database left
    as it was) on a database with tables, a backup of the other kind, or a failure."""
    path = Path(path).absolute()
    kind = _check_kind(engine, path)
    _check_empty(engine)
    deadline = _Deadline(timeout_s, "the restore")
    if kind == "sqlite":
        engine.dispose()
        _sqlite_restore(path, _sqlite_file(engine), deadline)
    else:
        _pg_restore(engine, path, deadline)
    engine.dispose()
    init_db(engine)


def _sqlite_restore(source_path: Path, target_path: Path, deadline: _Deadline) -> None:
    try:
        source = sqlite3.connect(f"{source_path.as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as err:
        raise BackupError(f"cannot open the backup {source_path}: {err}") from err
    target_path.parent.mkdir(parents=True, exist_ok=True)
    target = sqlite3.connect(target_path, timeout=10, isolation_level=None)
    try:
        _sqlite_quick_check(source, deadline, str(source_path))
        names = {row[0] for row in source.execute("SELECT name FROM sqlite_master")}
        if _OUR_VERSION_TABLE not in names:
            raise BackupError(f"{source_path} is an SQLite database but not a hotspot backup "
                              f"(it has no {_OUR_VERSION_TABLE} table)")  # fmt: skip
        # Into the target in one write transaction: stopped half way (time limit), the
        # target is rolled back to empty.
        source.backup(target, pages=_PAGES_PER_STEP, progress=deadline.check)
    except sqlite3.Error as err:
        raise BackupError(f"the SQLite restore failed: {err}") from err
    finally:
        source.close()
        target.close()


# What only an extension's owner (a superuser) may write, left out of a restore, so that the
# database's owner can restore: the comment on an extension (PostGIS), and the rows of the
# tables extensions own (spatial_ref_sys: the extension brings its own rows).
_EXTENSIONS_OWN = re.compile(
    r"^\d+; \d+ \d+ (COMMENT - EXTENSION |TABLE DATA \S+ ("
    + "|".join(map(re.escape, sorted(EXTENSION_TABLES)))
    + r") )"
)


def _pg_restore(engine: Engine, path: Path, deadline: _Deadline) -> None:
    url = engine.url
    listing = _run([_program("pg_restore"), "--list", str(path)], url, deadline,
                   "reading the backup")  # fmt: skip
    if not re.search(rf"^\d+; \d+ \d+ TABLE \S+ {_OUR_VERSION_TABLE} ", listing, re.MULTILINE):
        raise BackupError(f"{path} is a pg_dump archive but not a hotspot backup "
                          f"(it has no {_OUR_VERSION_TABLE} table)")  # fmt: skip
    kept = [line for line in listing.splitlines() if not _EXTENSIONS_OWN.search(line)]
    with tempfile.TemporaryDirectory(prefix="hotspot-restore-") as folder:
        contents = Path(folder) / "contents.list"
        contents.write_text("\n".join(kept) + "\n")
        command = [
            _program("pg_restore"), "--no-owner", "--no-privileges", "--single-transaction",
            "--exit-on-error", "--no-password", f"--use-list={contents}",
            f"--dbname={_conninfo_dbname(url.database)}", str(path),
        ]  # fmt: skip
        _run(command, url, deadline, "pg_restore")
