"""Imports on PostgreSQL go by COPY (web.storage.importing): the same rows, counts, rejects
and de-duplication as on SQLite, and a failure half way leaves the database as before.

Each test runs on both databases (the first makes one of each itself) and both ways an
import stores incidents: row by row (``rows``: a batch small next to the table; on
PostgreSQL COPY into a staging table, then ``INSERT ... ON CONFLICT DO NOTHING``) and as a
bulk load (``bulk``: the incident indexes, on PostgreSQL also the foreign keys, set aside
and made again; on PostgreSQL COPY straight into the table). Real imports choose by size
(50,000 rows and 30 % of the table); the tests lower that bound to reach the bulk load
with small files.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from geo.categories import load_categories
from tests.conftest import chicago_lines
from tests.web.test_imports import request
from web import storage
from web.config import REPO_ROOT
from web.services.imports import import_files
from web.storage import importing

pytestmark = pytest.mark.databases()


@pytest.fixture(params=["rows", "bulk"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """How the import stores incidents: ``bulk`` lowers the bound so that every import as
    large as 30 % of the table is a bulk load; ``rows`` raises it beyond reach."""
    bound = 0 if request.param == "bulk" else 10**9
    monkeypatch.setattr(importing, "BULK_LOAD_MIN_ROWS", bound)
    return request.param


@pytest.fixture
def copies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tables rows were COPY'd into, in order (the COPY itself still runs)."""
    tables: list[str] = []
    original = importing._copy_rows

    def spy(conn, table, types, rows):
        tables.append(table)
        return original(conn, table, types, rows)

    monkeypatch.setattr(importing, "_copy_rows", spy)
    return tables


def mixed_files(folder: Path) -> list[Path]:
    """Two files with a bit of everything: an unparsable latitude (a reject), rows already
    in the first file, a row repeated within the second (a reject), a new category."""
    january = chicago_lines("2016-01", n=60)
    january[5] = january[5].replace(b"41.", b"4x.", 1)
    march = chicago_lines("2017-03", n=40)
    march[7] = march[7].replace(b"BATTERY", b"DRONE NUISANCE")
    first = folder / "a.csv"
    first.write_bytes(b"".join(january))
    second = folder / "b.csv"
    second.write_bytes(b"".join(january[:1] + january[30:] + march[1:] + march[3:4]))
    return [first, second]


def stored_rows(engine: sa.Engine) -> dict[str, list[tuple]]:
    """Every incident (its category code and details by value), reject and import count,
    in key order: equal in two databases when they store the same."""
    i, c, d = storage.incidents, storage.categories, storage.incident_details
    r, runs = storage.rejects, storage.import_runs
    queries = {
        "incidents": sa.select(
            i.c.id, i.c.source_id, i.c.occurred_at, i.c.lon, i.c.lat, i.c.cell, c.c.code,
            d.c.offense_code, d.c.description, d.c.location_type,
        ).join(c, c.c.id == i.c.category_id).outerjoin(d, d.c.id == i.c.detail_id)
        .order_by(i.c.id),
        "rejects": sa.select(r.c.file, r.c.file_sha256, r.c.line, r.c.field, r.c.reason, r.c.raw)
        .order_by(r.c.file_sha256, r.c.line),
        "import_runs": sa.select(runs.c.file, runs.c.rows_read, runs.c.inserted,
                                 runs.c.duplicates, runs.c.rejected).order_by(runs.c.id),
    }  # fmt: skip
    with engine.connect() as conn:
        return {name: [tuple(row) for row in conn.execute(q)] for name, q in queries.items()}


def incident_schema(engine: sa.Engine) -> list[tuple[str, ...]]:
    """The indexes and constraints of ``incidents`` as the database itself prints them."""
    if engine.dialect.name == "sqlite":
        query = "SELECT name, sql FROM sqlite_master WHERE tbl_name = 'incidents' ORDER BY name"
    else:
        query = (
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'incidents' "
            "UNION ALL SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'incidents'::regclass ORDER BY 1"
        )
    with engine.connect() as conn:
        return [tuple(row) for row in conn.exec_driver_sql(query)]


def new_engine(url: str) -> sa.Engine:
    """A migrated database with the city settings and categories (as the ``engine``
    fixture makes)."""
    engine = storage.make_engine(url)
    storage.init_db(engine)
    storage.set_meta(engine, {"resolution": "9", "timezone": "America/Chicago"})
    storage.store_categories(engine, load_categories(REPO_ROOT / "data" / "categories.csv"))
    return engine


