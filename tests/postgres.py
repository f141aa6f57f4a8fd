"""A throwaway PostgreSQL 15 + PostGIS cluster for the tests.

:class:`Cluster` runs Debian's ``initdb`` and ``pg_ctl`` (``/usr/lib/postgresql/15/bin``,
or ``HOTSPOT_PG_BIN``) in a new temporary folder; the server listens on a unix socket in
that folder only (no TCP port, so parallel runs cannot collide) and trusts local
connections. The data is thrown away, so durability is off (``fsync``,
``synchronous_commit``, ``full_page_writes``).

``initdb`` refuses to run as root. Run as root (CI, this machine), every server command runs
as the ``postgres`` system user that Debian's ``postgresql-15`` package creates
(``runuser -u postgres``), and the folder is handed to that user; run as anyone else, the
commands run as that user. Nothing is skipped when PostgreSQL or PostGIS is missing: the
tests that need them fail with :data:`INSTALL_HINT`.

Two template databases are made once per cluster: ``hotspot_empty`` (the ``postgis``
extension, no tables: what a new SQLite file is) and ``hotspot_migrated`` (that plus every
migration). Each test's database is a copy of one of them (``CREATE DATABASE ... TEMPLATE``,
a file copy, far faster than migrating).
"""

from __future__ import annotations

import atexit
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

PG_BIN = Path(os.environ.get("HOTSPOT_PG_BIN", "/usr/lib/postgresql/15/bin"))
INSTALL_HINT = (
    "PostgreSQL 15 with PostGIS is needed for the tests on PostgreSQL: `make test` installs "
    "Debian's postgresql-15 and postgresql-15-postgis-3 when missing (`make db-deps`, as root)"
)
SERVER_USER = "postgres"  # the system user Debian's postgresql-15 package creates
EMPTY_TEMPLATE = "hotspot_empty"
MIGRATED_TEMPLATE = "hotspot_migrated"
SETTINGS = {
    "listen_addresses": "''",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "log_min_messages": "warning",
    # No background worker may hold a connection to a template: CREATE DATABASE ... TEMPLATE
    # fails while another session is connected to it.
    "autovacuum": "off",
}


class PostgresMissing(RuntimeError):
    """PostgreSQL or PostGIS is not installed (or cannot run here); says how to install it."""


class Cluster:
    """One throwaway PostgreSQL server; :meth:`start` it, :meth:`stop` it (removes it)."""

    def __init__(self, bin_dir: Path = PG_BIN) -> None:
        self.bin_dir = bin_dir
        self.folder: Path | None = None
        self._names = itertools.count(1)
        self._admin: sa.Engine | None = None

    # --- the server --------------------------------------------------------------------

    @property
    def socket_dir(self) -> Path:
        assert self.folder is not None, "the cluster is not started"
        return self.folder

    @property
    def data_dir(self) -> Path:
        return self.socket_dir / "data"

    def start(self) -> Cluster:
        """initdb, start the server, make the two template databases."""
        for program in ("initdb", "pg_ctl"):
            if not (self.bin_dir / program).is_file():
                raise PostgresMissing(f"{self.bin_dir / program} not found. {INSTALL_HINT}")
        self.folder = Path(tempfile.mkdtemp(prefix="hotspot-pg-"))
        atexit.register(self.stop)
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam(SERVER_USER)
            except KeyError as err:
                raise PostgresMissing(
                    f"running as root, initdb needs the system user {SERVER_USER!r}. "
                    + INSTALL_HINT
                ) from err
            os.chown(self.folder, account.pw_uid, account.pw_gid)
        self._run(
            "initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust",
            "--encoding=UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        conf = "".join(f"{key} = {value}\n" for key, value in SETTINGS.items())
        conf += f"unix_socket_directories = '{self.socket_dir}'\n"
        with (self.data_dir / "postgresql.conf").open("a") as handle:  # keeps its owner
            handle.write(conf)
        self._run(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.socket_dir / "server.log"),
            "-w", "-t", "60", "start",
        )  # fmt: skip
        self._make_templates()
        return self

    def stop(self) -> None:
        """Stop the server and remove its folder (safe to call twice)."""
        if self.folder is None:
            return
        if self._admin is not None:
            self._admin.dispose()
            self._admin = None
        if (self.data_dir / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop",
                      check=False)  # fmt: skip
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    @contextmanager
    def stopped(self) -> Iterator[None]:
        """The server stopped for the block (every session ended, as a restart does), then
        started again on the same data and socket."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
        try:
            yield
        finally:
            self._run(
                "pg_ctl", "-D", str(self.data_dir), "-l", str(self.socket_dir / "server.log"),
                "-w", "-t", "60", "start",
            )  # fmt: skip

    def log(self) -> str:
        """The server's log so far (for failure messages)."""
        path = self.socket_dir / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _run(self, program: str, *args: str, check: bool = True):
        command = [str(self.bin_dir / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True)
        if check and done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
                f"\n{self.log()[-2000:]}"
            )
        return done

    # --- databases -----------------------------------------------------------------------

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of one database of this cluster (psycopg 3, over the socket)."""
        return f"postgresql+psycopg://postgres@/{database}?host={self.socket_dir}"

    def admin(self) -> sa.Engine:
        """An autocommit engine on the ``postgres`` database (CREATE/DROP DATABASE)."""
        if self._admin is None:
            self._admin = sa.create_engine(
                self.url("postgres"), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
            )
        return self._admin

    def create_database(self, migrated: bool = False, template: str | None = None) -> str:
        """A new database copied from a template (with PostGIS; migrated to the newest
        revision when ``migrated``) or from the database ``template`` (no session may be
        connected to it); returns its URL."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        if template is None:
            template = MIGRATED_TEMPLATE if migrated else EMPTY_TEMPLATE
        with self.admin().connect() as conn:
            # A file copy: faster than PostgreSQL 15's default (WAL_LOG) for small databases.
            conn.exec_driver_sql(
                f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY'
            )
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by :meth:`create_database`, closing its open connections."""
        name = sa.make_url(url).database
        with self.admin().connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _make_templates(self) -> None:
        from web import storage

        with self.admin().connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{EMPTY_TEMPLATE}"')
        empty = sa.create_engine(self.url(EMPTY_TEMPLATE), poolclass=sa.pool.NullPool)
        try:
            with empty.begin() as conn:
                conn.exec_driver_sql("CREATE EXTENSION postgis")
        except sa.exc.DBAPIError as err:
            raise PostgresMissing(f"cannot create the postgis extension ({err.orig}). "
                                  + INSTALL_HINT) from err  # fmt: skip
        finally:
            empty.dispose()
        with self.admin().connect() as conn:
            conn.exec_driver_sql(
                f'CREATE DATABASE "{MIGRATED_TEMPLATE}" TEMPLATE "{EMPTY_TEMPLATE}"'
            )
        migrated = storage.make_engine(self.url(MIGRATED_TEMPLATE))
        try:
            storage.init_db(migrated)
        finally:
            migrated.dispose()
        with self.admin().connect() as conn:
            for template in (EMPTY_TEMPLATE, MIGRATED_TEMPLATE):
                conn.exec_driver_sql(
                    f'ALTER DATABASE "{template}" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false'
                )
