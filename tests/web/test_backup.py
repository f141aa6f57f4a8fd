"""``hotspot backup`` and ``hotspot restore``: a restored backup holds every row of every
table, on SQLite and PostgreSQL; a database with tables, a backup of the other kind and a
place that cannot be written are refused, leaving nothing changed or half-written."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from click.testing import CliRunner

from tests.web.test_migrations import _schema
from web import storage
from web.cli import cli
from web.storage import backup as backups
from web.storage.engine import _alembic_config

# Every test runs on SQLite and on PostgreSQL, the demo loaded into each (conftest.py).
pytestmark = pytest.mark.databases(demo=True)

PASSWORD = "s3cret-pw/8"  # a "/" is URL-encoded: both spellings must stay hidden


def run(args: list[str], url: str):
    """``hotspot ARGS`` with the database at ``url``, as an administrator runs it."""
    return CliRunner().invoke(cli, args, env={"HOTSPOT_DATABASE_URL": url})


def kind_of(url: str) -> str:
    return sa.make_url(url).get_backend_name()


def leftovers(folder: Path) -> list[str]:
    """Temporary files a backup left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".partial"))


def schema(engine: sa.Engine) -> list[tuple[str, ...]]:
    """Every column, index and constraint (constraints by name and kind: PostgreSQL prints
    a CHECK it re-read from a dump in another, equivalent way)."""
    return [
        row[:3] + (row[3].split(" (")[0],) if row[0] == "constraint" else row
        for row in _schema(engine)
    ]


@pytest.fixture
def other_empty_url(request: pytest.FixtureRequest, db_url: str, tmp_path: Path):
    """A second new, empty database of the same kind as ``db_url``."""
    if kind_of(db_url) == "sqlite":
        yield f"sqlite:///{tmp_path / 'other.db'}"
        return
    cluster = request.getfixturevalue("postgres_cluster")
    url = cluster.create_database()
    yield url
    cluster.drop_database(url)


def test_a_restored_backup_holds_every_row_of_every_table(demo_copy_url, db_url, tmp_path):
    source = storage.make_engine(demo_copy_url)
    before = backups.table_fingerprints(source)
    assert before["incidents"].rows > 1000 and before["plans"].rows > 0
    assert before["users"].rows >= 5 and before["alembic_version"].rows == 1
    file = tmp_path / "site.backup"

    made = run(["backup", str(file)], demo_copy_url)
    assert made.exit_code == 0, made.output
    assert f"backup written: {file}" in made.output
    assert backups.backup_kind(file) == kind_of(demo_copy_url)
    assert leftovers(tmp_path) == []
    assert file.stat().st_mode & 0o077 == 0  # password hashes and sessions: the owner's only
    assert backups.table_fingerprints(source) == before  # the backup changed nothing

    restored = run(["restore", str(file)], db_url)
    assert restored.exit_code == 0, restored.output
    for name in ("incidents", "users", "plans"):
        assert re.search(rf"^  {name} +{before[name].rows:,}$", restored.output, re.MULTILINE)
    assert f"{len(before)} tables, {sum(f.rows for f in before.values()):,} rows" in (
        restored.output
    )
    target = storage.make_engine(db_url)
    assert backups.table_fingerprints(target) == before
    assert schema(target) == schema(source)
    # New rows get new keys (PostgreSQL: the sequences came back with the rows).
    storage.create_user(target, "after-restore", "x", "planner")
    assert backups.table_counts(target)["users"] == before["users"].rows + 1


@pytest.mark.databases("sqlite")
def test_an_sqlite_backup_is_the_database_as_it_began_while_writes_go_on(
    demo_copy_url, db_url, tmp_path, monkeypatch
):
    engine = storage.make_engine(demo_copy_url)
    before = backups.table_fingerprints(engine)
    monkeypatch.setattr(backups, "_PAGES_PER_STEP", 8)  # many steps: a write comes between
    written = []
    check = backups._Deadline.check

    def write_half_way(deadline, status, remaining, total):
        if remaining and not written:  # once, with pages still to copy
            storage.set_meta(engine, {"written_during_backup": "yes"})
            written.append((remaining, total))
        check(deadline, status, remaining, total)

    monkeypatch.setattr(backups._Deadline, "check", write_half_way)
    backups.backup_database(engine, tmp_path / "site.backup")
    assert written and written[0][0] > 8  # the site's write went in half way, not blocked
    assert storage.get_meta(engine)["written_during_backup"] == "yes"

    assert run(["restore", str(tmp_path / "site.backup")], db_url).exit_code == 0
    assert backups.table_fingerprints(storage.make_engine(db_url)) == before