def test_sqlite_and_postgresql_store_the_same_rows(postgres_cluster, tmp_path, mode) -> None:
    files = mixed_files(tmp_path)
    engines = {
        "sqlite": new_engine(f"sqlite:///{tmp_path / 'same.db'}"),
        "postgresql": new_engine(postgres_cluster.create_database(migrated=True)),
    }
    try:
        counts, stored = {}, {}
        for name, engine in engines.items():
            first = import_files(engine, files, request())
            again = import_files(engine, files, request())
            counts[name] = [
                (s.rows_read, s.inserted, s.duplicates, s.rejected, s.new_categories)
                for s in first + again
            ]
            stored[name] = stored_rows(engine)
    finally:
        for engine in engines.values():
            engine.dispose()
    assert counts["postgresql"] == counts["sqlite"]
    assert stored["postgresql"] == stored["sqlite"]
    # a.csv: 59 of 60 rows in, 1 reject; b.csv: 31 rows of a.csv, 40 new (one of a new
    # category), 1 repeated; the second import adds nothing.
    assert counts["sqlite"] == [
        (60, 59, 0, 1, ()), (72, 40, 31, 1, ("DRONE NUISANCE",)),
        (60, 0, 59, 1, ()), (72, 0, 71, 1, ()),
    ]  # fmt: skip
    assert len(stored["sqlite"]["incidents"]) == 59 + 40
    assert [row[2] for row in stored["sqlite"]["rejects"]] in ([6, 73], [73, 6])


def test_postgresql_imports_by_copy(engine, tmp_path, mode, copies) -> None:
    import_files(engine, mixed_files(tmp_path), request())
    if engine.dialect.name == "sqlite":
        assert copies == []
    elif mode == "bulk":  # new incidents straight into the table, rejects as always
        assert copies == ["incidents", "incoming_rejects"] * 2
    else:
        assert copies == ["incoming_incidents", "incoming_rejects"] * 2


def test_a_second_import_of_the_same_files_adds_nothing(engine, tmp_path, mode) -> None:
    files = mixed_files(tmp_path)
    first = import_files(engine, files, request())
    before = stored_rows(engine)
    again = import_files(engine, files, request())
    assert [s.inserted for s in again] == [0, 0]
    assert [s.duplicates for s in again] == [first[0].inserted, first[1].inserted + 31]
    after = stored_rows(engine)
    assert after["incidents"] == before["incidents"]
    assert after["rejects"] == before["rejects"]  # kept once, not twice
    assert after["import_runs"][:2] == before["import_runs"]
    assert len(after["import_runs"]) == 4


def test_rejects_are_kept_with_their_line_and_reason(engine, tmp_path, mode) -> None:
    first, second = mixed_files(tmp_path)
    summaries = import_files(engine, [first, second], request())
    assert [s.rejected for s in summaries] == [1, 1]
    rejects = storage.list_rejects(engine).sort_values("line")
    assert list(rejects["line"]) == [6, 73]
    assert list(rejects["file"]) == [str(first), str(second)]
    assert rejects.iloc[0]["field"] == "Latitude"
    assert "unparsable" in rejects.iloc[0]["reason"]
    assert "duplicate" in rejects.iloc[1]["reason"]
    runs = storage.list_import_runs(engine)
    assert set(rejects["import_run_id"]) == set(runs["id"])


def test_keys_repeated_across_the_files_of_one_import_go_in_once(engine, tmp_path, mode):
    lines = chicago_lines(n=30)
    paths = []
    for name, part in (("a.csv", lines[1:21]), ("b.csv", lines[11:31]), ("c.csv", lines[1:])):
        paths.append(tmp_path / name)
        paths[-1].write_bytes(b"".join([lines[0], *part]))
    summaries = import_files(engine, paths, request())
    assert [(s.inserted, s.duplicates) for s in summaries] == [(20, 0), (10, 10), (0, 30)]
    assert storage.count_rows(engine)["incidents"] == 30
    runs = {run_id: n for run_id, n in _incidents_per_run(engine)}
    assert list(runs.values()) == [20, 10]  # each row belongs to the file that stored it


def _incidents_per_run(engine: sa.Engine) -> list[tuple[int, int]]:
    i = storage.incidents
    query = sa.select(i.c.import_run_id, sa.func.count()).group_by(i.c.import_run_id)
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query.order_by(i.c.import_run_id))]


