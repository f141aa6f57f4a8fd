"""Fixtures for the web layer: throwaway databases, the demo site, logged-in clients."""

from __future__ import annotations

import re
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from geo.categories import load_categories
from geo.cells import hex_from_cells
from tests.moments import MOMENTS
from web import clock, create_app, storage
from web.cli import cli
from web.config import REPO_ROOT
from web.services.demo import DEMO_ACCOUNTS

DATABASES = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked ``databases`` (a module's ``pytestmark`` or one test) that use
    ``db_url`` (directly or through ``engine``/``cli_env``) run once per database the mark
    names, SQLite and PostgreSQL when it names none; every other test runs on SQLite.

    With ``databases(demo=True)`` the demo site (``demo_db``, ``app``, ``client_as``) is
    loaded into each database too; without it, the demo stays on SQLite (some modules copy
    its file)."""
    marker = metafunc.definition.get_closest_marker("databases")
    if marker is None:
        return
    names = [name for name in ("db_url", "demo_db") if name in metafunc.fixturenames]
    if not marker.kwargs.get("demo") and "demo_db" in names:
        names.remove("demo_db")
    if not names:
        return
    kinds = marker.args or DATABASES
    unknown = set(kinds) - set(DATABASES)
    assert not unknown, f"unknown databases {sorted(unknown)} (known: {DATABASES})"
    values = [(kind,) * len(names) if len(names) > 1 else kind for kind in kinds]
    metafunc.parametrize(",".join(names), values, indirect=True, ids=list(kinds))


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path):
    """The URL of a new, empty database: an SQLite file, or (parameter ``postgresql``) a
    database with PostGIS on the session's throwaway cluster, dropped after the test.

    On PostgreSQL, a test that uses ``engine`` (which migrates before the test starts) gets a
    copy of the migrated template instead: the same database, without migrating each time.
    """
    if getattr(request, "param", "sqlite") == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    cluster = request.getfixturevalue("postgres_cluster")
    url = cluster.create_database(migrated="engine" in request.fixturenames)
    yield url
    _close_postgres_engines()
    cluster.drop_database(url)


@pytest.fixture
def demo_copy_url(request: pytest.FixtureRequest, demo_db: str, tmp_path: Path):
    """The URL of a copy of the demo database of this test's own (for tests that write):
    SQLite's online backup (a file copy would miss what the WAL holds), or on PostgreSQL a
    database made with the demo's as template, dropped after the test."""
    if demo_db.startswith("sqlite:///"):
        path = tmp_path / "demo-copy.db"
        source = sqlite3.connect(demo_db.removeprefix("sqlite:///"))
        target = sqlite3.connect(path)
        source.backup(target)
        source.close()
        target.close()
        yield f"sqlite:///{path}"
        return
    cluster = request.getfixturevalue("postgres_cluster")
    _close_postgres_engines()  # CREATE DATABASE ... TEMPLATE needs the demo's sessions gone
    url = cluster.create_database(template=sa.make_url(demo_db).database)
    yield url
    _close_postgres_engines()
    cluster.drop_database(url)


@pytest.fixture
def demo_copy_site(demo_copy_url):
    """The site on this test's own copy of the demo (it may write: plans, revisions), with a
    short plan time limit; its engine disposed after the test."""
    app = create_app({"DATABASE_URL": demo_copy_url, "TESTING": True, "WTF_CSRF_ENABLED": False,
                      "PLAN_TIME_LIMIT_S": 3.0})  # fmt: skip
    yield app
    app.extensions["engine"].dispose()


# Engines storage.make_engine made on PostgreSQL during the run (see _postgres_engines).
_POSTGRES_ENGINES: list = []


def _close_postgres_engines() -> None:
    """Dispose of the engines no thread is using: an engine disposed while a background
    thread (a plan job) holds one of its connections would drop that connection unclosed
    when it comes back (psycopg then warns, and the warning fails a random later test)."""
    for engine in _POSTGRES_ENGINES:
        if engine.pool.checkedout() == 0:
            engine.dispose()


@pytest.fixture(scope="session", autouse=True)
def _postgres_engines():
    """Keep every engine ``storage.make_engine`` makes on PostgreSQL (the sites', the
    commands', the tests' own) and close their idle connections after each test and at the
    end: psycopg warns about a connection collected while open, and tests make engines they
    never dispose (harmless on SQLite). A disposed engine still works: it connects again."""
    make_engine = storage.make_engine

    def tracked(*args, **kwargs):
        engine = make_engine(*args, **kwargs)
        if engine.dialect.name == "postgresql":
            _POSTGRES_ENGINES.append(engine)
        return engine

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(storage, "make_engine", tracked)
        yield
    _close_postgres_engines()


@pytest.fixture(autouse=True)
def _postgres_connections_closed(_postgres_engines):
    yield
    _close_postgres_engines()


@pytest.fixture
def engine(db_url: str):
    engine = storage.make_engine(db_url)
    storage.init_db(engine)
    storage.set_meta(
        engine, {"resolution": "9", "timezone": "America/Chicago", "city_name": "Chicago"}
    )
    storage.store_categories(engine, load_categories(REPO_ROOT / "data" / "categories.csv"))
    yield engine
    engine.dispose()


@pytest.fixture
def cli_env(db_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for CLI runs: the CLI reads settings from HOTSPOT_* like production."""
    return {"HOTSPOT_DATABASE_URL": db_url, "HOTSPOT_TIMEZONE": "America/Chicago"}


NOW = pd.Timestamp("2026-01-01T00:00:00Z")


def days_ahead(n: int) -> str:
    """The demo city's date ``n`` days after the session's today (YYYY-MM-DD): plan forms
    take dates within a year of today, so fixed dates would fail some day."""
    return (MOMENTS["today"].local.date() + timedelta(days=n)).isoformat()


# A src or href that leaves this server (http://, https:// or protocol-relative //).
EXTERNAL_URL = re.compile(rb"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)
PASSWORDS = {username: password for username, password, _role, _name in DEMO_ACCOUNTS}
# The first demo account of each role (grid_worker -> grid1).
ROLE_USER = {role: username for username, _password, role, _name in reversed(DEMO_ACCOUNTS)}


@pytest.fixture(scope="session")
def demo_db(request: pytest.FixtureRequest, tmp_path_factory, moment) -> str:
    """A database with the Jiayuguan demo loaded through the CLI, as `make run` does, with the
    clock at the test's moment (today unless the test is marked ``dates``) and the city in
    that moment's timezone: an SQLite file, or (parameter ``postgresql``, see
    :func:`pytest_generate_tests`) a database on the session's PostgreSQL cluster.

    Tests that write (plans, check-ins, accounts) must not depend on what others wrote.
    """
    if getattr(request, "param", "sqlite") == "postgresql":
        url = request.getfixturevalue("postgres_cluster").create_database()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp(f'demo-{moment.name}') / 'demo.db'}"
    load_demo(url, moment)
    return url


def load_demo(url: str, moment) -> None:  # noqa: ANN001
    """Load the demo into the database at ``url`` through the CLI (init-db, then demo with
    seed 7 over 60 days), the clock at ``moment``, and check what it says; a second run
    does nothing."""
    env = {"HOTSPOT_DATABASE_URL": url, "HOTSPOT_TIMEZONE": moment.timezone}
    runner = CliRunner()
    with clock.frozen(moment.at):
        assert runner.invoke(cli, ["init-db"], env=env).exit_code == 0
        demo = ["demo", "--if-empty", "--days", "60", "--seed", "7", "--timezone", moment.timezone]
        result = runner.invoke(cli, demo, env=env)
        assert result.exit_code == 0, result.output
        assert "synthetic incidents" in result.output
        assert "demo accounts: admin, commander, planner, grid1, grid2" in result.output
        today = moment.local.strftime("%Y-%m-%d")
        assert f"plan {today} day:" in result.output, result.output
        again = runner.invoke(cli, [*demo[:2], "--timezone", moment.timezone], env=env)
        assert "nothing to do" in again.output


@pytest.fixture(scope="session")
def app(demo_db):
    """The site on the demo database, CSRF checks off (test_access.py checks them on).

    One per moment (and database); the clock is frozen at the moment while each test runs
    (tests/conftest.py). Its connections are closed at the end of the run.
    """
    app = create_app(
        {"DATABASE_URL": demo_db, "TESTING": True, "WTF_CSRF_ENABLED": False,
         "PLAN_TIME_LIMIT_S": 3.0}
    )  # fmt: skip
    yield app
    app.extensions["engine"].dispose()


#: How long tests wait for a worker to start, take a job or finish one (a busy 2-core machine).
WAIT_S = 240


def wait_until(what: str, check, timeout_s: float = WAIT_S):
    """Poll ``check()`` until it returns something true; fail naming ``what`` after a while."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.2)


def login(client, username: str, password: str | None = None):
    """Log ``client`` in (English interface); returns the login response."""
    response = client.post(
        "/login",
        data={"username": username, "password": password or PASSWORDS[username]},
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 302, response.data[:500]
    with client.session_transaction() as session:
        session["lang"] = "en"
    return response


def logged_in_client(app, moment, username: str):
    """A test client logged in as ``username``, for a module fixture: those run before the
    test's clock is set, so the login happens at the moment."""
    client = app.test_client()
    with clock.frozen(moment.at):
        login(client, username)
    return client


def user_id(engine, username: str) -> int:
    """The id of the account ``username``."""
    return storage.get_user_by_name(engine, username).id


def user_cells(engine, username: str) -> list[str]:
    """The hex ids of the cells of ``username``'s grids."""
    return hex_from_cells(storage.user_cells(engine, user_id(engine, username)))


@pytest.fixture
def client_as(app):
    """``client_as("planner")``: a test client logged in as the demo account of a role."""

    def make(role: str):
        client = app.test_client()
        login(client, ROLE_USER.get(role, role))
        return client

    return make