def test_the_fingerprint_sees_a_changed_value(demo_copy_url):
    engine = storage.make_engine(demo_copy_url)
    before = backups.table_fingerprints(engine)
    with engine.begin() as conn:
        conn.execute(sa.update(storage.users).where(storage.users.c.username == "grid2")
                     .values(display_name="changed"))  # fmt: skip
    after = backups.table_fingerprints(engine)
    assert after["users"].rows == before["users"].rows
    assert after["users"].sha256 != before["users"].sha256
    assert {k: v for k, v in after.items() if k != "users"} == {
        k: v for k, v in before.items() if k != "users"
    }


def test_restore_refuses_a_database_with_tables_and_changes_nothing(demo_copy_url, tmp_path):
    file = tmp_path / "site.backup"
    assert run(["backup", str(file)], demo_copy_url).exit_code == 0
    engine = storage.make_engine(demo_copy_url)
    before = backups.table_fingerprints(engine)

    refused = run(["restore", str(file)], demo_copy_url)
    assert refused.exit_code == 2
    name = sa.make_url(demo_copy_url).database
    assert "is not empty" in refused.output and name in refused.output
    assert "'alembic_version'" in refused.output and "nothing was changed" in refused.output
    assert backups.table_fingerprints(engine) == before


def test_a_backup_of_the_other_kind_or_none_or_too_slow_is_refused(db_url, demo_copy_url, tmp_path):
    names = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
    this = kind_of(db_url)
    other = "postgresql" if this == "sqlite" else "sqlite"
    foreign = tmp_path / "other-kind.backup"
    foreign.write_bytes(backups.KINDS[other] + b"\0" * 100)
    refused = run(["restore", str(foreign)], db_url)
    assert refused.exit_code == 2
    assert f"is a backup of a {names[other]} database and cannot be restored into the " + (
        names[this]
    ) in " ".join(refused.output.split())

    text = tmp_path / "notes.txt"
    text.write_text("not a backup\n")
    refused = run(["restore", str(text)], db_url)
    assert refused.exit_code == 2 and "is not a backup made by `hotspot backup`" in refused.output
    missing = run(["restore", str(tmp_path / "missing.backup")], db_url)
    assert missing.exit_code == 2 and "is not a file" in missing.output
    file = tmp_path / "site.backup"
    assert run(["backup", str(file)], demo_copy_url).exit_code == 0
    with pytest.raises(backups.BackupError, match="the restore did not finish within 0 s"):
        backups.restore_database(storage.make_engine(db_url), file, timeout_s=0)
    assert backups.table_counts(storage.make_engine(db_url)) == {}


def test_an_older_backup_is_upgraded_by_restore(db_url, other_empty_url, tmp_path):
    old = storage.make_engine(other_empty_url)
    command.upgrade(_alembic_config(old), "0005")
    storage.set_meta(old, {"city_name": "Old City"})
    file = tmp_path / "old.backup"
    assert run(["backup", str(file)], other_empty_url).exit_code == 0

    restored = run(["restore", str(file)], db_url)
    assert restored.exit_code == 0, restored.output
    target = storage.make_engine(db_url)
    head = ScriptDirectory.from_config(_alembic_config(target)).get_current_head()
    assert storage.current_revision(target) == head != "0005"
    assert storage.get_meta(target)["city_name"] == "Old City"