def test_a_failure_after_incidents_went_in_leaves_the_database_as_before(
    engine, tmp_path, mode, monkeypatch
) -> None:
    insert_rejects = importing.insert_rejects
    failed = []

    def fail_on_the_second_file(conn, item, run_id):
        if item.file.endswith("b.csv"):  # its incidents are in the table by now
            failed.append(item.file)
            raise RuntimeError("forced failure")
        return insert_rejects(conn, item, run_id)

    _fails_and_changes_nothing(engine, tmp_path, monkeypatch, "insert_rejects",
                               fail_on_the_second_file, RuntimeError, failed)  # fmt: skip


def test_a_failure_while_indexes_are_made_again_leaves_the_database_as_before(
    engine, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(importing, "BULK_LOAD_MIN_ROWS", 0)
    set_aside = importing._set_aside_incident_indexes
    failed = []

    def fail(conn: sa.Connection) -> None:
        failed.append("restore")
        raise RuntimeError("forced failure")

    def fail_after_the_first_step(conn):
        steps = set_aside(conn)
        assert len(steps) >= 1, "the bulk load set nothing aside"
        return [steps[0], fail, *steps[1:]]

    _fails_and_changes_nothing(engine, tmp_path, monkeypatch, "_set_aside_incident_indexes",
                               fail_after_the_first_step, RuntimeError, failed)  # fmt: skip


def _fails_and_changes_nothing(engine, tmp_path, monkeypatch, name, replacement, error, failed):
    """Import the mixed files with ``importing.<name>`` replaced (it fails half way): the
    error comes out, the database is as before (rows, categories, indexes and keys), and
    the same files import in full afterwards."""
    earlier = tmp_path / "earlier.csv"
    earlier.write_bytes(b"".join(chicago_lines("2018-02", n=40)))
    import_files(engine, [earlier], request())
    rows, shape = stored_rows(engine), incident_schema(engine)
    fingerprint = storage.table_fingerprint(engine)
    with monkeypatch.context() as patch:
        patch.setattr(importing, name, replacement)
        with pytest.raises(error, match="forced failure"):
            import_files(engine, mixed_files(tmp_path), request())
    assert failed  # the failure happened inside the import's transaction
    assert stored_rows(engine) == rows
    assert incident_schema(engine) == shape
    assert storage.table_fingerprint(engine) == fingerprint
    assert "DRONE NUISANCE" not in set(storage.load_categories_table(engine)["code"])
    summaries = import_files(engine, mixed_files(tmp_path), request())
    assert [s.inserted for s in summaries] == [59, 40]


def test_a_bulk_load_puts_the_indexes_and_keys_back(engine, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(importing, "BULK_LOAD_MIN_ROWS", 0)
    shape = incident_schema(engine)
    assert any("cell" in " ".join(row) for row in shape)
    set_aside = []
    original = importing._set_aside_incident_indexes

    def spy(conn):
        set_aside.append(True)
        return original(conn)

    monkeypatch.setattr(importing, "_set_aside_incident_indexes", spy)
    import_files(engine, mixed_files(tmp_path), request())
    assert set_aside  # the import was a bulk load
    assert incident_schema(engine) == shape
    # The foreign keys hold again: an incident of an unknown category is refused.
    row = {"id": 1, "import_run_id": 1, "occurred_at": 0, "lon": 0.0, "lat": 0.0, "cell": 1,
           "category_id": 999_999}  # fmt: skip
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.insert(storage.incidents).values(**row))


def test_two_large_imports_at_once_both_land(engine, tmp_path, monkeypatch) -> None:
    """Each has counted the table before either sets its indexes aside (when both may):
    on PostgreSQL they take turns from before counting, so neither deadlocks the other."""
    monkeypatch.setattr(importing, "BULK_LOAD_MIN_ROWS", 0)
    counted = threading.Barrier(2)
    row_count = importing.row_count

    def count_then_wait(conn, table):
        n = row_count(conn, table)
        with contextlib.suppress(threading.BrokenBarrierError):  # the other waits its turn
            counted.wait(timeout=2)
        return n

    monkeypatch.setattr(importing, "row_count", count_then_wait)
    months = ("2016-05", "2017-09")
    paths = []
    for month in months:
        paths.append(tmp_path / f"{month}.csv")
        paths[-1].write_bytes(b"".join(chicago_lines(month, n=50)))
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda path: import_files(engine, [path], request()), paths))
    summaries = [summary for [summary] in results]
    assert [s.inserted + s.rejected for s in summaries] == [50, 50]
    assert min(s.inserted for s in summaries) > 40
    assert storage.count_rows(engine)["incidents"] == sum(s.inserted for s in summaries)
