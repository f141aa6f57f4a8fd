"""PostgreSQL as the server database: `hotspot init-db` on a PostgreSQL URL, the throwaway
cluster the tests start (tests/postgres.py), the inserts that skip stored keys when two
transactions add the same key at once, and the demo site served from PostgreSQL."""

from __future__ import annotations

import os
import pwd
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from click.testing import CliRunner

from tests.postgres import INSTALL_HINT, SERVER_USER, Cluster, PostgresMissing
from tests.web.conftest import load_demo, login
from tests.web.test_access import MATRIX, ROLES
from web import create_app, storage
from web.cli import cli
from web.storage._shared import insert_new
from web.storage.engine import MIGRATIONS_DIR, _alembic_config
from web.storage.schema import login_throttle


def _head(engine: sa.Engine) -> str:
    head = ScriptDirectory.from_config(_alembic_config(engine)).get_current_head()
    assert head is not None
    return head


@pytest.fixture
def pg_url(postgres_cluster):
    """A new, empty PostgreSQL database (PostGIS only), dropped after the test."""
    url = postgres_cluster.create_database()
    yield url
    postgres_cluster.drop_database(url)


def test_init_db_creates_and_upgrades_a_postgresql_database(pg_url) -> None:
    env = {"HOTSPOT_DATABASE_URL": pg_url, "HOTSPOT_TIMEZONE": "Asia/Shanghai"}
    runner = CliRunner()
    engine = storage.make_engine(pg_url)
    try:
        assert storage.current_revision(engine) is None
        assert storage.stored_timezone(engine) is None  # no tables yet
        first = runner.invoke(cli, ["init-db"], env=env)
        assert first.exit_code == 0, first.output
        assert "database ready: postgresql+psycopg://postgres@/" in first.output
        assert storage.current_revision(engine) == _head(engine)
        assert storage.stored_timezone(engine) == "Asia/Shanghai"
        assert not storage.load_categories_table(engine).empty
        again = runner.invoke(cli, ["init-db"], env=env)
        assert again.exit_code == 0, again.output
        assert storage.current_revision(engine) == _head(engine)
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            postgis = conn.exec_driver_sql("SELECT postgis_lib_version()").scalar_one()
        assert set(storage.metadata.tables) <= tables
        assert postgis.startswith("3.")
    finally:
        engine.dispose()
    assert MIGRATIONS_DIR.is_dir()


def test_the_cluster_listens_only_on_its_socket_and_runs_as_its_user(postgres_cluster) -> None:
    with postgres_cluster.admin().connect() as conn:
        assert conn.exec_driver_sql("SHOW listen_addresses").scalar_one() == ""
        socket_dirs = conn.exec_driver_sql("SHOW unix_socket_directories").scalar_one()
        assert conn.exec_driver_sql("SHOW fsync").scalar_one() == "off"
    assert socket_dirs == str(postgres_cluster.socket_dir)
    owner = postgres_cluster.data_dir.stat().st_uid
    expected = pwd.getpwnam(SERVER_USER).pw_uid if os.geteuid() == 0 else os.geteuid()
    assert owner == expected


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and has not exited (an exited child nobody has waited
    for yet, a zombie, still has its entry)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_a_cluster_is_removed_when_stopped() -> None:
    cluster = Cluster().start()
    folder = cluster.socket_dir
    pid = int((cluster.data_dir / "postmaster.pid").read_text().split()[0])
    url = cluster.create_database(migrated=True)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    assert storage.current_revision(engine) == _head(engine)
    engine.dispose()
    cluster.stop()
    assert not folder.exists()
    assert not _running(pid)
    cluster.stop()  # again: nothing left to do


def test_missing_postgresql_fails_naming_the_package_install(tmp_path: Path) -> None:
    with pytest.raises(PostgresMissing) as raised:
        Cluster(bin_dir=tmp_path).start()
    message = str(raised.value)
    assert str(tmp_path / "initdb") in message and INSTALL_HINT in message
    assert "make test" in message and "postgresql-15-postgis-3" in message


def test_a_key_added_by_two_transactions_at_once_is_stored_once(pg_url) -> None:
    """The second insert waits for the first transaction, then skips the key instead of
    failing on the primary key (a plain INSERT would raise IntegrityError here)."""
    engine = storage.make_engine(pg_url)
    storage.init_db(engine)
    row = {"key": "name:boss", "attempts": 0, "updated_at": 1}
    errors: list[BaseException] = []
    try:
        with engine.connect() as first:
            first.begin()
            first.execute(insert_new(first, login_throttle, "key").values(**row))

            def second() -> None:
                try:
                    with engine.begin() as conn:
                        conn.execute(insert_new(conn, login_throttle, "key").values(**row))
                except BaseException as err:  # reported below, in the test's thread
                    errors.append(err)

            other = threading.Thread(target=second)
            other.start()
            # The second waits on the first's row lock until the first commits.
            with engine.connect() as watcher:
                while not watcher.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                ).scalar_one():
                    watcher.rollback()  # a new snapshot of the activity each time
                    assert other.is_alive(), errors
                    time.sleep(0.01)
            first.commit()
            other.join()
        assert errors == []
        with engine.connect() as conn:
            assert (
                conn.execute(sa.select(sa.func.count()).select_from(login_throttle)).scalar() == 1
            )
        with engine.connect() as conn:  # a plain insert of the same key fails
            with pytest.raises(sa.exc.IntegrityError):
                conn.execute(sa.insert(login_throttle).values(**row))
            conn.rollback()
    finally:
        engine.dispose()


# --- the demo site on PostgreSQL ----------------------------------------------------------


@pytest.fixture(scope="module")
def pg_demo_app(postgres_cluster, moment):
    """The demo loaded into PostgreSQL through the CLI, as `make run` does, and the site on
    it (the web-page tests run on SQLite's demo: tests/web/conftest.py's demo_db)."""
    url = postgres_cluster.create_database()
    load_demo(url, moment)
    app = create_app({"DATABASE_URL": url, "TESTING": True, "WTF_CSRF_ENABLED": False})
    yield app
    app.extensions["engine"].dispose()
    postgres_cluster.drop_database(url)


# The pages and API reads of the access matrix that need no ids.
PLAIN_GETS = [(t, expected) for m, t, expected in MATRIX if m == "GET" and "{" not in t]


@pytest.mark.slow
@pytest.mark.parametrize(("template", "expected"), PLAIN_GETS, ids=[t for t, _ in PLAIN_GETS])
def test_the_demo_site_serves_every_role_on_postgresql(pg_demo_app, moment, template, expected):
    for role, status in zip(ROLES, expected, strict=True):
        client = pg_demo_app.test_client()
        if role != "anon":
            login(client, role)
        response = client.get(template)
        assert response.status_code == status, (role, response.data[:300])
        response.close()