def test_a_backup_that_cannot_be_written_leaves_no_file(demo_copy_url, tmp_path):
    not_a_folder = tmp_path / "not-a-folder"
    not_a_folder.write_text("a file\n")
    failed = run(["backup", str(not_a_folder / "site.backup")], demo_copy_url)
    assert failed.exit_code == 2
    assert f"error: cannot write the backup in {not_a_folder}" in failed.output
    assert not_a_folder.read_text() == "a file\n"

    # An existing file is kept unless --force; then it is replaced.
    file = tmp_path / "site.backup"
    file.write_text("an older backup\n")
    kept = run(["backup", str(file)], demo_copy_url)
    assert kept.exit_code == 2 and "exists" in kept.output and "--force" in kept.output
    assert file.read_text() == "an older backup\n"

    # Out of time half way: no file, no temporary file, the old backup untouched.
    engine = storage.make_engine(demo_copy_url)
    with pytest.raises(backups.BackupError, match="did not finish within 0 s"):
        backups.backup_database(engine, file, timeout_s=0, replace=True)
    assert file.read_text() == "an older backup\n" and leftovers(tmp_path) == []
    fresh = tmp_path / "fresh.backup"
    with pytest.raises(backups.BackupError, match="did not finish within 0 s"):
        backups.backup_database(engine, fresh, timeout_s=0)
    assert not fresh.exists() and leftovers(tmp_path) == []

    replaced = run(["backup", "--force", str(file)], demo_copy_url)
    assert replaced.exit_code == 0, replaced.output
    assert backups.backup_kind(file) == kind_of(demo_copy_url)


@pytest.mark.databases("postgresql")
def test_the_password_is_never_an_argument_nor_in_a_message(db_url, tmp_path, monkeypatch):
    url = sa.make_url(db_url).set(password=PASSWORD)
    spelled = url.render_as_string(hide_password=False)
    assert "s3cret-pw%2F8" in spelled  # the URL as an administrator writes it
    env = backups.libpq_environment(spelled)
    socket_folder = sa.make_url(db_url).query["host"]
    assert env["PGPASSWORD"] == PASSWORD and env["PGHOST"] == socket_folder
    assert env["PGUSER"] == "postgres" and env["PGDATABASE"] == url.database

    commands = []
    real_run = subprocess.run

    def recording_run(args, **kwargs):
        commands.append(list(args))
        return real_run(args, **kwargs)

    monkeypatch.setattr(backups.subprocess, "run", recording_run)
    # The test server trusts local connections, so a password is accepted and ignored.
    made = run(["backup", str(tmp_path / "a.backup")], spelled)
    assert made.exit_code == 0, made.output
    missing = url.set(database="no_such_database").render_as_string(hide_password=False)
    failed = run(["backup", str(tmp_path / "b.backup")], missing)
    assert failed.exit_code == 2
    assert "pg_dump failed" in failed.output and "no_such_database" in failed.output
    assert not (tmp_path / "b.backup").exists() and leftovers(tmp_path) == []
    assert len(commands) >= 3
    for text in [failed.output, made.output, *(" ".join(args) for args in commands)]:
        assert PASSWORD not in text and "s3cret-pw%2F8" not in text

    unknown = run(["backup", str(tmp_path / "c.backup")], f"{spelled}&gssdelegation=1")
    assert unknown.exit_code == 2 and "parameter 'gssdelegation'" in unknown.output


@pytest.mark.databases("postgresql", demo=True)
def test_the_database_owner_restores_without_superuser_rights(demo_copy_url, tmp_path, request):
    """As a bureau's server is set up (README): PostGIS created by the superuser, the
    database owned by the site's role, which restores."""
    file = tmp_path / "site.backup"
    assert run(["backup", str(file)], demo_copy_url).exit_code == 0
    before = backups.table_fingerprints(storage.make_engine(demo_copy_url))
    cluster = request.getfixturevalue("postgres_cluster")
    role = f"site_{sa.make_url(demo_copy_url).database}"
    owned = cluster.create_database()  # with PostGIS, made by the superuser
    with cluster.admin().connect() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB")
        conn.exec_driver_sql(f'ALTER DATABASE "{sa.make_url(owned).database}" OWNER TO {role}')
    url = sa.make_url(owned).set(username=role, password=PASSWORD)
    url = url.render_as_string(hide_password=False)
    try:
        restored = run(["restore", str(file)], url)
        assert restored.exit_code == 0, restored.output
        target = storage.make_engine(url)
        assert backups.table_fingerprints(target) == before
        storage.create_user(target, "after-restore", "x", "planner")  # the role owns the tables
    finally:
        cluster.drop_database(owned)
        with cluster.admin().connect() as conn:
            conn.exec_driver_sql(f"DROP ROLE {role}")
